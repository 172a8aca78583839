#pragma once

// webhookd's one HTTP server, used by the status endpoint and the HTTP API;
// testable in-process. One thread reads every connection on epoll until it
// holds a complete request (request_parser.h frames it); only then does one
// of the pool's threads run the handler. So idle and slow clients cost a
// file descriptor and a buffer, never a thread: a connection that sends no
// byte is closed after keepAliveTimeoutMs, a request head must arrive within
// headTimeoutMs of its first byte and the whole request within
// requestDeadlineMs; past maxConnections (or maxConnectionsPerPeer from one
// address) a new connection is answered 503 and closed rather than queued.
// Routes by method and path pattern, refuses bodies over the cap and any
// Content-Encoding (415) before reading a byte of them, answers 404 and 405
// itself.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "http/request_parser.h"

namespace webhookd::http {

struct Request {
    std::string method; // GET, POST, … as sent (HEAD is answered as GET)
    std::string path;   // without the query
    std::string body;
    std::string remoteAddr;
    Fields query;      // decoded, in order
    Fields headers;    // as sent
    Fields pathParams; // {name} segments of the matched pattern

    // Case-insensitive; the first one given.
    std::optional<std::string> header(std::string_view name) const;
    std::optional<std::string> queryParam(std::string_view name) const;
    std::optional<std::string> pathParam(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string body;
    std::string contentType = "text/plain; charset=utf-8";
    Fields headers;
    // What the access log may add about this request, such as who asked
    // (an API key's name); never a secret. Not sent.
    Fields logFields;

    void set(int code, std::string text, std::string type)
    {
        status = code;
        body = std::move(text);
        contentType = std::move(type);
    }
};

// Runs on one of the server's threads; may be called on several at once.
using Handler = std::function<void(const Request&, Response&)>;

// Fills an answer the server gives by itself: 400, 404, 405, 408, 413, 500.
using ErrorWriter = std::function<void(int status, const std::string& detail, Response&)>;

// One answered request, for an access log and metrics. Views into the
// server's own buffers, valid during the call only.
struct Exchange {
    std::string_view method; // as sent; empty when the head could not be read
    std::string_view route;  // the pattern matched, e.g. "/api/v1/targets/{id}" (for a 405: the path's); empty: none
    int status = 0;
    double seconds = 0;                // from the request's first byte to its answer being ready
    const Fields* logFields = nullptr; // the handler's Response::logFields; null for the server's own answers
};

// Called once for every answered request, on the thread that made the
// answer: a pool thread for a handler's, the loop for the server's own (400,
// 404, 405, 408, 413, 415, 431, 503). Not for a connection refused before
// anything was read (over maxConnections). Must be quick and thread-safe.
using Observer = std::function<void(const Exchange&)>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 0;                       // 0: any free port
    int threads = 8;                    // handlers run at once; complete requests wait for one
    size_t maxBodyBytes = 0;            // a larger body is refused with 413 before it is read
    int64_t ioTimeoutMs = 5'000;        // an answer whose client reads nothing for this long is dropped
    int64_t headTimeoutMs = 5'000;      // a request head, from its first byte
    int64_t requestDeadlineMs = 10'000; // a request's head and body, from its first byte
    int keepAliveMax = 100;             // requests per connection; 1: every answer closes it
    int64_t keepAliveTimeoutMs = 5'000; // idle time allowed before a request's first byte
    int maxConnections = 4096;          // open at once; more are answered 503
    int maxConnectionsPerPeer = 512;    // from one address; more are answered 503
    size_t maxQueued = 1024;            // complete requests waiting for a thread; more are answered 503
    size_t maxBufferedBodyBytes = 256u << 20; // bodies being read, all connections together; more: 503
    Fields defaultHeaders;              // added to every answer
    ErrorWriter errorWriter;            // default: one line of plain text
    Observer observer;                  // default: none
};

class Server {
public:
    // Binds now, so a port in use is reported at start; serves once start()ed.
    // Network error when the address cannot be bound.
    static Result<std::unique_ptr<Server>> create(ServerOptions options);
    ~Server(); // stops
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Adds a route before start(). pattern: a path whose segments are literal
    // or "{name}" (one segment, given to the handler as a path parameter).
    void route(std::string method, std::string pattern, Handler handler);

    void start();
    void stop();                 // waits for requests in progress; idempotent
    int port() const;            // as bound
    std::string address() const; // host:port as bound

    // Whether the connection loop turned within the last `withinMs` (it
    // turns at least every 50 ms while it runs).
    bool loopAlive(int64_t withinMs) const;

private:
    struct Impl;
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// "HOST:PORT" or "[V6]:PORT" into its parts; Invalid otherwise, the message
// naming `flag` (and "off" when offAllowed: the caller takes it too).
Result<std::pair<std::string, int>> parseListenAddress(const std::string& text, std::string_view flag = "--listen",
                                                       bool offAllowed = true);

// The reason phrase of a status code (RFC 9110 §15), such as "Not Found".
std::string_view reasonPhrase(int status);

// 127.0.0.0/8, ::1 or "localhost".
bool isLoopbackHost(std::string_view host);

} // namespace webhookd::http
