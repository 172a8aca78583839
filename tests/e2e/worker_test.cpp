#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// End-to-end tests of the delivery worker: a real SQLite file in a temporary
// folder, the real webhookctl and webhookd binaries, the real test receiver
// with scripted faults, and real signals. Nothing is mocked. The last case
// runs webhookd::Worker in-process on a database made with the storage API.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/targets.h"
#include "support/fixture.h"
#include "support/print.h"
#include "support/process.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"
#include "worker/worker.h"

using namespace webhookd;
using namespace webhookd::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<std::optional<int>> attemptCodes(const json& delivery)
{
    std::vector<std::optional<int>> codes;
    for (const auto& a : delivery.at("attempts"))
        codes.push_back(a.at("status_code").is_null() ? std::nullopt
                                                      : std::optional<int>(a.at("status_code").get<int>()));
    return codes;
}

// One target per scripted path, one event per target, one drain; returns the
// delivery id for each path.
std::map<std::string, int64_t> deliverScripted(Fixture& fx, const Receiver& rx, const std::vector<std::string>& paths,
                                               std::vector<std::string> targetFlags = kFastRetry)
{
    std::map<std::string, int64_t> ids;
    for (const auto& path : paths) {
        const std::string id = "t" + path.substr(1);
        fx.addTarget(id, rx.url(path), targetFlags);
        ids[path] = fx.send(id, "status.test", json{{"path", path}}.dump());
    }
    fx.drain();
    return ids;
}

} // namespace

TEST_CASE("worker: 200, 201 and 204 are delivered with one attempt")
{
    Receiver rx({"--script", "/s200=200", "--script", "/s201=201", "--script", "/s204=204"});
    Fixture fx;
    auto ids = deliverScripted(fx, rx, {"/s200", "/s201", "/s204"});
    for (const auto& [path, id] : ids) {
        CAPTURE(path);
        json d = fx.show(id);
        CHECK(d["status"] == "delivered");
        CHECK(d["attempt_count"] == 1);
        CHECK(attemptCodes(d) == std::vector<std::optional<int>>{std::stoi(path.substr(2))});
        CHECK(d["last_status_code"] == std::stoi(path.substr(2)));
        CHECK_FALSE(d["completed_at"].is_null());
        CHECK_FALSE(d.contains("dead_letter_reason"));
    }
    CHECK(fx.sqlInt("SELECT count(*) FROM dead_letters") == 0);
    CHECK(rx.stats()["requests"] == 3);
}

TEST_CASE(
    "worker: attempts that did not deliver keep their request and answer heads; --attempt-heads all keeps every one's")
{
    Receiver rx({"--script", "/flaky=500,200", "--script", "/ok=200"});
    Fixture fx;
    fx.addTarget("flaky", rx.url("/flaky"), {"--initial-delay", "50ms", "--header", "X-Api-Key: hunter2"});
    fx.addTarget("ok", rx.url("/ok"));
    const int64_t flaky = fx.send("flaky", "heads.test");
    fx.drain();
    json d = fx.show(flaky);
    REQUIRE(d["attempts"].size() == 2);
    const std::string head = d["attempts"][0]["request_head"].get<std::string>();
    CHECK(head.rfind("POST " + rx.url("/flaky") + "\n", 0) == 0);
    CHECK(head.find("webhook-signature: v1,") != std::string::npos);
    CHECK(head.find("X-Api-Key: ********\n") != std::string::npos);
    CHECK(head.find("hunter2") == std::string::npos);
    CHECK(d["attempts"][0]["response_head"].get<std::string>().rfind("HTTP/1.1 500", 0) == 0);
    CHECK(d["attempts"][1]["request_head"].is_null()); // delivered: status and excerpt only
    CHECK(d["attempts"][1]["response_head"].is_null());
    const int64_t ok = fx.send("ok", "heads.test");
    fx.drain({"--attempt-heads", "all"});
    d = fx.show(ok);
    REQUIRE(d["attempts"].size() == 1);
    CHECK(d["attempts"][0]["request_head"].get<std::string>().find(
              "webhook-id: " + d["event_uid"].get<std::string>()) != std::string::npos);
    CHECK(d["attempts"][0]["response_head"].get<std::string>().rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("worker: 408, 429, 500, 502, 503 and 504 are retried and then delivered")
{
    const std::vector<int> codes = {408, 429, 500, 502, 503, 504};
    std::vector<std::string> args, paths;
    for (int code : codes) {
        const std::string path = "/r" + std::to_string(code);
        args.insert(args.end(), {"--script", path + "=" + std::to_string(code) + ",200"});
        paths.push_back(path);
    }
    Receiver rx(args);
    Fixture fx;
    auto ids = deliverScripted(fx, rx, paths);
    for (int code : codes) {
        CAPTURE(code);
        json d = fx.show(ids.at("/r" + std::to_string(code)));
        CHECK(d["status"] == "delivered");
        CHECK(d["attempt_count"] == 2);
        CHECK(attemptCodes(d) == std::vector<std::optional<int>>{code, 200});
        CHECK(d["attempts"][0]["number"] == 1);
        CHECK(d["attempts"][1]["number"] == 2);
    }
    CHECK(fx.sqlInt("SELECT count(*) FROM dead_letters") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == 2 * static_cast<int64_t>(codes.size()));
}

TEST_CASE("worker: 400, 401, 404, 410, 422, 301 and 302 go to the dead-letter queue after one attempt")
{
    const std::vector<int> codes = {400, 401, 404, 410, 422, 301, 302};
    std::vector<std::string> args, paths;
    for (int code : codes) {
        const std::string path = "/d" + std::to_string(code);
        // A 200 follows, so a wrongful retry would show up as a delivery.
        args.insert(args.end(), {"--script", path + "=" + std::to_string(code) + ",200"});
        paths.push_back(path);
    }
    Receiver rx(args);
    Fixture fx;
    auto ids = deliverScripted(fx, rx, paths);
    for (int code : codes) {
        CAPTURE(code);
        const int64_t id = ids.at("/d" + std::to_string(code));
        json d = fx.show(id);
        CHECK(d["status"] == "dead_letter");
        CHECK(d["attempt_count"] == 1);
        CHECK(attemptCodes(d) == std::vector<std::optional<int>>{code});
        REQUIRE(d.contains("dead_letter_reason"));
        CHECK(d["dead_letter_reason"].get<std::string>().find(std::to_string(code)) != std::string::npos);
        CHECK(fx.sqlInt("SELECT count(*) FROM dead_letters WHERE delivery_id = " + std::to_string(id)) == 1);
    }
    CHECK(rx.stats()["requests"] == codes.size());
}

TEST_CASE("worker: a retryable status past the attempt budget goes to the dead-letter queue")
{
    Receiver rx({"--script", "/always=500"});
    Fixture fx;
    std::vector<std::string> flags = kFastRetry;
    flags.insert(flags.end(), {"--max-attempts", "3"});
    auto ids = deliverScripted(fx, rx, {"/always"}, flags);
    json d = fx.show(ids.at("/always"));
    CHECK(d["status"] == "dead_letter");
    CHECK(d["attempt_count"] == 3);
    CHECK(attemptCodes(d) == std::vector<std::optional<int>>{500, 500, 500});
    REQUIRE(d.contains("dead_letter_reason"));
    const std::string reason = d["dead_letter_reason"];
    CHECK(reason.find("3 attempts") != std::string::npos);
    CHECK(reason.find("500") != std::string::npos);
    CHECK(fx.sqlInt("SELECT count(*) FROM dead_letters") == 1);
    CHECK(rx.stats()["requests"] == 3);
}

// curl hands header lines over with their CRLF; the value must still parse.
TEST_CASE("worker: a 429 with Retry-After in seconds delays the next attempt at least that long")
{
    Receiver rx({"--script", "/ra=429;retry-after=1,200"});
    Fixture fx;
    auto ids = deliverScripted(fx, rx, {"/ra"});
    json d = fx.show(ids.at("/ra"));
    CHECK(d["status"] == "delivered");
    REQUIRE(d["attempts"].size() == 2);
    CHECK(attemptCodes(d) == std::vector<std::optional<int>>{429, 200});
    CHECK(d["attempts"][0]["retry_after_ms"] == 1000);
    const int64_t gap = d["attempts"][1]["started_at"].get<int64_t>() - d["attempts"][0]["started_at"].get<int64_t>();
    CHECK(gap >= 1000);
    // The same in SQL, on the contract's column names.
    CHECK(fx.sqlInt("SELECT retry_after_ms FROM attempts WHERE number = 1") == 1000);
    CHECK(fx.sqlInt("SELECT max(started_at) - min(started_at) FROM attempts") >= 1000);
}

// curl hands header lines over with their CRLF; the value must still parse.
TEST_CASE("worker: a 503 with Retry-After as an HTTP date delays the next attempt until that date")
{
    // The date is two whole seconds ahead of the receiver's clock, so at least
    // one second ahead of the moment the worker reads it.
    Receiver rx({"--script", "/rad=503;retry-after-date=2,200"});
    Fixture fx;
    auto ids = deliverScripted(fx, rx, {"/rad"});
    json d = fx.show(ids.at("/rad"));
    CHECK(d["status"] == "delivered");
    REQUIRE(d["attempts"].size() == 2);
    CHECK(attemptCodes(d) == std::vector<std::optional<int>>{503, 200});
    REQUIRE_FALSE(d["attempts"][0]["retry_after_ms"].is_null());
    const int64_t retryAfter = d["attempts"][0]["retry_after_ms"];
    CHECK(retryAfter > 900);
    CHECK(retryAfter <= 2000);
    const int64_t gap = d["attempts"][1]["started_at"].get<int64_t>() - d["attempts"][0]["started_at"].get<int64_t>();
    CHECK(gap >= 1000);
    CHECK(gap >= retryAfter);
}

TEST_CASE("worker: a rate-limited target is sent no faster than its rate, without extra attempts")
{
    Receiver rx;
    Fixture fx;
    std::vector<std::string> flags = kFastRetry;
    flags.insert(flags.end(), {"--rate", "5", "--burst", "1"});
    fx.addTarget("limited", rx.url("/limited"), flags);
    auto ids = fx.sendBatch("limited", 6);
    fx.drain();

    json reqs = rx.requests();
    REQUIRE(reqs.size() == 6);
    std::vector<int64_t> times;
    for (const auto& r : reqs)
        times.push_back(r["time_ms"]);
    std::sort(times.begin(), times.end());
    // One token to start with, then one per 200 ms: five gaps of 200 ms.
    CHECK(times.back() - times.front() >= 900);
    for (int64_t id : ids) {
        json d = fx.show(id);
        CHECK(d["status"] == "delivered");
        CHECK(d["attempt_count"] == 1);
    }
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == 6);
}

TEST_CASE("worker: deliveries go out by priority, highest first, then in creation order")
{
    Receiver rx;
    Fixture fx;
    fx.addTarget("prio", rx.url("/prio"), kFastRetry);
    // name, priority; sent in this order before any worker runs.
    const std::vector<std::pair<std::string, int>> events = {
        {"a0", 0}, {"b10", 10}, {"c5", 5}, {"d-3", -3}, {"e10", 10}, {"f0", 0}, {"g5", 5}, {"h10", 10}, {"i-3", -3},
    };
    for (const auto& [name, priority] : events)
        fx.send("prio", "prio.test", json{{"name", name}}.dump(), {"--priority", std::to_string(priority)});
    fx.drain({"--concurrency", "1"});

    std::vector<std::string> order;
    for (const auto& r : rx.requests())
        order.push_back(json::parse(r["body"].get<std::string>())["data"]["name"]);
    CHECK(order == std::vector<std::string>{"b10", "e10", "h10", "c5", "g5", "a0", "f0", "d-3", "i-3"});
}

TEST_CASE("worker: requests are signed, carry the envelope and the target's headers, and keep their id across retries")
{
    auto generated = run({binary("WEBHOOKD_BIN_WEBHOOKCTL"), "secret", "generate"});
    REQUIRE(generated.exitCode == 0);
    const std::string secret = lines(generated.out).at(0);
    Receiver rx({"--secret", secret, "--script", "/sig=500,200"});
    Fixture fx;
    std::vector<std::string> flags = kFastRetry;
    flags.insert(flags.end(), {"--secret", secret, "--header", "X-Team:billing"});
    fx.addTarget("signed", rx.url("/sig"), flags);
    const json payload = {{"amount", 42}, {"currency", "EUR"}, {"tags", {"a", "b"}}};
    const int64_t id = fx.send("signed", "invoice.paid", payload.dump());
    fx.drain({"--user-agent", "test-agent/1"});

    json d = fx.show(id);
    CHECK(d["status"] == "delivered");
    CHECK(attemptCodes(d) == std::vector<std::optional<int>>{500, 200});

    json reqs = rx.requests();
    REQUIRE(reqs.size() == 2);
    for (const auto& r : reqs) {
        CHECK(r["method"] == "POST");
        CHECK(r["signature_valid"] == true);
        CHECK_FALSE(r["webhook_timestamp"].is_null());
        CHECK(r["user_agent"] == "test-agent/1");
        CHECK(r["content_type"].get<std::string>().rfind("application/json", 0) == 0);
        CHECK(r["headers"].value("x-team", "") == "billing");
        json body = json::parse(r["body"].get<std::string>());
        CHECK(body["id"] == r["webhook_id"]);
        CHECK(body["id"] == d["event_uid"]);
        CHECK(body["type"] == "invoice.paid");
        CHECK(body["data"] == payload);
        const std::string ts = body["timestamp"];
        CHECK(ts.size() == 24); // 2024-01-02T03:04:05.678Z
        CHECK(ts.back() == 'Z');
    }
    CHECK(reqs[0]["status"] == 500);
    CHECK(reqs[1]["status"] == 200);
    CHECK(reqs[0]["webhook_id"] == reqs[1]["webhook_id"]);
    CHECK(reqs[0]["webhook_id"].get<std::string>().rfind("msg_", 0) == 0);
}

TEST_CASE("worker: a SIGKILLed worker loses nothing; the next run delivers everything once the leases expire")
{
    Receiver rx({"--script", "/slow=200;delay=300"});
    Fixture fx;
    std::vector<std::string> flags = kFastRetry;
    // A short target timeout and margin keep the lease (timeout plus margin) short.
    flags.insert(flags.end(), {"--timeout", "1s"});
    fx.addTarget("slow", rx.url("/slow"), flags);
    const int total = 300;
    fx.sendBatch("slow", total);

    {
        Process worker = fx.startWorker({"--concurrency", "8", "--lease", "2s", "--lease-margin", "1s"});
        const bool some = waitUntil([&] { return fx.countStatus("delivered") >= 16; }, 60s);
        REQUIRE_MESSAGE(some, "no deliveries within 60 s; stderr: " << worker.stderrText());
        worker.kill(SIGKILL);
        CHECK(worker.wait() == 128 + SIGKILL);
    }
    const int64_t deliveredBefore = fx.countStatus("delivered");
    const int64_t inProgress = fx.countStatus("in_progress");
    INFO("delivered before the kill: " << deliveredBefore << ", in progress: " << inProgress);
    CHECK(deliveredBefore < total);
    CHECK(inProgress > 0);

    fx.drain({"--lease", "2s", "--lease-margin", "1s", "--concurrency", "32"}, 120s);
    CHECK(fx.countStatus("delivered") == total);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE status IN ('in_progress', 'pending', 'failed', "
                    "'rate_limited', 'dead_letter')") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == fx.sqlInt("SELECT sum(attempt_count) FROM deliveries"));
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL AND status = 'in_progress'") == 0);
    // Every event reached the receiver; the ones in flight at the kill may have twice (at least once).
    CHECK(rx.stats()["distinct_ids"] == total);
}

TEST_CASE("worker: two workers on one file deliver every event exactly once between them")
{
    Receiver rx({"--threads", "64"});
    Fixture fx;
    fx.addTarget("bulk", rx.url("/bulk"), kFastRetry);
    const int total = 2000;
    fx.sendBatch("bulk", total);
    // The claims stay on each worker's one storage thread, whatever the
    // number of threads its transfers run on.
    std::string threads;
    SUBCASE("one delivery thread each") { threads = "1"; }
    SUBCASE("four delivery threads each") { threads = "4"; }

    Process a = fx.startWorker({"--drain", "--concurrency", "16", "--threads", threads});
    Process b = fx.startWorker({"--drain", "--concurrency", "16", "--threads", threads});
    auto codeA = a.waitFor(120s);
    auto codeB = b.waitFor(120s);
    INFO("worker a stderr: " << a.stderrText());
    INFO("worker b stderr: " << b.stderrText());
    REQUIRE(codeA.has_value());
    REQUIRE(codeB.has_value());
    CHECK(*codeA == 0);
    CHECK(*codeB == 0);

    CHECK(fx.countStatus("delivered") == total);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == total);
    json stats = rx.stats();
    CHECK(stats["requests"] == total);
    CHECK(stats["duplicate_ids"] == 0);
    CHECK(stats["distinct_ids"] == total);

    auto stopA = stoppedLine(a.stderrText());
    auto stopB = stoppedLine(b.stderrText());
    REQUIRE(stopA);
    REQUIRE(stopB);
    const int64_t deliveredA = (*stopA)["delivered"].get<int64_t>();
    const int64_t deliveredB = (*stopB)["delivered"].get<int64_t>();
    INFO("split: " << deliveredA << " + " << deliveredB);
    CHECK(deliveredA + deliveredB == total);
    // Both started on a full queue; each should have taken a share (the split may be uneven).
    CHECK(deliveredA > 0);
    CHECK(deliveredB > 0);
}

TEST_CASE("worker: SIGTERM lets in-flight requests finish within the grace period, then exits 0")
{
    Receiver rx({"--script", "/slow=200;delay=1500"});
    Fixture fx;
    fx.addTarget("slow", rx.url("/slow"), kFastRetry);
    auto ids = fx.sendBatch("slow", 4);

    Process worker = fx.startWorker({"--concurrency", "4", "--shutdown-grace", "3s"});
    REQUIRE(waitUntil([&] { return fx.countStatus("in_progress") == 4; }, 20s));
    const auto signalled = Steady::now();
    worker.kill(SIGTERM);
    auto code = worker.waitFor(30s);
    INFO("stderr: " << worker.stderrText());
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(msSince(signalled) < 6000);
    for (int64_t id : ids) {
        json d = fx.show(id);
        CHECK(d["status"] == "delivered");
        CHECK(d["attempt_count"] == 1);
    }
    CHECK(rx.stats()["requests"] == 4);
}

TEST_CASE("worker: SIGTERM past the grace period returns unfinished deliveries to pending with no attempt")
{
    Receiver rx({"--script", "/stuck=200;delay=5000"});
    Fixture fx;
    fx.addTarget("stuck", rx.url("/stuck"), kFastRetry);
    auto ids = fx.sendBatch("stuck", 3);

    Process worker = fx.startWorker({"--concurrency", "4", "--threads", "3", "--shutdown-grace", "100ms"});
    REQUIRE(waitUntil([&] { return fx.countStatus("in_progress") == 3; }, 20s));
    // The requests are out, waiting on the receiver.
    REQUIRE(waitUntil([&] { return rx.stats()["max_in_flight_by_path"].value("/stuck", 0) == 3; }, 10s));
    const auto signalled = Steady::now();
    worker.kill(SIGTERM);
    auto code = worker.waitFor(30s);
    INFO("stderr: " << worker.stderrText());
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    // It did not wait for the receiver's 5 s answers.
    CHECK(msSince(signalled) < 4500);
    for (int64_t id : ids) {
        json d = fx.show(id);
        CHECK(d["status"] == "pending");
        CHECK(d["attempt_count"] == 0);
        CHECK(d["attempts"].empty());
    }
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL") == 0);
}

TEST_CASE("worker: a target that is down gets connect failures and retries; once its URL is fixed they are delivered")
{
    Fixture fx;
    const std::string deadUrl = "http://127.0.0.1:" + std::to_string(unusedPort()) + "/down";
    // A 2 s first delay: a short run makes exactly one attempt per delivery.
    fx.addTarget("down", deadUrl, {"--initial-delay", "2s", "--max-delay", "2s", "--max-attempts", "10"});
    auto ids = fx.sendBatch("down", 3);

    {
        Process worker = fx.startWorker();
        const bool failed = waitUntil([&] { return fx.countStatus("failed") == 3; }, 20s);
        worker.kill(SIGTERM);
        auto code = worker.waitFor(30s);
        INFO("stderr: " << worker.stderrText());
        REQUIRE(failed);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
    }
    const int64_t now = SystemClock::instance().nowMs();
    for (int64_t id : ids) {
        json d = fx.show(id);
        CHECK(d["status"] == "failed");
        CHECK(d["attempt_count"] == 1);
        CHECK(d["last_status_code"].is_null());
        CHECK(d["next_attempt_at"].get<int64_t>() > now);
        REQUIRE(d["attempts"].size() == 1);
        CHECK(d["attempts"][0]["error_type"] == "connect");
        CHECK(d["attempts"][0]["status_code"].is_null());
    }

    Receiver rx;
    fx.ctlOk({"target", "update", "down", "--url", rx.url("/up")});
    fx.drain();
    for (int64_t id : ids) {
        json d = fx.show(id);
        CHECK(d["status"] == "delivered");
        CHECK(d["attempt_count"] == 2);
        CHECK(attemptCodes(d) == std::vector<std::optional<int>>{std::nullopt, 200});
    }
    CHECK(rx.stats()["requests"] == 3);
}

TEST_CASE("worker: a new event wakes an idle worker long before its poll interval")
{
    Receiver rx;
    Fixture fx;
    fx.addTarget("wake", rx.url("/wake"), kFastRetry);
    Process worker = fx.startWorker({"--poll-interval", "5s", "--listen", "127.0.0.1:0"});
    const int port = loggedPort(worker, "status endpoint listening");
    REQUIRE(waitUntil([&] { return firstClaimDone(port); }, 10s)); // idle now, for 5 s

    fx.send("wake", "wake.test");
    const bool arrived = waitUntil([&] { return rx.stats()["requests"] == 1; }, 2s);
    worker.kill(SIGTERM);
    auto code = worker.waitFor(30s);
    INFO("stderr: " << worker.stderrText());
    CHECK_MESSAGE(arrived, "the event was not sent within 2 s with a 5 s poll interval");
    REQUIRE(code.has_value());
    CHECK(*code == 0);
}

TEST_CASE("worker: --drain waits for a scheduled retry before exiting")
{
    Receiver rx({"--script", "/later=500,200"});
    Fixture fx;
    fx.addTarget("later", rx.url("/later"), {"--initial-delay", "1s", "--max-delay", "1s", "--jitter", "0"});
    const int64_t id = fx.send("later");
    fx.drain();
    json d = fx.show(id);
    CHECK(d["status"] == "delivered");
    CHECK(d["attempt_count"] == 2);
    CHECK(attemptCodes(d) == std::vector<std::optional<int>>{500, 200});
    REQUIRE(d["attempts"].size() == 2);
    CHECK(d["attempts"][1]["started_at"].get<int64_t>() - d["attempts"][0]["started_at"].get<int64_t>() >= 1000);
    CHECK(rx.stats()["requests"] == 2);
}

TEST_CASE("worker: the Worker class runs in-process on a thread and stops when asked")
{
    Receiver rx;
    TempDir dir;
    const std::string path = dir.file("inproc.db");
    int64_t deliveryId = 0;
    {
        Database db = openNew(path);
        TargetSpec spec;
        spec.url = rx.url("/inproc");
        spec.initialDelayMs = 50;
        spec.maxDelayMs = 200;
        auto target = addTarget(db, "inproc", spec, SystemClock::instance());
        REQUIRE_MESSAGE(target.has_value(), why(target));
        EventInput event;
        event.type = "inproc.test";
        event.payload = R"({"hello":"world"})";
        auto sent = sendEvent(db, event, SystemClock::instance());
        REQUIRE_MESSAGE(sent.has_value(), why(sent));
        REQUIRE(sent->deliveryIds.size() == 1);
        deliveryId = sent->deliveryIds[0];
    }

    WorkerOptions opts;
    opts.database = path;
    opts.allowPrivateNetworks = true;
    opts.pollIntervalMs = 100;
    opts.concurrency = 2;
    auto worker = Worker::create(opts);
    REQUIRE_MESSAGE(worker.has_value(), why(worker));

    std::optional<Status> result;
    std::thread runner([&] { result = (*worker)->run(); });
    const bool arrived = waitUntil([&] { return rx.stats()["requests"] == 1; }, 10s);
    // Let the completion be recorded before stopping (stop would otherwise
    // still record it during shutdown, which is fine too).
    waitUntil([&] { return (*worker)->counters().delivered.load() == 1; }, 5s);
    (*worker)->stop();
    runner.join();

    CHECK(arrived);
    REQUIRE(result.has_value());
    CHECK_MESSAGE(result->has_value(), why(*result));
    CHECK((*worker)->counters().delivered.load() == 1);
    CHECK((*worker)->counters().attempts.load() == 1);
    CHECK_FALSE((*worker)->id().empty());

    auto db = Database::open(path);
    REQUIRE(db.has_value());
    auto d = getDelivery(*db, deliveryId);
    REQUIRE(d.has_value());
    CHECK(d->status == DeliveryStatus::Delivered);
    CHECK(d->attemptCount == 1);
    json body = json::parse(rx.requests().at(0)["body"].get<std::string>());
    CHECK(body["data"] == json{{"hello", "world"}});
}
