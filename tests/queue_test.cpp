#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/events.h"
#include "storage/queue.h"
#include "storage/sqlite/connection.h"
#include "storage/sqlite/queue_sql.h"
#include "storage/targets.h"
#include "support/print.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using test::StoreFixture;

namespace {

std::vector<int64_t> ids(const ClaimResult& r)
{
    std::vector<int64_t> out;
    for (const auto& d : r.claimed)
        out.push_back(d.id);
    return out;
}

Completion completion(const ClaimedDelivery& d, DeliveryStatus status, int code, int64_t next = 0)
{
    Completion c;
    c.deliveryId = d.id;
    c.targetId = d.target->id;
    c.attemptNumber = d.attemptNumber;
    c.outcome.statusCode = code;
    c.outcome.startedAtMs = 1;
    c.outcome.durationMs = 3;
    c.status = status;
    c.nextAttemptAt = next;
    if (status != DeliveryStatus::Delivered)
        c.lastError = "HTTP " + std::to_string(code);
    if (status == DeliveryStatus::DeadLetter)
        c.deadLetterReason = "HTTP " + std::to_string(code) + " is not retryable";
    return c;
}

std::string plan(SQLite::Database& db, const std::string& sql)
{
    SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + sql);
    std::string out;
    while (q.executeStep())
        out += q.getColumn(3).getString() + "\n";
    return out;
}

} // namespace

TEST_CASE("queue: claims take priority first, then the oldest due, up to the limit")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t low = f.sendTo("a", 0);
    f.clock.advance(10);
    const int64_t highLate = f.sendTo("a", 5);
    f.clock.advance(10);
    const int64_t highLater = f.sendTo("a", 5);
    const int64_t mid = f.sendTo("a", 1);
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 3);
    REQUIRE(r);
    CHECK(ids(*r) == std::vector<int64_t>{highLate, highLater, mid});
    CHECK(f.status(low) == "pending");
    CHECK(f.status(mid) == "in_progress");
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE lease_owner = 'w1'") == 3);
    CHECK(r->claimed[0].attemptNumber == 1);
    CHECK(r->claimed[0].type == "thing.happened");
    CHECK(r->claimed[0].target->id == "a");
}

TEST_CASE("queue: a lease lasts at least the target's timeout plus a margin")
{
    StoreFixture f;
    TargetSpec slow;
    slow.timeoutMs = 120'000;
    f.addTarget("slow", slow);
    f.addTarget("fast");
    const int64_t s = f.sendTo("slow");
    const int64_t q1 = f.sendTo("fast");
    Queue q(f.db, "w1");
    const int64_t now = f.clock.nowMs();
    REQUIRE(q.claim(now, 60'000, 30'000, 10));
    SQLite::Statement lease(f.raw, "SELECT lease_expires_at FROM deliveries WHERE id = ?");
    lease.bind(1, s);
    REQUIRE(lease.executeStep());
    CHECK(lease.getColumn(0).getInt64() >= now + 120'000 + 1);
    lease.reset();
    lease.bind(1, q1);
    REQUIRE(lease.executeStep());
    CHECK(lease.getColumn(0).getInt64() == now + 60'000);
}

TEST_CASE("queue: rows not yet due, and rows of disabled targets, are not claimed")
{
    StoreFixture f;
    f.addTarget("on");
    TargetSpec off;
    off.enabled = false;
    f.addTarget("off", off);
    const int64_t later = f.sendTo("on", 9);
    f.raw.exec("UPDATE deliveries SET next_attempt_at = next_attempt_at + 5000, status = 'failed' WHERE id = " +
               std::to_string(later));
    const int64_t parked = f.sendTo("off", 9);
    const int64_t due = f.sendTo("on", 0);
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE(r);
    CHECK(ids(*r) == std::vector<int64_t>{due});
    CHECK(f.status(parked) == "pending");
    SUBCASE("the next due time ignores disabled targets")
    {
        REQUIRE(q.complete({completion(r->claimed[0], DeliveryStatus::Delivered, 200)}, f.clock.nowMs()));
        auto next = q.nextDueAt(f.clock.nowMs());
        REQUIRE(next);
        REQUIRE(next->has_value());
        CHECK(**next == f.clock.nowMs() + 5000);
    }
    SUBCASE("the next due time includes a lease to reclaim")
    {
        auto next = q.nextDueAt(f.clock.nowMs());
        REQUIRE(next);
        REQUIRE(next->has_value());
        CHECK(**next <= f.clock.nowMs() + 5000);
        CHECK(q.outstanding().value() == 2); // the in-flight one and the failed one; not the disabled target's
    }
}

TEST_CASE("queue: two workers on one file never claim the same delivery")
{
    StoreFixture f;
    f.addTarget("a");
    for (int i = 0; i < 50; ++i)
        f.sendTo("a");
    Database other = test::openNew(f.path);
    Queue q1(f.db, "w1");
    Queue q2(other, "w2");
    std::set<int64_t> seen;
    for (int round = 0; round < 10; ++round) {
        for (Queue* q : {&q1, &q2}) {
            auto r = q->claim(f.clock.nowMs(), 60'000, 30'000, 3);
            REQUIRE_MESSAGE(r, r.error().toString());
            for (int64_t id : ids(*r))
                CHECK(seen.insert(id).second);
        }
    }
    CHECK(seen.size() == 50);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'in_progress'") == 50);
}

TEST_CASE("queue: an expired lease returns to pending and is claimed again; release records no attempt")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t id = f.sendTo("a");
    Queue q1(f.db, "w1");
    REQUIRE(q1.claim(f.clock.nowMs(), 1000, 100, 10)->claimed.size() == 1);
    Queue q2(f.db, "w2");
    CHECK(q2.claim(f.clock.nowMs(), 1000, 100, 10)->claimed.empty());
    f.clock.advance(20'000); // past the lease (timeout 100 ms + margin)
    auto again = q2.claim(f.clock.nowMs(), 1000, 100, 10);
    REQUIRE(again);
    CHECK(again->reclaimed == 1);
    REQUIRE(ids(*again) == std::vector<int64_t>{id});

    SUBCASE("the first worker's late completion is dropped")
    {
        ClaimedDelivery stale = again->claimed[0];
        REQUIRE(q1.complete({completion(stale, DeliveryStatus::Delivered, 200)}, f.clock.nowMs()));
        CHECK(f.status(id) == "in_progress");
        CHECK(f.count("SELECT count(*) FROM attempts") == 0);
    }
    SUBCASE("release puts it back without an attempt")
    {
        REQUIRE(q2.release({id}, f.clock.nowMs()));
        CHECK(f.status(id) == "pending");
        CHECK(f.count("SELECT attempt_count FROM deliveries") == 0);
        CHECK(f.count("SELECT count(*) FROM attempts") == 0);
    }
}

TEST_CASE("queue: completions record the attempt, the status and the dead letter together")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t d1 = f.sendTo("a"), d2 = f.sendTo("a"), d3 = f.sendTo("a");
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE(r->claimed.size() == 3);
    const int64_t now = f.clock.nowMs();
    REQUIRE(q.complete({completion(r->claimed[0], DeliveryStatus::Delivered, 204),
                        completion(r->claimed[1], DeliveryStatus::Failed, 503, now + 777),
                        completion(r->claimed[2], DeliveryStatus::DeadLetter, 404)},
                       now));
    CHECK(f.status(d1) == "delivered");
    CHECK(f.status(d2) == "failed");
    CHECK(f.status(d3) == "dead_letter");
    CHECK(f.count("SELECT count(*) FROM attempts") == 3);
    CHECK(f.count("SELECT sum(attempt_count) FROM deliveries") == 3);
    CHECK(f.count("SELECT next_attempt_at FROM deliveries WHERE id = " + std::to_string(d2)) == now + 777);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE completed_at IS NOT NULL") == 2);
    CHECK(f.raw.execAndGet("SELECT reason FROM dead_letters WHERE delivery_id = " + std::to_string(d3)).getString() ==
          "HTTP 404 is not retryable");
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL") == 0);

    SUBCASE("the retry is claimed when due, as attempt number 2")
    {
        CHECK(q.claim(now + 776, 60'000, 30'000, 10)->claimed.empty());
        auto again = q.claim(now + 777, 60'000, 30'000, 10);
        REQUIRE(ids(*again) == std::vector<int64_t>{d2});
        CHECK(again->claimed[0].attemptNumber == 2);
        CHECK(again->claimed[0].attemptsUsed == 1);
    }
}

TEST_CASE("queue: the token bucket defers what it cannot pay for, spread out, and survives a restart")
{
    StoreFixture f;
    TargetSpec limited;
    limited.ratePerSecond = 2.0;
    limited.burst = 2;
    f.addTarget("slow", limited);
    std::vector<int64_t> all;
    for (int i = 0; i < 5; ++i)
        all.push_back(f.sendTo("slow"));
    const int64_t now = f.clock.nowMs();
    {
        Queue q(f.db, "w1");
        auto r = q.claim(now, 60'000, 30'000, 10);
        REQUIRE(r);
        CHECK(r->claimed.size() == 2);
        CHECK(r->rateLimited == 3);
    }
    SQLite::Statement deferred(f.raw,
                               "SELECT next_attempt_at - ? FROM deliveries WHERE status = 'rate_limited'"
                               " ORDER BY next_attempt_at");
    deferred.bind(1, now);
    std::vector<int64_t> waits;
    while (deferred.executeStep())
        waits.push_back(deferred.getColumn(0).getInt64());
    CHECK(waits == std::vector<int64_t>{500, 1000, 1500});
    CHECK(f.count("SELECT sum(attempt_count) FROM deliveries") == 0);

    // A new worker (a restart) sees the spent bucket in the database.
    Database again = test::openNew(f.path);
    Queue q2(again, "w2");
    CHECK(q2.claim(now + 499, 60'000, 30'000, 10)->claimed.empty());
    auto one = q2.claim(now + 500, 60'000, 30'000, 10);
    REQUIRE(one);
    CHECK(one->claimed.size() == 1);
}

TEST_CASE("queue: every claim query is an index seek, never a scan of deliveries")
{
    StoreFixture f;
    f.addTarget("a");
    // Enough rows, and statistics, that the planner's choice is the real one.
    for (int i = 0; i < 300; ++i)
        f.sendTo("a", i % 7);
    f.raw.exec("ANALYZE");
    namespace qs = detail::queue_sql;
    for (const std::string& sql :
         {qs::reclaim(), qs::nextPriority(), qs::dueAtPriority(), qs::firstAtPriority(), qs::firstLease()}) {
        CAPTURE(sql);
        const std::string p = plan(f.raw, sql);
        CAPTURE(p);
        // Walking a partial index in order (LIMIT 1) is fine; a table scan is not.
        CHECK(p.find("SCAN deliveries\n") == std::string::npos);
        CHECK(p.find("SCAN d\n") == std::string::npos);
        CHECK(p.find("TEMP B-TREE") == std::string::npos);
        CHECK((p.find("deliveries_due") != std::string::npos || p.find("deliveries_leased") != std::string::npos));
    }
}

TEST_CASE("queue: thousands of high-priority retries not yet due do not hide a due row")
{
    StoreFixture f;
    f.addTarget("a");
    std::vector<EventInput> storm(5000);
    for (auto& e : storm) {
        e.type = "storm";
        e.priority = 50;
        e.targets = {"a"};
    }
    REQUIRE(sendBatch(f.db, storm, f.clock));
    f.raw.exec("UPDATE deliveries SET status = 'failed', next_attempt_at = next_attempt_at + 60000");
    const int64_t due = f.sendTo("a", 0);
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE(r);
    CHECK(ids(*r) == std::vector<int64_t>{due});
    // The range seek at priority 50 visits no row of the storm: its plan is
    // bounded by next_attempt_at <= now.
    const std::string p = plan(f.raw, detail::queue_sql::dueAtPriority());
    CAPTURE(p);
    CHECK(p.find("next_attempt_at<?") != std::string::npos);
}

TEST_CASE("queue: a backlog of a disabled or paused target does not hide another target's rows")
{
    StoreFixture f;
    f.addTarget("off");
    f.addTarget("paused");
    f.addTarget("live");
    for (int i = 0; i < 300; ++i) {
        f.sendTo("off");
        f.sendTo("paused");
    }
    f.clock.advance(10);
    const int64_t live = f.sendTo("live");
    REQUIRE(setTargetEnabled(f.db, "off", false, f.clock));
    f.raw.exec("UPDATE targets SET paused_until = " + std::to_string(f.clock.nowMs() + 60'000) +
               " WHERE id = 'paused'");
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE(r);
    CHECK(ids(*r) == std::vector<int64_t>{live});
}

TEST_CASE("queue: the breaker pauses after N failures, claims one probe after the cool-down, resumes on success")
{
    StoreFixture f;
    f.addTarget("b");
    for (int i = 0; i < 6; ++i)
        f.sendTo("b");
    Queue q(f.db, "w1");
    q.setBreaker({2, 1000});
    auto first = q.claim(f.clock.nowMs(), 60'000, 30'000, 2);
    REQUIRE(first);
    REQUIRE(first->claimed.size() == 2);
    REQUIRE(q.complete({completion(first->claimed[0], DeliveryStatus::Failed, 500, f.clock.nowMs()),
                        completion(first->claimed[1], DeliveryStatus::Failed, 500, f.clock.nowMs())},
                       f.clock.nowMs()));
    auto events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Paused);
    CHECK(events[0].reason == "2 failed attempts in a row");
    CHECK(f.count("SELECT paused_until FROM targets") == f.clock.nowMs() + 1000);

    CHECK(q.claim(f.clock.nowMs(), 60'000, 30'000, 10)->claimed.empty()); // paused: nothing
    auto due = q.nextDueAt(f.clock.nowMs());
    REQUIRE(due);
    CHECK(**due == f.clock.nowMs() + 1000); // the probe's time

    f.clock.advance(1000);
    auto probe = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE(probe);
    REQUIRE(probe->claimed.size() == 1); // one probe, the rest wait for it
    CHECK(q.claim(f.clock.nowMs(), 60'000, 30'000, 10)->claimed.empty());
    REQUIRE(q.complete({completion(probe->claimed[0], DeliveryStatus::Delivered, 204)}, f.clock.nowMs()));
    events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Resumed);
    CHECK(f.count("SELECT paused_until IS NULL AND consecutive_failures = 0 FROM targets") == 1);
    CHECK(q.claim(f.clock.nowMs(), 60'000, 30'000, 10)->claimed.size() == 5);
}

TEST_CASE("queue: a rolled-back transaction reports no target events")
{
    StoreFixture f;
    f.addTarget("g");
    f.sendTo("g");
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE(r);
    REQUIRE(r->claimed.size() == 1);
    auto c = completion(r->claimed[0], DeliveryStatus::DeadLetter, 410);
    SQLite::Database blocker(f.path, SQLite::OPEN_READWRITE);
    f.raw.exec("PRAGMA busy_timeout = 0");
    blocker.exec("BEGIN IMMEDIATE");
    detail::sql(f.db).exec("PRAGMA busy_timeout = 50");
    CHECK_FALSE(q.complete({c}, f.clock.nowMs()));
    CHECK(q.takeTargetEvents().empty());
    blocker.exec("ROLLBACK");
    REQUIRE(q.complete({c}, f.clock.nowMs()));
    auto events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Disabled);
    CHECK(f.count("SELECT enabled FROM targets") == 0);
}
