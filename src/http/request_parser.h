#pragma once

// HTTP/1.1 request framing (RFC 9112), strict where leniency lets two parsers
// disagree about where a request ends: a request head parsed whole, and a
// chunked body decoded as it arrives. Pure: no sockets, testable alone.
//
// Refused with 400 (the connection is then closed, since its framing is not
// known): both Content-Length and Transfer-Encoding; more than one
// Content-Length, or one that is not digits; a Transfer-Encoding other than
// exactly "chunked"; whitespace before a header's colon; obsolete line
// folding; a bare LF or CR; control characters in a field value; a request
// target that is not origin-form; a malformed percent escape.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace webhookd::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The largest request head (request line and header fields) read.
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxTargetBytes = 8 * 1024;
constexpr size_t kMaxHeaderFields = 100;

struct Refusal {
    int status; // 400, 413, 414, 417, 431, 505
    std::string detail;
};

struct RequestHead {
    std::string method;
    std::string path; // percent-decoded, without the query
    Fields query;     // decoded ('+' as space), in order, repeats kept
    Fields headers;   // as sent, in order
    int minorVersion = 1;
    enum class Body { None, Length, Chunked } body = Body::None;
    uint64_t contentLength = 0;
    bool keepAlive = true; // what the client asked for
    bool expectContinue = false;
    std::optional<std::string> contentEncoding; // when not identity
};

// Where the head ends: the offset just past its CRLF CRLF, or npos. Empty
// lines before a request (RFC 9112 §2.2) are counted in the head.
size_t findHeadEnd(std::string_view buffer);

// Parses a whole head (up to and including its final CRLF CRLF).
struct HeadResult {
    std::optional<RequestHead> head;
    Refusal refusal{0, ""};
};
HeadResult parseHead(std::string_view text);

// Decodes "%XX" (and '+' as a space when `plusIsSpace`); nullopt for a
// malformed escape or a decoded NUL.
std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace);

// A chunked body as it arrives: feed() takes what it can of `in`, appends
// the decoded bytes to `out` and says how much of `in` it used. Done after
// the last chunk and its trailer section (trailers are read and dropped).
class ChunkedDecoder {
public:
    explicit ChunkedDecoder(size_t maxBody = 0)
        : maxBody_(maxBody)
    { }

    enum class State { More, Done, Failed };
    struct Step {
        State state;
        size_t used;
    };
    Step feed(std::string_view in, std::string& out);
    const Refusal& refusal() const { return refusal_; }

private:
    Step failed(int status, std::string detail, size_t used);

    enum class Phase { Size, Data, DataEnd, Trailer } phase_ = Phase::Size;
    size_t maxBody_;
    uint64_t left_ = 0;
    std::string line_; // a size or trailer line not yet ended
    size_t trailerBytes_ = 0;
    Refusal refusal_{0, ""};
};

} // namespace webhookd::http
