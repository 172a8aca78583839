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

#include "core/duration.h"
#include "storage/database.h"
#include "storage/sql/status_sql.h"
#include "storage/sqlite/statements.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using test::sqliteOnly;
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

std::vector<std::string> queryPlan(test::RawSql& sql, const std::string& query)
{
    std::vector<std::string> out;
    for (const auto& row : sql.rows("EXPLAIN QUERY PLAN " + query))
        out.push_back(row.at(3));
    return out;
}

// One target, event, delivery and attempt. Ids are left to the store (a
// PostgreSQL identity does not move past ids given to it).
void seed(test::RawSql& sql)
{
    sql.exec("INSERT INTO targets (id, url, secret, created_at, updated_at)"
             " VALUES ('t1', 'http://127.0.0.1:1/', 'whsec_Zm9vYmFy', 0, 0)");
    sql.exec("INSERT INTO events (uid, type, payload, created_at)"
             " VALUES ('msg_01', 'cost.alert', '{}', 1614265330123)");
    sql.exec("INSERT INTO deliveries (event_id, target_id, next_attempt_at, created_at, updated_at, completed_at)"
             " SELECT id, 't1', 1614265330999, 1614265330123, 1700000000001, 1700000000001 FROM events"
             " WHERE uid = 'msg_01'");
    sql.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
             " SELECT id, 1, 1614265331007, 12, 200 FROM deliveries");
}

} // namespace

// schema/schema.sql is SQLite's schema, read from sqlite_schema;
// PostgreSQL's migrations are checked by the cases below.
TEST_CASE("schema: a new database has exactly the schema in schema/schema.sql" * sqliteOnly())
{
    StoreFixture f(kForeignKeys);
    // tools/update-schema.sh prints this query with the sqlite3 shell, which
    // ends every row with a newline of its own.
    std::string actual;
    for (const auto& row : f.raw.rows("SELECT sql || ';' || char(10) FROM sqlite_schema WHERE sql IS NOT NULL"
                                      " ORDER BY rowid"))
        actual += row[0] + "\n";
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

namespace {

// The definition of an index as the store keeps it: SQLite's CREATE INDEX
// text as written, PostgreSQL's as pg_indexes deparses it.
std::string indexSql(StoreFixture& f, const std::string& index)
{
    return f.text(f.postgres() ? "SELECT indexdef FROM pg_indexes WHERE indexname = " + test::quoted(index)
                               : "SELECT sql FROM sqlite_schema WHERE name = " + test::quoted(index));
}

} // namespace

TEST_CASE("schema: the claim index is partial and ordered as the claim query sorts")
{
    StoreFixture f(kForeignKeys);
    if (f.postgres()) {
        // PostgreSQL has no pragma_index_xinfo; its deparsed definition
        // names the key columns in order, with their directions.
        const std::string index = indexSql(f, "deliveries_due");
        CAPTURE(index);
        CHECK(index.find("(priority DESC, next_attempt_at)") != std::string::npos);
        CHECK(index.find(" WHERE ") != std::string::npos);
        return;
    }
    SUBCASE("it is partial")
    {
        CHECK(f.count("SELECT partial FROM pragma_index_list('deliveries') WHERE name = 'deliveries_due'") == 1);
    }
    SUBCASE("its key columns are priority DESC, next_attempt_at ASC")
    {
        const auto columns = f.raw.rows("SELECT name, desc FROM pragma_index_xinfo('deliveries_due') WHERE key = 1"
                                        " ORDER BY seqno");
        CHECK(columns == std::vector<std::vector<std::string>>{{"priority", "1"}, {"next_attempt_at", "0"}});
    }
    SUBCASE("it covers exactly the claimable states")
    {
        CHECK(indexSql(f, "deliveries_due")
                  .find("WHERE (status = 'pending' OR status = 'failed' OR status = 'rate_limited')") !=
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

// The CHECK on deliveries.status: SQLite's as written in the table's
// CREATE TABLE, PostgreSQL's deparsed ("((status = 'pending'::text) OR …").
std::string statusCheck(StoreFixture& f)
{
    if (f.postgres())
        return f.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'deliveries'::regclass"
                      " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%status = %'");
    std::string table = f.text("SELECT sql FROM sqlite_schema WHERE name = 'deliveries'");
    const size_t check = table.find("CHECK (status = ");
    REQUIRE(check != std::string::npos);
    return table.substr(check, table.find(')', check) - check);
}

} // namespace

TEST_CASE("schema: the migrations spell the statuses exactly as DeliveryStatus names them")
{
    StoreFixture f(kForeignKeys);
    SUBCASE("the CHECK on deliveries.status admits every status and nothing else")
    {
        auto spelled = spelledStatuses(statusCheck(f));
        auto all = names(status_set::kAll);
        std::sort(spelled.begin(), spelled.end());
        std::sort(all.begin(), all.end());
        CHECK(spelled == all);
    }
    SUBCASE("deliveries_due covers the claimable set, word for word as the claim query spells it")
    {
        const std::string index = indexSql(f, "deliveries_due");
        CHECK(spelledStatuses(index) == names(status_set::kClaimable));
        // PostgreSQL keeps the predicate deparsed, not as written (and
        // matches a query to it by meaning): the words are SQLite's.
        if (!f.postgres())
            CHECK(index.find("WHERE " + detail::statusIn(status_set::kClaimable)) != std::string::npos);
    }
    SUBCASE("deliveries_leased covers the leased status only")
    {
        CHECK(spelledStatuses(indexSql(f, "deliveries_leased")) == names(std::array{DeliveryStatus::InProgress}));
    }
    SUBCASE("every name parses back to its status")
    {
        for (DeliveryStatus s : status_set::kAll)
            CHECK(parseDeliveryStatus(toString(s)) == s);
    }
}

// SQLite's planner (EXPLAIN QUERY PLAN) on SQLite's statistics; what
// PostgreSQL's planner does with the claim is another question.
TEST_CASE("schema: the claim query walks deliveries_due without a scan or a sort" * sqliteOnly())
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
        const auto rows = f.raw.rows("SELECT created_at, next_attempt_at, updated_at, completed_at, event_uid,"
                                     " event_type, target_id, status FROM delivery_history");
        REQUIRE(rows.size() == 1);
        const auto& row = rows[0];
        CHECK(row[0] == isoTime(1614265330123));
        CHECK(row[1] == isoTime(1614265330999));
        CHECK(row[2] == isoTime(1700000000001));
        CHECK(row[3] == "2023-11-14T22:13:20.001Z");
        CHECK(row[4] == "msg_01");
        CHECK(row[5] == "cost.alert");
        CHECK(row[6] == "t1");
        CHECK(row[7] == "pending");
    }
    SUBCASE("attempt_log")
    {
        const auto rows = f.raw.rows("SELECT started_at, duration_ms, status_code, target_id, event_type"
                                     " FROM attempt_log");
        REQUIRE(rows.size() == 1);
        CHECK(rows[0] == std::vector<std::string>{"2021-02-25T15:02:11.007Z", "12", "200", "t1", "cost.alert"});
    }
    SUBCASE("a delivery still in flight has no completion time")
    {
        f.raw.exec("UPDATE deliveries SET completed_at = NULL");
        CHECK(f.count("SELECT count(*) FROM delivery_history WHERE completed_at IS NULL") == 1);
    }
}

TEST_CASE("schema: the view times agree with isoTime for every millisecond")
{
    StoreFixture f(kForeignKeys);
    seed(f.raw);
    // The views turn milliseconds into text through a floating-point number
    // (SQLite's strftime of a day number, PostgreSQL's to_timestamp of
    // seconds): make sure no millisecond is rounded to its neighbour. A
    // thousand attempts, one a millisecond, read back through attempt_log.
    f.raw.exec("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)"
               " INSERT INTO attempts (delivery_id, number, started_at, duration_ms)"
               " SELECT (SELECT min(id) FROM deliveries), i + 2, 1700000000000 + i, 1 FROM n");
    const auto rows = f.raw.rows("SELECT a.started_at, l.started_at FROM attempts a"
                                 " JOIN attempt_log l ON l.attempt_id = a.id WHERE a.number > 1");
    REQUIRE(rows.size() == 1000);
    int mismatches = 0;
    for (const auto& row : rows) {
        if (row[1] != isoTime(std::stoll(row[0]))) {
            if (mismatches == 0)
                MESSAGE(row[0] << " reads " << row[1] << ", not " << isoTime(std::stoll(row[0])));
            ++mismatches;
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("schema: CHECK constraints refuse a bad status and invalid JSON")
{
    StoreFixture f(kForeignKeys);
    seed(f.raw);
    SUBCASE("status")
    {
        CHECK_THROWS_AS(f.raw.exec("UPDATE deliveries SET status = 'lost'"), test::SqlError);
        CHECK(f.text("SELECT status FROM deliveries") == "pending");
        f.raw.exec("UPDATE deliveries SET status = 'dead_letter'");
    }
    SUBCASE("payload")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO events (uid, type, payload, created_at)"
                                   " VALUES ('msg_02', 'a', '{not json', 0)"),
                        test::SqlError);
        CHECK(f.rows("events") == 1);
        f.raw.exec("INSERT INTO events (uid, type, payload, created_at) VALUES ('msg_02', 'a', '[1]', 0)");
    }
    SUBCASE("uppercase URL schemes")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO targets (id, url, secret, created_at, updated_at)"
                                   " VALUES ('t2', 'HTTP://x', 's', 0, 0)"),
                        test::SqlError);
    }
    SUBCASE("uids with dots")
    {
        CHECK_THROWS_AS(f.raw.exec("INSERT INTO events (uid, type, payload, created_at)"
                                   " VALUES ('msg_a.b', 'a', '{}', 0)"),
                        test::SqlError);
    }
}
