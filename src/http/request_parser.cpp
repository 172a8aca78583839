#include "http/request_parser.h"

#include "core/text.h"

#include <strings.h>

#include <cstring>

namespace webhookd::http {

namespace {

bool isTchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool isToken(std::string_view s)
{
    if (s.empty())
        return false;
    for (unsigned char c : s)
        if (!isTchar(c))
            return false;
    return true;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool listsToken(std::string_view value, std::string_view token)
{
    while (!value.empty()) {
        const size_t comma = value.find(',');
        if (equalsIgnoreCase(trim(value.substr(0, comma)), token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

HeadResult refuse(int status, std::string detail) { return {std::nullopt, {status, std::move(detail)}}; }

bool parseTarget(std::string_view target, RequestHead& head)
{
    const size_t q = target.find('?');
    auto path = percentDecode(target.substr(0, q), false);
    if (!path)
        return false;
    head.path = std::move(*path);
    if (q == std::string_view::npos)
        return true;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty())
            continue;
        const size_t eq = pair.find('=');
        auto name = percentDecode(pair.substr(0, eq), true);
        auto value = percentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!name || !value)
            return false;
        head.query.emplace_back(std::move(*name), std::move(*value));
    }
    return true;
}

} // namespace

std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace)
{
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size())
                return std::nullopt;
            const int hi = hexDigit(text[i + 1]), lo = hexDigit(text[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            if (c == '\0')
                return std::nullopt;
            i += 2;
        } else if (c == '+' && plusIsSpace) {
            c = ' ';
        }
        out.push_back(c);
    }
    return out;
}

size_t findHeadEnd(std::string_view buffer)
{
    const size_t at = buffer.find("\r\n\r\n");
    return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

HeadResult parseHead(std::string_view text)
{
    // Empty lines before the request line are allowed (and skipped).
    while (text.substr(0, 2) == "\r\n")
        text.remove_prefix(2);
    if (text.size() > kMaxHeadBytes)
        return refuse(431, "the request head is larger than 64 KiB");
    RequestHead head;

    // Request line: METHOD SP TARGET SP HTTP/1.x CRLF
    const size_t lineEnd = text.find("\r\n");
    if (lineEnd == std::string_view::npos)
        return refuse(400, "the request line is not ended by CRLF");
    const std::string_view line = text.substr(0, lineEnd);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return refuse(400, "the request line is malformed");
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!isToken(method))
        return refuse(400, "the request method is malformed");
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || (version[7] != '0' && version[7] != '1'))
        return refuse(version.substr(0, 5) == "HTTP/" ? 505 : 400, "only HTTP/1.0 and HTTP/1.1 are served");
    if (target.size() > kMaxTargetBytes)
        return refuse(414, "the request target is longer than 8 KiB");
    if (target.empty() || target.front() != '/')
        return refuse(400, "the request target must be a path");
    for (unsigned char c : target)
        if (c <= ' ' || c == 0x7f || c == '#')
            return refuse(400, "the request target holds a character that must be escaped");
    head.method.assign(method);
    head.minorVersion = version[7] - '0';
    if (!parseTarget(target, head))
        return refuse(400, "the request target has a malformed percent escape");

    // Header fields: NAME ":" OWS VALUE OWS CRLF, until an empty line.
    std::string_view rest = text.substr(lineEnd + 2);
    int contentLengths = 0, transferEncodings = 0, hosts = 0;
    bool chunked = false;
    for (;;) {
        const size_t end = rest.find("\r\n");
        if (end == std::string_view::npos)
            return refuse(400, "a header field is not ended by CRLF");
        const std::string_view field = rest.substr(0, end);
        rest.remove_prefix(end + 2);
        if (field.empty())
            break;
        if (field.front() == ' ' || field.front() == '\t')
            return refuse(400, "folded header lines are not accepted");
        if (head.headers.size() == kMaxHeaderFields)
            return refuse(431, "the request has more than 100 header fields");
        const size_t colon = field.find(':');
        if (colon == std::string_view::npos || !isToken(field.substr(0, colon)))
            return refuse(400, "a header field name is malformed");
        const std::string_view name = field.substr(0, colon);
        const std::string_view value = trim(field.substr(colon + 1));
        for (unsigned char c : value)
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return refuse(400, "the header field " + std::string(name) + " holds a control character");
        if (equalsIgnoreCase(name, "Content-Length")) {
            if (++contentLengths > 1)
                return refuse(400, "the request has more than one Content-Length");
            if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos)
                return refuse(400, "Content-Length must be a whole number of bytes");
            head.contentLength = std::stoull(std::string(value));
        } else if (equalsIgnoreCase(name, "Transfer-Encoding")) {
            if (++transferEncodings > 1 || !equalsIgnoreCase(value, "chunked"))
                return refuse(400, "the only Transfer-Encoding accepted is \"chunked\"");
            chunked = true;
        } else if (equalsIgnoreCase(name, "Host")) {
            ++hosts;
        } else if (equalsIgnoreCase(name, "Connection")) {
            if (listsToken(value, "close"))
                head.keepAlive = false;
            else if (listsToken(value, "keep-alive") && head.minorVersion == 0)
                head.keepAlive = true;
        } else if (equalsIgnoreCase(name, "Expect")) {
            if (!equalsIgnoreCase(value, "100-continue"))
                return refuse(417, "the only expectation met is 100-continue");
            head.expectContinue = true;
        } else if (equalsIgnoreCase(name, "Content-Encoding")) {
            if (!equalsIgnoreCase(value, "identity"))
                head.contentEncoding = std::string(value);
        }
        head.headers.emplace_back(name, value);
    }
    if (head.minorVersion == 0) {
        head.keepAlive = false;
        for (const auto& [k, v] : head.headers)
            if (equalsIgnoreCase(k, "Connection") && listsToken(v, "keep-alive") && !listsToken(v, "close"))
                head.keepAlive = true;
        if (chunked)
            return refuse(400, "Transfer-Encoding is not accepted in HTTP/1.0");
    }
    if (hosts > 1)
        return refuse(400, "the request has more than one Host");
    if (chunked && contentLengths > 0)
        return refuse(400, "the request has both Content-Length and Transfer-Encoding");
    if (chunked)
        head.body = RequestHead::Body::Chunked;
    else if (contentLengths > 0 && head.contentLength > 0)
        head.body = RequestHead::Body::Length;
    return {std::move(head), {0, ""}};
}

ChunkedDecoder::Step ChunkedDecoder::failed(int status, std::string detail, size_t used)
{
    refusal_ = {status, std::move(detail)};
    return {State::Failed, used};
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view in, std::string& out)
{
    constexpr size_t kMaxLine = 1024;         // a chunk-size line, extensions included
    constexpr size_t kMaxTrailer = 16 * 1024; // the trailer section
    size_t used = 0;
    while (used < in.size()) {
        if (phase_ == Phase::Data) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size() - used));
            out.append(in.data() + used, n);
            used += n;
            left_ -= n;
            if (left_ == 0)
                phase_ = Phase::DataEnd;
            continue;
        }
        // Size, DataEnd and Trailer read lines ended by CRLF.
        const char c = in[used++];
        line_.push_back(c);
        if (line_.size() > (phase_ == Phase::Trailer ? kMaxTrailer : kMaxLine))
            return failed(400, "a chunk line is too long", used);
        if (c != '\n')
            continue;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r')
            return failed(400, "a chunk line is not ended by CRLF", used);
        std::string_view l(line_.data(), line_.size() - 2);
        if (phase_ == Phase::DataEnd) {
            if (!l.empty())
                return failed(400, "a chunk is longer than its size says", used);
            phase_ = Phase::Size;
        } else if (phase_ == Phase::Size) {
            const size_t semi = l.find(';');
            const std::string_view digits = l.substr(0, semi);
            if (digits.empty() || digits.size() > 15)
                return failed(400, "a chunk size is malformed", used);
            uint64_t size = 0;
            for (char d : digits) {
                const int v = hexDigit(d);
                if (v < 0)
                    return failed(400, "a chunk size is malformed", used);
                size = size * 16 + static_cast<uint64_t>(v);
            }
            if (size > maxBody_ || out.size() + size > maxBody_)
                return failed(413, "the request body is larger than " + std::to_string(maxBody_) + " bytes", used);
            left_ = size;
            phase_ = size == 0 ? Phase::Trailer : Phase::Data;
        } else { // Trailer: fields, dropped, until an empty line
            trailerBytes_ += line_.size();
            if (trailerBytes_ > kMaxTrailer)
                return failed(400, "the trailer section is too long", used);
            if (l.empty()) {
                line_.clear();
                return {State::Done, used};
            }
        }
        line_.clear();
    }
    return {State::More, used};
}

} // namespace webhookd::http
