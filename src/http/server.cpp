#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <strings.h>
#include <thread>

#include <httplib.h>

namespace webhookd::http {

namespace {

int64_t monotonicMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> find(const Fields& fields, std::string_view name, bool ignoreCase)
{
    for (const auto& [k, v] : fields)
        if (ignoreCase ? equalsIgnoreCase(k, name) : k == name)
            return v;
    return std::nullopt;
}

// Waits until fd is ready for `events` or timeoutMs passes; false on timeout
// or error.
bool waitFor(int fd, short events, int64_t timeoutMs)
{
    pollfd p{fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeoutMs)));
        if (n > 0)
            return true;
        if (n == 0 || errno != EINTR)
            return false;
    }
}

// A socket stream whose every read and write also ends at a deadline: a
// client that trickles its request a byte at a time (slowloris) is cut off
// when the deadline passes instead of holding a thread for ever. It also
// reads at most `budget` bytes for one request: httplib gathers a request
// line or a header line whole before it checks its length, so a line that
// never ends would otherwise grow in memory until the deadline.
// What was received on a connection and not read yet: httplib reads a
// request's head a byte at a time, so the stream reads the socket in
// blocks. Kept per connection, so bytes of a next (pipelined) request
// received with this one are not lost.
struct ReadBuffer {
    char data[4096];
    size_t begin = 0, end = 0;
};

class DeadlineStream final : public httplib::Stream {
public:
    DeadlineStream(int sock, int64_t ioTimeoutMs, int64_t deadlineMono, size_t budget, ReadBuffer& buffer)
        : sock_(sock),
          ioTimeoutMs_(ioTimeoutMs),
          deadline_(deadlineMono),
          budget_(budget),
          buffer_(buffer)
    { }

    bool is_readable() const override { return buffer_.begin < buffer_.end || waitFor(sock_, POLLIN, wait()); }
    bool is_writable() const override { return waitFor(sock_, POLLOUT, wait()); }

    ssize_t read(char* ptr, size_t size) override
    {
        if (budget_ == 0)
            return -1;
        if (buffer_.begin == buffer_.end) {
            if (!is_readable())
                return -1;
            ssize_t n;
            do
                n = ::recv(sock_, buffer_.data, sizeof buffer_.data, 0);
            while (n < 0 && errno == EINTR);
            if (n <= 0)
                return n;
            buffer_.begin = 0;
            buffer_.end = static_cast<size_t>(n);
        }
        const size_t n = std::min({size, budget_, buffer_.end - buffer_.begin});
        std::memcpy(ptr, buffer_.data + buffer_.begin, n);
        buffer_.begin += n;
        budget_ -= n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override
    {
        if (!is_writable())
            return -1;
        for (;;) {
            const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
            if (n >= 0 || errno != EINTR)
                return n;
        }
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
    socket_t socket() const override { return sock_; }

private:
    int64_t wait() const { return std::min(ioTimeoutMs_, deadline_ - monotonicMs()); }

    void address(bool remote, std::string& ip, int& port) const
    {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        auto* sa = reinterpret_cast<sockaddr*>(&addr);
        if ((remote ? ::getpeername(sock_, sa, &len) : ::getsockname(sock_, sa, &len)) != 0)
            return;
        char text[INET6_ADDRSTRLEN] = "";
        if (addr.ss_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
            ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
            port = ntohs(in->sin_port);
        } else if (addr.ss_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
            ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
            port = ntohs(in6->sin6_port);
        }
        ip = text;
    }

    int sock_;
    int64_t ioTimeoutMs_;
    int64_t deadline_;
    size_t budget_;
    ReadBuffer& buffer_; // the connection's; outlives the stream
};

// Set by the pre-routing check, on the thread serving the request, when it
// answered without reading a body the request has: the connection then
// closes after the answer, since the unread body would be taken for the
// next request.
thread_local bool tlsCloseAfterAnswer = false;

// Request line and headers together may take this much (httplib allows 8 KiB
// a line).
constexpr size_t kHeaderBudget = 64 * 1024;

struct Route {
    std::string method;
    std::vector<std::string> segments; // "{name}" for a parameter
    Handler handler;
};

std::vector<std::string> splitPath(std::string_view path)
{
    std::vector<std::string> out;
    size_t start = 1;
    while (start <= path.size()) {
        const size_t slash = path.find('/', start);
        out.emplace_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return out;
}

bool matches(const Route& r, const std::vector<std::string>& segments, Fields* params)
{
    if (r.segments.size() != segments.size())
        return false;
    for (size_t i = 0; i < segments.size(); ++i) {
        const std::string& p = r.segments[i];
        const bool param = p.size() > 2 && p.front() == '{' && p.back() == '}';
        if (!param && p != segments[i])
            return false;
        if (param && segments[i].empty())
            return false;
        if (param && params)
            params->emplace_back(p.substr(1, p.size() - 2), segments[i]);
    }
    return true;
}

} // namespace

std::optional<std::string> Request::header(std::string_view name) const { return find(headers, name, true); }
std::optional<std::string> Request::queryParam(std::string_view name) const { return find(query, name, false); }
std::optional<std::string> Request::pathParam(std::string_view name) const { return find(pathParams, name, false); }

// httplib's Server with its per-connection loop replaced: the same keep-alive
// rules, but each request read through a DeadlineStream. (Overriding the
// private virtual process_and_close_socket is what httplib allows for this;
// process_request is protected for the purpose.)
class DeadlineServer final : public httplib::Server {
public:
    explicit DeadlineServer(const ServerOptions& o)
        : o_(o)
    { }

    // httplib listens with a backlog of 5: many clients connecting at once
    // overflow it, and their connections wait for SYN retries (a second and
    // more) or are reset. Listening again on the bound socket raises it.
    void raiseBacklog() const
    {
        if (svr_sock_ != INVALID_SOCKET)
            ::listen(svr_sock_, SOMAXCONN);
    }

private:
    bool process_and_close_socket(socket_t sock) override
    {
        // httplib writes an answer's head and body separately: with Nagle's
        // algorithm the body then waits for the client's delayed ACK (40 ms
        // on Linux) on every keep-alive request.
        const int one = 1;
        ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bool ret = false;
        ReadBuffer buffer;
        for (int left = std::max(1, o_.keepAliveMax); left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
            if (buffer.begin == buffer.end && !waitFor(sock, POLLIN, o_.keepAliveTimeoutMs))
                break;
            DeadlineStream stream(sock, o_.ioTimeoutMs, monotonicMs() + o_.requestDeadlineMs,
                                  kHeaderBudget + o_.maxBodyBytes, buffer);
            bool closed = false;
            tlsCloseAfterAnswer = false;
            ret = process_request(stream, left == 1, closed, nullptr);
            if (!ret || closed || tlsCloseAfterAnswer)
                break;
        }
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return ret;
    }

    const ServerOptions& o_; // the owning Impl's; must outlive this server (it does: a member of it)
};

struct Server::Impl {
    ServerOptions opt;
    DeadlineServer http{opt};
    std::vector<Route> routes;
    std::thread thread;
    int port = 0;
    bool started = false;
    std::atomic<bool> listenReturned{false}; // the listener thread left listen_after_bind

    explicit Impl(ServerOptions o)
        : opt(std::move(o))
    { }

    void writeError(int status, const std::string& detail, httplib::Response& res) const
    {
        Response r;
        if (opt.errorWriter)
            opt.errorWriter(status, detail, r);
        else
            r.set(status, detail + "\n", "text/plain; charset=utf-8");
        apply(r, res);
    }

    void apply(const Response& r, httplib::Response& res) const
    {
        res.status = r.status;
        for (const auto& [k, v] : opt.defaultHeaders)
            res.set_header(k, v);
        for (const auto& [k, v] : r.headers)
            res.set_header(k, v);
        res.set_content(r.body, r.contentType);
    }

    // 404 when no route has the path, 405 (with Allow) when none has the
    // method; nullptr then, after the answer is written.
    const Route* select(const httplib::Request& req, httplib::Response& res, Fields* params) const
    {
        const auto segments = splitPath(req.path);
        const std::string method = req.method == "HEAD" ? "GET" : req.method;
        std::string allow;
        for (const auto& r : routes) {
            if (!matches(r, segments, nullptr))
                continue;
            if (r.method == method) {
                if (params)
                    matches(r, segments, params);
                return &r;
            }
            if (allow.find(r.method) == std::string::npos)
                allow += (allow.empty() ? "" : ", ") + r.method;
        }
        if (allow.empty()) {
            writeError(404, "there is nothing at " + req.path, res);
        } else {
            writeError(405, req.method + " is not allowed on " + req.path + "; use " + allow, res);
            res.set_header("Allow", allow);
        }
        return nullptr;
    }

    // Before the body is read: refuse what has no route and bodies over the cap.
    httplib::Server::HandlerResponse preRouting(const httplib::Request& req, httplib::Response& res) const
    {
        const std::string length = req.get_header_value("Content-Length");
        const bool hasBody = (!length.empty() && length != "0") || req.has_header("Transfer-Encoding");
        if (!select(req, res, nullptr)) {
            tlsCloseAfterAnswer = hasBody;
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!length.empty()) {
            char* end = nullptr;
            const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
            if (end == length.c_str() || *end != '\0' || n > opt.maxBodyBytes) {
                writeError(413, "the request body is larger than " + std::to_string(opt.maxBodyBytes) + " bytes", res);
                tlsCloseAfterAnswer = true;
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        return httplib::Server::HandlerResponse::Unhandled;
    }

    void dispatch(const httplib::Request& req, httplib::Response& res) const
    {
        Request r;
        const Route* route = select(req, res, &r.pathParams);
        if (!route)
            return;
        r.method = req.method;
        r.path = req.path;
        r.body = req.body;
        r.remoteAddr = req.remote_addr;
        for (const auto& [k, v] : req.params)
            r.query.emplace_back(k, v);
        for (const auto& [k, v] : req.headers)
            r.headers.emplace_back(k, v);
        Response out;
        route->handler(r, out);
        apply(out, res);
    }
};

Server::Server(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(ServerOptions options)
{
    auto impl = std::make_unique<Impl>(std::move(options));
    Impl* p = impl.get();
    const int threads = std::max(1, p->opt.threads);
    p->http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    // httplib's default adds SO_REUSEPORT, with which a second webhookd on
    // this host would share the port and answer half the requests.
    p->http.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    p->http.set_payload_max_length(p->opt.maxBodyBytes);
    p->http.set_pre_routing_handler(
        [p](const httplib::Request& req, httplib::Response& res) { return p->preRouting(req, res); });
    auto dispatch = [p](const httplib::Request& req, httplib::Response& res) { p->dispatch(req, res); };
    for (const char* any : {".*"}) {
        p->http.Get(any, dispatch);
        p->http.Post(any, dispatch);
        p->http.Put(any, dispatch);
        p->http.Patch(any, dispatch);
        p->http.Delete(any, dispatch);
        p->http.Options(any, dispatch);
    }
    p->http.set_error_handler([p](const httplib::Request& req, httplib::Response& res) {
        // Errors httplib found itself (a malformed request, a body over the
        // cap sent chunked); answers a handler wrote pass through.
        if (!res.body.empty())
            return;
        const int status = res.status;
        p->writeError(status, status == 413 ? "the request body is too large" : "the request could not be read", res);
        (void)req;
    });
    p->http.set_exception_handler([p](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        p->writeError(500, "the server failed to answer", res);
    });
    const std::string& host = p->opt.host;
    if (p->opt.port == 0) {
        p->port = p->http.bind_to_any_port(host);
        if (p->port <= 0)
            return fail(Error::network("cannot listen on " + host + ": " + std::strerror(errno)));
    } else {
        if (!p->http.bind_to_port(host, p->opt.port))
            return fail(Error::network("cannot listen on " + host + ":" + std::to_string(p->opt.port) + ": " +
                                       std::strerror(errno)));
        p->port = p->opt.port;
    }
    p->http.raiseBacklog();
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::route(std::string method, std::string pattern, Handler handler)
{
    impl_->routes.push_back({std::move(method), splitPath(pattern), std::move(handler)});
}

void Server::start()
{
    if (impl_->started)
        return;
    impl_->started = true;
    impl_->thread = std::thread([p = impl_.get()] {
        p->http.listen_after_bind();
        p->listenReturned = true;
    });
    // httplib's stop() does nothing until its accept loop has begun (it
    // only closes the socket of a running server): a stop() right after
    // start() (webhookd --drain with nothing to do) would then join a
    // listener that never ends. Return once it runs, or has given up.
    while (!impl_->http.is_running() && !impl_->listenReturned)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Server::stop()
{
    if (!impl_)
        return;
    impl_->http.stop();
    if (impl_->thread.joinable())
        impl_->thread.join();
}

int Server::port() const { return impl_->port; }

std::string Server::address() const
{
    const std::string& h = impl_->opt.host;
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(impl_->port);
}

Result<std::pair<std::string, int>> parseListenAddress(const std::string& text, std::string_view flag)
{
    const std::string f(flag);
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        return fail(Error::invalid(f + " needs HOST:PORT, such as 127.0.0.1:9464, or off"));
    std::string host = text.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']')
            return fail(Error::invalid(f + " needs HOST:PORT, such as [::1]:9464"));
        host = host.substr(1, host.size() - 2);
    }
    const std::string port = text.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        return fail(Error::invalid(f + " has an invalid port '" + port + "'"));
    return std::pair{host, std::stoi(port)};
}

bool isLoopbackHost(std::string_view host)
{
    if (host == "localhost" || host == "::1")
        return true;
    in_addr a{};
    const std::string h(host);
    return ::inet_pton(AF_INET, h.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

} // namespace webhookd::http
