#include "http/server.h"
#include "http/loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace webhookd::http {

Server::Impl::Impl(ServerOptions o)
    : opt(std::move(o))
{ }

Server::Impl::~Impl()
{
    for (int fd : {listenFd, epollFd, wakeFd})
        if (fd >= 0)
            ::close(fd);
}

void Server::Impl::watch(Conn& c, uint32_t events)
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

void Server::Impl::close(std::list<Conn>::iterator it)
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

void Server::Impl::acceptAll()
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

void Server::Impl::setListening(bool on)
{
    if (on == listening)
        return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &listenTag;
    ::epoll_ctl(epollFd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listenFd, &ev);
    listening = on;
}

void Server::Impl::dispatch(Conn& c)
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

void Server::Impl::collectDone()
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
        awaitWritten(*c);
    }
}

void Server::Impl::sweep(int64_t now)
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

void Server::Impl::loop()
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

void Server::Impl::work()
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

void Server::Impl::serve(Conn& c)
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
    observe(c, req.method, res.status, &res.logFields);
    c.closeAfter = !c.head.keepAlive || opt.keepAliveMax <= 1 || c.served + 1 >= opt.keepAliveMax || stopping;
    c.out = serialize(res, opt.defaultHeaders, req.method == "HEAD", c.closeAfter);
    c.outSent = 0;
    if (!sendSome(c))
        c.outSent = SIZE_MAX;
}

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
