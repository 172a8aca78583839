#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/events.h"
#include "storage/queue.h"
#include "storage/redrive.h"
#include "storage/retention.h"
#include "storage/sql/connection.h"
#include "storage/sqlite/statements.h"
#include "storage/sqlite/driver.h"
#include "storage/stats.h"
#include "storage/targets.h"
#include "support/print.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using test::sqliteOnly;
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

// n events of type backfill for one target, in one transaction.
void sendBacklog(StoreFixture& f, const std::string& target, size_t n)
{
    std::vector<EventInput> backlog(n);
    for (auto& e : backlog) {
        e.type = "backfill";
        e.targets = {target};
    }
    REQUIRE(sendBatch(f.db, backlog, f.clock));
}

// SQLite's plan of sql (EXPLAIN QUERY PLAN), a line per step.
std::string plan(test::RawSql& db, const std::string& sql)
{
    std::string out;
    for (const auto& row : db.rows("EXPLAIN QUERY PLAN " + sql))
        out += row.at(3) + "\n";
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
    CHECK(f.count("SELECT lease_expires_at FROM deliveries WHERE id = " + std::to_string(s)) >= now + 120'000 + 1);
    CHECK(f.count("SELECT lease_expires_at FROM deliveries WHERE id = " + std::to_string(q1)) == now + 60'000);
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

TEST_CASE("queue: two workers on one store never claim the same delivery")
{
    StoreFixture f;
    f.addTarget("a");
    for (int i = 0; i < 50; ++i)
        f.sendTo("a");
    Database other = test::openNew(f.locator);
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
    CHECK(f.text("SELECT reason FROM dead_letters WHERE delivery_id = " + std::to_string(d3)) ==
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
    const auto deferred = f.raw.rows("SELECT next_attempt_at - " + std::to_string(now) +
                                     " FROM deliveries WHERE status = 'rate_limited' ORDER BY next_attempt_at");
    CHECK(deferred == std::vector<std::vector<std::string>>{{"500"}, {"1000"}, {"1500"}});
    CHECK(f.count("SELECT sum(attempt_count) FROM deliveries") == 0);

    // A new worker (a restart) sees the spent bucket in the database.
    Database again = test::openNew(f.locator);
    Queue q2(again, "w2");
    CHECK(q2.claim(now + 499, 60'000, 30'000, 10)->claimed.empty());
    auto one = q2.claim(now + 500, 60'000, 30'000, 10);
    REQUIRE(one);
    CHECK(one->claimed.size() == 1);
}

// SQLite's planner (EXPLAIN QUERY PLAN) on SQLite's statistics.
TEST_CASE("queue: every claim query is an index seek, never a scan of deliveries" * sqliteOnly())
{
    StoreFixture f;
    f.addTarget("a");
    // Enough rows, and statistics, that the planner's choice is the real one.
    for (int i = 0; i < 300; ++i)
        f.sendTo("a", i % 7);
    f.raw.exec("ANALYZE");
    using sql::Q;
    for (Q q : {Q::QueueReclaim, Q::QueueNextPriority, Q::QueueDueAtPriority, Q::QueueFirstAtPriority,
                Q::QueueFirstLease}) {
        const std::string& sql = sqlite::statement(q);
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
    // bounded by next_attempt_at <= now (SQLite's planner; the claim above
    // holds on both).
    if (!f.postgres()) {
        const std::string p = plan(f.raw, sqlite::statement(sql::Q::QueueDueAtPriority));
        CAPTURE(p);
        CHECK(p.find("next_attempt_at<?") != std::string::npos);
    }
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
    const int64_t id = f.sendTo("g");
    // The queue's connection waits 50 ms for a lock another holds (SQLite's
    // busy timeout, PostgreSQL's lock_timeout).
    OpenOptions quick;
    quick.busyTimeoutMs = 50;
    Database db = test::openNew(f.locator, quick);
    Queue q(db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE(r);
    REQUIRE(r->claimed.size() == 1);
    auto c = completion(r->claimed[0], DeliveryStatus::DeadLetter, 410);
    // What the completion needs, held by another connection: SQLite's write
    // lock; on PostgreSQL the target's row, which a completion locks to
    // update the breaker (and here to disable the target).
    test::RawSql blocker(f.locator);
    blocker.exec(f.postgres() ? "BEGIN; SELECT 1 FROM targets WHERE id = 'g' FOR UPDATE" : "BEGIN IMMEDIATE");
    auto refused = q.complete({c}, f.clock.nowMs());
    REQUIRE_FALSE(refused);
    CHECK_MESSAGE(refused.error().is(Error::Kind::Busy), refused.error().toString());
    CHECK(q.takeTargetEvents().empty());
    blocker.exec("ROLLBACK");
    CHECK(f.status(id) == "in_progress");
    REQUIRE(q.complete({c}, f.clock.nowMs()));
    auto events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Disabled);
    CHECK(f.count("SELECT enabled FROM targets") == 0);
}

// ---------------------------------------------------------------------------
// Faults from the driver (support/faulty_connection.h): what Queue promises
// when a statement or a commit fails, on both backends.

namespace {

using Fault = test::FaultyConnection::Fault;
using SqlKind = sql::Error::Kind;

} // namespace

TEST_CASE("queue: a claim that fails in the driver is reported, not retried, changes nothing, and spends no token")
{
    StoreFixture f({.faults = true});
    TargetSpec limited;
    limited.ratePerSecond = 2.0;
    limited.burst = 2;
    f.addTarget("slow", limited);
    for (int i = 0; i < 5; ++i)
        f.sendTo("slow");
    Queue q(f.db, "w1");
    const auto bucket = f.raw.rows("SELECT bucket_tokens, bucket_updated_at FROM targets");
    Error::Kind expected = Error::Kind::Busy;
    SUBCASE("Busy at its commit (everything before it done, tokens spent in the queue's cache)")
    {
        f.faults->inject(Fault::commit(SqlKind::Busy));
    }
    SUBCASE("Busy at the lease's UPDATE, mid-transaction")
    {
        f.faults->inject(Fault::statement(SqlKind::Busy, "SET status = 'in_progress', lease_owner"));
    }
    SUBCASE("a full disk at its commit is a Storage error")
    {
        f.faults->inject(Fault::commit(SqlKind::Full));
        expected = Error::Kind::Storage;
    }
    SUBCASE("a connection lost mid-transaction is Unavailable")
    {
        f.faults->inject(Fault::statement(SqlKind::Connection, "SET status = 'in_progress', lease_owner"));
        expected = Error::Kind::Unavailable;
    }
    CAPTURE(expected);
    f.faults->resetCounts();
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(expected));
    if (expected == Error::Kind::Storage)
        CHECK(r.error().message().find("the disk is full") != std::string::npos);
    // Reported to the caller (the worker tries again at its next turn), not
    // retried inside: one transaction, rolled back.
    CHECK(f.faults->counts().faults == 1);
    CHECK(f.faults->counts().begins == 1);
    CHECK(f.faults->counts().rollbacks == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'pending' AND lease_owner IS NULL") == 5);
    CHECK(f.raw.rows("SELECT bucket_tokens, bucket_updated_at FROM targets") == bucket);
    CHECK(q.takeTargetEvents().empty());
    // The next claim spends the bucket the store holds, not what the
    // rolled-back one left in the queue's cache.
    auto again = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE_MESSAGE(again, again.error().toString());
    CHECK(again->claimed.size() == 2);
    CHECK(again->rateLimited == 3);
}

TEST_CASE("queue: completeAndClaim that fails at its commit records nothing; the same call again records it once")
{
    StoreFixture f({.faults = true});
    f.addTarget("g");
    const int64_t gone = f.sendTo("g");
    const int64_t next = f.sendTo("g");
    Queue q(f.db, "w1");
    auto first = q.claim(f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE(first);
    REQUIRE(ids(*first) == std::vector<int64_t>{gone});
    // A 410 disables the target: a target event that must not be reported
    // for a transaction that did not commit.
    const auto c = completion(first->claimed[0], DeliveryStatus::DeadLetter, 410);
    f.faults->inject(Fault::commit(SqlKind::Busy));
    auto failed = q.completeAndClaim({c}, f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().is(Error::Kind::Busy));
    CHECK(q.takeTargetEvents().empty());
    CHECK(f.status(gone) == "in_progress");
    CHECK(f.status(next) == "pending");
    CHECK(f.rows("attempts") == 0);
    CHECK(f.rows("dead_letters") == 0);
    CHECK(f.count("SELECT enabled FROM targets") == 1);

    auto done = q.completeAndClaim({c}, f.clock.nowMs(), 60'000, 30'000, 1);
    REQUIRE_MESSAGE(done, done.error().toString());
    CHECK(done->claimed.empty()); // the target is disabled now
    CHECK(f.status(gone) == "dead_letter");
    CHECK(f.rows("attempts") == 1);
    CHECK(f.rows("dead_letters") == 1);
    auto events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Disabled);
}

// ---------------------------------------------------------------------------
// Flow control per target

namespace {

// The target of each claimed delivery, counted.
std::map<std::string, int> byTarget(const ClaimResult& r)
{
    std::map<std::string, int> out;
    for (const auto& d : r.claimed)
        ++out[d.target->id];
    return out;
}

} // namespace

TEST_CASE("queue: targets with due work share the worker's slots")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    for (int i = 0; i < 10; ++i) {
        f.sendTo("a");
        f.sendTo("b");
        f.clock.advance(1);
    }
    Queue q(f.db, "w1");
    ClaimContext ctx;
    ctx.concurrency = 4;
    ctx.targets["a"].typicalMs = 5; // both answered fast before
    ctx.targets["b"].typicalMs = 5;
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 4, ctx);
    REQUIRE(r);
    CHECK(byTarget(*r) == std::map<std::string, int>{{"a", 2}, {"b", 2}});

    SUBCASE("a target holding its share gets nothing more while another has work")
    {
        ClaimContext busy;
        busy.concurrency = 4;
        busy.targets["a"].inFlight = 2;
        busy.targets["a"].typicalMs = 200;
        auto more = q.claim(f.clock.nowMs(), 60'000, 30'000, 2, busy);
        REQUIRE(more);
        CHECK(byTarget(*more) == std::map<std::string, int>{{"b", 2}});
        CHECK(more->heldBack > 0);
        // a's rows stepped over wait about one answer's time, not longer.
        CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a' AND status = 'pending' AND "
                      "next_attempt_at >= " +
                      std::to_string(f.clock.nowMs() + 200)) == more->heldBack);
        CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a' AND status = 'pending' AND "
                      "next_attempt_at > " +
                      std::to_string(f.clock.nowMs() + 10 * 200)) == 0);
        CHECK(f.count("SELECT sum(attempt_count) FROM deliveries") == 0);
    }
}

TEST_CASE("queue: slow targets together leave a quarter of the slots to the others")
{
    SUBCASE("a target not answered yet, alone ahead of a backlog, leaves a quarter too")
    {
        StoreFixture g;
        g.addTarget("new");
        for (int i = 0; i < 40; ++i)
            g.sendTo("new");
        Queue q(g.db, "w1");
        ClaimContext ctx;
        ctx.concurrency = 8;
        auto r = q.claim(g.clock.nowMs(), 60'000, 30'000, 8, ctx);
        REQUIRE(r);
        CHECK(r->claimed.size() == 6);
        // With every due row in view it takes every slot.
        StoreFixture h;
        h.addTarget("new");
        for (int i = 0; i < 4; ++i)
            h.sendTo("new");
        Queue q2(h.db, "w1");
        ClaimContext c4;
        c4.concurrency = 4;
        CHECK(q2.claim(h.clock.nowMs(), 60'000, 30'000, 4, c4)->claimed.size() == 4);
    }
    StoreFixture f;
    f.addTarget("hang");
    f.addTarget("fast");
    for (int i = 0; i < 50; ++i)
        f.sendTo("hang");
    f.clock.advance(5);
    const int64_t fast = f.sendTo("fast");
    Queue q(f.db, "w1");
    ClaimContext ctx;
    ctx.concurrency = 8;
    ctx.targets["hang"] = TargetLoad{6, 30'000, true}; // 6 of 8 slots, answers take 30 s
    // The hanging target's 50 rows come first in time; the fast one's row
    // behind them is still found, and takes the slot.
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 2, ctx);
    REQUIRE(r);
    CHECK(ids(*r) == std::vector<int64_t>{fast});
    CHECK(r->heldBack > 0);
}

TEST_CASE("queue: a slow target's backlog ahead of a fast row is moved out of the way in a few claims")
{
    StoreFixture f;
    f.addTarget("slow");
    f.addTarget("fast");
    sendBacklog(f, "slow", 3000);
    f.clock.advance(5);
    const int64_t fast = f.sendTo("fast");
    Queue q(f.db, "w1");
    ClaimContext ctx;
    ctx.concurrency = 64;
    ctx.targets["slow"] = TargetLoad{48, 1000, true}; // all but a quarter, answers in a second
    ctx.targets["fast"].typicalMs = 5;
    // One slot free, as when a transfer has just finished: the rows moved
    // per claim do not shrink with it (4 × 1 + 64 would take 44 claims).
    std::vector<int64_t> got;
    int claims = 0;
    while (got.empty() && claims < 10) {
        auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 1, ctx);
        REQUIRE(r);
        got = ids(*r);
        ++claims;
    }
    CHECK(got == std::vector<int64_t>{fast});
    CHECK(claims <= 3);
    // Spread at the rate its 48 slots free (a second each), 48 rows a second,
    // none earlier than one answer's time and none beyond 1,024 steps (21 s):
    // past that the spread starts again from the front, so 3,000 rows lie
    // three deep rather than pushing the horizon out a minute.
    const int64_t now = f.clock.nowMs();
    auto slowRows = [&](const std::string& where) {
        return f.count("SELECT count(*) FROM deliveries WHERE target_id = 'slow' AND " + where);
    };
    CHECK(slowRows("next_attempt_at < " + std::to_string(now + 1000)) == 0);
    CHECK(slowRows("next_attempt_at > " + std::to_string(now + 1000 + 1024 * 1000 / 48 + 1)) == 0);
    CHECK(slowRows("next_attempt_at <= " + std::to_string(now + 11'000)) <= 3 * (10 * 48 + 1));
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE attempt_count > 0 OR status <> 'pending'") == 1);
}

TEST_CASE("queue: rows held back at a target's share come back within 30 s, whatever the estimate")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    sendBacklog(f, "a", 2000);
    f.sendTo("b");
    Queue q(f.db, "w1");
    ClaimContext ctx;
    ctx.concurrency = 8;
    // Its share (4 of 8), slow and no answer yet: a second each, so one row
    // per 250 ms. Spread 1,024 steps, its backlog would come back at 4 rows
    // a second for four minutes, though it may answer in a millisecond the
    // next moment, or have every slot once b is done.
    ctx.targets["a"] = TargetLoad{4, 0, true};
    ctx.targets["b"] = TargetLoad{1, 5, false};
    for (int i = 0; i < 3; ++i)
        REQUIRE(q.claim(f.clock.nowMs(), 60'000, 30'000, 4, ctx));
    const int64_t now = f.clock.nowMs();
    auto rows = [&](const std::string& where) {
        return f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a' AND status = 'pending' AND " + where);
    };
    CHECK(rows("next_attempt_at > " + std::to_string(now)) == 2000);
    CHECK(rows("next_attempt_at > " + std::to_string(now + 1000 + 30'000 + 1)) == 0);
    // About 2,000 rows over 30 s, 120 to the 250 ms step: at least 60 a second.
    CHECK(rows("next_attempt_at <= " + std::to_string(now + 2000)) >= 60);
}

TEST_CASE("queue: a target that has not answered yet has its held-back rows spread as if it answered fast")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    sendBacklog(f, "a", 200);
    f.sendTo("b");
    Queue q(f.db, "w1");
    ClaimContext ctx;
    ctx.concurrency = 8;
    ctx.targets["a"] = TargetLoad{4, 0, false}; // its share, no answer yet, none in flight for long
    ctx.targets["b"] = TargetLoad{1, 5, false};
    REQUIRE(q.claim(f.clock.nowMs(), 60'000, 30'000, 4, ctx));
    const int64_t now = f.clock.nowMs();
    // 20 ms / 4 slots: 200 rows within a second and a bit, not 50 s at a
    // second each (as a webhookd just started once spread a fast target's
    // backlog, delivering it at 4/s).
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a' AND next_attempt_at > " +
                  std::to_string(now)) >= 150);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a' AND next_attempt_at > " +
                  std::to_string(now + 1500)) == 0);
}

TEST_CASE("queue: the in-flight cap holds across workers, counted from in_progress rows")
{
    StoreFixture f;
    TargetSpec capped;
    capped.maxInFlight = 2;
    f.addTarget("c", capped);
    for (int i = 0; i < 10; ++i)
        f.sendTo("c");
    Database second = test::openNew(f.locator);
    Queue w1(f.db, "w1"), w2(second, "w2");
    auto a = w1.claim(f.clock.nowMs(), 600'000, 30'000, 10);
    REQUIRE(a);
    CHECK(a->claimed.size() == 2);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'in_progress'") == 2);
    f.clock.advance(60'000);
    // Everything is due again, but two are in flight at w1: w2 gets none.
    auto b = w2.claim(f.clock.nowMs(), 120'000, 30'000, 10);
    REQUIRE(b);
    CHECK(b->claimed.empty());
    // One finishes at w1: w2 may take exactly one.
    REQUIRE(w1.complete({completion(a->claimed[0], DeliveryStatus::Delivered, 200)}, f.clock.nowMs()));
    f.clock.advance(60'000);
    auto c = w2.claim(f.clock.nowMs(), 120'000, 30'000, 10);
    REQUIRE(c);
    CHECK(c->claimed.size() == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'in_progress'") == 2);
    // The count is one range of the deliveries_in_flight index (SQLite's planner).
    if (!f.postgres()) {
        const std::string p = plan(f.raw, sqlite::statement(sql::Q::QueueInFlightOfTarget));
        CAPTURE(p);
        CHECK(p.find("deliveries_in_flight") != std::string::npos);
    }
}

TEST_CASE("queue: a free throttle moves the budget's base; throttling signals cut the stored rate")
{
    StoreFixture f;
    TargetSpec rated;
    rated.ratePerSecond = 40;
    f.addTarget("t", rated);
    f.sendTo("t");
    f.sendTo("t");
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 2);
    REQUIRE(r);
    REQUIRE(r->claimed.size() == 2);
    Completion throttled = completion(r->claimed[0], DeliveryStatus::Failed, 429, f.clock.nowMs() + 30'000);
    throttled.outcome.retryAfterMs = 30'000;
    throttled.freeThrottle = true;
    REQUIRE(q.complete({throttled, completion(r->claimed[1], DeliveryStatus::Failed, 429, f.clock.nowMs())},
                       f.clock.nowMs()));
    CHECK(f.count("SELECT attempt_count - retry_base FROM deliveries WHERE id = " + std::to_string(r->claimed[0].id)) ==
          0);
    CHECK(f.count("SELECT throttle_deferrals FROM deliveries WHERE id = " + std::to_string(r->claimed[0].id)) == 1);
    CHECK(f.count("SELECT attempt_count - retry_base FROM deliveries WHERE id = " + std::to_string(r->claimed[1].id)) ==
          1);
    auto t = getTarget(f.db, "t");
    REQUIRE(t);
    REQUIRE(t->rateCurrent);
    // Two 429s, one cut, from the 2/s it was sent at (not its configured
    // 40/s), held at the floor of 1/s.
    CHECK(*t->rateCurrent == doctest::Approx(1.0));
    CHECK(t->rateSignal == "HTTP 429");
    auto events = q.takeTargetEvents();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == TargetEvent::Kind::Throttled);
    // The next claim's bucket runs at the cut rate, with a burst no larger.
    for (int i = 0; i < 40; ++i)
        f.sendTo("t");
    auto next = q.claim(f.clock.nowMs(), 60'000, 30'000, 40);
    REQUIRE(next);
    CHECK(next->claimed.size() <= 1);
    CHECK(next->rateLimited >= 39);
    // Rows deferred while throttled are due within the throttled horizon.
    CHECK(f.count("SELECT max(next_attempt_at) FROM deliveries WHERE status = 'rate_limited'") <=
          f.clock.nowMs() + 5'000);
    // Changing the configured rate ends the throttling.
    TargetSpec change;
    change.ratePerSecond = 10;
    REQUIRE(updateTarget(f.db, "t", change, f.clock));
    CHECK_FALSE(getTarget(f.db, "t")->rateCurrent);
}

TEST_CASE("queue: recorded attempts add up in stats_minutely, one row per minute and target, read as a series")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    for (int i = 0; i < 6; ++i)
        f.sendTo(i < 4 ? "a" : "b");
    Queue q(f.db, "w1");
    auto r = q.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE(r);
    REQUIRE(r->claimed.size() == 6);
    const int64_t minute = 1'800'000'000'000 - 1'800'000'000'000 % 120'000; // starts a 2-minute step too
    std::vector<Completion> done;
    for (size_t i = 0; i < r->claimed.size(); ++i) {
        const auto& d = r->claimed[i];
        const bool isA = d.target->id == "a";
        Completion c = completion(d, isA ? DeliveryStatus::Delivered : DeliveryStatus::Failed, isA ? 200 : 503,
                                  f.clock.nowMs() + 1000);
        // Two of a's in the minute after: two rows for a, one for b.
        c.outcome.startedAtMs = minute + (isA && i % 2 ? 60'000 + 5 : 10);
        c.outcome.durationMs = isA ? 7 : 400; // the 10 ms bucket; the 500 ms one
        done.push_back(c);
    }
    REQUIRE(q.complete(done, f.clock.nowMs()));
    CHECK(f.count("SELECT count(*) FROM stats_minutely") == 3);
    CHECK(f.count("SELECT sum(attempts) FROM stats_minutely") == 6);
    CHECK(f.count("SELECT sum(delivered) FROM stats_minutely WHERE target_id = 'a'") == 4);
    CHECK(f.count("SELECT retried + throttled + lat_le_500ms FROM stats_minutely WHERE target_id = 'b'") == 6);
    // The same batch again adds to the same rows.
    auto again = q.claim(f.clock.nowMs() + 2000, 60'000, 30'000, 10);
    REQUIRE(again);
    const int64_t n = static_cast<int64_t>(again->claimed.size()); // b's due again (the 503 cut its rate)
    REQUIRE(n >= 1);
    std::vector<Completion> more;
    for (const auto& d : again->claimed) {
        Completion c = completion(d, DeliveryStatus::DeadLetter, 400);
        c.outcome.startedAtMs = minute + 20;
        c.outcome.durationMs = 40'000; // beyond the last bound
        more.push_back(c);
    }
    REQUIRE(q.complete(more, f.clock.nowMs() + 2000));
    CHECK(f.count("SELECT count(*) FROM stats_minutely") == 3);
    CHECK(f.count("SELECT attempts * 100 + dead_lettered * 10 + lat_inf FROM stats_minutely WHERE target_id = 'b'") ==
          (2 + n) * 100 + n * 10 + n);

    // Read back in 2-minute steps over 6 minutes: 3 steps, the first holding all.
    TimeseriesQuery tq;
    tq.since = minute + 30'000; // floored to the step
    tq.until = minute + 6 * 60'000;
    tq.stepMs = 120'000;
    auto series = timeseries(f.db, tq);
    REQUIRE(series);
    REQUIRE(series->size() == 3);
    CHECK((*series)[0].t == minute);
    CHECK((*series)[2].t == minute + 240'000);
    CHECK((*series)[0].counts.attempts == 6 + n);
    CHECK((*series)[1].counts.attempts == 0);
    CHECK((*series)[0].counts.latency[1] == 4); // a's 7 ms
    tq.targetId = "a";
    auto onlyA = timeseries(f.db, tq);
    REQUIRE(onlyA);
    int64_t delivered = 0;
    for (const auto& p : *onlyA)
        delivered += p.counts.delivered + p.counts.deadLettered;
    CHECK(delivered == 4);
    tq.targetId = "nobody";
    CHECK(timeseries(f.db, tq).error().kind() == Error::Kind::NotFound);
    tq.targetId.reset();
    tq.stepMs = 90'000;
    CHECK(timeseries(f.db, tq).error().kind() == Error::Kind::Invalid);
    tq.stepMs = 60'000;
    tq.since = tq.until - 1441 * 60'000LL;
    CHECK(timeseries(f.db, tq).error().kind() == Error::Kind::Invalid);
    // The series reads a range of the primary key (SQLite's planner).
    if (!f.postgres()) {
        const std::string p = plan(f.raw,
                                   "SELECT minute, sum(attempts) FROM stats_minutely WHERE minute >= 1 AND minute < 2"
                                   " GROUP BY minute ORDER BY minute");
        CAPTURE(p);
        CHECK(p.find("SEARCH stats_minutely USING PRIMARY KEY") != std::string::npos);
    }
}

TEST_CASE("queue: a purge deletes rollup minutes 14 days older than the deliveries it deletes")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t now = f.clock.nowMs();
    const int64_t day = 86'400'000;
    for (int64_t age : {1 * day, 20 * day, 40 * day})
        f.raw.exec("INSERT INTO stats_minutely (minute, target_id, attempts) VALUES (" +
                   std::to_string(now - age - (now - age) % 60'000) + ", 'a', 1)");
    PurgeOptions o;
    o.completedBeforeMs = now - 7 * day; // keeps the rollup 21 days back
    REQUIRE(purgeTerminal(f.db, o));
    CHECK(f.count("SELECT count(*) FROM stats_minutely") == 2); // 1 and 20 days old
    auto r = purgeTerminal(f.db, o);
    REQUIRE(r);
    CHECK(r->statsRows == 0);
}

// ---------------------------------------------------------------------------
// Ordered delivery (DESIGN.md "Ordering and payload filters"), on both backends.

namespace {

int64_t sendKeyed(StoreFixture& f, const std::string& target, const std::optional<std::string>& key)
{
    EventInput e;
    e.type = "order.updated";
    e.targets = {target};
    e.orderingKey = key;
    auto r = sendEvent(f.db, e, f.clock);
    REQUIRE_MESSAGE(r, r.error().message());
    return r->deliveryIds.at(0);
}

TargetSpec ordered(Ordering o, OrderingDeadLetter dl = OrderingDeadLetter::Skip)
{
    TargetSpec s;
    s.ordering = o;
    s.orderingDeadLetter = dl;
    return s;
}

} // namespace

TEST_CASE("ordering: under key, one delivery per key at a time, in the order the events were recorded")
{
    StoreFixture f;
    f.addTarget("k", ordered(Ordering::Key));
    const int64_t a1 = sendKeyed(f, "k", "A"), b1 = sendKeyed(f, "k", "B"), a2 = sendKeyed(f, "k", "A"),
                  a3 = sendKeyed(f, "k", "A"), none = sendKeyed(f, "k", std::nullopt),
                  none2 = sendKeyed(f, "k", std::nullopt);
    CHECK(f.status(a1) == "pending");
    CHECK(f.status(b1) == "pending");
    CHECK(f.status(a2) == "waiting");
    CHECK(f.status(a3) == "waiting");
    // Events without a key on a key target are unordered.
    CHECK(f.status(none) == "pending");
    CHECK(f.status(none2) == "pending");

    Queue q(f.db, "w1");
    const int64_t now = f.clock.nowMs();
    auto r = q.claim(now, 60'000, 30'000, 64);
    REQUIRE(r);
    auto got = ids(*r);
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<int64_t>{a1, b1, none, none2});

    SUBCASE("a retry keeps its schedule and the group waits for it")
    {
        const ClaimedDelivery& d = *std::find_if(r->claimed.begin(), r->claimed.end(),
                                                 [&](const auto& c) { return c.id == a1; });
        REQUIRE(q.complete({completion(d, DeliveryStatus::Failed, 500, now + 1000)}, now)); // 503 would throttle
        CHECK(f.status(a2) == "waiting");
        CHECK(q.claim(now + 999, 60'000, 30'000, 64)->claimed.empty());
        auto again = q.claim(now + 1000, 60'000, 30'000, 64);
        REQUIRE(ids(*again) == std::vector<int64_t>{a1});
        REQUIRE(q.complete({completion(again->claimed[0], DeliveryStatus::Delivered, 204)}, now + 1000));
        CHECK(f.status(a2) == "pending");
        CHECK(f.status(a3) == "waiting");
        auto next = q.claim(now + 1000, 60'000, 30'000, 64);
        CHECK(ids(*next) == std::vector<int64_t>{a2});
    }
    SUBCASE("a SIGKILLed worker's lease must expire before anything of the group goes")
    {
        // The worker that claimed a1 is gone: nothing of group A is claimable
        // until a1's lease expires, and then a1 itself comes back first.
        Queue other(f.db, "w2");
        CHECK(other.claim(now + 59'000, 60'000, 30'000, 64)->claimed.empty());
        auto back = other.claim(now + 60'001, 60'000, 30'000, 64);
        auto backIds = ids(*back);
        CHECK(std::find(backIds.begin(), backIds.end(), a1) != backIds.end());
        CHECK(std::find(backIds.begin(), backIds.end(), a2) == backIds.end());
        CHECK(f.status(a2) == "waiting");
    }
}

TEST_CASE("ordering: under fifo the whole target is one group; skip lets a dead letter's group go on")
{
    StoreFixture f;
    f.addTarget("q", ordered(Ordering::Fifo));
    f.addTarget("free");
    const int64_t d1 = sendKeyed(f, "q", "x"), d2 = sendKeyed(f, "q", "y"), d3 = sendKeyed(f, "q", std::nullopt);
    const int64_t u1 = f.sendTo("free"), u2 = f.sendTo("free");
    CHECK(f.status(d2) == "waiting");
    CHECK(f.status(d3) == "waiting");
    // Unordered targets are untouched: no group, nothing waits.
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'free' AND ordering_group IS NULL"
                  " AND status = 'pending'") == 2);
    Queue q(f.db, "w1");
    const int64_t now = f.clock.nowMs();
    auto r = q.claim(now, 60'000, 30'000, 64);
    auto got = ids(*r);
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<int64_t>{d1, u1, u2});
    const ClaimedDelivery& c1 = *std::find_if(r->claimed.begin(), r->claimed.end(),
                                              [&](const auto& c) { return c.id == d1; });
    REQUIRE(q.complete({completion(c1, DeliveryStatus::DeadLetter, 400)}, now));
    CHECK(f.status(d1) == "dead_letter");
    CHECK(f.status(d2) == "pending");
    CHECK(f.status(d3) == "waiting");
    CHECK(f.count("SELECT ordering_blocking FROM deliveries WHERE id = " + std::to_string(d1)) == 0);

    SUBCASE("dlq retry of the old dead letter puts it back at the head")
    {
        REQUIRE(retryDeadLetters(f.db, {d1}, f.clock));
        // d2 is due (pending) ahead of it, so d1 waits, and goes next.
        CHECK(f.status(d1) == "waiting");
        auto r2 = q.claim(now, 60'000, 30'000, 64);
        REQUIRE(ids(*r2) == std::vector<int64_t>{d2});
        REQUIRE(q.complete({completion(r2->claimed[0], DeliveryStatus::Delivered, 204)}, now));
        CHECK(f.status(d1) == "pending");
        CHECK(f.status(d3) == "waiting");
    }
}

TEST_CASE("ordering: block holds the group after a dead letter until dlq release or dlq retry")
{
    StoreFixture f;
    f.addTarget("b", ordered(Ordering::Key, OrderingDeadLetter::Block));
    const int64_t d1 = sendKeyed(f, "b", "K"), d2 = sendKeyed(f, "b", "K"), d3 = sendKeyed(f, "b", "K");
    Queue q(f.db, "w1");
    const int64_t now = f.clock.nowMs();
    auto r = q.claim(now, 60'000, 30'000, 64);
    REQUIRE(ids(*r) == std::vector<int64_t>{d1});
    REQUIRE(q.complete({completion(r->claimed[0], DeliveryStatus::DeadLetter, 400)}, now));
    CHECK(f.status(d2) == "waiting");
    CHECK(f.count("SELECT ordering_blocking FROM deliveries WHERE id = " + std::to_string(d1)) == 1);
    // A newcomer queues behind the blocked group.
    const int64_t d4 = sendKeyed(f, "b", "K");
    CHECK(f.status(d4) == "waiting");
    // A purge does not take the dead letter that holds the group.
    PurgeOptions p;
    p.completedBeforeMs = now + 1;
    REQUIRE(purgeTerminal(f.db, p));
    CHECK(f.status(d1) == "dead_letter");

    SUBCASE("dlq release lets the rest go; the dead letter stays dead")
    {
        auto bad = releaseDeadLetter(f.db, d2, f.clock);
        REQUIRE_FALSE(bad);
        CHECK(bad.error().message() == "delivery " + std::to_string(d2) + " is waiting, not a dead letter");
        REQUIRE(releaseDeadLetter(f.db, d1, f.clock));
        CHECK(f.status(d1) == "dead_letter");
        CHECK(f.status(d2) == "pending");
        CHECK(f.status(d3) == "waiting");
        auto twice = releaseDeadLetter(f.db, d1, f.clock);
        REQUIRE_FALSE(twice);
        CHECK(twice.error().is(Error::Kind::Conflict));
    }
    SUBCASE("dlq retry puts the blocking dead letter back at the head")
    {
        REQUIRE(retryDeadLetters(f.db, {d1}, f.clock));
        CHECK(f.status(d1) == "pending");
        CHECK(f.status(d2) == "waiting");
        auto again = q.claim(now, 60'000, 30'000, 64);
        REQUIRE(ids(*again) == std::vector<int64_t>{d1});
        REQUIRE(q.complete({completion(again->claimed[0], DeliveryStatus::Delivered, 204)}, now));
        CHECK(f.status(d2) == "pending");
    }
    SUBCASE("changing the target's ordering lets everything waiting go")
    {
        TargetSpec none;
        none.ordering = Ordering::None;
        REQUIRE(updateTarget(f.db, "b", none, f.clock));
        CHECK(f.status(d2) == "pending");
        CHECK(f.status(d3) == "pending");
        CHECK(f.status(d4) == "pending");
        CHECK(f.count("SELECT count(*) FROM deliveries WHERE ordering_group IS NOT NULL") == 0);
    }
}

TEST_CASE("ordering: a group's next delivery is an index seek, and unordered rows are not in that index")
{
    StoreFixture f;
    f.addTarget("k", ordered(Ordering::Key));
    f.addTarget("free");
    for (int i = 0; i < 50; ++i)
        sendKeyed(f, "k", "g" + std::to_string(i % 5));
    for (int i = 0; i < 20; ++i)
        f.sendTo("free");
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'waiting'") == 45);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE ordering_group IS NULL") == 20);
    if (!f.postgres()) {
        const std::string p =
            plan(f.raw, "SELECT id FROM deliveries WHERE target_id = 'k' AND ordering_group = 'g1' AND status = "
                        "'waiting' AND ordering_blocking = 0 ORDER BY id LIMIT 1");
        CHECK_MESSAGE(p.find("USING COVERING INDEX deliveries_ordering") != std::string::npos, p);
        CHECK(p.find("TEMP B-TREE") == std::string::npos);
    }
}
