// Query plans on both backends: every hot query (the claim's, the
// completion's lookups) and every listing must walk an index, never scan
// deliveries or events, on a store large enough, and with statistics, that
// the planner's choice is the real one. SQLite's EXPLAIN QUERY PLAN; on
// PostgreSQL the generic plan (plan_cache_mode = force_generic_plan), the one
// a prepared statement settles on after its fifth run.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/sql/bind.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/targets.h"
#include "support/postgres.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using sql::Q;

namespace {

// 40 targets; `count` events, each with a delivery: most delivered, the
// rest pending, failed, leased or dead letters, spread over 5 priorities.
// Statistics gathered unless `analyze` is false.
void seed(Database& db, bool server, int count = 60000, bool analyze = true)
{
    FakeClock clock;
    for (int i = 0; i < 40; ++i) {
        TargetSpec spec;
        spec.url = "http://127.0.0.1:9/t" + std::to_string(i);
        REQUIRE(addTarget(db, "t" + std::to_string(i), spec, clock));
    }
    auto& c = detail::sql(db);
    auto p = [&](int i) { return c.placeholder(i); };
    const std::string payload = "'{\"n\":' || i || '}'";
    sql::Transaction tx(c, true);
    sql::Statement events(
        c,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(count) +
            ")"
            " INSERT INTO events (id, uid, type, payload, priority, created_at)"
            " SELECT i, 'msg_' || i, 'type.' || (i % 7), " +
            (server ? "CAST(" + payload + " AS json)" : payload) + ", i % 5, " + p(1) + " + i FROM n");
    events.bind(1, clock.nowMs());
    events.exec();
    sql::Statement deliveries(
        c,
        "INSERT INTO deliveries (id, event_id, target_id, status, priority, next_attempt_at, created_at, updated_at,"
        " lease_owner, lease_expires_at)"
        " SELECT id, id, 't' || (id % 40), CASE WHEN id % 20 = 1 THEN 'pending' WHEN id % 20 = 2 THEN 'failed'"
        " WHEN id % 20 = 3 THEN 'in_progress' WHEN id % 20 = 4 THEN 'dead_letter' ELSE 'delivered' END,"
        " priority, created_at + 1000, created_at, created_at,"
        " CASE WHEN id % 20 = 3 THEN 'w1' END, CASE WHEN id % 20 = 3 THEN created_at + 60000 END FROM events");
    deliveries.exec();
    // Target t7 is ordered by key: 50 groups, their waiting rows beside the rest.
    sql::Statement ordered(c,
                           "UPDATE deliveries SET ordering_group = 'g' || (id % 50), status = CASE WHEN status ="
                           " 'delivered' AND id % 3 = 0 THEN 'waiting' ELSE status END WHERE target_id = 't7'");
    ordered.exec();
    sql::Statement attempts(c,
                            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
                            " SELECT id, 1, created_at, 12, 200 FROM deliveries");
    attempts.exec();
    sql::Statement dead(c,
                        "INSERT INTO dead_letters (delivery_id, reason, moved_at) SELECT id, 'gave up',"
                        " created_at FROM deliveries WHERE id % 20 = 4");
    dead.exec();
    tx.commit();
    if (server)
        c.exec("SELECT setval(pg_get_serial_sequence('events', 'id'), " + std::to_string(count) +
               "); SELECT setval(pg_get_serial_sequence('deliveries', 'id'), " + std::to_string(count) + ")");
    if (analyze)
        c.exec("ANALYZE");
}

struct Case {
    std::string name;
    bool ordered; // the listing's order comes from the index, with no sort
    std::function<sql::Statement(sql::Connection&, std::string_view prefix)> explain;
};

// A catalog statement with its parameters bound to plausible values.
template <typename... V>
Case named(Q q, V... values)
{
    return {std::string(sql::statementName(q)), false, [=](sql::Connection& c, std::string_view prefix) {
                sql::Statement s(c, std::string(prefix) + c.text(q));
                detail::bindAll(s, values...);
                return s;
            }};
}

Case composed(const char* name, bool ordered, std::function<sql::Composer(sql::Connection&)> make)
{
    return {name, ordered, [=](sql::Connection& c, std::string_view prefix) { return make(c).statement(prefix); }};
}

std::vector<Case> cases()
{
    const int64_t now = 2'000'000'000'000;
    DeliveryFilter byStatus;
    byStatus.status = DeliveryStatus::Failed;
    DeliveryFilter byTarget;
    byTarget.targetId = "t7";
    DeliveryFilter page;
    page.after = std::pair<int64_t, int64_t>{now, 50'000};
    EventFilter events;
    EventFilter eventsByType;
    eventsByType.type = "type.3";
    EventFilter eventsOfApp;
    eventsOfApp.appId = "acme";
    DeliveryFilter ofApp;
    ofApp.appId = "acme";
    return {
        named(Q::QueueReclaim, now),
        named(Q::QueueNextPriority, int64_t{4}),
        named(Q::QueueDueAtPriority, int64_t{4}, now, int64_t{72}),
        named(Q::QueueFirstAtPriority, int64_t{4}, now),
        named(Q::QueueFirstLease),
        named(Q::QueueInFlightOfTarget, std::string("t7")),
        named(Q::QueueOutstanding),
        // The batch statements: each row looked up by its key, never a scan.
        named(Q::QueueLeaseMany, std::string("w1"), now, std::string("[[500,1],[501,1]]")),
        named(Q::QueueLeasedEvents, std::string("[[500],[501]]")),
        named(Q::QueueDeferMany, now, std::string("[[500,1],[501,1]]")),
        named(Q::QueueHoldBackMany, now, std::string("[[500,1],[501,1]]")),
        named(Q::QueueFinishMany, std::string("w1"), now,
              std::string("[[500,\"delivered\",1,200,null,1,0],[501,\"failed\",9,500,\"HTTP 500\",null,0]]")),
        named(Q::QueueAttemptMany, std::string("[[500,9,1,2,200,null,null,\"ok\",null]]")),
        named(Q::QueueReleaseMany, now, std::string("w1"), std::string("[[500],[501]]")),
        named(Q::QueueDeadLetterMany, std::string("[[500,\"gave up\",1]]")),
        // Ordered delivery: a group's lookups are seeks on deliveries_ordering.
        named(Q::OrderingBusy, std::string("t7"), std::string("g7")),
        named(Q::OrderingHead, std::string("t7"), std::string("g7")),
        named(Q::OrderingLockMany, std::string("[[500],[501]]")),
        named(Q::OrderingBlockMany, std::string("[[500],[501]]")),
        named(Q::OrderingPromoteMany, now, std::string("[[500],[501]]")),
        named(Q::OrderingRequeued, int64_t{500}),
        named(Q::EventDeliveries, int64_t{500}),
        named(Q::EventByUid, std::string("msg_500")),
        named(Q::DeliveryById, int64_t{500}),
        named(Q::AttemptsOfDelivery, int64_t{500}),
        named(Q::DeliveriesOfEvent, int64_t{500}),
        composed("listDeliveries", true,
                 [](sql::Connection& c) { return detail::listDeliveriesSql(c, DeliveryFilter{}); }),
        composed("listDeliveries by status", false,
                 [=](sql::Connection& c) { return detail::listDeliveriesSql(c, byStatus); }),
        composed("listDeliveries by target", false,
                 [=](sql::Connection& c) { return detail::listDeliveriesSql(c, byTarget); }),
        composed("listDeliveries, a later page", true,
                 [=](sql::Connection& c) { return detail::listDeliveriesSql(c, page); }),
        composed("listDeadLetters", true,
                 [](sql::Connection& c) { return detail::listDeadLettersSql(c, DeliveryFilter{}); }),
        composed("listEvents", true, [=](sql::Connection& c) { return detail::listEventsSql(c, events); }),
        composed("listEvents by type", true,
                 [=](sql::Connection& c) { return detail::listEventsSql(c, eventsByType); }),
        // An application's listings (keys bound to it, ?app_id=).
        composed("listEvents of an application", true,
                 [=](sql::Connection& c) { return detail::listEventsSql(c, eventsOfApp); }),
        composed("listDeliveries of an application", false,
                 [=](sql::Connection& c) { return detail::listDeliveriesSql(c, ofApp); }),
    };
}

std::string planOf(sql::Statement q, int detailColumn)
{
    std::string out;
    while (q.executeStep())
        out += q.getColumn(detailColumn).getString() + "\n";
    return out;
}

} // namespace

TEST_CASE("plans: SQLite walks an index for every hot and listing query" * test::sqliteOnly())
{
    test::TempDir dir;
    OpenOptions o;
    o.create = true;
    auto db = Database::open(dir.file("plans.db"), o);
    REQUIRE(db);
    seed(*db, false);
    auto& c = detail::sql(*db);
    for (const auto& k : cases()) {
        CAPTURE(k.name);
        const std::string p = planOf(k.explain(c, "EXPLAIN QUERY PLAN "), 3);
        CAPTURE(p);
        // "SCAN d USING INDEX …" walks an index in order; a bare SCAN reads the table.
        for (const char* table : {"deliveries", "d", "events", "e", "attempts"}) {
            CHECK(p.find(std::string("SCAN ") + table + "\n") == std::string::npos);
        }
        if (k.ordered)
            CHECK(p.find("USE TEMP B-TREE FOR ORDER BY") == std::string::npos);
    }
}

TEST_CASE("plans: PostgreSQL walks an index for every hot and listing query" * test::postgresOnly())
{
    OpenOptions o;
    o.create = true;
    auto db = Database::open(test::freshPostgresDatabase(), o);
    REQUIRE(db);
    // A store just filled by a bulk send has no statistics yet, and a small
    // table invites a hash join over a scan of it: the worker's statements
    // (Queue…) must find their rows by index there too; a listing may scan
    // a small table.
    bool workerOnly = false;
    SUBCASE("60,000 deliveries, analysed") { seed(*db, true); }
    SUBCASE("10,000 deliveries, no statistics yet")
    {
        seed(*db, true, 10000, false);
        workerOnly = true;
    }
    auto& c = detail::sql(*db);
    c.exec("SET plan_cache_mode = force_generic_plan");
    for (const auto& k : cases()) {
        if (workerOnly && k.name.rfind("Queue", 0) != 0)
            continue;
        CAPTURE(k.name);
        const std::string p = planOf(k.explain(c, "EXPLAIN "), 0);
        CAPTURE(p);
        for (const char* table : {"deliveries", "events", "attempts"})
            CHECK(p.find(std::string("Seq Scan on ") + table) == std::string::npos);
        if (k.ordered) // a top-N sort of every row would read them all
            CHECK(p.find("  Sort  ") == std::string::npos);
    }
}
