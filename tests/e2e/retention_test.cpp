#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// Retention at scale, end to end: a 100k-delivery history in a real SQLite
// file is purged by the real `webhookctl purge` while a real webhookd keeps
// delivering new events to the test receiver on the same file. Nothing is
// mocked.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fixture.h"
#include "support/process.h"
#include "support/temp_dir.h"

using namespace webhookd::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;
constexpr int kHistory = 100'000;
constexpr int kOldUpTo = 80'000; // deliveries 1…80000 finished 40 days ago, the rest an hour ago

// Delivery i (1…kHistory) of the history, to the disabled target "archive":
// i % 10 in 0…5 delivered (one attempt), 6…7 dead_letter (two attempts and a
// dead_letters row), 8 failed, 9 pending. Every hundredth old one's event
// also has a pending delivery to "archive2", and ten events have none at all.
// The unfinished ones are due in a year: due rows of a disabled target ahead
// of an enabled one's at the same priority hold up the claim (a worker issue
// of its own, not what this test is about). One transaction of INSERT … SELECT.
void writeHistory(const Fixture& fx, int64_t now)
{
    const std::string n = std::to_string(kHistory), oldUpTo = std::to_string(kOldUpTo);
    const std::string oldAt = std::to_string(now - 40 * kDayMs), recentAt = std::to_string(now - 3'600'000);
    const std::string dueAt = std::to_string(now + 365 * kDayMs);
    const std::string series = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " + n + ") ";
    const std::string status = "CASE WHEN i % 10 <= 5 THEN 'delivered' WHEN i % 10 <= 7 THEN 'dead_letter'"
                               " WHEN i % 10 = 8 THEN 'failed' ELSE 'pending' END";
    const std::string finishedAt =
        "CASE WHEN i % 10 >= 8 THEN NULL WHEN i <= " + oldUpTo + " THEN " + oldAt + " ELSE " + recentAt + " END";
    fx.sqlExec("BEGIN IMMEDIATE;" + series +
               "INSERT INTO events (id, uid, type, payload, created_at)"
               " SELECT i, 'msg_history' || i, 'history.event', '{\"n\":' || i || '}', " +
               oldAt +
               " - 1000"
               " FROM c;" +
               series +
               "INSERT INTO deliveries (id, event_id, target_id, status, attempt_count, next_attempt_at,"
               " created_at, updated_at, completed_at)"
               " SELECT i, i, 'archive', " +
               status + ", CASE WHEN i % 10 IN (6, 7) THEN 2 ELSE 1 END, " + dueAt + ", " + oldAt + " - 1000, " +
               oldAt + ", " + finishedAt + " FROM c;" + series +
               "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
               " SELECT i, 1, " +
               oldAt + ", i % 300, CASE WHEN i % 10 <= 5 THEN 200 ELSE 500 END FROM c;" + series +
               "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
               " SELECT i, 2, " +
               oldAt + ", 20, 410 FROM c WHERE i % 10 IN (6, 7);" + series +
               "INSERT INTO dead_letters (delivery_id, reason, moved_at)"
               " SELECT i, 'HTTP 410', " +
               finishedAt + " FROM c WHERE i % 10 IN (6, 7);" + series +
               "INSERT INTO deliveries (event_id, target_id, status, next_attempt_at, created_at, updated_at)"
               " SELECT i, 'archive2', 'pending', " +
               dueAt + ", " + oldAt + ", " + oldAt + " FROM c WHERE i % 100 = 0 AND i <= " + oldUpTo +
               ";"
               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10)"
               " INSERT INTO events (id, uid, type, payload, created_at) SELECT " +
               n +
               " + i, 'msg_lonely' || i,"
               " 'lonely.event', '{}', " +
               oldAt +
               " FROM c;"
               "COMMIT");
}

// Everything about the rows a purge must keep, as one text.
std::string keptRows(const Fixture& fx, int64_t cutoff)
{
    return fx.sqlText(
        "SELECT count(*) || ':' || total(id * 7 + attempt_count * 3 + coalesce(completed_at, 1) % 1000)"
        " || ':' || group_concat(DISTINCT status) FROM (SELECT * FROM deliveries WHERE target_id <> 'live'"
        " AND NOT ((status = 'delivered' OR status = 'dead_letter') AND completed_at < " +
        std::to_string(cutoff) + ") ORDER BY id)");
}

} // namespace

TEST_CASE("retention: purging a 100k-delivery history beside a running webhookd removes exactly the old finished "
          "rows while the worker keeps delivering")
{
    Receiver rx;
    Fixture fx;
    fx.ctlOk({"target", "add", "live", "--url", rx.url("/live"), "--initial-delay", "50ms", "--max-delay", "200ms"});
    fx.ctlOk({"target", "add", "archive", "--url", "http://127.0.0.1:9/archive", "--disabled"});
    fx.ctlOk({"target", "add", "archive2", "--url", "http://127.0.0.1:9/archive2", "--disabled"});
    const int64_t now = wallClockMs();
    const int64_t cutoff = now - 30 * kDayMs;
    writeHistory(fx, now);

    // What the purge must do, worked out from the history's recipe…
    const int64_t oldFinished = kOldUpTo / 10 * 8;               // i % 10 in 0…7 among 1…80000
    const int64_t oldAttempts = kOldUpTo / 10 * (6 * 1 + 2 * 2); // delivered 1 attempt, dead letters 2
    const int64_t sharedEvents = kOldUpTo / 100;                 // still referenced from archive2
    // …and agreed by SQL before it runs.
    const std::string oldCond =
        "(status = 'delivered' OR status = 'dead_letter') AND completed_at < " + std::to_string(cutoff);
    REQUIRE(fx.sqlInt("SELECT count(*) FROM deliveries WHERE " + oldCond) == oldFinished);
    REQUIRE(fx.sqlInt("SELECT count(*) FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE " + oldCond +
                      ")") == oldAttempts);
    const int64_t deliveriesBefore = fx.sqlInt("SELECT count(*) FROM deliveries");
    const int64_t attemptsBefore = fx.sqlInt("SELECT count(*) FROM attempts");
    const int64_t eventsBefore = fx.sqlInt("SELECT count(*) FROM events");
    const std::string keptBefore = keptRows(fx, cutoff);
    const int64_t pagesBefore = fx.sqlInt("PRAGMA page_count");

    Process worker = fx.startWorker({"--concurrency", "8"});
    // New events for the worker, in batches of 20, until told to stop.
    std::atomic<bool> stopSending{false};
    std::atomic<int> sendFailures{0};
    std::vector<int64_t> liveIds;
    auto sendBatch = [&] {
        std::string ndjson;
        for (int i = 0; i < 20; ++i)
            ndjson += json{{"type", "live.event"}, {"data", {{"i", i}}}, {"targets", {"live"}}}.dump() + "\n";
        auto r = fx.ctl({"send", "--batch", "-"}, ndjson);
        if (r.exitCode != 0) {
            ++sendFailures;
            return;
        }
        for (const auto& l : lines(r.out))
            liveIds.push_back(std::stoll(l));
    };
    sendBatch();
    REQUIRE(waitUntil(
        [&] {
            return fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'live'"
                             " AND status = 'delivered'") == 20;
        },
        30s));
    std::thread sender([&] {
        while (!stopSending) {
            sendBatch();
            std::this_thread::sleep_for(30ms);
        }
    });

    const int64_t purgeStartMs = wallClockMs();
    const auto started = Steady::now();
    auto purge = fx.ctl({"purge", "--older-than", "30d", "--json"});
    const double seconds = std::chrono::duration<double>(Steady::now() - started).count();
    const int64_t purgeEndMs = wallClockMs();
    std::this_thread::sleep_for(300ms); // a few more sends after the purge
    stopSending = true;
    sender.join();
    INFO("purge stderr: " << purge.err);
    REQUIRE(purge.exitCode == 0);
    const json summary = json::parse(purge.out);
    MESSAGE("purged " << summary["deliveries"] << " deliveries, " << summary["attempts"] << " attempts and "
                      << summary["events"] << " events in " << seconds << " s ("
                      << static_cast<int64_t>(static_cast<double>(summary["deliveries"].get<int64_t>()) / seconds)
                      << " deliveries/s) beside webhookd; " << liveIds.size() << " live events sent meanwhile");

    // The worker delivers everything sent before, during and after the purge.
    CHECK(sendFailures == 0);
    const int64_t live = static_cast<int64_t>(liveIds.size());
    const bool drained = waitUntil(
        [&] {
            return fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'live'"
                             " AND status = 'delivered'") == live;
        },
        60s);
    CHECK_MESSAGE(drained,
                  "delivered " << fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'live'"
                                            " AND status = 'delivered'")
                               << " of " << live);
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
    INFO("webhookd stderr: " << worker.stderrText());
    CHECK(worker.stderrText().find("storage failure") == std::string::npos);
    // It was not stalled while the purge ran: deliveries completed during it.
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id = 'live' AND completed_at BETWEEN " +
                    std::to_string(purgeStartMs) + " AND " + std::to_string(purgeEndMs)) > 0);
    std::set<std::string> received;
    for (const auto& r : rx.requests())
        received.insert(r["webhook_id"].get<std::string>());
    int64_t seen = 0;
    for (const auto& row : fx.sqlRows("SELECT e.uid FROM deliveries d JOIN events e ON e.id = d.event_id"
                                      " WHERE d.target_id = 'live'")) {
        const std::string& uid = row.at(0);
        CHECK_MESSAGE(received.count(uid) == 1, uid << " never reached the receiver");
        ++seen;
    }
    CHECK(seen == live);

    // Exactly the old finished rows went, with their attempts and dead letters.
    CHECK(summary["deliveries"] == oldFinished);
    CHECK(summary["attempts"] == oldAttempts);
    CHECK(summary["events"] == oldFinished - sharedEvents);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE " + oldCond) == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE target_id <> 'live'") == deliveriesBefore - oldFinished);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                    " WHERE d.target_id <> 'live'") == attemptsBefore - oldAttempts);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM dead_letters") == (kHistory - kOldUpTo) / 10 * 2);
    CHECK(keptRows(fx, cutoff) == keptBefore);
    // Events: the orphans went; those still referenced, and those that never had a delivery, stayed.
    CHECK(fx.sqlInt("SELECT count(*) FROM events e WHERE e.type = 'history.event'"
                    " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = e.id)") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM events WHERE id % 100 = 0 AND id <= " + std::to_string(kOldUpTo)) ==
          sharedEvents);
    CHECK(fx.sqlInt("SELECT count(*) FROM events WHERE type = 'lonely.event'") == 10);
    CHECK(fx.sqlInt("SELECT count(*) FROM events WHERE type <> 'live.event'") ==
          eventsBefore - (oldFinished - sharedEvents));
    CHECK(fx.sqlText("PRAGMA integrity_check") == "ok");
    CHECK(fx.sqlInt("SELECT count(*) FROM pragma_foreign_key_check") == 0);
    // The space went back to the file system (incremental auto-vacuum).
    CHECK(summary["incremental_vacuum"] == true);
    CHECK(summary["pages_freed"].get<int64_t>() > 0);
    CHECK(fx.sqlInt("PRAGMA page_count") * 2 < pagesBefore);
    CHECK(fx.sqlInt("PRAGMA freelist_count") < 64);
}
