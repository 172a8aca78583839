// Ordered delivery (DESIGN.md "Ordering and payload filters"), end to end:
// real webhookd processes, the project's receiver over loopback, real kill
// signals. Order is checked where it matters, at the receiver: by when each
// request arrived and when the one before it was answered.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fixture.h"

using namespace webhookd::test;
using nlohmann::json;

namespace {

// What the receiver saw, per group: each request's sequence number (from the
// payload), when it arrived and the status it was answered with.
struct Seen {
    int64_t seq;
    int64_t atMs;
    int status;
};

std::map<std::string, std::vector<Seen>> byGroup(const Receiver& rx, const std::string& path)
{
    std::map<std::string, std::vector<Seen>> out;
    for (const auto& r : rx.requests()) {
        if (r["path"] != path)
            continue;
        const json data = json::parse(r["body"].get<std::string>())["data"];
        out[data["key"].get<std::string>()].push_back(
            {data["seq"].get<int64_t>(), r["time_ms"].get<int64_t>(), r["status"].get<int>()});
    }
    return out; // each group's requests in arrival order (the log's)
}

// Within each group: sequence numbers never go back, and each one's first
// request arrives only after the one before was answered 200 (its answer
// took answerMs). Every sequence number up to count was delivered.
void checkOrder(const std::map<std::string, std::vector<Seen>>& groups, int64_t count, int64_t answerMs)
{
    for (const auto& [key, seen] : groups) {
        CAPTURE(key);
        int64_t deliveredSeq = -1, deliveredAt = 0;
        for (const Seen& s : seen) {
            CAPTURE(s.seq);
            // Either a retry of the one in flight, or the next one after it was delivered.
            CHECK((s.seq == deliveredSeq + 1));
            if (s.seq == deliveredSeq + 1 && deliveredSeq >= 0)
                CHECK(s.atMs >= deliveredAt + answerMs);
            if (s.status == 200) {
                deliveredSeq = s.seq;
                deliveredAt = s.atMs;
            }
        }
        CHECK(deliveredSeq == count - 1);
    }
}

std::string batchOf(const std::vector<std::string>& keys, int perKey, const std::string& target)
{
    std::string ndjson;
    for (int seq = 0; seq < perKey; ++seq)
        for (const auto& k : keys)
            ndjson += json{{"type", "order.updated"},
                           {"data", {{"key", k}, {"seq", seq}}},
                           {"targets", {target}},
                           {"ordering_key", k}}
                          .dump() +
                "\n";
    return ndjson;
}

// Two failures in five, then successes: many groups' first attempts fail.
std::string flakyScript(const std::string& path, int steps)
{
    std::string script = path + "=";
    for (int i = 0; i < steps; ++i)
        script += std::string(i ? "," : "") + (i % 5 < 2 ? "500" : "200") + ";delay=20";
    return script + ",200;delay=20";
}

} // namespace

TEST_CASE("ordering: keyed groups with failing first attempts, two workers, in order at the receiver")
{
    Receiver rx({"--quiet", "--script", flakyScript("/keyed", 60)});
    Fixture fx({.targetDefaults = kFastRetry});
    // The script answers 500 at most 24 times in all, so 25 attempts always
    // reach a 200: no delivery can become a dead letter however the workers'
    // attempts interleave (with the default 5, one unlucky delivery could).
    fx.addTarget("keyed", rx.url("/keyed"), {"--ordering", "key", "--max-attempts", "25"});
    const std::vector<std::string> keys = {"cust_a", "cust_b", "cust_c", "cust_d", "cust_e", "cust_f"};
    const int perKey = 8;
    fx.ctlOk({"send", "--batch", "-"}, batchOf(keys, perKey, "keyed"));
    CHECK(fx.countStatus("waiting") == static_cast<int64_t>(keys.size()) * (perKey - 1));

    Process a = fx.startWorker({"--drain", "--concurrency", "8"});
    Process b = fx.startWorker({"--drain", "--concurrency", "8"});
    auto codeA = a.waitFor(120s);
    auto codeB = b.waitFor(120s);
    INFO("a: " << a.stderrText());
    INFO("b: " << b.stderrText());
    REQUIRE(codeA.has_value());
    REQUIRE(codeB.has_value());
    CHECK(*codeA == 0);
    CHECK(*codeB == 0);
    CHECK(fx.countStatus("delivered") == static_cast<int64_t>(keys.size()) * perKey);
    // Some first attempts failed, and their groups waited for the retries.
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts WHERE status_code = 500") > 0);
    const auto groups = byGroup(rx, "/keyed");
    CHECK(groups.size() == keys.size());
    checkOrder(groups, perKey, 20);
    // Groups went side by side: one key does not hold up the others.
    CHECK(rx.stats()["max_in_flight_by_path"]["/keyed"].get<int64_t>() >= 2);
}

TEST_CASE("ordering: fifo sends one at a time in order, and skip lets the rest go past a dead letter")
{
    Receiver rx({"--quiet", "--script", "/fifo=200;delay=10,200;delay=10,400;delay=10,200;delay=10"});
    Fixture fx({.targetDefaults = kFastRetry});
    fx.addTarget("fifo", rx.url("/fifo"), {"--ordering", "fifo", "--max-attempts", "2"});
    const int count = 12;
    fx.ctlOk({"send", "--batch", "-"}, batchOf({"all"}, count, "fifo"));
    fx.drain({"--concurrency", "16"});
    CHECK(rx.stats()["max_in_flight_by_path"]["/fifo"] == 1);
    // The third request was answered 400: that event is a dead letter, and
    // every later one was still delivered, in order.
    CHECK(fx.countStatus("dead_letter") == 1);
    CHECK(fx.countStatus("delivered") == count - 1);
    std::vector<int64_t> seqs;
    const auto groups = byGroup(rx, "/fifo"); // a named map: at() of a temporary would dangle
    for (const auto& s : groups.at("all"))
        seqs.push_back(s.seq);
    std::vector<int64_t> expected;
    for (int i = 0; i < count; ++i)
        expected.push_back(i);
    CHECK_MESSAGE(seqs == expected, "arrival order: " << json(seqs).dump());
}

TEST_CASE("ordering: under block the group waits after a dead letter until dlq release")
{
    Receiver rx({"--quiet", "--script", "/block=400,200"});
    Fixture fx({.targetDefaults = kFastRetry});
    fx.addTarget("block", rx.url("/block"), {"--ordering", "key", "--ordering-dead-letter", "block"});
    fx.ctlOk({"send", "--batch", "-"}, batchOf({"k"}, 3, "block"));
    fx.drain({"--concurrency", "4"});
    // --drain ends with the group blocked: nothing of it can go without a person.
    CHECK(fx.countStatus("dead_letter") == 1);
    CHECK(fx.countStatus("waiting") == 2);
    const int64_t dead = fx.sqlInt("SELECT id FROM deliveries WHERE status = 'dead_letter'");
    const int64_t next = fx.sqlInt("SELECT min(id) FROM deliveries WHERE status = 'waiting'");
    const json shown = fx.ctlJson({"delivery", "show", std::to_string(next)});
    CHECK(shown["waiting_behind"] == dead);
    CHECK(fx.ctlJson({"delivery", "show", std::to_string(dead)})["blocks_group"] == true);
    CHECK(contains(fx.ctlOk({"delivery", "show", std::to_string(next)}), "waits behind    delivery " + std::to_string(dead)));
    fx.ctlOk({"dlq", "release", std::to_string(dead)});
    fx.drain({"--concurrency", "4"});
    CHECK(fx.countStatus("delivered") == 2);
    CHECK(fx.countStatus("dead_letter") == 1);
    auto again = fx.ctl({"dlq", "release", std::to_string(dead)});
    CHECK(again.exitCode == 1);
    CHECK(contains(again.err, "does not hold an ordering group back"));
}

TEST_CASE("ordering: a SIGKILL mid-group sends nothing more of the group until the lease expires")
{
    Receiver rx({"--quiet", "--script", "/kill=200;delay=3000,200"});
    Fixture fx({.targetDefaults = kFastRetry});
    fx.addTarget("kill", rx.url("/kill"), {"--ordering", "fifo", "--timeout", "5s"});
    fx.ctlOk({"send", "--batch", "-"}, batchOf({"g"}, 4, "kill"));
    {
        Process worker = fx.startWorker({"--concurrency", "8", "--lease", "2s", "--lease-margin", "1s"});
        // The receiver counts a request in flight as it arrives (it logs it
        // when answered, 3 s later).
        const bool sent = waitUntil([&] { return rx.stats()["max_in_flight_by_path"].contains("/kill"); }, 30s);
        REQUIRE_MESSAGE(sent, "no request within 30 s; stderr: " << worker.stderrText());
        worker.kill(SIGKILL);
        CHECK(worker.wait() == 128 + SIGKILL);
    }
    CHECK(fx.countStatus("in_progress") == 1);
    CHECK(fx.countStatus("waiting") == 3);
    fx.drain({"--concurrency", "8", "--lease", "2s", "--lease-margin", "1s"}, 60s);
    CHECK(fx.countStatus("delivered") == 4);
    // The killed one went again first (its lease expired), then the rest in
    // order; never two of the group at once.
    CHECK(rx.stats()["max_in_flight_by_path"]["/kill"] == 1);
    std::vector<int64_t> seqs;
    const auto groups = byGroup(rx, "/kill");
    for (const auto& s : groups.at("g"))
        seqs.push_back(s.seq);
    const std::vector<int64_t> expected = {0, 0, 1, 2, 3};
    CHECK_MESSAGE(seqs == expected, "arrival order: " << json(seqs).dump());
}
