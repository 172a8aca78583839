#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// src/http: the request framing alone (request_parser.h), then the server
// in-process over real loopback sockets: smuggling shapes, compressed bodies,
// idle and slow connections, caps, pipelining, 100-continue, stop.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/request_parser.h"
#include "http/server.h"
#include "support/helpers.h"
#include "support/raw_socket.h"

using namespace webhookd;
using namespace webhookd::http;
using namespace webhookd::test;
using namespace std::chrono_literals;

namespace {

HeadResult parse(const std::string& text) { return parseHead(text); }

int refusal(const std::string& text)
{
    auto r = parse(text);
    return r.head ? 0 : r.refusal.status;
}

// A server on a free loopback port whose handlers record what they saw.
struct TestServer {
    std::unique_ptr<Server> server;
    std::atomic<int> calls{0};
    std::atomic<int> slowStarted{0};
    std::string lastBody;
    std::string lastPath;
    std::mutex mutex;

    explicit TestServer(ServerOptions o = {})
    {
        if (o.maxBodyBytes == 0)
            o.maxBodyBytes = 1 << 20;
        auto s = Server::create(std::move(o));
        REQUIRE_MESSAGE(s, why(s));
        server = std::move(*s);
        auto record = [this](const Request& req, Response& res) {
            {
                std::lock_guard lock(mutex);
                lastBody = req.body;
                lastPath = req.path;
            }
            ++calls;
            res.set(200, "path=" + req.path + " body=" + std::to_string(req.body.size()), "text/plain");
        };
        server->route("GET", "/a", record);
        server->route("GET", "/b", record);
        server->route("POST", "/a", record);
        server->route("GET", "/slow", [this](const Request&, Response& res) {
            ++slowStarted;
            std::this_thread::sleep_for(300ms); // a handler that takes a while (not a wait for an event)
            ++calls;
            res.set(200, "slow", "text/plain");
        });
        server->start();
    }

    int port() const { return server->port(); }
};

// Sends raw bytes on a new connection; returns what came back until the
// server closed it or `answers` answers arrived.
Received exchange(int port, const std::string& bytes, int answers = 0, std::chrono::milliseconds timeout = 3s)
{
    int fd = connectTo(port);
    REQUIRE(fd >= 0);
    sendAll(fd, bytes);
    Received r = answers > 0 ? readAnswers(fd, answers, timeout) : readUntilClosed(fd, timeout);
    ::close(fd);
    return r;
}

} // namespace

TEST_CASE("request heads: what is accepted")
{
    auto r = parse("GET /a/b%20c?x=1&y=a+b&x=2&z HTTP/1.1\r\nHost: h\r\nX-One:  v \r\n\r\n");
    REQUIRE(r.head);
    CHECK(r.head->method == "GET");
    CHECK(r.head->path == "/a/b c");
    REQUIRE(r.head->query.size() == 4);
    CHECK(r.head->query[0] == std::pair<std::string, std::string>{"x", "1"});
    CHECK(r.head->query[1].second == "a b");
    CHECK(r.head->query[2] == std::pair<std::string, std::string>{"x", "2"}); // repeats kept, in order
    CHECK(r.head->query[3] == std::pair<std::string, std::string>{"z", ""});
    CHECK(r.head->headers[1] == std::pair<std::string, std::string>{"X-One", "v"});
    CHECK(r.head->keepAlive);
    CHECK(r.head->body == RequestHead::Body::None);

    auto post = parse("POST /e HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(post.head);
    CHECK(post.head->body == RequestHead::Body::Length);
    CHECK(post.head->contentLength == 12);
    CHECK(post.head->expectContinue);

    auto chunked = parse("POST /e HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n");
    REQUIRE(chunked.head);
    CHECK(chunked.head->body == RequestHead::Body::Chunked);
    CHECK_FALSE(chunked.head->keepAlive);

    auto old = parse("GET / HTTP/1.0\r\n\r\n");
    REQUIRE(old.head);
    CHECK_FALSE(old.head->keepAlive);
    auto oldKept = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(oldKept.head);
    CHECK(oldKept.head->keepAlive);

    auto gz = parse("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
    REQUIRE(gz.head);
    CHECK(gz.head->contentEncoding == "gzip");
    auto identity = parse("POST / HTTP/1.1\r\nContent-Encoding: identity\r\n\r\n");
    REQUIRE(identity.head);
    CHECK_FALSE(identity.head->contentEncoding);
}

TEST_CASE("request heads: framing two parsers could read differently is refused (RFC 9112 §6)")
{
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n") == 400); // whitespace before the colon
    CHECK(refusal("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n") == 400);            // obsolete folding
    CHECK(refusal("GET / HTTP/1.1\nHost: x\r\n\r\n") == 400);                 // a bare LF
    CHECK(refusal("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") == 400);               // a bare CR in a value
    CHECK(refusal(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 25)) == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(refusal("GET http://evil/ HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /a%zz HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /a%00 HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /a%2 HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET  / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(refusal("G(T / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n") == 414);
    CHECK(refusal("POST / HTTP/1.1\r\nExpect: something\r\n\r\n") == 417);
    std::string many = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 101; ++i)
        many += "X-" + std::to_string(i) + ": v\r\n";
    CHECK(refusal(many + "\r\n") == 431);
}

TEST_CASE("chunked bodies are decoded as they arrive, strictly")
{
    auto decode = [](const std::string& in, size_t max = 1000, size_t piece = 1) {
        ChunkedDecoder d(max);
        std::string out;
        size_t at = 0;
        ChunkedDecoder::Step step{ChunkedDecoder::State::More, 0};
        while (at < in.size() && step.state == ChunkedDecoder::State::More) {
            step = d.feed(std::string_view(in).substr(at, piece), out);
            at += step.used;
        }
        return std::tuple{step.state, out, d.refusal().status, at};
    };
    for (size_t piece : {1, 3, 1000}) {
        auto [state, out, status, used] = decode("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: y\r\n\r\nNEXT", 1000, piece);
        CHECK(state == ChunkedDecoder::State::Done);
        CHECK(out == "hello world");
        CHECK(used == 40); // NEXT is the next request's
    }
    CHECK(std::get<0>(decode("5\r\nhelloX\r\n0\r\n\r\n")) == ChunkedDecoder::State::Failed);
    CHECK(std::get<0>(decode("zz\r\n")) == ChunkedDecoder::State::Failed);
    CHECK(std::get<0>(decode("5\nhello\r\n")) == ChunkedDecoder::State::Failed);
    CHECK(std::get<0>(decode("FFFFFFFFFFFFFFFFFFFF\r\n")) == ChunkedDecoder::State::Failed);
    auto [state, out, status, used] = decode("10\r\n", 8);
    CHECK(state == ChunkedDecoder::State::Failed);
    CHECK(status == 413);
}

TEST_CASE("the server answers requests and keeps connections alive")
{
    TestServer s;
    auto two = exchange(s.port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", 2);
    CHECK(answerCount(two.bytes) == 2);
    CHECK(contains(two.bytes, "path=/a body=0"));
    CHECK(contains(two.bytes, "path=/b body=0"));
    CHECK(two.bytes.find("path=/a") < two.bytes.find("path=/b")); // pipelined, answered in order
    CHECK_FALSE(contains(two.bytes, "Connection: close"));
    CHECK(contains(two.bytes, "Date: "));

    auto chunked = exchange(s.port(),
                            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1);
    CHECK(contains(chunked.bytes, "HTTP/1.1 200"));
    CHECK(contains(chunked.bytes, "body=3"));

    auto expect = exchange(s.port(), "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 0,
                           500ms);
    CHECK(expect.bytes.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);

    auto head = exchange(s.port(), "HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(contains(head.bytes, "Content-Length: 14"));
    CHECK_FALSE(contains(head.bytes, "path="));
    CHECK(head.closed);

    auto notFound = exchange(s.port(), "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    CHECK(notFound.bytes.rfind("HTTP/1.1 404", 0) == 0);
    auto wrongMethod = exchange(s.port(), "DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    CHECK(wrongMethod.bytes.rfind("HTTP/1.1 405", 0) == 0);
    CHECK(contains(wrongMethod.bytes, "Allow: GET, POST"));
}

TEST_CASE("the observer hears every answer once: the handlers' and the server's own, with the route's pattern")
{
    struct Seen {
        std::string method, route;
        int status;
        double seconds;
        bool fromHandler;
    };
    std::mutex mutex;
    std::vector<Seen> seen;
    ServerOptions o;
    o.observer = [&](const Exchange& x) {
        std::lock_guard lock(mutex);
        seen.push_back({std::string(x.method), std::string(x.route), x.status, x.seconds, x.logFields != nullptr});
    };
    TestServer s(o);
    CHECK(exchange(s.port(), "GET /a?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n", 1).bytes.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(exchange(s.port(), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 1).bytes.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(exchange(s.port(), "GET /nothing/42 HTTP/1.1\r\nHost: x\r\n\r\n", 1).bytes.rfind("HTTP/1.1 404", 0) == 0);
    CHECK(exchange(s.port(), "DELETE /b HTTP/1.1\r\nHost: x\r\n\r\n", 1).bytes.rfind("HTTP/1.1 405", 0) == 0);
    CHECK(exchange(s.port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\n")
              .bytes.rfind("HTTP/1.1 415", 0) == 0);
    CHECK(exchange(s.port(), "GET /a HTTP/1.1\r\nHost : x\r\n\r\n").bytes.rfind("HTTP/1.1 400", 0) == 0);

    std::lock_guard lock(mutex);
    REQUIRE(seen.size() == 6);
    auto is = [](const Seen& x, const char* method, const char* route, int status, bool fromHandler) {
        return x.method == method && x.route == route && x.status == status && x.fromHandler == fromHandler &&
            x.seconds >= 0 && x.seconds < 5;
    };
    CHECK(is(seen[0], "GET", "/a", 200, true));
    CHECK(is(seen[1], "GET", "/slow", 200, true));
    CHECK(seen[1].seconds >= 0.3); // the handler's time counts
    CHECK(is(seen[2], "GET", "", 404, false));
    CHECK(is(seen[3], "DELETE", "/b", 405, false)); // the path's pattern, though not its method
    CHECK(is(seen[4], "POST", "/a", 415, false));
    CHECK(is(seen[5], "", "", 400, false)); // no head was read
}

TEST_CASE("S5: no body is ever read as a request, and refused framing closes the connection")
{
    TestServer s;
    const std::string smuggled = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    SUBCASE("a GET's body is read and dropped, not parsed as the next request")
    {
        auto r = exchange(s.port(),
                          "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(smuggled.size()) +
                              "\r\n\r\n" + smuggled,
                          2, 1s);
        CHECK(answerCount(r.bytes) == 1);
        CHECK(contains(r.bytes, "path=/a body=" + std::to_string(smuggled.size())));
        CHECK(s.calls == 1);
    }
    SUBCASE("a GET's chunked body likewise")
    {
        char size[16];
        std::snprintf(size, sizeof size, "%zx", smuggled.size());
        auto r = exchange(s.port(),
                          "GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) +
                              "\r\n" + smuggled + "\r\n0\r\n\r\n",
                          2, 1s);
        CHECK(answerCount(r.bytes) == 1);
        CHECK(s.calls == 1);
    }
    SUBCASE("a body of a request that has no route closes the connection after the answer")
    {
        auto r = exchange(s.port(), "GET /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                        std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
        CHECK(answerCount(r.bytes) == 1);
        CHECK(r.closed);
        CHECK(s.calls == 0);
    }
    for (const std::string head : {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
                                   "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
                                   "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n"}) {
        CAPTURE(head);
        const int before = s.calls;
        auto r = exchange(s.port(), head + "0\r\n\r\n" + smuggled);
        CHECK(r.bytes.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(answerCount(r.bytes) == 1);
        CHECK(contains(r.bytes, "Connection: close"));
        CHECK(r.closed);
        CHECK(s.calls == before);
    }
}

TEST_CASE("S1: a compressed body is refused with 415 before a byte of it is read")
{
    TestServer s;
    int fd = connectTo(s.port());
    REQUIRE(fd >= 0);
    // The head promises a body that never comes: the answer cannot wait for it.
    sendAll(fd, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 900000\r\n\r\n");
    auto r = readUntilClosed(fd, 2s);
    ::close(fd);
    CHECK(r.bytes.rfind("HTTP/1.1 415", 0) == 0);
    CHECK(contains(r.bytes, "gzip"));
    CHECK(r.closed);
    CHECK(s.calls == 0);
    auto br = exchange(s.port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(br.bytes.rfind("HTTP/1.1 415", 0) == 0);
}

TEST_CASE("bodies over the cap are refused before they are read")
{
    ServerOptions o;
    o.maxBodyBytes = 100;
    TestServer s(o);
    auto big = exchange(s.port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
    CHECK(big.bytes.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(big.closed);
    auto chunks = exchange(s.port(), "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n");
    CHECK(chunks.bytes.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(s.calls == 0);
}

TEST_CASE("S4: idle and slow connections hold no thread; deadlines close them")
{
    ServerOptions o;
    o.threads = 2;
    o.keepAliveTimeoutMs = 400;
    o.headTimeoutMs = 600;
    o.requestDeadlineMs = 800;
    TestServer s(o);
    std::vector<int> idle, slow;
    for (int i = 0; i < 300; ++i) {
        idle.push_back(connectTo(s.port()));
        REQUIRE(idle.back() >= 0);
    }
    for (int i = 0; i < 16; ++i) {
        slow.push_back(connectTo(s.port()));
        REQUIRE(slow.back() >= 0);
        sendAll(slow.back(), "GET /a HTTP/1.1\r\nHo");
    }
    const auto t0 = Steady::now();
    auto r = exchange(s.port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    CHECK(msSince(t0) < 500);
    CHECK(r.bytes.rfind("HTTP/1.1 200", 0) == 0);
    // A silent connection is closed after the idle time; a head still
    // coming after its deadline gets 408.
    for (int fd : idle)
        CHECK(closedWithin(fd, 2s));
    for (int fd : slow) {
        auto got = readUntilClosed(fd, 2s);
        CHECK(got.closed);
        CHECK(got.bytes.rfind("HTTP/1.1 408", 0) == 0);
    }
    for (int fd : idle)
        ::close(fd);
    for (int fd : slow)
        ::close(fd);
    // The body too has a deadline.
    int fd = connectTo(s.port());
    sendAll(fd, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    auto body = readUntilClosed(fd, 2s);
    ::close(fd);
    CHECK(body.closed);
    CHECK(body.bytes.rfind("HTTP/1.1 408", 0) == 0);
    CHECK(s.calls == 1); // the one complete request only
}

TEST_CASE("connections over a cap are answered 503 at once, not queued")
{
    ServerOptions o;
    o.maxConnectionsPerPeer = 4;
    TestServer s(o);
    std::vector<int> held;
    for (int i = 0; i < 4; ++i)
        held.push_back(connectTo(s.port()));
    auto r = exchange(s.port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(r.bytes.rfind("HTTP/1.1 503", 0) == 0);
    CHECK(contains(r.bytes, "Retry-After: 1"));
    CHECK(r.closed);
    for (int fd : held)
        ::close(fd);
    // Once they are gone there is room again.
    CHECK(waitUntil([&] { return exchange(s.port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 1).bytes.rfind("HTTP/1.1 200", 0) == 0; },
                    3s));
}

TEST_CASE("without keep-alive every answer closes; stop waits for handlers and ends idle connections")
{
    ServerOptions o;
    o.keepAliveMax = 1;
    auto s = std::make_unique<TestServer>(o);
    auto r = exchange(s->port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(answerCount(r.bytes) == 1);
    CHECK(contains(r.bytes, "Connection: close"));
    CHECK(r.closed);

    int idle = connectTo(s->port());
    int busy = connectTo(s->port());
    sendAll(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(waitUntil([&] { return s->slowStarted == 1; }, 2s, 1ms));
    const auto t0 = Steady::now();
    s->server->stop();
    CHECK(msSince(t0) < 2000);
    auto answered = readUntilClosed(busy, 1s);
    CHECK(answered.bytes.rfind("HTTP/1.1 200", 0) == 0); // the request in progress was answered
    CHECK(closedWithin(idle, 1s));
    ::close(idle);
    ::close(busy);
}
