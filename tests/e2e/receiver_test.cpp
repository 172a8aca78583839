#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "signing/signing.h"
#include "support/helpers.h"
#include "support/process.h"
#include "support/temp_dir.h"

using namespace webhookd;
using namespace webhookd::test;
using nlohmann::json;

namespace {

httplib::Client clientFor(const Receiver& rx)
{
    httplib::Client client("127.0.0.1", rx.port());
    client.set_read_timeout(10, 0);
    return client;
}

httplib::Result post(const Receiver& rx, const std::string& path, const std::string& body = R"({"n":1})",
                     httplib::Headers headers = {})
{
    return clientFor(rx).Post(path.c_str(), headers, body, "application/json");
}

} // namespace

TEST_CASE("receiver: a scripted path answers its statuses in order, then repeats the last")
{
    Receiver rx({"--script", "/flaky=500,500,200"});
    std::vector<int> statuses;
    for (int i = 0; i < 5; ++i) {
        auto res = post(rx, "/flaky");
        REQUIRE(res);
        statuses.push_back(res->status);
    }
    CHECK(statuses == std::vector<int>{500, 500, 200, 200, 200});

    SUBCASE("a path without a script gets the default status")
    {
        auto res = post(rx, "/other");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == R"({"ok":true})");
    }
    SUBCASE("a reset starts the script again and forgets the requests")
    {
        rx.reset();
        CHECK(rx.requests().empty());
        auto res = post(rx, "/flaky");
        REQUIRE(res);
        CHECK(res->status == 500);
    }
}

TEST_CASE("receiver: --status sets the answer for unscripted paths")
{
    Receiver rx({"--status", "204"});
    auto res = post(rx, "/hook");
    REQUIRE(res);
    CHECK(res->status == 204);
    CHECK(res->body.empty());
}

TEST_CASE("receiver: a 429 step carries Retry-After in seconds")
{
    Receiver rx({"--script", "/limited=429;retry-after=2,200"});
    auto first = post(rx, "/limited");
    REQUIRE(first);
    CHECK(first->status == 429);
    CHECK(first->get_header_value("Retry-After") == "2");
    auto second = post(rx, "/limited");
    REQUIRE(second);
    CHECK(second->status == 200);
    CHECK_FALSE(second->has_header("Retry-After"));
}

TEST_CASE("receiver: retry-after-date is an HTTP date that many seconds in the future")
{
    Receiver rx({"--script", "/later=503;retry-after-date=120"});
    int64_t before = SystemClock::instance().nowMs() / 1000;
    auto res = post(rx, "/later");
    REQUIRE(res);
    CHECK(res->status == 503);
    std::string date = res->get_header_value("Retry-After");
    std::tm tm{};
    const char* end = strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    REQUIRE(end != nullptr);
    CHECK(*end == '\0');
    int64_t at = timegm(&tm); // also fills in the weekday, for the round trip below
    char again[64];
    std::strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    CHECK(date == again); // IMF-fixdate exactly: zero-padded, English names, GMT
    CHECK(at >= before + 119);
    CHECK(at <= before + 122);
}

TEST_CASE("receiver: a delay step holds the answer back at least that long")
{
    Receiver rx({"--script", "/slow=201;delay=300"});
    auto start = std::chrono::steady_clock::now();
    auto res = post(rx, "/slow");
    REQUIRE(res);
    CHECK(res->status == 201);
    CHECK(msSince(start) >= 300);
}

TEST_CASE("receiver: a drop step closes the connection without any response")
{
    Receiver rx({"--script", "/drop=drop,200"});
    auto dropped = post(rx, "/drop");
    CHECK_FALSE(dropped);
    CHECK(dropped.error() != httplib::Error::Success);

    auto next = post(rx, "/drop");
    REQUIRE(next);
    CHECK(next->status == 200);

    json requests = rx.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0]["status"].is_null());
    CHECK(requests[1]["status"] == 200);
    CHECK(rx.stats()["by_status"]["drop"] == 1);
}

TEST_CASE("receiver: a slow step trickles a valid body out over the given time")
{
    Receiver rx({"--script", "/trickle=slow=500"});
    auto start = std::chrono::steady_clock::now();
    auto res = post(rx, "/trickle");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(msSince(start) >= 450);
    CHECK(json::parse(res->body)["ok"] == true);
}

TEST_CASE("receiver: with --secret, signed requests pass and tampered ones get 401")
{
    const std::string secret = generateSecret();
    Receiver rx({"--secret", secret});
    auto key = secretKey(secret);
    REQUIRE(key);
    const std::string id = "msg_test1";
    const int64_t ts = SystemClock::instance().nowMs() / 1000;
    const std::string body = R"({"type":"order.created"})";
    httplib::Headers headers{
        {"webhook-id", id},
        {"webhook-timestamp", std::to_string(ts)},
        {"webhook-signature", signatureHeader({*key}, id, ts, body)},
    };

    auto good = post(rx, "/hook", body, headers);
    REQUIRE(good);
    CHECK(good->status == 200);
    auto bad = post(rx, "/hook", R"({"type":"order.paid"})", headers);
    REQUIRE(bad);
    CHECK(bad->status == 401);
    auto unsigned_ = post(rx, "/hook", body);
    REQUIRE(unsigned_);
    CHECK(unsigned_->status == 401);

    json requests = rx.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0]["signature_valid"] == true);
    CHECK(requests[0]["webhook_id"] == id);
    CHECK(requests[0]["body"] == body);
    CHECK(requests[1]["signature_valid"] == false);
    CHECK(requests[1]["status"] == 401);
    CHECK(requests[2]["signature_valid"] == false);
}

TEST_CASE("receiver: without --secret, signature_valid is null")
{
    Receiver rx;
    REQUIRE(post(rx, "/hook"));
    CHECK(rx.requests()[0]["signature_valid"].is_null());
}

TEST_CASE("receiver: /_stats counts distinct and duplicate webhook ids")
{
    Receiver rx({"--script", "/a=500,200"});
    for (const char* id : {"msg_1", "msg_1", "msg_2"})
        REQUIRE(post(rx, "/a", "{}", {{"webhook-id", id}}));
    REQUIRE(post(rx, "/b", "{}", {{"webhook-id", "msg_2"}}));
    REQUIRE(post(rx, "/b")); // no id: counted as a request, not as an id

    json stats = rx.stats();
    CHECK(stats["requests"] == 5);
    CHECK(stats["distinct_ids"] == 2);
    CHECK(stats["duplicate_ids"] == 2);
    CHECK(stats["by_path"]["/a"] == 3);
    CHECK(stats["by_path"]["/b"] == 2);
    CHECK(stats["by_status"]["500"] == 1);
    CHECK(stats["by_status"]["200"] == 4);
}

TEST_CASE("receiver: methods other than POST get 405")
{
    Receiver rx;
    auto res = clientFor(rx).Get("/hook");
    REQUIRE(res);
    CHECK(res->status == 405);
    CHECK(rx.requests()[0]["method"] == "GET");
}

TEST_CASE("receiver: --log appends one JSON line per request with lowercase headers")
{
    TempDir dir;
    const std::string logPath = dir.file("requests.ndjson");
    Receiver rx({"--log", logPath, "--script", "/x=drop"});
    REQUIRE(post(rx, "/hook", "{}", {{"webhook-id", "msg_log"}, {"User-Agent", "test-agent/1"}}));
    CHECK_FALSE(post(rx, "/x"));

    std::ifstream in(logPath);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["webhook_id"] == "msg_log");
    CHECK(lines[0]["user_agent"] == "test-agent/1");
    CHECK(lines[0]["headers"]["user-agent"] == "test-agent/1");
    CHECK_FALSE(lines[0]["headers"].contains("remote_addr"));
    CHECK(lines[0]["content_type"] == "application/json");
    CHECK(lines[0]["body_bytes"] == 2);
    CHECK(lines[0]["status"] == 200);
    CHECK_FALSE(lines[0].contains("body"));
    CHECK(lines[1]["status"].is_null());
}

TEST_CASE("receiver: SIGTERM stops it with exit code 0")
{
    Receiver rx;
    REQUIRE(post(rx, "/hook"));
    CHECK(rx.stop() == 0);
}

TEST_CASE("receiver: an invalid --script exits 2 with one line on stderr")
{
    const std::string receiver = binary("WEBHOOKD_BIN_RECEIVER");
    for (const char* spec : {"/x=abc", "/x=200;bogus=1", "nopath", "/x=", "/_stats=200", "/x=drop;retry-after=1"}) {
        CAPTURE(spec);
        RunResult r = run({receiver, "--script", spec});
        CHECK(r.exitCode == 2);
        CHECK(r.out.empty());
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.back() == '\n');
    }
}
