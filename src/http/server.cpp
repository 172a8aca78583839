#include "http/server.h"
#include "http/wire.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace webhookd::http {

namespace {

int64_t monotonicMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// One client connection. The loop thread owns it, except while Dispatched,
// when one pool thread does (it is then out of epoll, and the loop does not
// touch it until the pool hands it back).
struct Conn {
    int fd = -1;
    std::string peer;
    std::list<Conn>::iterator self; // where the server keeps it
    bool pending = false;           // a pipelined request waits in `in`
    enum class State { Head, Body, Dispatched, Writing } state = State::Head;
    std::string in;     // received and not yet framed
    size_t scanned = 0; // how much of `in` was searched for a head's end
    bool started = false;
    int64_t startedAt = 0;
    int64_t deadline = 0;
    uint32_t events = 0; // as registered with epoll; 0 when out of it
    int served = 0;

    RequestHead head;
    const Route* route = nullptr;
    Fields params;
    std::string body;
    uint64_t bodyLeft = 0;
    size_t reserved = 0; // of the server's body budget
    ChunkedDecoder chunks;

    std::string out;
    size_t outSent = 0;
    bool closeAfter = false;
};

// Sends what it can without waiting; false when the connection failed.
bool sendSome(Conn& c)
{
    while (c.outSent < c.out.size()) {
        const ssize_t n =
            ::send(c.fd, c.out.data() + c.outSent, c.out.size() - c.outSent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.outSent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

} // namespace


struct Server::Impl {
    ServerOptions opt;
    Routes routes;
    int listenFd = -1;
    int epollFd = -1;
    int wakeFd = -1;
    int port = 0;
    bool started = false;
    std::atomic<bool> stopping{false};
    std::atomic<int64_t> lastTurn{0};
    std::thread loopThread;
    std::vector<std::thread> pool;

    // Loop thread only.
    std::list<Conn> conns;
    std::unordered_map<std::string, int> perPeer;
    std::vector<Conn*> pending; // connections whose `in` may hold a next request
    size_t bufferedBody = 0;
    int64_t listenPausedUntil = 0;
    bool listening = false;
    std::string refusedBusy; // the 503 sent to a connection over a cap

    // Shared with the pool.
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Conn*> queue; // complete requests for the pool
    std::vector<Conn*> done; // answered by the pool, for the loop
    bool poolStop = false;

    char listenTag = 0, wakeTag = 0; // epoll's data.ptr for the two fds that are not connections

    explicit Impl(ServerOptions o)
        : opt(std::move(o))
    { }

    ~Impl()
    {
        for (int fd : {listenFd, epollFd, wakeFd})
            if (fd >= 0)
                ::close(fd);
    }

    // --- answers made by the server itself --------------------------------

    Response errorResponse(int status, const std::string& detail) const
    {
        Response r;
        if (opt.errorWriter)
            opt.errorWriter(status, detail, r);
        else
            r.set(status, detail + "\n", "text/plain; charset=utf-8");
        return r;
    }

    // 404 when no route has the path, 405 (with Allow) when none has the
    // method; nullptr then, with `error` filled.
    const Route* select(const std::string& method, const std::string& path, Fields& params, Response& error) const
    {
        std::string allow;
        if (const Route* r = routes.find(method, path, params, allow))
            return r;
        if (allow.empty()) {
            error = errorResponse(404, "there is nothing at " + path);
        } else {
            error = errorResponse(405, method + " is not allowed on " + path + "; use " + allow);
            error.headers.emplace_back("Allow", allow);
        }
        return nullptr;
    }

    // --- the loop ---------------------------------------------------------

    void watch(Conn& c, uint32_t events)
    {
        if (events == c.events)
            return;
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = &c;
        const int op = c.events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
        ::epoll_ctl(epollFd, op, c.fd, &ev);
        c.events = events;
    }

    void releaseBody(Conn& c)
    {
        bufferedBody -= c.reserved;
        c.reserved = 0;
    }

    void close(std::list<Conn>::iterator it)
    {
        Conn& c = *it;
        if (c.pending)
            pending.erase(std::find(pending.begin(), pending.end(), &c));
        watch(c, 0);
        releaseBody(c);
        ::close(c.fd);
        if (--perPeer[c.peer] <= 0)
            perPeer.erase(c.peer);
        conns.erase(it);
    }

    void closeConn(Conn& c) { close(c.self); }

    // Queues an answer the loop made; closes after it when `close`.
    void answer(Conn& c, const Response& r, bool close)
    {
        c.closeAfter = close || stopping;
        c.out = serialize(r, opt.defaultHeaders, false, c.closeAfter);
        c.outSent = 0;
        startWrite(c);
    }

    void refuse(Conn& c, int status, const std::string& detail) { answer(c, errorResponse(status, detail), true); }

    void startWrite(Conn& c)
    {
        c.state = Conn::State::Writing;
        if (!sendSome(c))
            return closeConn(c);
        if (c.outSent < c.out.size()) {
            c.deadline = monotonicMs() + opt.ioTimeoutMs;
            watch(c, EPOLLOUT);
            return;
        }
        finishAnswer(c);
    }

    void finishAnswer(Conn& c)
    {
        if (c.closeAfter)
            return closeConn(c);
        ++c.served;
        releaseBody(c);
        c.out.clear();
        c.outSent = 0;
        c.head = RequestHead{};
        c.route = nullptr;
        c.params.clear();
        c.body.clear();
        c.body.shrink_to_fit();
        c.state = Conn::State::Head;
        c.started = false;
        c.deadline = monotonicMs() + opt.keepAliveTimeoutMs;
        watch(c, EPOLLIN | EPOLLRDHUP);
        if (!c.in.empty() && !c.pending) {
            // A pipelined request came with the last one: framed by the loop
            // after this turn's events (not here: a long pipeline would recurse).
            c.pending = true;
            pending.push_back(&c);
        }
    }

    void acceptAll()
    {
        for (;;) {
            sockaddr_storage addr{};
            socklen_t len = sizeof addr;
            const int fd = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    // Out of descriptors: leave the rest in the backlog a while
                    // (the listener is level-triggered and would spin).
                    setListening(false);
                    listenPausedUntil = monotonicMs() + 100;
                }
                return;
            }
            std::string peer = peerAddress(addr);
            if (stopping || conns.size() >= static_cast<size_t>(opt.maxConnections) ||
                perPeer[peer] >= opt.maxConnectionsPerPeer) {
                if (perPeer[peer] == 0)
                    perPeer.erase(peer);
                ::send(fd, refusedBusy.data(), refusedBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                ::shutdown(fd, SHUT_WR);
                ::close(fd);
                continue;
            }
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ++perPeer[peer];
            Conn& c = conns.emplace_back();
            c.self = std::prev(conns.end());
            c.fd = fd;
            c.peer = std::move(peer);
            c.deadline = monotonicMs() + opt.keepAliveTimeoutMs;
            watch(c, EPOLLIN | EPOLLRDHUP);
        }
    }

    void setListening(bool on)
    {
        if (on == listening)
            return;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &listenTag;
        ::epoll_ctl(epollFd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listenFd, &ev);
        listening = on;
    }

    void readable(Conn& c)
    {
        char buf[16 * 1024];
        // At most 256 KiB a turn, so one fast client does not starve the rest.
        for (int i = 0; i < 16; ++i) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                c.in.append(buf, static_cast<size_t>(n));
                if (c.state == Conn::State::Head && c.in.size() > kMaxHeadBytes + 4)
                    break; // enough to refuse the head
                if (static_cast<size_t>(n) < sizeof buf)
                    break;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            // End of stream or an error (readable runs only while a request
            // is being read): frame what came; what is not a whole request is lost.
            advance(c, true);
            return;
        }
        advance(c);
    }

    // Frames what `in` holds; dispatches a complete request. `eof`: the
    // client sent its last byte.
    void advance(Conn& c, bool eof = false)
    {
        const int64_t now = monotonicMs();
        if (c.state == Conn::State::Head) {
            // Empty lines between requests are allowed and not a request's start.
            size_t skip = 0;
            while (c.in.compare(skip, 2, "\r\n") == 0)
                skip += 2;
            if (skip > 0) {
                c.in.erase(0, skip);
                c.scanned = 0;
            }
            if (c.in.empty()) {
                if (eof)
                    closeConn(c);
                return;
            }
            if (!c.started) {
                c.started = true;
                c.startedAt = now;
                c.deadline = now + opt.headTimeoutMs;
            }
            const size_t from = c.scanned > 3 ? c.scanned - 3 : 0;
            const size_t end = findHeadEnd(std::string_view(c.in).substr(from));
            if (end == std::string_view::npos) {
                c.scanned = c.in.size();
                if (c.in.size() > kMaxHeadBytes)
                    return refuse(c, 431, "the request head is larger than 64 KiB");
                if (eof)
                    return closeConn(c);
                return;
            }
            HeadResult parsed = parseHead(std::string_view(c.in).substr(0, from + end));
            c.in.erase(0, from + end);
            c.scanned = 0;
            if (!parsed.head)
                return refuse(c, parsed.refusal.status, parsed.refusal.detail);
            c.head = std::move(*parsed.head);
            const bool hasBody = c.head.body != RequestHead::Body::None;
            Response error;
            c.route = select(c.head.method, c.head.path, c.params, error);
            if (!c.route)
                return answer(c, error, hasBody || !c.head.keepAlive);
            if (c.head.contentEncoding)
                return refuse(c, 415,
                              "Content-Encoding " + *c.head.contentEncoding +
                                  " is not accepted; send the body uncompressed");
            if (hasBody) {
                const uint64_t want = c.head.body == RequestHead::Body::Length ? c.head.contentLength : 0;
                if (want > opt.maxBodyBytes)
                    return refuse(c, 413, "the request body is larger than " + std::to_string(opt.maxBodyBytes) + " bytes");
                if (!reserve(c, static_cast<size_t>(want)))
                    return refuse(c, 503, "the server is reading too many request bodies; try again in a second");
                c.bodyLeft = want;
                c.chunks = ChunkedDecoder(opt.maxBodyBytes);
                c.body.reserve(std::min<size_t>(static_cast<size_t>(want), 64 * 1024));
                if (c.head.expectContinue) {
                    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                    ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                }
            }
            c.deadline = c.startedAt + opt.requestDeadlineMs;
            c.state = hasBody ? Conn::State::Body : Conn::State::Dispatched;
        }
        if (c.state == Conn::State::Body) {
            if (c.head.body == RequestHead::Body::Length) {
                const size_t take = static_cast<size_t>(std::min<uint64_t>(c.bodyLeft, c.in.size()));
                c.body.append(c.in, 0, take);
                c.in.erase(0, take);
                c.bodyLeft -= take;
                if (c.bodyLeft > 0)
                    return eof ? closeConn(c) : void();
            } else {
                const size_t before = c.body.size();
                auto step = c.chunks.feed(c.in, c.body);
                c.in.erase(0, step.used);
                if (step.state == ChunkedDecoder::State::Failed)
                    return refuse(c, c.chunks.refusal().status, c.chunks.refusal().detail);
                if (!reserve(c, c.body.size() - before))
                    return refuse(c, 503, "the server is reading too many request bodies; try again in a second");
                if (step.state == ChunkedDecoder::State::More)
                    return eof ? closeConn(c) : void();
            }
            c.state = Conn::State::Dispatched;
        }
        if (c.state == Conn::State::Dispatched)
            dispatch(c);
    }

    bool reserve(Conn& c, size_t bytes)
    {
        if (bufferedBody + bytes > opt.maxBufferedBodyBytes)
            return false;
        bufferedBody += bytes;
        c.reserved += bytes;
        return true;
    }

    void dispatch(Conn& c)
    {
        {
            std::lock_guard lock(mutex);
            if (queue.size() < opt.maxQueued) {
                watch(c, 0);
                queue.push_back(&c);
                ready.notify_one();
                return;
            }
        }
        refuse(c, 503, "the server is busy; try again in a second");
    }

    void collectDone()
    {
        uint64_t n;
        [[maybe_unused]] ssize_t r = ::read(wakeFd, &n, sizeof n);
        std::vector<Conn*> answered;
        {
            std::lock_guard lock(mutex);
            answered.swap(done);
        }
        for (Conn* c : answered) {
            if (c->outSent == SIZE_MAX) { // the pool could not send
                closeConn(*c);
                continue;
            }
            c->state = Conn::State::Writing;
            if (c->outSent < c->out.size()) {
                c->deadline = monotonicMs() + opt.ioTimeoutMs;
                watch(*c, EPOLLOUT);
            } else {
                finishAnswer(*c);
            }
        }
    }

    void sweep(int64_t now)
    {
        for (auto it = conns.begin(); it != conns.end();) {
            auto next = std::next(it);
            Conn& c = *it;
            if (c.state != Conn::State::Dispatched && now >= c.deadline) {
                if (c.state == Conn::State::Head && c.started)
                    sendBestEffort(c, 408, "the request head did not arrive within the time allowed");
                else if (c.state == Conn::State::Body)
                    sendBestEffort(c, 408, "the request body did not arrive within the time allowed");
                close(it);
            } else if (stopping && (c.state == Conn::State::Head || c.state == Conn::State::Body)) {
                close(it);
            }
            it = next;
        }
        if (!listening && !stopping && now >= listenPausedUntil)
            setListening(true);
    }

    void sendBestEffort(Conn& c, int status, const std::string& detail)
    {
        const std::string bytes = serialize(errorResponse(status, detail), opt.defaultHeaders, false, true);
        ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }

    void loop()
    {
        setListening(true);
        epoll_event events[256];
        int64_t nextSweep = 0;
        bool stopSeen = false;
        for (;;) {
            lastTurn = monotonicMs();
            const int n = ::epoll_wait(epollFd, events, 256, 50);
            const int64_t now = monotonicMs();
            for (int i = 0; i < n; ++i) {
                void* tag = events[i].data.ptr;
                if (tag == &listenTag) {
                    acceptAll();
                } else if (tag == &wakeTag) {
                    collectDone();
                } else {
                    Conn& c = *static_cast<Conn*>(tag);
                    const uint32_t e = events[i].events;
                    if (c.state == Conn::State::Writing) {
                        if (e & (EPOLLERR | EPOLLHUP))
                            closeConn(c);
                        else if (!sendSome(c))
                            closeConn(c);
                        else if (c.outSent == c.out.size())
                            finishAnswer(c);
                    } else if (c.state == Conn::State::Head || c.state == Conn::State::Body) {
                        readable(c);
                    }
                }
            }
            while (!pending.empty()) {
                Conn* c = pending.back();
                pending.pop_back();
                c->pending = false;
                if (c->state == Conn::State::Head)
                    advance(*c);
            }
            if (stopping && !stopSeen) {
                stopSeen = true;
                setListening(false);
                nextSweep = 0;
            }
            if (now >= nextSweep) {
                sweep(now);
                nextSweep = now + 50;
            }
            if (stopSeen && conns.empty())
                break;
        }
    }

    // --- the pool ---------------------------------------------------------

    void work()
    {
        for (;;) {
            Conn* c = nullptr;
            {
                std::unique_lock lock(mutex);
                ready.wait(lock, [this] { return poolStop || !queue.empty(); });
                if (queue.empty())
                    return;
                c = queue.front();
                queue.pop_front();
            }
            serve(*c);
            {
                std::lock_guard lock(mutex);
                done.push_back(c);
            }
            const uint64_t one = 1;
            [[maybe_unused]] ssize_t r = ::write(wakeFd, &one, sizeof one);
        }
    }

    void serve(Conn& c)
    {
        Request req;
        req.method = std::move(c.head.method);
        req.path = std::move(c.head.path);
        req.body = std::move(c.body);
        req.remoteAddr = c.peer;
        req.query = std::move(c.head.query);
        req.headers = std::move(c.head.headers);
        req.pathParams = std::move(c.params);
        Response res;
        try {
            c.route->handler(req, res);
        } catch (...) {
            res = errorResponse(500, "the server failed to answer");
        }
        c.closeAfter = !c.head.keepAlive || opt.keepAliveMax <= 1 || c.served + 1 >= opt.keepAliveMax || stopping;
        c.out = serialize(res, opt.defaultHeaders, req.method == "HEAD", c.closeAfter);
        c.outSent = 0;
        if (!sendSome(c))
            c.outSent = SIZE_MAX;
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
    const std::string where = p->opt.host + ":" + std::to_string(p->opt.port);
    auto listener = listenOn(p->opt.host, p->opt.port);
    if (!listener)
        return fail(listener.error());
    p->listenFd = listener->fd;
    p->port = listener->port;
    p->epollFd = ::epoll_create1(EPOLL_CLOEXEC);
    p->wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->epollFd < 0 || p->wakeFd < 0)
        return fail(Error::network("cannot serve " + where + ": " + std::strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &p->wakeTag;
    ::epoll_ctl(p->epollFd, EPOLL_CTL_ADD, p->wakeFd, &ev);
    Response busy = p->errorResponse(503, "the server has too many connections; try again in a second");
    busy.headers.emplace_back("Retry-After", "1");
    p->refusedBusy = serialize(busy, p->opt.defaultHeaders, false, true);
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::route(std::string method, std::string pattern, Handler handler)
{
    impl_->routes.add(std::move(method), pattern, std::move(handler));
}

void Server::start()
{
    if (impl_->started)
        return;
    impl_->started = true;
    impl_->lastTurn = monotonicMs();
    for (int i = 0; i < std::max(1, impl_->opt.threads); ++i)
        impl_->pool.emplace_back([p = impl_.get()] { p->work(); });
    impl_->loopThread = std::thread([p = impl_.get()] { p->loop(); });
}

void Server::stop()
{
    if (!impl_ || !impl_->started)
        return;
    impl_->stopping = true;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(impl_->wakeFd, &one, sizeof one);
    if (impl_->loopThread.joinable())
        impl_->loopThread.join();
    {
        std::lock_guard lock(impl_->mutex);
        impl_->poolStop = true;
    }
    impl_->ready.notify_all();
    for (auto& t : impl_->pool)
        if (t.joinable())
            t.join();
    impl_->pool.clear();
}

int Server::port() const { return impl_->port; }

std::string Server::address() const
{
    const std::string& h = impl_->opt.host;
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(impl_->port);
}

bool Server::loopAlive(int64_t withinMs) const
{
    return impl_->started && !impl_->stopping && monotonicMs() - impl_->lastTurn.load() <= withinMs;
}

} // namespace webhookd::http
