#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// The HTTP surface against the real webhookd (shared/reference/
// security-review-2.md S1, S4, S5, S10; issue 22's health routes): each case
// failed on the thread-per-connection server it replaced.

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fixture.h"
#include "support/raw_socket.h"

using namespace webhookd::test;
using nlohmann::json;

namespace {

std::string readToken(const Fixture& fx, const std::string& scope)
{
    const auto out = lines(fx.ctlOk({"api-key", "create", "surface-" + scope, "--scope", scope}));
    REQUIRE_FALSE(out.empty());
    REQUIRE(startsWith(out.back(), "whk_"));
    return out.back();
}

// One request on a new connection; the whole answer (the server closes
// after it: Connection: close).
std::string request(int port, const std::string& head, const std::string& body = "")
{
    int fd = connectTo(port);
    REQUIRE(fd >= 0);
    sendAll(fd, head + body);
    auto r = readAnswers(fd, 1, std::chrono::seconds(5));
    ::close(fd);
    return r.bytes;
}

std::string keyed(const std::string& method, const std::string& path, const std::string& token)
{
    return method + " " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
           "\r\nConnection: close\r\n\r\n";
}

} // namespace

TEST_CASE("S4: 400 idle and 16 slowloris connections on the API port do not delay a keyed request")
{
    Fixture fx;
    const std::string token = readToken(fx, "read");
    Process worker = fx.startWorker({"--api-listen", "127.0.0.1:0"});
    const int port = loggedPort(worker, "api listening");

    std::vector<int> held;
    for (int i = 0; i < 400; ++i) {
        held.push_back(connectTo(port));
        REQUIRE(held.back() >= 0);
    }
    std::vector<int> slow;
    for (int i = 0; i < 16; ++i) {
        slow.push_back(connectTo(port));
        REQUIRE(slow.back() >= 0);
        sendAll(slow.back(), "POST /api/v1/events HTTP/1.1\r\nHo"); // and nothing more for now
    }
    for (int round = 0; round < 3; ++round) {
        for (int fd : slow)
            sendAll(fd, "s"); // a byte now and then, as slowloris does
        const auto t0 = Steady::now();
        const std::string answer = request(port, keyed("GET", "/api/v1/targets", token));
        CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(msSince(t0) < 2000);
    }
    // The server cut the slow ones at their head deadline (5 s) and the idle
    // ones at the idle timeout (2 s).
    for (int fd : slow)
        CHECK(closedWithin(fd, std::chrono::seconds(8)));
    for (int fd : held)
        CHECK(closedWithin(fd, std::chrono::seconds(4)));
    for (int fd : held)
        ::close(fd);
    for (int fd : slow)
        ::close(fd);
    // The unauthenticated health route answers too.
    CHECK(request(port, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0) ==
          0);
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
}

TEST_CASE("S10: 32 idle connections on the status port do not delay /healthz or /livez")
{
    Fixture fx;
    Process worker = fx.startWorker({"--listen", "127.0.0.1:0"});
    const int port = loggedPort(worker, "status endpoint listening");
    std::vector<int> held;
    for (int i = 0; i < 32; ++i) {
        held.push_back(connectTo(port));
        REQUIRE(held.back() >= 0);
    }
    for (const char* path : {"/healthz", "/livez", "/readyz", "/healthz"}) {
        CAPTURE(path);
        const auto t0 = Steady::now();
        const auto r = httpGet("127.0.0.1", port, path);
        CHECK(r.status == 200);
        CHECK(msSince(t0) < 1000);
    }
    // No keep-alive on this endpoint: every answer closes its connection.
    const std::string answer = request(port, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(contains(answer, "Connection: close"));
    for (int fd : held) {
        CHECK(closedWithin(fd, std::chrono::seconds(3))); // idle for 1 s: closed
        ::close(fd);
    }
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
}

TEST_CASE("liveness and readiness do not depend on receivers; /healthz (delivery health) does")
{
    Fixture fx;
    Receiver rx({"--status", "500"});
    fx.addTarget("down", rx.url("/down"), {"--max-attempts", "1"});
    for (int i = 0; i < 10; ++i)
        fx.send("down");
    Process worker = fx.startWorker({"--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"});
    const int port = loggedPort(worker, "status endpoint listening");
    const int api = loggedPort(worker, "api listening");
    REQUIRE(waitUntil([&] { return fx.countStatus("dead_letter") == 10; }, std::chrono::seconds(20)));
    REQUIRE(waitUntil([&] { return httpGet("127.0.0.1", port, "/healthz").status == 503; }, std::chrono::seconds(5)));
    CHECK(httpGet("127.0.0.1", port, "/livez").status == 200);
    const auto ready = httpGet("127.0.0.1", port, "/readyz");
    CHECK(ready.status == 200);
    const json checks = json::parse(ready.body)["checks"];
    CHECK(checks["database"]["ok"] == true);
    CHECK(checks["api"]["ok"] == true);
    CHECK(request(api, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0) ==
          0);
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
}

TEST_CASE("S1: a gzip bomb is refused with 415 before it is read; memory stays flat")
{
    Fixture fx;
    Process worker = fx.startWorker({"--api-listen", "127.0.0.1:0", "--no-deliver"});
    const int port = loggedPort(worker, "api listening");
    // 200 MB of zeros in about 200 KB.
    const std::string bombPath = (fx.dir().path() / "bomb.gz").string();
    REQUIRE(std::system(("head -c 200000000 /dev/zero | gzip -1 > " + bombPath).c_str()) == 0);
    const std::string bomb = readFile(bombPath);
    REQUIRE(bomb.size() > 100'000);
    const int64_t before = peakRssKb(worker.pid());
    for (int i = 0; i < 4; ++i) {
        const std::string answer =
            request(port,
                    "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Encoding: gzip\r\nContent-Length: " +
                        std::to_string(bomb.size()) + "\r\n\r\n",
                    bomb);
        CHECK(answer.rfind("HTTP/1.1 415", 0) == 0);
        CHECK(contains(answer, "application/problem+json"));
    }
    CHECK(peakRssKb(worker.pid()) - before < 8'000); // not even the compressed bytes are kept
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
}

TEST_CASE("S5: smuggling shapes on webhookd's API are refused and close the connection")
{
    Fixture fx;
    const std::string token = readToken(fx, "read");
    Process worker = fx.startWorker({"--api-listen", "127.0.0.1:0", "--no-deliver"});
    const int port = loggedPort(worker, "api listening");
    const std::string inner = keyed("GET", "/api/v1/api-keys/self", token);
    // A GET whose body is a request: one answer (to the outer GET) only.
    {
        int fd = connectTo(port);
        sendAll(fd, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(inner.size()) +
                        "\r\n\r\n" + inner);
        auto r = readAnswers(fd, 2, std::chrono::milliseconds(1500));
        ::close(fd);
        CHECK(answerCount(r.bytes) == 1);
        CHECK_FALSE(contains(r.bytes, "surface-read"));
    }
    const std::vector<std::string> framings = {
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 0\r\nContent-Length: " + std::to_string(inner.size()) + "\r\n",
        "Transfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n"};
    for (const std::string& framing : framings) {
        CAPTURE(framing);
        int fd = connectTo(port);
        sendAll(fd, "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n0\r\n\r\n" + inner);
        auto r = readUntilClosed(fd, std::chrono::seconds(3));
        ::close(fd);
        CHECK(r.bytes.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(answerCount(r.bytes) == 1);
        CHECK(r.closed);
    }
    // Form-encoded bodies are not parsed by the server (S14): a large one
    // reaches the handler, which reads JSON.
    const std::string event = R"({"type":"form.sent","data":{"s":")" + std::string(9000, 'x') + R"("}})";
    const std::string writer = readToken(fx, "events:write");
    const std::string answer =
        request(port,
                "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer +
                    "\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(event.size()) + "\r\n\r\n",
                event);
    CHECK(answer.rfind("HTTP/1.1 202", 0) == 0);
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
}
