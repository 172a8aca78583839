// Flow control per target (DESIGN.md "Flow control per target"), end to end:
// real webhookd processes, the project's receiver over loopback, and the
// store read back with SQL.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "signing/signing.h"
#include "support/fixture.h"

using namespace webhookd::test;
using nlohmann::json;

namespace {

int64_t delivered(const Fixture& fx, const std::string& target)
{
    return fx.sqlInt("SELECT count(*) FROM deliveries WHERE status = 'delivered' AND target_id = '" + target + "'");
}

int64_t maxInFlight(const Receiver& rx, const std::string& path)
{
    const json stats = rx.stats();
    const json& by = stats["max_in_flight_by_path"];
    return by.contains(path) ? by[path].get<int64_t>() : 0;
}

// The target's throttled rate (rate_current); nullopt when not throttled.
std::optional<double> rateCurrent(const Fixture& fx, const std::string& target)
{
    const std::string v = fx.sqlText("SELECT coalesce(rate_current, -1) FROM targets WHERE id = '" + target + "'");
    const double rate = std::stod(v);
    return rate < 0 ? std::nullopt : std::optional<double>(rate);
}

int64_t answered(const Receiver& rx, int status)
{
    const json by = rx.stats()["by_status"];
    const std::string key = std::to_string(status);
    return by.contains(key) ? by[key].get<int64_t>() : 0;
}

} // namespace

// The three cases of DESIGN.md "Flow control per target" that once fought
// each other: the breaker, adaptive throttling and the retry schedule.
TEST_CASE("flow: a target answering only 503 is paused within 6 s, with the worker's defaults")
{
    Receiver rx({"--quiet", "--script", "/down=503"});
    Fixture fx;
    fx.addTarget("down", rx.url("/down")); // no rate limit
    fx.sendBatch("down", 40);
    Process worker = fx.startWorker({});
    const auto started = Steady::now();
    double lowest = 1e9;
    const bool paused = waitUntil(
        [&] {
            if (auto r = rateCurrent(fx, "down"))
                lowest = std::min(lowest, *r);
            return fx.sqlInt("SELECT paused_until IS NOT NULL FROM targets WHERE id = 'down'") == 1;
        },
        6s);
    INFO("stderr: " << worker.stderrText());
    CHECK_MESSAGE(paused, "not paused within 6 s; " << answered(rx, 503) << " answers of 503");
    MESSAGE("paused after " << msSince(started) << " ms and " << answered(rx, 503) << " answers of 503");
    CHECK(lowest >= 1.0); // throttled, never below the floor
    CHECK(contains(fx.sqlText("SELECT paused_reason FROM targets WHERE id = 'down'"), "failed attempts in a row"));
    worker.kill(SIGTERM);
    worker.wait();
}

TEST_CASE("flow: a 429 storm at --rate 40 holds the rate below 40 within 4 s, and it climbs within 6 s of 200s")
{
    const int storm = 20;
    std::string script = "/busy=";
    for (int i = 0; i < storm; ++i)
        script += "429,";
    script += "200";
    Receiver rx({"--quiet", "--script", script});
    Fixture fx;
    fx.addTarget("busy", rx.url("/busy"), {"--rate", "40"});
    fx.sendBatch("busy", 400);
    Process worker = fx.startWorker({});
    INFO("stderr: " << worker.stderrText());
    CHECK(waitUntil([&] { return rateCurrent(fx, "busy").value_or(40) < 40; }, 4s));

    // The storm ends at the first 200; the rate's lowest point may come
    // just after, from 429s still being recorded.
    REQUIRE(waitUntil([&] { return answered(rx, 200) > 0; }, 30s));
    const auto recovered = Steady::now();
    double low = rateCurrent(fx, "busy").value_or(40);
    const bool climbed = waitUntil(
        [&] {
            const auto r = rateCurrent(fx, "busy");
            if (!r)
                return true; // back at the configured rate
            low = std::min(low, *r);
            return *r > low;
        },
        6s);
    CHECK_MESSAGE(climbed, "the rate stayed at " << low << "/s for 6 s of 200s");
    MESSAGE("lowest " << low << "/s; climbing " << msSince(recovered) << " ms after the first 200");
    // 429s fed the throttle; the breaker stayed closed (the rate never reached its floor).
    CHECK(fx.sqlInt("SELECT paused_until IS NULL FROM targets WHERE id = 'busy'") == 1);
    worker.kill(SIGTERM);
    worker.wait();
}

TEST_CASE("flow: one 503 on a target without a rate limit does not hold it below 1/s")
{
    Receiver rx({"--quiet", "--script", "/blip=503,200"});
    Fixture fx;
    fx.addTarget("blip", rx.url("/blip"));
    fx.send("blip");
    Process worker = fx.startWorker({});
    INFO("stderr: " << worker.stderrText());
    REQUIRE(waitUntil([&] { return rateCurrent(fx, "blip").has_value(); }, 5s)); // the 503 cut it
    double lowest = *rateCurrent(fx, "blip");
    fx.sendBatch("blip", 20);
    const bool all = waitUntil(
        [&] {
            if (auto r = rateCurrent(fx, "blip"))
                lowest = std::min(lowest, *r);
            return delivered(fx, "blip") == 21;
        },
        10s);
    CHECK(all);
    CHECK(lowest >= 1.0);
    worker.kill(SIGTERM);
    worker.wait();
}

TEST_CASE("flow: a hanging target holds only part of the slots; the fast target's deliveries all arrive meanwhile")
{
    Receiver rx({"--quiet", "--script", "/hang=200;delay=20000"});
    Fixture fx;
    fx.addTarget("hang", rx.url("/hang"), {"--timeout", "30s"});
    fx.addTarget("fast", rx.url("/fast"));
    // The hanging target's backlog is first in time, ahead of the fast one's.
    fx.sendBatch("hang", 20);
    fx.sendBatch("fast", 30);

    Process worker = fx.startWorker({"--concurrency", "4"});
    const bool all = waitUntil([&] { return delivered(fx, "fast") == 30; }, 15s);
    INFO("stderr: " << worker.stderrText());
    CHECK_MESSAGE(all, "fast deliveries: " << delivered(fx, "fast"));
    // None of the hanging ones has finished: the fast ones did not wait for them.
    CHECK(delivered(fx, "hang") == 0);
    const int64_t hanging = maxInFlight(rx, "/hang");
    CHECK(hanging >= 1);
    CHECK(hanging <= 3); // never every slot: a quarter stays for the others
    worker.kill(SIGKILL);
    worker.wait();
}

TEST_CASE("flow: the in-flight cap holds across two workers, counted at the receiver")
{
    Receiver rx({"--quiet", "--script", "/capped=200;delay=150"});
    Fixture fx;
    fx.addTarget("capped", rx.url("/capped"), {"--max-in-flight", "3"});
    const int total = 60;
    fx.sendBatch("capped", total);
    Process a = fx.startWorker({"--drain", "--concurrency", "8"});
    Process b = fx.startWorker({"--drain", "--concurrency", "8"});
    auto codeA = a.waitFor(90s);
    auto codeB = b.waitFor(90s);
    INFO("a: " << a.stderrText());
    INFO("b: " << b.stderrText());
    REQUIRE(codeA.has_value());
    REQUIRE(codeB.has_value());
    CHECK(*codeA == 0);
    CHECK(*codeB == 0);
    CHECK(delivered(fx, "capped") == total);
    CHECK(rx.stats()["duplicate_ids"] == 0);
    const int64_t most = maxInFlight(rx, "/capped");
    CHECK(most <= 3);
    CHECK(most >= 2); // the cap is a ceiling, not a queue of one
    CHECK(fx.ctlJson({"--json", "target", "show", "capped"})["max_in_flight"] == 3);
}

TEST_CASE("flow: a 422 storm dead-letters at once and leaves the breaker closed; a 503 storm opens it")
{
    Receiver rx({"--quiet", "--script", "/bad=422", "--script", "/down=503"});
    Fixture fx;
    fx.addTarget("bad", rx.url("/bad"), kFastRetry);
    fx.addTarget("down", rx.url("/down"), kFastRetry);
    fx.sendBatch("bad", 30);
    fx.sendBatch("down", 30);
    const auto started = Steady::now();
    Process worker = fx.startWorker({"--concurrency", "8", "--breaker-failures", "5", "--breaker-cooldown", "1h"});
    const bool bad = waitUntil(
        [&] {
            return fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'bad' AND status = 'dead_letter'") ==
                30;
        },
        10s);
    INFO("stderr: " << worker.stderrText());
    CHECK(bad);
    CHECK(msSince(started) < 8000);
    const bool paused = waitUntil(
        [&] { return fx.sqlInt("SELECT paused_until IS NOT NULL FROM targets WHERE id = 'down'") == 1; }, 10s);
    CHECK(paused);
    CHECK(fx.sqlInt("SELECT paused_until IS NULL AND consecutive_failures = 0 FROM targets WHERE id = 'bad'") == 1);
    // Every 422 is one attempt; the paused target's deliveries wait unspent.
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                    " WHERE d.target_id = 'bad'") == 30);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'down' AND status = 'dead_letter'") == 0);
    worker.kill(SIGTERM);
    worker.wait();
}

TEST_CASE("flow: 429s halve the stored rate, successes climb it back to the configured one")
{
    // Three 429s, then every request succeeds.
    Receiver rx({"--quiet", "--script", "/aimd=429,429,429,200"});
    Fixture fx;
    fx.addTarget("aimd", rx.url("/aimd"), {"--rate", "20", "--rate-step", "5", "--initial-delay", "50ms"});
    const int total = 80;
    fx.sendBatch("aimd", total);
    Process worker = fx.startWorker({"--concurrency", "8"});
    const bool cut = waitUntil([&] { return fx.sqlInt("SELECT rate_current IS NOT NULL FROM targets") == 1; }, 10s);
    INFO("stderr: " << worker.stderrText());
    REQUIRE(cut);
    // One cut for the burst of 429s (at most one a second): 20 -> 10.
    const json shown = fx.ctlJson({"--json", "target", "show", "aimd"});
    CHECK(shown["rate_current"].get<double>() <= 10.0);
    CHECK(shown["rate_signal"] == "HTTP 429");
    CHECK(fx.ctlOk({"target", "show", "aimd"}).find("throttled to") != std::string::npos);
    // Successes at 5/s per second bring it back; then it is no longer throttled.
    const bool back = waitUntil([&] { return fx.sqlInt("SELECT rate_current IS NULL FROM targets") == 1; }, 20s);
    CHECK(back);
    CHECK(waitUntil([&] { return delivered(fx, "aimd") == total; }, 30s));
    CHECK(worker.stderrText().find("target throttled") != std::string::npos);
    worker.kill(SIGTERM);
    worker.wait();
}

TEST_CASE("flow: a 429 with Retry-After does not use up the attempt budget")
{
    Receiver rx({"--quiet", "--script", "/busy=429;retry-after=1,429;retry-after=1,429;retry-after=1,200"});
    Fixture fx;
    fx.addTarget("busy", rx.url("/busy"), {"--max-attempts", "2"});
    const int64_t id = fx.send("busy");
    fx.drain({}, 60s);
    const json d = fx.show(id);
    CHECK(d["status"] == "delivered");
    CHECK(d["attempts"].size() == 4); // three throttled, then the one that counted
    CHECK(fx.sqlInt("SELECT throttle_deferrals FROM deliveries WHERE id = " + std::to_string(id)) == 3);
}

TEST_CASE("flow: a named or listed retry schedule sets the delays and the attempts")
{
    Receiver rx({"--quiet", "--status", "500"});
    Fixture fx;
    fx.addTarget("listed", rx.url("/listed"), {"--retry-schedule", "100ms,300ms", "--jitter", "0"});
    fx.addTarget("named", rx.url("/named"), {"--retry-schedule", "standard-webhooks"});
    const json named = fx.ctlJson({"--json", "target", "show", "named"});
    CHECK(named["max_attempts"] == 10);
    CHECK(named["retry_schedule_name"] == "standard-webhooks");
    CHECK(fx.ctlOk({"target", "list"}).find("10x standard-webhooks") != std::string::npos);
    CHECK(fx.ctl({"target", "update", "named", "--retry-schedule", "often"}).exitCode == 2);

    const int64_t id = fx.send("listed");
    fx.drain({}, 30s);
    const json d = fx.show(id);
    CHECK(d["status"] == "dead_letter");
    REQUIRE(d["attempts"].size() == 3);
    const int64_t first = d["attempts"][0]["started_at"], second = d["attempts"][1]["started_at"],
                  third = d["attempts"][2]["started_at"];
    CHECK(second - first >= 100);
    CHECK(third - second >= 300);
}

TEST_CASE("flow: after two rotations in a row, all three secrets sign")
{
    Receiver rx({"--quiet"});
    Fixture fx;
    const std::string s1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    fx.addTarget("rot", rx.url("/rot"), {"--secret", s1});
    const json r2 = fx.ctlJson({"--json", "target", "rotate-secret", "rot", "--overlap", "1h"});
    const json r3 = fx.ctlJson({"--json", "target", "rotate-secret", "rot", "--overlap", "1h"});
    const std::string s2 = r2["secret"], s3 = r3["secret"];
    CHECK(fx.ctlOk({"target", "show", "rot"}).find("older secret") != std::string::npos);
    fx.send("rot");
    fx.drain();
    const json reqs = rx.requests();
    REQUIRE(reqs.size() == 1);
    const std::string header = reqs[0]["headers"]["webhook-signature"];
    CHECK(std::count(header.begin(), header.end(), ',') == 3); // "v1,…" three times
    for (const auto& secret : {s1, s2, s3}) {
        webhookd::VerifyRequest v;
        v.secrets = {secret};
        v.id = reqs[0]["webhook_id"];
        v.timestamp = reqs[0]["webhook_timestamp"];
        v.signatureHeader = header;
        CHECK_MESSAGE(
            webhookd::verifyStandard(v, reqs[0]["body"].get<std::string>(), webhookd::SystemClock::instance().nowMs()),
            "secret " << (secret == s1       ? 1
                              : secret == s2 ? 2
                                             : 3)
                      << " did not sign");
    }
}
