#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "core/duration.h"
#include "storage/database.h"
#include "storage/sql/status_sql.h"
#include "storage/sqlite/statements.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using test::StoreFixture;
using test::StoreOptions;

namespace {

// Foreign keys enforced on the plain connection too, as on the library's own.
const StoreOptions kForeignKeys{.rawForeignKeys = true};

std::string readSchemaFile()
{
    const char* root = std::getenv("WEBHOOKD_SOURCE_ROOT");
    REQUIRE_MESSAGE(root != nullptr, "WEBHOOKD_SOURCE_ROOT is not set; run the tests through meson test");
    std::ifstream in(std::string(root) + "/schema/schema.sql", std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "could not read schema/schema.sql");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// schema.sql without the leading "--" comment lines and the blank line after them.
std::string schemaBody(const std::string& file)
{
    size_t pos = 0;
    while (file.compare(pos, 2, "--") == 0) {
        size_t nl = file.find('\n', pos);
        REQUIRE(nl != std::string::npos);
        pos = nl + 1;
    }
    REQUIRE_MESSAGE(pos > 0, "schema.sql should start with a comment");
    REQUIRE_MESSAGE(file.compare(pos, 1, "\n") == 0, "a blank line should follow the comment");
    return file.substr(pos + 1);
}

std::vector<std::string> queryPlan(SQLite::Database& sql, const std::string& query)
{
    SQLite::Statement q(sql, "EXPLAIN QUERY PLAN " + query);
    std::vector<std::string> out;
    while (q.executeStep())
        out.push_back(q.getColumn(3).getString());
    return out;
}

void seed(SQLite::Database& sql)
{
    sql.exec("INSERT INTO targets (id, url, secret, created_at, updated_at)"
             " VALUES ('t1', 'http://127.0.0.1:1/', 'whsec_Zm9vYmFy', 0, 0)");
    sql.exec("INSERT INTO events (id, uid, type, payload, created_at)"
             " VALUES (1, 'msg_01', 'cost.alert', '{}', 1614265330123)");
    sql.exec("INSERT INTO deliveries (id, event_id, target_id, next_attempt_at, created_at, updated_at,"
             " completed_at) VALUES (1, 1, 't1', 1614265330999, 1614265330123, 1700000000001, 1700000000001)");
    sql.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
             " VALUES (1, 1, 1614265331007, 12, 200)");
}

} // namespace

TEST_CASE("schema: a new database has exactly the schema in schema/schema.sql")
{
    StoreFixture f(kForeignKeys);
    // tools/update-schema.sh prints this query with the sqlite3 shell, which
    // ends every row with a newline of its own.
    SQLite::Statement q(f.raw,
                        "SELECT sql || ';' || char(10) FROM sqlite_schema WHERE sql IS NOT NULL"
                        " ORDER BY rowid");
    std::string actual;
    while (q.executeStep())
        actual += q.getColumn(0).getString() + "\n";
    const std::string expected = schemaBody(readSchemaFile());
    REQUIRE(!actual.empty());
    if (actual != expected) {
        // Point at the first difference rather than printing two whole schemas.
        size_t i = 0;
        while (i < actual.size() && i < expected.size() && actual[i] == expected[i])
            ++i;
        const size_t from = i < 80 ? 0 : i - 80;
        FAIL_CHECK("the schema differs from schema/schema.sql at byte " << i << "; run tools/update-schema.sh"
                                                                        << "\n--- database:\n"
                                                                        << actual.substr(from, 200)
                                                                        << "\n--- schema.sql:\n"
                                                                        << expected.substr(from, 200));
    }
    CHECK(actual == expected);
}

TEST_CASE("schema: the claim index is partial and ordered as the claim query sorts")
{
    StoreFixture f(kForeignKeys);
    SUBCASE("it is partial")
    {
        SQLite::Statement list(f.raw,
                               "SELECT partial FROM pragma_index_list('deliveries') WHERE name = 'deliveries_due'");
        REQUIRE(list.executeStep());
        CHECK(list.getColumn(0).getInt() == 1);
    }
    SUBCASE("its key columns are priority DESC, next_attempt_at ASC")
    {
        SQLite::Statement info(f.raw,
                               "SELECT name, desc FROM pragma_index_xinfo('deliveries_due') WHERE key = 1"
                               " ORDER BY seqno");
        std::vector<std::pair<std::string, int>> columns;
        while (info.executeStep())
            columns.emplace_back(info.getColumn(0).getString(), info.getColumn(1).getInt());
        REQUIRE(columns.size() == 2);
        CHECK(columns[0].first == "priority");
        CHECK(columns[0].second == 1);
        CHECK(columns[1].first == "next_attempt_at");
        CHECK(columns[1].second == 0);
    }
    SUBCASE("it covers exactly the claimable states")
    {
        SQLite::Statement sql(f.raw, "SELECT sql FROM sqlite_schema WHERE name = 'deliveries_due'");
        REQUIRE(sql.executeStep());
        const std::string text = sql.getColumn(0).getString();
        CHECK(text.find("WHERE (status = 'pending' OR status = 'failed' OR status = 'rate_limited')") !=
              std::string::npos);
    }
}

namespace {

// The status names a piece of the schema spells as "status = 'name'", in order.
std::vector<std::string> spelledStatuses(const std::string& sql)
{
    std::vector<std::string> out;
    const std::string prefix = "status = '";
    for (size_t at = sql.find(prefix); at != std::string::npos; at = sql.find(prefix, at + 1)) {
        const size_t start = at + prefix.size();
        out.push_back(sql.substr(start, sql.find('\'', start) - start));
    }
    return out;
}

std::vector<std::string> names(std::span<const DeliveryStatus> set)
{
    std::vector<std::string> out;
    for (DeliveryStatus s : set)
        out.emplace_back(toString(s));
    return out;
}

std::string schemaSql(SQLite::Database& sql, const std::string& object)
{
    SQLite::Statement q(sql, "SELECT sql FROM sqlite_schema WHERE name = ?");
    q.bind(1, object);
    REQUIRE(q.executeStep());
    return q.getColumn(0).getString();
}

} // namespace

TEST_CASE("schema: the migrations spell the statuses exactly as DeliveryStatus names them")
{
    StoreFixture f(kForeignKeys);
    SUBCASE("the CHECK on deliveries.status admits every status and nothing else")
    {
        std::string table = schemaSql(f.raw, "deliveries");
        const size_t check = table.find("CHECK (status = ");
        REQUIRE(check != std::string::npos);
        table = table.substr(check, table.find(')', check) - check);
        auto spelled = spelledStatuses(table);
        auto all = names(status_set::kAll);
        std::sort(spelled.begin(), spelled.end());
        std::sort(all.begin(), all.end());
        CHECK(spelled == all);
    }
    SUBCASE("deliveries_due covers the claimable set, word for word as the claim query spells it")
    {
        const std::string index = schemaSql(f.raw, "deliveries_due");
        CHECK(spelledStatuses(index) == names(status_set::kClaimable));
        CHECK(index.find("WHERE " + detail::statusIn(status_set::kClaimable)) != std::string::npos);
    }
    SUBCASE("deliveries_leased covers the leased status only")
    {
        CHECK(spelledStatuses(schemaSql(f.raw, "deliveries_leased")) == names(std::array{DeliveryStatus::InProgress}));
    }
    SUBCASE("every name parses back to its status")
    {
        for (DeliveryStatus s : status_set::kAll)
            CHECK(parseDeliveryStatus(toString(s)) == s);
    }
}

TEST_CASE("schema: the claim query walks deliveries_due without a scan or a sort")
{
    StoreFixture f(kForeignKeys);
    // The claim's own query (storage/sqlite/statements.cpp), with its
    // parameters bound by the planner as unknowns.
    const std::string query = sqlite::statement(sql::Q::QueueDueAtPriority);
    auto check = [&] {
        const auto plan = queryPlan(f.raw, query);
        std::string text;
        for (const auto& line : plan)
            text += line + "\n";
        CAPTURE(text);
        CHECK(text.find("deliveries_due") != std::string::npos);
        CHECK(text.find("SCAN deliveries") == std::string::npos);
        CHECK(text.find("USE TEMP B-TREE") == std::string::npos);
    };
    SUBCASE("on an empty table") { check(); }
    SUBCASE("with statistics from a large mixed table")
    {
        seed(f.raw);
        f.raw.exec("BEGIN");
        f.raw.exec("WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                   " INSERT INTO events (id, uid, type, payload, created_at)"
                   " SELECT i, 'msg_' || i, 'cost.alert', '{}', i FROM n");
        f.raw.exec("WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                   " INSERT INTO deliveries (event_id, target_id, status, priority, next_attempt_at, created_at,"
                   " updated_at) SELECT i, 't1', CASE i % 3 WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed'"
                   " ELSE 'pending' END, i % 7, i * 10, i, i FROM n");
        f.raw.exec("COMMIT");
        f.raw.exec("ANALYZE");
        check();
    }
}

TEST_CASE("schema: the views show times as ISO-8601 text ending in Z")
{
    StoreFixture f(kForeignKeys);
    seed(f.raw);
    SUBCASE("delivery_history")
    {
        SQLite::Statement q(f.raw,
                            "SELECT created_at, next_attempt_at, updated_at, completed_at, event_uid,"
                            " event_type, target_id, status FROM delivery_history");
        REQUIRE(q.executeStep());
        CHECK(q.getColumn(0).getString() == isoTime(1614265330123));
        CHECK(q.getColumn(1).getString() == isoTime(1614265330999));
        CHECK(q.getColumn(2).getString() == isoTime(1700000000001));
        CHECK(q.getColumn(3).getString() == "2023-11-14T22:13:20.001Z");
        CHECK(q.getColumn(4).getString() == "msg_01");
        CHECK(q.getColumn(5).getString() == "cost.alert");
        CHECK(q.getColumn(6).getString() == "t1");
        CHECK(q.getColumn(7).getString() == "pending");
        CHECK_FALSE(q.executeStep());
    }
    SUBCASE("attempt_log")
    {
        SQLite::Statement q(f.raw,
                            "SELECT started_at, duration_ms, status_code, target_id, event_type"
                            " FROM attempt_log");
        REQUIRE(q.executeStep());
        CHECK(q.getColumn(0).getString() == "2021-02-25T15:02:11.007Z");
        CHECK(q.getColumn(1).getInt() == 12);
        CHECK(q.getColumn(2).getInt() == 200);
        CHECK(q.getColumn(3).getString() == "t1");
        CHECK(q.getColumn(4).getString() == "cost.alert");
    }
    SUBCASE("a delivery still in flight has no completion time")
    {
        f.raw.exec("UPDATE deliveries SET completed_at = NULL");
        SQLite::Statement q(f.raw, "SELECT completed_at FROM delivery_history");
        REQUIRE(q.executeStep());
        CHECK(q.getColumn(0).isNull());
    }
}

TEST_CASE("schema: the view times agree with isoTime for every millisecond")
{
    StoreFixture f(kForeignKeys);
    seed(f.raw);
    // strftime works on a floating-point day number; make sure no millisecond
    // is rounded to its neighbour.
    SQLite::Statement q(f.raw, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ? / 1000.0, 'unixepoch')");
    int mismatches = 0;
    for (int64_t ms = 1'700'000'000'000; ms < 1'700'000'001'000; ++ms) {
        q.reset();
        q.bind(1, ms);
        REQUIRE(q.executeStep());
        if (q.getColumn(0).getString() != isoTime(ms))
            ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("schema: CHECK constraints refuse a bad status and invalid JSON")
{
    StoreFixture f(kForeignKeys);
    seed(f.raw);
    SUBCASE("status")
    {
        CHECK_THROWS_AS(f.raw.exec("UPDATE deliveries SET status = 'lost' WHERE id = 1"), SQLite::Exception);
        SQLite::Statement q(f.raw, "SELECT status FROM deliveries WHERE id = 1");
        REQUIRE(q.executeStep());
        CHECK(q.getColumn(0).getString() == "pending");
        f.raw.exec("UPDATE deliveries SET status = 'dead_letter' WHERE id = 1");
    }
    SUBCASE("payload")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO events (uid, type, payload, created_at)"
                                   " VALUES ('msg_02', 'a', '{not json', 0)"),
                        SQLite::Exception);
        CHECK(f.raw.execAndGet("SELECT count(*) FROM events").getInt() == 1);
        f.raw.exec("INSERT INTO events (uid, type, payload, created_at) VALUES ('msg_02', 'a', '[1]', 0)");
    }
    SUBCASE("uppercase URL schemes")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO targets (id, url, secret, created_at, updated_at)"
                                   " VALUES ('t2', 'HTTP://x', 's', 0, 0)"),
                        SQLite::Exception);
    }
    SUBCASE("uids with dots")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO events (uid, type, payload, created_at)"
                                   " VALUES ('msg_a.b', 'a', '{}', 0)"),
                        SQLite::Exception);
    }
}
