// The HTTP API's route table against its OpenAPI document, the query plans
// of every list the API serves (DESIGN.md "HTTP API": keyset pages over an
// index, never a scan), and the surface's hardening (security-review-2 S2,
// S8, S11, S15), served in process on loopback.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include <SQLiteCpp/Statement.h>
#include <fcntl.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "model/delivery_status.h"
#include "storage/api_keys.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/sql/connection.h"
#include "storage/sqlite/driver.h"
#include "storage/stats.h"
#include "storage/targets.h"
#include "support/helpers.h"
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

std::vector<std::string> planOf(test::RawSql& db, const std::string& sql)
{
    std::vector<std::string> out;
    for (const auto& row : db.rows("EXPLAIN QUERY PLAN " + sql))
        out.push_back(row.at(3));
    return out;
}

// An object of the spec, through its $ref.
const json& deref(const json& spec, const json& node)
{
    if (!node.contains("$ref"))
        return node;
    const json* at = &spec;
    std::string ref = node["$ref"].get<std::string>().substr(2); // "#/"
    for (size_t start = 0; start <= ref.size();) {
        const size_t slash = std::min(ref.find('/', start), ref.size());
        at = &(*at)[ref.substr(start, slash - start)];
        start = slash + 1;
    }
    return *at;
}

// An ApiServer on loopback over the fixture's store, with a key per scope.
struct ApiFixture {
    StoreFixture store;
    std::unique_ptr<ApiServer> server;
    std::map<std::string, std::string> tokens; // scope -> token
    std::unique_ptr<httplib::Client> client;

    ApiFixture()
    {
        for (const char* scope : {"read", "manage", "admin", "events:write"}) {
            auto k = createApiKey(store.db, scope, {scope}, std::nullopt, store.clock);
            REQUIRE(k);
            tokens[scope] = k->token;
        }
        ApiOptions o;
        o.database = store.locator;
        o.threads = 2;
        auto made = ApiServer::create(o, store.clock);
        REQUIRE(made);
        server = std::move(*made);
        server->start();
        const std::string address = server->address();
        client = std::make_unique<httplib::Client>("127.0.0.1", std::stoi(address.substr(address.rfind(':') + 1)));
        client->set_read_timeout(10, 0);
    }

    httplib::Headers auth(const std::string& scope) const
    {
        if (scope.empty())
            return {};
        return {{"Authorization", "Bearer " + tokens.at(scope)}};
    }

    // The answer to a request below /api/v1; REQUIREs one.
    httplib::Result call(const std::string& method, const std::string& path, const std::string& scope,
                         const std::string& body = "")
    {
        const std::string url = "/api/v1" + path;
        httplib::Result r = method == "GET" ? client->Get(url, auth(scope))
            : method == "PATCH"             ? client->Patch(url, auth(scope), body, "application/json")
                                            : client->Post(url, auth(scope), body, "application/json");
        REQUIRE(r);
        return r;
    }

    static json detailOf(const httplib::Result& r)
    {
        const json j = json::parse(r->body, nullptr, false);
        return j.is_object() && j.contains("detail") ? j["detail"] : json();
    }
};

// The attempts of one minute, as the worker's rollup writes them.
void rollupRow(StoreFixture& f, int64_t minute, int attempts)
{
    f.raw.exec("INSERT INTO stats_minutely (minute, target_id, attempts, delivered) VALUES (" + std::to_string(minute) +
               ", 'a', " + std::to_string(attempts) + ", " + std::to_string(attempts) + ")");
}

// What this process writes on stderr while body runs.
template <typename Body>
std::string stderrOf(Body body)
{
    webhookd::test::TempDir dir;
    const std::string path = dir.file("stderr");
    std::fflush(stderr);
    const int saved = dup(2);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    dup2(fd, 2);
    close(fd);
    body();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return webhookd::test::readFile(path);
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

TEST_CASE("api: each route takes exactly the query parameters the OpenAPI document lists")
{
    const json spec = json::parse(openApiDocument());
    std::set<std::pair<std::string, std::string>> documented, served;
    for (const auto& [path, item] : spec["paths"].items())
        for (const auto& [method, op] : item.items())
            for (const auto& p : op.value("parameters", json::array())) {
                const json& param = deref(spec, p);
                if (param["in"] == "query")
                    documented.emplace(op["operationId"], param["name"]);
            }
    for (const auto& r : apiRoutes())
        for (auto name : r.query)
            served.emplace(std::string(r.operationId), std::string(name));
    CHECK(documented == served);
    CHECK(served.count({"listDeliveries", "target_id"}) == 1); // the comparison sees parameters at all
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

TEST_CASE("api: an unknown, repeated or malformed query parameter is 400 naming it")
{
    ApiFixture api;
    auto refused = [&](const std::string& path, const std::string& detail) {
        CAPTURE(path);
        auto r = api.call("GET", path, "admin");
        CHECK(r->status == 400);
        CHECK(r->get_header_value("Content-Type") == "application/problem+json");
        CHECK(ApiFixture::detailOf(r) == detail);
    };
    refused("/deliveries?target=x", "unknown query parameter \"target\"; did you mean \"target_id\"?");
    refused("/events?limt=5", "unknown query parameter \"limt\"; did you mean \"limit\"?");
    refused("/targets?colour=red", "unknown query parameter \"colour\"; this operation takes app_id, limit, iterator");
    refused("/api-keys/self?verbose=1", "unknown query parameter \"verbose\"; this operation takes none");
    refused("/deliveries?limit=1&limit=2", "the query parameter \"limit\" is given more than once");
    refused("/events?limit=0", "limit must be a whole number from 1 to 250");
    refused("/events?limit=1e2", "limit must be a whole number from 1 to 250");
    refused("/events?iterator=zzz", "the iterator is not one this API gave");
    refused("/targets?iterator=zzz", "the iterator is not one this API gave");
    refused("/deliveries?status=lost", "status must be one of " + std::string(allStatusNames()));
    refused("/stats/timeseries?step=90s", "step must be a whole number of minutes from 1m to 24h, such as 5m");
    CHECK(api.call("GET", "/stats?since=whenever", "read")->status == 400);
    // Every parameter a route documents is taken.
    CHECK(api.call("GET", "/deliveries?status=delivered&target_id=a&type=t&since=1h&until=0&limit=5", "read")->status ==
          200);
    CHECK(api.call("GET", "/stats?since=1h&until=1700000000000&type=t", "read")->status == 200);
    CHECK(api.call("GET", "/api-keys?limit=1", "admin")->status == 200);
}

TEST_CASE("api: API keys page by id")
{
    ApiFixture api;
    std::set<std::string> seen;
    std::string iterator;
    for (int page = 0; page < 5; ++page) {
        auto r = api.call("GET", "/api-keys?limit=3" + (iterator.empty() ? "" : "&iterator=" + iterator), "admin");
        REQUIRE(r->status == 200);
        const json j = json::parse(r->body);
        CHECK(j["data"].size() <= 3);
        for (const auto& k : j["data"])
            CHECK(seen.insert(k["id"].get<std::string>()).second);
        if (j["done"].get<bool>())
            break;
        iterator = j["iterator"].get<std::string>();
    }
    CHECK(seen.size() == 4);
}

TEST_CASE("S2: a series over any int64 range is refused or bounded, never out of its vector")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t base = 1'700'000'040'000 - 1'700'000'040'000 % kMinuteMs;
    rollupRow(f, base, 2);
    rollupRow(f, base + kMinuteMs, 3);
    rollupRow(f, 0, 7);
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
    for (auto [since, until] : {std::pair{-9'223'372'036'854'720'000, kMax}, std::pair{int64_t{0}, kMax},
                                std::pair{kMin, kMax}, std::pair{kMin, kMin + 1}, std::pair{kMin, int64_t{0}},
                                std::pair{kMax, kMin}, std::pair{int64_t{-1}, kMax}}) {
        CAPTURE(since);
        CAPTURE(until);
        TimeseriesQuery q;
        q.since = since;
        q.until = until;
        auto r = timeseries(f.db, q);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
    TimeseriesQuery q;
    q.since = kMax - 5;
    q.until = kMax;
    q.stepMs = 1440 * kMinuteMs;
    auto top = timeseries(f.db, q);
    REQUIRE(top);
    CHECK(top->size() == 1);
    q.since = base - 10 * kMinuteMs;
    q.until = base + 2 * kMinuteMs;
    q.stepMs = 5 * kMinuteMs;
    auto around = timeseries(f.db, q);
    REQUIRE(around);
    int64_t attempts = 0;
    for (const auto& p : *around)
        attempts += p.counts.attempts;
    CHECK(attempts == 5);
    q.since = -kMinuteMs;
    q.until = kMinuteMs;
    q.stepMs = kMinuteMs;
    auto epoch = timeseries(f.db, q);
    REQUIRE(epoch);
    REQUIRE(epoch->size() == 2);
    CHECK((*epoch)[1].counts.attempts == 7);
}

TEST_CASE("S2: the review's two timeseries URLs are 400 and the API keeps answering")
{
    ApiFixture api;
    api.store.addTarget("a");
    rollupRow(api.store, api.store.clock.nowMs() - api.store.clock.nowMs() % kMinuteMs, 1);
    for (const char* url : {"/stats/timeseries?since=-9223372036854720000&until=9223372036854775807&step=1m",
                            "/stats/timeseries?since=0&until=9223372036854775807&step=1m",
                            "/deliveries?until=9223372036854775807", "/events?since=-1"}) {
        CAPTURE(url);
        auto r = api.call("GET", url, "read");
        CHECK(r->status == 400);
        CHECK(ApiFixture::detailOf(r).get<std::string>().find("from 1970 to the end of 9999") != std::string::npos);
    }
    auto tooLong = api.call("GET", "/stats/timeseries?since=0&until=253402300799999&step=1m", "read");
    CHECK(tooLong->status == 422);
    auto ok = api.call("GET", "/stats/timeseries?since=1h&step=5m", "read");
    CHECK(ok->status == 200);
    CHECK(json::parse(ok->body)["points"].size() >= 12);
}

TEST_CASE("S11: management bodies are at most 64 KiB and 32 levels deep; nothing is written")
{
    ApiFixture api;
    const std::string big = R"({"id":"big","url":"http://example.com/","name":")" + std::string(70'000, 'n') + "\"}";
    auto large = api.call("POST", "/targets", "manage", big);
    CHECK(large->status == 413);
    CHECK(json::parse(large->body)["code"] == "payload_too_large");
    const std::string deep = R"({"id":"deep","url":"http://example.com/","metadata":)" + std::string(30'000, '[') +
        std::string(30'000, ']') + "}"; // under 64 KiB
    auto nested = api.call("POST", "/targets", "manage", deep);
    CHECK(nested->status == 422);
    CHECK(ApiFixture::detailOf(nested).get<std::string>().find("nests") != std::string::npos);
    CHECK(
        api.call("POST", "/dead-letters/retry", "manage", "[" + std::string(40, '[') + std::string(41, ']'))->status ==
        422);
    CHECK(api.call("POST", "/targets", "manage", "{\"id\":")->status == 400);
    CHECK(api.store.rows("targets") == 0);
}

TEST_CASE("S8: a secret changes only by rotation, and one given by hand carries 128 bits")
{
    ApiFixture api;
    const std::string strong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"; // 24 bytes
    REQUIRE(
        api.call("POST", "/targets", "admin", R"({"id":"t3","url":"http://example.com/t3","secret":")" + strong + "\"}")
            ->status == 201);
    for (const char* scope : {"manage", "admin"}) {
        auto r = api.call("PATCH", "/targets/t3", scope, R"({"secret":"attacker-chosen-secret-0123456789"})");
        CHECK(r->status == 422);
        CHECK(ApiFixture::detailOf(r).get<std::string>().find("POST /targets/{id}/secret/rotate") != std::string::npos);
    }
    CHECK(api.store.text("SELECT secret FROM targets WHERE id = 't3'") == strong);
    CHECK(api.store.count("SELECT previous_secret IS NULL FROM targets WHERE id = 't3'") == 1);

    const std::string weak = "a secret given by hand must carry at least 128 bits: whsec_ and the base64 of 16 bytes "
                             "or more, or at least 24 characters (webhookctl secret generate makes one)";
    for (const std::string secret : {"short", "whsec_AAAAAAAAAAAAAAAAAAAA", "23-characters-long-text"}) {
        CAPTURE(secret);
        auto add = api.call("POST", "/targets", "manage",
                            R"({"id":"w","url":"http://example.com/w","secret":")" + secret + "\"}");
        CHECK(add->status == 422);
        CHECK(ApiFixture::detailOf(add) == weak);
        auto rotate = api.call("POST", "/targets/t3/secret/rotate", "admin", R"({"secret":")" + secret + "\"}");
        CHECK(rotate->status == 422);
        CHECK(ApiFixture::detailOf(rotate) == weak);
    }
    CHECK(api.store.rows("targets") == 1);
    CHECK(api.store.text("SELECT secret FROM targets WHERE id = 't3'") == strong);
    // 16 bytes (whsec_ + 22 base64 characters) and 24 raw characters are enough.
    for (const std::string secret : {"whsec_AAAAAAAAAAAAAAAAAAAAAA==", "24-characters-long-text!"}) {
        CAPTURE(secret);
        CHECK(api.call("POST", "/targets/t3/secret/rotate", "admin", R"({"secret":")" + secret + "\"}")->status == 200);
    }
}

TEST_CASE("S15: answers with secrets are not stored; read keys see capability URLs masked")
{
    ApiFixture api;
    const std::string url = "https://user:pw@hooks.example.com/services/T000/B000/XXXX?token=abc123&flag#top";
    auto created = api.call("POST", "/targets", "manage", R"({"id":"slack","url":")" + url + "\"}");
    REQUIRE(created->status == 201);
    CHECK(created->get_header_value("Cache-Control") == "no-store");
    CHECK(json::parse(created->body)["url"] ==
          "https://user:***@hooks.example.com/services/T000/B000/XXXX?token=***&***#top");
    auto rotated = api.call("POST", "/targets/slack/secret/rotate", "admin", "{}");
    CHECK(rotated->status == 200);
    CHECK(rotated->get_header_value("Cache-Control") == "no-store");
    auto key = api.call("POST", "/api-keys", "admin", R"({"name":"k","scopes":["read"]})");
    CHECK(key->status == 201);
    CHECK(key->get_header_value("Cache-Control") == "no-store");
    for (const char* scope : {"read", "manage"}) {
        CAPTURE(scope);
        auto shown = json::parse(api.call("GET", "/targets/slack", scope)->body);
        CHECK(shown["url"] == "https://user:***@hooks.example.com/services/T000/B000/XXXX?token=***&***#top");
        auto listed = json::parse(api.call("GET", "/targets", scope)->body);
        CHECK(listed["data"][0]["url"] == shown["url"]);
    }
    CHECK(json::parse(api.call("GET", "/targets/slack", "admin")->body)["url"] == url);
}

TEST_CASE("S15: refused keys are logged at most once a second, with how many were left out")
{
    ApiFixture api;
    Log::configure(LogLevel::Info, LogFormat::Json);
    auto refuse = [&](int n) {
        for (int i = 0; i < n; ++i) {
            auto r = api.client->Get("/api/v1/targets", {{"Authorization", "Bearer whk_key_000000000000_bogus"}});
            REQUIRE(r);
            CHECK(r->status == 401);
        }
    };
    const std::string first = stderrOf([&] { refuse(20); });
    api.store.clock.advance(1000);
    const std::string later = stderrOf([&] { refuse(1); });
    Log::configure(LogLevel::Off, LogFormat::Json);
    auto lines = webhookd::test::logLines(first, "api key refused");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["left_out"] == 0);
    auto next = webhookd::test::logLines(later, "api key refused");
    REQUIRE(next.size() == 1);
    CHECK(next[0]["left_out"] == 19);
}

TEST_CASE("api: GET /health needs no key and says whether the store answers")
{
    ApiFixture api;
    auto up = api.call("GET", "/health", "");
    CHECK(up->status == 200);
    CHECK(json::parse(up->body) == json{{"status", "ok"}});
    CHECK(api.call("GET", "/health?verbose=1", "")->status == 400);
    // Receivers failing does not matter: only the store does.
    std::filesystem::rename(api.store.locator, api.store.locator + ".moved");
    auto down = api.call("GET", "/health", "");
    CHECK(down->status == 503);
    CHECK(down->get_header_value("Retry-After") == "1");
    CHECK(json::parse(down->body)["code"] == "store_unavailable");
    std::filesystem::rename(api.store.locator + ".moved", api.store.locator);
    CHECK(api.call("GET", "/health", "")->status == 200);
}
