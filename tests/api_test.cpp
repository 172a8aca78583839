// The HTTP API's route table against its OpenAPI document, and the query
// plans of every list the API serves (DESIGN.md "HTTP API": keyset pages over
// an index, never a scan).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <set>
#include <tuple>

#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "api/api.h"
#include "model/delivery_status.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/sql/connection.h"
#include "storage/sqlite/driver.h"
#include "support/store_fixture.h"

using namespace webhookd;
using nlohmann::json;
using webhookd::test::StoreFixture;

namespace {

// The scope an operation's security names: "" none, "*" any key.
std::string scopeOf(const json& op)
{
    if (!op.contains("security") || op["security"].empty())
        return "";
    const json& scopes = op["security"][0]["bearer"];
    return scopes.empty() ? "*" : scopes[0].get<std::string>();
}

// Every SELECT the connection runs while `body` does.
template <typename Body>
std::vector<std::string> statementsOf(Database& db, Body body)
{
    std::vector<std::string> seen;
    sqlite3* handle = sqlite::handle(db).getHandle();
    sqlite3_trace_v2(
        handle, SQLITE_TRACE_STMT,
        [](unsigned, void* ctx, void* stmt, void*) {
            const char* text = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
            if (text && std::string_view(text).rfind("SELECT", 0) == 0)
                static_cast<std::vector<std::string>*>(ctx)->push_back(text);
            return 0;
        },
        &seen);
    body();
    sqlite3_trace_v2(handle, 0, nullptr, nullptr);
    return seen;
}

std::vector<std::string> planOf(SQLite::Database& db, const std::string& sql)
{
    SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + sql);
    std::vector<std::string> out;
    while (q.executeStep())
        out.push_back(q.getColumn(3).getString());
    return out;
}

} // namespace

TEST_CASE("api: the route table is the OpenAPI document's, scope for scope")
{
    const json spec = json::parse(openApiDocument());
    CHECK(spec["openapi"].get<std::string>().rfind("3.1", 0) == 0);
    std::set<std::tuple<std::string, std::string, std::string, std::string>> documented, served;
    for (const auto& [path, item] : spec["paths"].items())
        for (const auto& [method, op] : item.items()) {
            std::string upper = method;
            for (char& c : upper)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            documented.emplace(upper, path, op["operationId"].get<std::string>(), scopeOf(op));
        }
    for (const auto& r : apiRoutes())
        served.emplace(std::string(r.method), std::string(r.path), std::string(r.operationId), std::string(r.scope));
    CHECK(documented == served);
    CHECK(served.size() == apiRoutes().size()); // no route twice
}

TEST_CASE("api: every list is an index walk, and dead letters start from dead_letters")
{
    StoreFixture f;
    f.addTarget("a");
    for (int i = 0; i < 20; ++i)
        f.sendTo("a");
    f.raw.exec("ANALYZE");
    auto check = [&](const std::string& what, auto body, const std::string& firstTable = "") {
        CAPTURE(what);
        auto statements = statementsOf(f.db, body);
        REQUIRE_FALSE(statements.empty());
        for (const auto& sql : statements) {
            if (sql.find("count(") != std::string::npos)
                continue; // the listing's "of N", not what the API runs
            const auto plan = planOf(f.raw, sql);
            CAPTURE(sql);
            for (const auto& line : plan) {
                CAPTURE(line);
                // A SCAN is a full walk unless it goes through an index in
                // the listing's order (LIMIT ends it), or is dead_letters
                // walked backwards by its key (it holds only dead letters).
                const bool scan = line.rfind("SCAN", 0) == 0;
                CHECK((!scan || line.find("USING INDEX") != std::string::npos ||
                       line.find("USING COVERING INDEX") != std::string::npos || line == "SCAN dl"));
                CHECK(line.find("TEMP B-TREE") == std::string::npos);
            }
            if (!firstTable.empty())
                CHECK(plan.front().find(firstTable) != std::string::npos);
        }
    };
    EventFilter e;
    check("events", [&] { REQUIRE(listEvents(f.db, e)); });
    e.type = "t";
    e.createdSince = 1;
    e.after = std::make_pair(f.clock.nowMs(), int64_t{100});
    check("events by type, since, after an iterator", [&] { REQUIRE(listEvents(f.db, e)); });
    DeliveryFilter d;
    check("deliveries", [&] { REQUIRE(listDeliveries(f.db, d)); });
    d.targetId = "a";
    d.after = std::make_pair(f.clock.nowMs(), int64_t{100});
    check("deliveries of a target after an iterator", [&] { REQUIRE(listDeliveries(f.db, d)); });
    DeliveryFilter s;
    s.createdSince = 1;
    check("deliveries since", [&] { REQUIRE(listDeliveries(f.db, s)); });
    DeliveryFilter dl;
    check(
        "dead letters", [&] { REQUIRE(listDeadLetters(f.db, dl)); }, "dl");
    dl.targetId = "a";
    dl.after = std::make_pair(int64_t{0}, int64_t{100});
    check(
        "dead letters of a target", [&] { REQUIRE(listDeadLetters(f.db, dl)); }, "dl");
}
