#include "http/loop.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace webhookd::http {

// Sends what it can without waiting; false when the connection failed.
bool sendSome(Conn& c)
{
    while (c.outSent < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.outSent, c.out.size() - c.outSent, MSG_NOSIGNAL | MSG_DONTWAIT);
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

Response Server::Impl::errorResponse(int status, const std::string& detail) const
{
    Response r;
    if (opt.errorWriter)
        opt.errorWriter(status, detail, r);
    else
        r.set(status, detail + "\n", "text/plain; charset=utf-8");
    return r;
}

// The route for c's request head; nullptr when none has its path (404,
// in `error`) or none of those has its method (405 with Allow, and
// c.pathRoute set).
const Route* Server::Impl::select(Conn& c, Response& error) const
{
    const std::string& method = c.head.method;
    const std::string& path = c.head.path;
    std::string allow;
    if (const Route* r = routes.find(method, path, c.params, allow, &c.pathRoute))
        return r;
    if (allow.empty()) {
        error = errorResponse(404, "there is nothing at " + path);
    } else {
        error = errorResponse(405, method + " is not allowed on " + path + "; use " + allow);
        error.headers.emplace_back("Allow", allow);
    }
    return nullptr;
}

void Server::Impl::releaseBody(Conn& c)
{
    bufferedBody -= c.reserved;
    c.reserved = 0;
}

void Server::Impl::observe(const Conn& c, std::string_view method, int status, const Fields* logFields) const
{
    if (!opt.observer)
        return;
    Exchange x;
    x.method = method;
    const Route* r = c.route ? c.route : c.pathRoute;
    x.route = r ? std::string_view(r->pattern) : std::string_view();
    x.status = status;
    if (c.started)
        x.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.began).count();
    x.logFields = logFields;
    opt.observer(x);
}

// Queues an answer the loop made; closes after it when `close`.
void Server::Impl::answer(Conn& c, const Response& r, bool close)
{
    observe(c, c.head.method, r.status, nullptr);
    c.closeAfter = close || stopping;
    c.out = serialize(r, opt.defaultHeaders, false, c.closeAfter);
    c.outSent = 0;
    startWrite(c);
}

void Server::Impl::startWrite(Conn& c)
{
    c.state = Conn::State::Writing;
    if (!sendSome(c))
        return closeConn(c);
    awaitWritten(c);
}

void Server::Impl::awaitWritten(Conn& c)
{
    if (c.outSent < c.out.size()) {
        c.deadline = monotonicMs() + opt.ioTimeoutMs;
        watch(c, EPOLLOUT);
        return;
    }
    finishAnswer(c);
}

void Server::Impl::finishAnswer(Conn& c)
{
    if (c.closeAfter)
        return closeConn(c);
    ++c.served;
    releaseBody(c);
    c.out.clear();
    c.outSent = 0;
    c.head = RequestHead{};
    c.route = nullptr;
    c.pathRoute = nullptr;
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

void Server::Impl::readable(Conn& c)
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
void Server::Impl::advance(Conn& c, bool eof)
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
            c.began = std::chrono::steady_clock::now();
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
        c.route = select(c, error);
        if (!c.route)
            return answer(c, error, hasBody || !c.head.keepAlive);
        if (c.head.contentEncoding)
            return refuse(
                c, 415, "Content-Encoding " + *c.head.contentEncoding + " is not accepted; send the body uncompressed");
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

bool Server::Impl::reserve(Conn& c, size_t bytes)
{
    if (bufferedBody + bytes > opt.maxBufferedBodyBytes)
        return false;
    bufferedBody += bytes;
    c.reserved += bytes;
    return true;
}

void Server::Impl::sendBestEffort(Conn& c, int status, const std::string& detail)
{
    observe(c, c.head.method, status, nullptr);
    const std::string bytes = serialize(errorResponse(status, detail), opt.defaultHeaders, false, true);
    ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

} // namespace webhookd::http
