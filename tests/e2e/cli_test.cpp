// Integration tests of the command-line contract (DESIGN.md, "Command-line
// contract"): every case runs the real webhookctl binary against a real
// temporary database file and looks at its exit code, its output, and the rows
// it left behind.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "support/fixture.h"
#include "support/postgres.h"
#include "support/process.h"
#include "support/temp_dir.h"

using nlohmann::json;
using namespace webhookd::test;

namespace {

// The Standard Webhooks test vector.
const std::string kVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string kVectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const std::string kVectorTimestamp = "1614265330";
const std::string kVectorBody = R"({"test": 2432232314})";
const std::string kVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string ctl() { return binary("WEBHOOKD_BIN_WEBHOOKCTL"); }

// Moves a delivery to the dead-letter queue the way the worker would.
void deadLetter(const Fixture& cli, int64_t id, const std::string& reason = "HTTP 410 from the receiver",
                int64_t movedAt = wallClockMs())
{
    const std::string sid = std::to_string(id);
    cli.sqlExec(
        "UPDATE deliveries SET status = 'dead_letter', attempt_count = 1, last_status_code = 410, "
        "last_error = 'HTTP 410', completed_at = " +
        std::to_string(movedAt) + " WHERE id = " + sid +
        ";"
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type, error_message)"
        " VALUES (" +
        sid + ", 1, " + std::to_string(movedAt - 50) +
        ", 42, 410, 'http_status', 'HTTP 410');"
        "INSERT INTO dead_letters (delivery_id, reason, moved_at) VALUES (" +
        sid + ", '" + reason + "', " + std::to_string(movedAt) + ");");
}

// A failure: the given exit code, nothing on stdout, one sentence on
// stderr (when strict), and the database exactly as it was.
RunResult fails(const Fixture& cli, const std::vector<std::string>& args, int code = 1,
                std::optional<std::string> stdinText = {}, bool strict = true)
{
    const std::string before = cli.snapshot();
    auto r = cli.ctl(args, std::move(stdinText));
    INFO(describe(args, r));
    CHECK(r.exitCode == code);
    CHECK(r.out.empty());
    if (strict)
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    else
        CHECK(startsWith(r.err, "webhookctl: "));
    CHECK(cli.snapshot() == before);
    return r;
}

json deliveryJson(const Fixture& cli, int64_t id) { return cli.ctlJson({"delivery", "show", std::to_string(id)}); }

std::set<std::string> targetsOf(const Fixture& cli, const std::vector<int64_t>& ids)
{
    std::set<std::string> out;
    for (int64_t id : ids)
        out.insert(deliveryJson(cli, id)["target_id"].get<std::string>());
    return out;
}

std::set<int64_t> idsOf(const json& list)
{
    std::set<int64_t> out;
    for (const auto& d : list)
        out.insert(d["id"].get<int64_t>());
    return out;
}

// Secrets: whsec_ + standard base64 of 32 bytes (44 characters, one '=').
bool looksLikeGeneratedSecret(const std::string& s)
{
    if (!startsWith(s, "whsec_") || s.size() != 6 + 44 || s.back() != '=')
        return false;
    const std::string b64 = s.substr(6, 43);
    return b64.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ==
        std::string::npos;
}

std::vector<std::string> verifyArgs(const std::vector<std::string>& secrets, const std::string& timestamp,
                                    std::vector<std::string> extra = {})
{
    std::vector<std::string> args{ctl(), "verify"};
    for (const auto& s : secrets)
        args.insert(args.end(), {"--secret", s});
    args.insert(args.end(), {"--id", kVectorId, "--timestamp", timestamp, "--signature", kVectorSignature});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

} // namespace

// ---------------------------------------------------------------- init

TEST_CASE("cli: init creates the database and running it again is fine" *
          doctest::skip(postgresBackend())) // SQLite's file
{
    Fixture cli({.init = false});
    const std::string first = cli.ctlOk({"init"});
    CHECK(std::filesystem::exists(cli.db()));
    CHECK(contains(first, "ready"));
    cli.addTarget("a", "http://example.com/a");
    const std::string before = cli.snapshot();
    const std::string again = cli.ctlOk({"init"});
    CHECK(contains(again, "ready"));
    CHECK(cli.snapshot() == before);
    auto j = cli.ctlJson({"init"});
    CHECK(j["schema_version"].get<int>() >= 1);
    CHECK(j["path"] == cli.db());
}

// ---------------------------------------------------------------- targets

TEST_CASE("cli: a new target retries for days by default; defaults set changes what later targets start from")
{
    Fixture cli({.exponentialRetries = false});
    cli.addTarget("a", "http://example.com/a");
    CHECK(contains(cli.ctlOk({"target", "show", "a"}),
                   "retries             10 attempts, schedule standard-webhooks, jitter 0.1; gives up after 3 d 3 h"));
    auto a = cli.ctlJson({"target", "show", "a"});
    CHECK(a["retry_window_ms"].get<int64_t>() >= 86'400'000);
    CHECK(contains(cli.ctlOk({"defaults", "show"}), "standard-webhooks"));

    auto set = cli.ctlJson({"defaults", "set", "--retry-schedule", "svix"});
    CHECK(set["retry"]["retry_schedule_name"] == "svix");
    CHECK(set["retry"]["max_attempts"] == 8);
    cli.addTarget("b", "http://example.com/b");
    CHECK(
        contains(cli.ctlOk({"target", "show", "b"}), "8 attempts, schedule svix, jitter 0.1; gives up after 1 d 3 h"));
    CHECK(contains(cli.ctlOk({"target", "show", "a"}), "standard-webhooks")); // kept its own

    // The original formula by name, with its numbers.
    cli.ctlOk({"target", "update", "a", "--retry-schedule", "exponential"});
    CHECK(contains(cli.ctlOk({"target", "show", "a"}),
                   "5 attempts, exponential from 1s to 1m, x2, jitter 0.1; gives up after 15 s"));

    const std::string before = cli.snapshot();
    auto none = cli.ctl({"defaults", "set"});
    CHECK(none.exitCode == 2);
    CHECK(contains(none.err, "give at least one of --retry-schedule"));
    auto bad = cli.ctl({"defaults", "set", "--retry-schedule", "soon"});
    CHECK(bad.exitCode == 2);
    CHECK(contains(bad.err, "'soon' is not a duration"));
    CHECK(cli.snapshot() == before);
}

TEST_CASE("cli: backup writes a consistent, private copy of a live store while webhookd delivers")
{
    Fixture cli;
    if (postgresBackend()) {
        auto r = cli.ctl({"backup", cli.dir().file("copy.db")});
        CHECK(r.exitCode == 2);
        CHECK(contains(r.err, "back up a PostgreSQL store with pg_dump"));
        return;
    }
    Receiver rx({"--quiet"});
    cli.addTarget("live", rx.url("/live"));
    cli.sendBatch("live", 500);
    Process worker = cli.startWorker({});
    REQUIRE(waitUntil([&] { return rx.stats()["requests"].get<int64_t>() > 0; }, 10s));
    const std::string copy = cli.dir().file("copy.db");
    const std::string out = cli.ctlOk({"backup", copy}); // while it delivers
    CHECK(contains(out, "backed up "));
    struct stat st { };
    REQUIRE(::stat(copy.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    worker.kill(SIGTERM);
    worker.wait();
    // The copy is a whole store: it opens, and its deliveries add up to the 500 sent.
    auto stats = run({ctl(), "--db", copy, "stats", "--json"});
    REQUIRE(stats.exitCode == 0);
    const json s = json::parse(stats.out);
    CHECK(s["total_deliveries"] == 500);
    CHECK(run({"sqlite3", copy, "PRAGMA integrity_check"}).out == "ok\n");
    // An existing file is refused and left as it was.
    auto again = cli.ctl({"backup", copy});
    CHECK(again.exitCode == 2);
    CHECK(contains(again.err, "already exists"));
    CHECK(run({ctl(), "--db", copy, "stats", "--json"}).exitCode == 0);
}

TEST_CASE("cli: target add prints a generated secret once and target list masks it unless --show-secret")
{
    Fixture cli;
    const std::string r = cli.ctlOk({"target", "add", "a", "--url", "http://example.com/hook", "--name", "Team A"});
    std::string secret;
    for (const auto& l : allLines(r))
        if (startsWith(l, "secret: "))
            secret = l.substr(8);
    REQUIRE_MESSAGE(!secret.empty(), r);
    CHECK(looksLikeGeneratedSecret(secret));
    CHECK(cli.sqlText("SELECT secret FROM targets WHERE id = 'a'") == secret);

    const std::string list = cli.ctlOk({"target", "list"});
    CHECK(contains(list, "a"));
    CHECK(contains(list, "http://example.com/hook"));
    CHECK_FALSE(contains(list, secret));
    const std::string show = cli.ctlOk({"target", "show", "a"});
    CHECK_FALSE(contains(show, secret));

    auto listJson = cli.ctlJson({"target", "list"});
    REQUIRE(listJson.is_array());
    REQUIRE(listJson.size() == 1);
    CHECK(listJson[0]["id"] == "a");
    CHECK(listJson[0]["secret"] != secret);

    CHECK(contains(cli.ctlOk({"target", "list", "--show-secret"}), secret));
    auto shown = cli.ctlJson({"target", "list", "--show-secret"});
    CHECK(shown[0]["secret"] == secret);
    CHECK(cli.ctlJson({"target", "show", "a", "--show-secret"})["secret"] == secret);
}

TEST_CASE("cli: target add with a given secret does not echo it, and --json forms parse")
{
    Fixture cli;
    const std::string r =
        cli.ctlOk({"target", "add", "a", "--url", "https://example.com/h", "--secret", kVectorSecret});
    CHECK_FALSE(contains(r, kVectorSecret));

    auto j = cli.ctlJson({"target",
                          "add",
                          "b",
                          "--url",
                          "https://example.com/b",
                          "--secret",
                          "plain-secret-b-0123456789",
                          "--events",
                          "order.*,user.created",
                          "--header",
                          "X-Team: billing",
                          "--timeout",
                          "10s",
                          "--max-attempts",
                          "7",
                          "--initial-delay",
                          "2s",
                          "--max-delay",
                          "5m",
                          "--backoff",
                          "3",
                          "--jitter",
                          "0.2",
                          "--rate",
                          "5",
                          "--burst",
                          "10",
                          "--metadata",
                          "owner=ops",
                          "--disabled"});
    CHECK_FALSE(j.dump().find("plain-secret-b-0123456789") != std::string::npos);
    CHECK(j["id"] == "b");
    CHECK(j["url"] == "https://example.com/b");
    CHECK(j["enabled"] == false);
    CHECK(j["event_filters"] == json::array({"order.*", "user.created"}));
    CHECK(j["headers"]["X-Team"] == "billing");
    CHECK(j["timeout_ms"] == 10000);
    CHECK(j["max_attempts"] == 7);
    CHECK(j["initial_delay_ms"] == 2000);
    CHECK(j["max_delay_ms"] == 300000);
    CHECK(j["backoff_multiplier"] == 3.0);
    CHECK(j["jitter_factor"] == 0.2);
    CHECK(j["rate_per_second"] == 5.0);
    CHECK(j["burst"] == 10);
    CHECK(j["rate_limit_enabled"] == true);
    CHECK(j["metadata"]["owner"] == "ops");

    auto show = cli.ctlJson({"target", "show", "b"});
    CHECK(show["event_filters"] == j["event_filters"]);
    CHECK(show["secret"] != "plain-secret-b-0123456789");
    auto list = cli.ctlJson({"target", "list"});
    CHECK(list.size() == 2);
}

TEST_CASE("cli: target update changes only the flags given and moves updated_at")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a", {"--name", "Old", "--events", "order.*", "--max-attempts", "3"});
    const auto before = cli.ctlJson({"target", "show", "a"});
    const int64_t shownAt = wallClockMs();
    REQUIRE(waitUntil([&] { return wallClockMs() > shownAt; }, 1s, 1ms)); // updated_at has ms resolution
    auto j = cli.ctlJson(
        {"target", "update", "a", "--name", "New", "--url", "https://example.org/new", "--header", "X-A: 1"});
    CHECK(j["name"] == "New");
    CHECK(j["url"] == "https://example.org/new");
    CHECK(j["headers"]["X-A"] == "1");
    CHECK(j["event_filters"] == json::array({"order.*"}));
    CHECK(j["max_attempts"] == 3);
    CHECK(j["updated_at"].get<int64_t>() > before["updated_at"].get<int64_t>());
    CHECK(j["created_at"] == before["created_at"]);
    CHECK(cli.ctlJson({"target", "show", "a"})["url"] == "https://example.org/new");

    const std::string human = cli.ctlOk({"target", "update", "a", "--events", "*"});
    CHECK(contains(human, "updated target a"));
    CHECK(cli.ctlJson({"target", "show", "a"})["event_filters"] == json::array({"*"}));
}

TEST_CASE("cli: target disable and enable switch whether new events fan out to the target")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b");
    CHECK(contains(cli.ctlOk({"target", "disable", "b"}), "disabled target b"));
    CHECK(cli.ctlJson({"target", "show", "b"})["enabled"] == false);
    CHECK(targetsOf(cli, cli.sendIds({"x.happened"})) == std::set<std::string>{"a"});

    CHECK(cli.ctlJson({"target", "enable", "b"})["enabled"] == true);
    CHECK(targetsOf(cli, cli.sendIds({"x.happened"})) == std::set<std::string>{"a", "b"});

    cli.ctlOk({"target", "update", "b", "--disabled"});
    CHECK(cli.ctlJson({"target", "show", "b"})["enabled"] == false);
    cli.ctlOk({"target", "update", "b", "--enabled"});
    CHECK(cli.ctlJson({"target", "show", "b"})["enabled"] == true);
}

TEST_CASE("cli: target remove deletes the target with its deliveries")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b");
    cli.sendIds({"x"});
    cli.sendIds({"y"});
    REQUIRE(cli.count("deliveries") == 4);
    auto j = cli.ctlJson({"target", "remove", "b"});
    CHECK(j["id"] == "b");
    CHECK(j["deliveries_removed"] == 2);
    CHECK(cli.count("targets") == 1);
    CHECK(cli.count("deliveries") == 2);
    CHECK(cli.count("deliveries WHERE target_id = 'b'") == 0);
    fails(cli, {"target", "show", "b"});
    const std::string human = cli.ctlOk({"target", "remove", "a"});
    CHECK(contains(human, "removed target a"));
    CHECK(cli.ctlJson({"target", "list"}).empty());
}

TEST_CASE("cli: target rotate-secret generates and prints a new secret once, or takes the one given")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a", {"--secret", kVectorSecret});
    const std::string r = cli.ctlOk({"target", "rotate-secret", "a"});
    std::string secret;
    int shown = 0;
    for (const auto& l : allLines(r))
        if (startsWith(l, "secret: ")) {
            secret = l.substr(8);
            ++shown;
        }
    CHECK(shown == 1);
    CHECK(looksLikeGeneratedSecret(secret));
    CHECK(cli.sqlText("SELECT secret FROM targets WHERE id = 'a'") == secret);
    CHECK(cli.sqlText("SELECT previous_secret FROM targets WHERE id = 'a'") == kVectorSecret);
    auto show = cli.ctlJson({"target", "show", "a", "--show-secret"});
    CHECK(show["secret"] == secret);
    CHECK(show["previous_secret"] == kVectorSecret);
    CHECK(show["previous_secret_expires_at"].get<int64_t>() > wallClockMs());

    auto j = cli.ctlJson({"target", "rotate-secret", "a", "--overlap", "1h"});
    REQUIRE(j.contains("secret"));
    CHECK(looksLikeGeneratedSecret(j["secret"].get<std::string>()));
    CHECK(j["secret"] != secret);
    const int64_t until = j["previous_secret_expires_at"].get<int64_t>();
    CHECK(until > wallClockMs() + 50 * 60 * 1000);
    CHECK(until <= wallClockMs() + 60 * 60 * 1000);

    const std::string given = cli.ctlOk({"target", "rotate-secret", "a", "--secret", "my-own-secret-of-24-chars"});
    CHECK_FALSE(contains(given, "my-own-secret-of-24-chars"));
    CHECK(cli.sqlText("SELECT secret FROM targets WHERE id = 'a'") == "my-own-secret-of-24-chars");
}

TEST_CASE("cli: a secret given by hand carries at least 128 bits, on every command that sets one")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a", {"--secret", kVectorSecret});
    // 15 bytes of base64, 23 characters: one short of the rule each.
    for (const std::string weak : {"whsec_AAAAAAAAAAAAAAAAAAAA", "23-characters-long-text", "short"}) {
        CAPTURE(weak);
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"target", "add", "b", "--url", "http://example.com/b", "--secret", weak},
                 {"target", "update", "a", "--secret", weak},
                 {"target", "rotate-secret", "a", "--secret", weak}}) {
            auto r = fails(cli, args, 2);
            CHECK(contains(r.err, "at least 128 bits"));
            CHECK_FALSE(contains(r.err, weak));
        }
        auto fromStdin =
            fails(cli, {"target", "add", "b", "--url", "http://example.com/b", "--secret", "-"}, 2, weak + "\n");
        CHECK(contains(fromStdin.err, "at least 128 bits"));
    }
    cli.ctlOk({"target", "add", "b", "--url", "http://example.com/b", "--secret", "whsec_AAAAAAAAAAAAAAAAAAAAAA=="});
    cli.ctlOk({"target", "update", "b", "--secret", "24-characters-long-text!"});
    CHECK(cli.sqlText("SELECT secret FROM targets WHERE id = 'b'") == "24-characters-long-text!");
}

// ---------------------------------------------------------------- send

TEST_CASE("cli: send without --target fans out to every matching enabled target")
{
    Fixture cli;
    cli.addTarget("all", "http://example.com/all");
    cli.addTarget("orders", "http://example.com/orders", {"--events", "order.*"});
    cli.addTarget("exact", "http://example.com/exact", {"--events", "user.created"});
    cli.addTarget("off", "http://example.com/off", {"--disabled"});
    auto ids = cli.sendIds({"order.created", "--data", R"({"order": 1})"});
    CHECK(ids.size() == 2);
    CHECK(targetsOf(cli, ids) == std::set<std::string>{"all", "orders"});
    CHECK(targetsOf(cli, cli.sendIds({"user.created"})) == std::set<std::string>{"all", "exact"});
    CHECK(targetsOf(cli, cli.sendIds({"user.deleted"})) == std::set<std::string>{"all"});
    CHECK(cli.count("events") == 3);
    CHECK(cli.count("deliveries") == 5);
}

TEST_CASE("cli: send --target delivers only to the targets named, ignoring their filters")
{
    Fixture cli;
    cli.addTarget("all", "http://example.com/all");
    cli.addTarget("orders", "http://example.com/orders", {"--events", "order.*"});
    cli.addTarget("exact", "http://example.com/exact", {"--events", "user.created"});
    auto one = cli.sendIds({"order.created", "--target", "exact"});
    CHECK(one.size() == 1);
    CHECK(targetsOf(cli, one) == std::set<std::string>{"exact"});
    auto two = cli.sendIds({"misc", "--target", "orders", "--target", "exact", "--priority", "7"});
    CHECK(two.size() == 2);
    CHECK(targetsOf(cli, two) == std::set<std::string>{"orders", "exact"});
    CHECK(deliveryJson(cli, two[0])["priority"] == 7);

    auto j = cli.ctlJson({"send", "misc", "--target", "all"});
    CHECK(j["delivery_ids"].size() == 1);
    CHECK(j["target_ids"] == json::array({"all"}));
    CHECK(startsWith(j["event_uid"].get<std::string>(), "msg_"));
}

TEST_CASE("cli: --filter keeps a target's deliveries to the payloads that match, test-filter says why not")
{
    Fixture cli;
    const std::string big = R"({"all": [{"path": "$.currency", "op": "eq", "value": "EUR"},
                                        {"path": "$.amount", "op": "gte", "value": 10000}]})";
    cli.addTarget("big", "http://example.com/big", {"--events", "order.*", "--filter", big});
    cli.addTarget("all", "http://example.com/all");
    CHECK(targetsOf(cli, cli.sendIds({"order.paid", "--data", R"({"currency": "EUR", "amount": 1e4})"})) ==
          std::set<std::string>{"all", "big"});
    CHECK(targetsOf(cli, cli.sendIds({"order.paid", "--data", R"({"currency": "EUR", "amount": 500})"})) ==
          std::set<std::string>{"all"});
    // The filter and --events must both hold.
    CHECK(targetsOf(cli, cli.sendIds({"user.paid", "--data", R"({"currency": "EUR", "amount": 50000})"})) ==
          std::set<std::string>{"all"});

    auto j = cli.ctlJson({"target", "show", "big"});
    CHECK(j["filter"] == json::parse(big));
    CHECK(contains(cli.ctlOk({"target", "show", "big"}), R"("op":"gte")"));

    auto no = cli.ctl({"target", "test-filter", "big", "--data", R"({"currency": "EUR", "amount": 500})"});
    CHECK(no.exitCode == 1);
    CHECK(no.out == "no match: $.amount gte 10000 failed: the payload has 500 there\n");
    auto yes = cli.ctl({"target", "test-filter", "big", "--data", "-"}, R"({"currency": "EUR", "amount": 10000.0})");
    CHECK(yes.exitCode == 0);
    CHECK(yes.out == "match\n");
    auto why = cli.ctlJson({"target", "test-filter", "all", "--data", "{}"});
    CHECK(why["match"] == true);

    SUBCASE("a bad filter is refused with one sentence, exit 2, nothing written")
    {
        const std::string before = cli.snapshot();
        for (const char* bad :
             {R"({"path": "$.a", "op": "like", "value": 1})", R"({"path": "a", "op": "eq", "value": 1})",
              R"({"path": "$.a", "op": "in", "value": 1})", "{", R"({"not": {"not": {"not": {"not":
                                {"not": {"not": {"not": {"not": {"path": "$.a", "op": "eq", "value": 1}}}}}}}}})"}) {
            CAPTURE(bad);
            auto r = cli.ctl({"target", "update", "big", "--filter", bad});
            CHECK(r.exitCode == 2);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            auto a = cli.ctl({"target", "add", "other", "--url", "http://example.com/o", "--filter", bad});
            CHECK(a.exitCode == 2);
        }
        CHECK(cli.snapshot() == before);
    }
    SUBCASE("--no-filter removes it")
    {
        cli.ctlOk({"target", "update", "big", "--no-filter"});
        CHECK(cli.ctlJson({"target", "show", "big"})["filter"].is_null());
        CHECK(targetsOf(cli, cli.sendIds({"order.paid", "--data", "{}"})) == std::set<std::string>{"all", "big"});
    }
}

TEST_CASE("cli: --ordering and --ordering-key are stored and shown; a bad key is refused and nothing is written")
{
    Fixture cli;
    cli.addTarget("erp", "http://example.com/erp", {"--ordering", "key", "--ordering-dead-letter", "block"});
    auto t = cli.ctlJson({"target", "show", "erp"});
    CHECK(t["ordering"] == "key");
    CHECK(t["ordering_dead_letter"] == "block");
    const auto first = cli.sendIds({"order.updated", "--ordering-key", "ord_1"});
    const auto second = cli.sendIds({"order.updated", "--ordering-key", "ord_1"});
    CHECK(cli.show(first.at(0))["status"] == "pending");
    CHECK(cli.show(second.at(0))["status"] == "waiting");
    CHECK(cli.show(second.at(0))["waiting_behind"] == first.at(0));
    const std::string before = cli.snapshot();
    for (const std::string& bad : {std::string(257, 'k'),
                                   std::string("a\x01"
                                               "b"),
                                   std::string("\xff\xfe")}) {
        auto r = cli.ctl({"send", "order.updated", "--ordering-key", bad});
        CHECK(r.exitCode == 2);
        CHECK(contains(r.err, "ordering key"));
    }
    auto batch = cli.ctl({"send", "--batch", "-"},
                         R"({"type": "x", "ordering_key": 7})"
                         "\n");
    CHECK(batch.exitCode == 2);
    CHECK(contains(batch.err, "\"ordering_key\" must be a string"));
    auto mode = cli.ctl({"target", "update", "erp", "--ordering", "lifo"});
    CHECK(mode.exitCode == 2);
    CHECK(cli.snapshot() == before);
    // 256 bytes is the limit, not past it.
    CHECK(cli.sendIds({"order.updated", "--ordering-key", std::string(256, 'k')}).size() == 1);
}

TEST_CASE("cli: send of an event matching no target stores it, notes it on stderr and exits 0")
{
    Fixture cli;
    cli.addTarget("orders", "http://example.com/orders", {"--events", "order.*"});
    auto r = cli.ctl({"send", "user.created"});
    INFO(describe({"send", "user.created"}, r));
    CHECK(r.exitCode == 0);
    CHECK(r.out.empty());
    CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    CHECK(contains(r.err, "no target"));
    CHECK(cli.count("events") == 1);
    CHECK(cli.count("deliveries") == 0);
}

TEST_CASE("cli: send with a repeated idempotency key prints the original delivery ids and exits 0")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b");
    auto first = cli.sendIds({"order.created", "--idempotency-key", "order-42", "--data", R"({"n": 1})"});
    REQUIRE(first.size() == 2);
    const std::string before = cli.snapshot();
    auto r = cli.ctl({"send", "order.created", "--idempotency-key", "order-42", "--data", R"({"n": 1})"});
    CHECK(r.exitCode == 0);
    std::vector<int64_t> again;
    for (const auto& l : allLines(r.out))
        again.push_back(std::stoll(l));
    CHECK(again == first);
    CHECK(cli.snapshot() == before);
    CHECK(cli.count("events") == 1);
    // The same key with a different event is refused, as the API refuses it
    // (422 idempotency_key_reused), and nothing is written.
    auto reused = cli.ctl({"send", "order.created", "--idempotency-key", "order-42", "--data", R"({"n": 2})"});
    CHECK(reused.exitCode == 1);
    CHECK(reused.err == "webhookctl: the idempotency key 'order-42' was first used with a different event.\n");
    CHECK(reused.out.empty());
    CHECK(cli.snapshot() == before);
    // Another key is another event.
    CHECK(cli.sendIds({"order.created", "--idempotency-key", "order-43"}).size() == 2);
}

TEST_CASE("cli: send reads the payload from --data JSON, @FILE and standard input")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.sendIds({"inline", "--data", R"({"a": [1, 2, 3]})"});
    writeFile(cli.dir().file("payload.json"), R"({"from": "file", "n": 5})");
    cli.sendIds({"file", "--data", "@" + cli.dir().file("payload.json")});
    cli.sendIds({"stdin", "--data", "-"}, std::string(R"({"from": "stdin"})"));
    cli.sendIds({"default"});
    auto payload = [&](const std::string& type) {
        return json::parse(cli.sqlText("SELECT payload FROM events WHERE type = '" + type + "'"));
    };
    CHECK(payload("inline") == json::parse(R"({"a": [1, 2, 3]})"));
    CHECK(payload("file") == json::parse(R"({"from": "file", "n": 5})"));
    CHECK(payload("stdin") == json::parse(R"({"from": "stdin"})"));
    CHECK(payload("default") == json::object());
}

TEST_CASE("cli: send accepts a payload of exactly the default 1 MiB limit")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    writeFile(cli.dir().file("max.json"), "\"" + std::string(1024 * 1024 - 2, 'a') + "\"");
    CHECK(cli.sendIds({"big", "--data", "@" + cli.dir().file("max.json")}).size() == 1);
}

// ---------------------------------------------------------------- send --batch

TEST_CASE("cli: send --batch records NDJSON from standard input, skipping blank lines, and prints the ids")
{
    Fixture cli;
    cli.addTarget("all", "http://example.com/all");
    cli.addTarget("orders", "http://example.com/orders", {"--events", "order.*"});
    const std::string ndjson = "{\"type\": \"order.created\", \"data\": {\"n\": 1}}\n"
                               "\n"
                               "   \n"
                               "{\"type\": \"user.created\", \"data\": {\"n\": 2}, \"priority\": 5}\r\n"
                               "{\"type\": \"misc\", \"targets\": [\"orders\"], \"idempotency_key\": \"k1\"}";
    auto ids = cli.sendIds({"--batch"}, ndjson);
    CHECK(ids.size() == 4);
    CHECK(std::set<int64_t>(ids.begin(), ids.end()).size() == 4);
    CHECK(cli.count("events") == 3);
    CHECK(cli.count("deliveries") == 4);
    CHECK(cli.count("deliveries WHERE priority = 5") == 1);
    CHECK(cli.sqlText("SELECT target_id FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.type = 'misc'") ==
          "orders");

    // A key seen before prints the original delivery ids.
    auto keyed = cli.sendIds({"order.paid", "--idempotency-key", "k2"});
    REQUIRE(keyed.size() == 2);
    const int64_t events = cli.count("events");
    CHECK(cli.sendIds({"--batch"}, std::string("{\"type\": \"order.paid\", \"idempotency_key\": \"k2\"}\n")) == keyed);
    CHECK(cli.count("events") == events);
    cli.sqlExec("DELETE FROM deliveries WHERE event_id IN (SELECT id FROM events WHERE idempotency_key = 'k2');"
                "DELETE FROM events WHERE idempotency_key = 'k2'");

    // "-" names standard input too.
    CHECK(cli.sendIds({"--batch", "-"}, std::string("{\"type\": \"a\"}\n{\"type\": \"b\"}\n")).size() ==
          2); // only "all" matches
    CHECK(cli.count("events") == 5);
}

TEST_CASE("cli: send --batch FILE records NDJSON from the file")
{
    Fixture cli;
    cli.addTarget("all", "http://example.com/all");
    writeFile(cli.dir().file("events.ndjson"), "{\"type\": \"a\", \"data\": [1]}\n\n{\"type\": \"b\"}\n");
    auto ids = cli.sendIds({"--batch", cli.dir().file("events.ndjson")});
    CHECK(ids.size() == 2);
    CHECK(cli.count("events") == 2);
}

TEST_CASE("cli: send --batch is all-or-nothing and names the bad line")
{
    Fixture cli;
    cli.addTarget("all", "http://example.com/all");
    cli.sendIds({"before"});
    const std::string good = "{\"type\": \"a\"}\n{\"type\": \"b\"}\n";

    SUBCASE("malformed JSON on line 3")
    {
        auto r = fails(cli, {"send", "--batch"}, 2, good + "{\"type\": \"c\",\n{\"type\": \"d\"}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("a line that is not an object")
    {
        auto r = fails(cli, {"send", "--batch"}, 2, good + "[1, 2]\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("a bad event type on line 3")
    {
        auto r = fails(cli, {"send", "--batch"}, 2, good + "{\"type\": \"bad type\"}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("an unknown target on line 3, after a blank line")
    {
        auto r =
            fails(cli, {"send", "--batch"}, 1, "{\"type\": \"a\"}\n\n{\"type\": \"b\", \"targets\": [\"nope\"]}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("a missing type on line 3")
    {
        auto r = fails(cli, {"send", "--batch"}, 2, good + "{\"data\": {}}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("a priority out of range on line 3")
    {
        auto r = fails(cli, {"send", "--batch"}, 2, good + "{\"type\": \"c\", \"priority\": 5000}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("an oversized payload on line 3")
    {
        auto r = fails(cli, {"--max-payload", "100", "send", "--batch"}, 2,
                       good + "{\"type\": \"c\", \"data\": \"" + std::string(200, 'x') + "\"}\n");
        CHECK(contains(r.err, "line 3"));
    }
    SUBCASE("a batch file that does not exist")
    {
        fails(cli, {"send", "--batch", cli.dir().file("missing.ndjson")}, 1);
    }
    SUBCASE("an empty batch") { fails(cli, {"send", "--batch"}, 2, std::string("\n\n")); }
    CHECK(cli.count("events") == 1);
    CHECK(cli.count("deliveries") == 1);
}

// ---------------------------------------------------------------- deliveries

TEST_CASE("cli: delivery list filters by status, target, type, age and limit, newest first")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b", {"--events", "order.*"});
    auto o1 = cli.sendIds({"order.created"}); // a, b
    auto u1 = cli.sendIds({"user.created"});  // a
    auto o2 = cli.sendIds({"order.shipped"}); // a, b
    REQUIRE(o1.size() == 2);
    REQUIRE(u1.size() == 1);
    REQUIRE(o2.size() == 2);
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', attempt_count = 1, completed_at = updated_at WHERE id = " +
                std::to_string(o1[0]));
    // Two days old.
    const int64_t old = wallClockMs() - 2 * 24 * 3600 * 1000LL;
    cli.sqlExec("UPDATE deliveries SET created_at = " + std::to_string(old) + " WHERE id IN (" + std::to_string(o1[0]) +
                ", " + std::to_string(o1[1]) + ")");

    auto all = cli.ctlJson({"delivery", "list"});
    REQUIRE(all.size() == 5);
    std::vector<int64_t> order;
    for (const auto& d : all)
        order.push_back(d["id"].get<int64_t>());
    CHECK(std::is_sorted(order.rbegin(), order.rend()));

    CHECK(idsOf(cli.ctlJson({"delivery", "list", "--status", "delivered"})) == std::set<int64_t>{o1[0]});
    CHECK(cli.ctlJson({"delivery", "list", "--status", "pending"}).size() == 4);
    CHECK(cli.ctlJson({"delivery", "list", "--target", "b"}).size() == 2);
    for (const auto& d : cli.ctlJson({"delivery", "list", "--target", "b"}))
        CHECK(d["target_id"] == "b");
    CHECK(idsOf(cli.ctlJson({"delivery", "list", "--type", "user.created"})) == std::set<int64_t>{u1[0]});
    CHECK(idsOf(cli.ctlJson({"delivery", "list", "--since", "1d"})) == std::set<int64_t>{u1[0], o2[0], o2[1]});
    CHECK(cli.ctlJson({"delivery", "list", "--since", "3d"}).size() == 5);
    auto limited = cli.ctlJson({"delivery", "list", "--limit", "2"});
    CHECK(limited.size() == 2);
    CHECK(idsOf(limited) == std::set<int64_t>{order[0], order[1]});
    CHECK(cli.ctlJson({"delivery", "list", "--target", "a", "--type", "order.shipped"}).size() == 1);
    CHECK(cli.ctlJson({"delivery", "list", "--status", "dead_letter"}).empty());

    const std::string human = cli.ctlOk({"delivery", "list", "--target", "b"});
    CHECK(allLines(human).size() == 3); // header + 2 rows
}

TEST_CASE("cli: delivery list --json carries every contract field")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto ids = cli.sendIds({"order.created", "--priority", "3"});
    auto list = cli.ctlJson({"delivery", "list"});
    REQUIRE(list.size() == 1);
    const auto& d = list[0];
    for (const char* field :
         {"id", "event_id", "event_uid", "type", "target_id", "status", "priority", "attempt_count", "next_attempt_at",
          "last_status_code", "last_error", "created_at", "updated_at", "completed_at"})
        CHECK_MESSAGE(d.contains(field), "missing " << field << " in " << d.dump());
    CHECK(d["id"] == ids[0]);
    CHECK(d["type"] == "order.created");
    CHECK(d["target_id"] == "a");
    CHECK(d["status"] == "pending");
    CHECK(d["priority"] == 3);
    CHECK(d["attempt_count"] == 0);
    CHECK(d["last_status_code"].is_null());
    CHECK(d["completed_at"].is_null());
    CHECK(startsWith(d["event_uid"].get<std::string>(), "msg_"));
    CHECK(d["event_uid"].get<std::string>() == cli.sqlText("SELECT uid FROM events"));
}

TEST_CASE("cli: delivery show --json lists the attempts")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto id = cli.sendIds({"order.created"}).at(0);
    CHECK(deliveryJson(cli, id)["attempts"] == json::array());
    cli.sqlExec(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type, error_message)"
        " VALUES (" +
        std::to_string(id) + ", 1, 1000, 120, 503, 'http_status', 'HTTP 503'), (" + std::to_string(id) +
        ", 2, 2000, 30, NULL, 'timeout', 'timed out');"
        "UPDATE deliveries SET status = 'failed', attempt_count = 2, last_error = 'timed out' WHERE id = " +
        std::to_string(id));
    auto d = deliveryJson(cli, id);
    CHECK(d["status"] == "failed");
    CHECK(d["attempt_count"] == 2);
    CHECK(d["last_error"] == "timed out");
    REQUIRE(d["attempts"].size() == 2);
    const auto& a1 = d["attempts"][0];
    for (const char* field : {"number", "started_at", "duration_ms", "status_code", "error_type", "error_message"})
        CHECK_MESSAGE(a1.contains(field), "missing " << field);
    CHECK(a1["number"] == 1);
    CHECK(a1["started_at"] == 1000);
    CHECK(a1["duration_ms"] == 120);
    CHECK(a1["status_code"] == 503);
    CHECK(a1["error_type"] == "http_status");
    CHECK(d["attempts"][1]["status_code"].is_null());
    CHECK(d["attempts"][1]["error_message"] == "timed out");

    const std::string human = cli.ctlOk({"delivery", "show", std::to_string(id)});
    CHECK(contains(human, "HTTP 503"));
    CHECK(contains(human, "timed out"));
}

// ---------------------------------------------------------------- dead-letter queue

TEST_CASE("cli: dlq list shows dead letters and dlq retry returns them to pending with their attempts kept")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b");
    auto ids = cli.sendIds({"order.created"});
    auto more = cli.sendIds({"user.created"});
    REQUIRE(ids.size() == 2);
    deadLetter(cli, ids[0], "HTTP 410 from the receiver");
    deadLetter(cli, more[1], "blocked address");

    auto dlq = cli.ctlJson({"dlq", "list"});
    CHECK(idsOf(dlq) == std::set<int64_t>{ids[0], more[1]});
    for (const auto& d : dlq)
        CHECK(d["status"] == "dead_letter");
    CHECK(contains(cli.ctlOk({"dlq", "list"}), "HTTP 410 from the receiver"));

    const std::string r = cli.ctlOk({"dlq", "retry", std::to_string(ids[0])});
    CHECK(contains(r, "1"));
    auto d = deliveryJson(cli, ids[0]);
    CHECK(d["status"] == "pending");
    CHECK(d["attempts"].size() == 1);
    CHECK(idsOf(cli.ctlJson({"dlq", "list"})) == std::set<int64_t>{more[1]});

    CHECK(cli.ctlJson({"dlq", "retry", "--all"})["retried"] == 1);
    CHECK(deliveryJson(cli, more[1])["status"] == "pending");
    CHECK(cli.ctlJson({"dlq", "list"}).empty());
}

TEST_CASE("cli: dlq retry --all --target retries only that target's dead letters")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b");
    auto ids = cli.sendIds({"x"});
    for (auto id : ids)
        deadLetter(cli, id);
    auto j = cli.ctlJson({"dlq", "retry", "--all", "--target", "b"});
    CHECK(j["retried"] == 1);
    auto left = cli.ctlJson({"dlq", "list"});
    REQUIRE(left.size() == 1);
    CHECK(left[0]["target_id"] == "a");
    CHECK(cli.ctlJson({"dlq", "list", "--target", "a"}).size() == 1);
    CHECK(cli.ctlJson({"dlq", "list", "--target", "b"}).empty());
}

TEST_CASE("cli: dlq retry of several ids where one is not a dead letter changes nothing")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto dead = cli.sendIds({"x"}).at(0);
    auto pending = cli.sendIds({"y"}).at(0);
    deadLetter(cli, dead);
    fails(cli, {"dlq", "retry", std::to_string(dead), std::to_string(pending)});
    fails(cli, {"dlq", "retry", std::to_string(dead), "999"});
    CHECK(deliveryJson(cli, dead)["status"] == "dead_letter");
}

TEST_CASE("cli: dlq purge deletes only dead letters older than --older-than")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto oldId = cli.sendIds({"old"}).at(0);
    auto newId = cli.sendIds({"new"}).at(0);
    auto keep = cli.sendIds({"pending"}).at(0);
    deadLetter(cli, oldId, "gone", wallClockMs() - 10 * 24 * 3600 * 1000LL);
    deadLetter(cli, newId, "gone");
    CHECK(cli.ctlJson({"dlq", "purge", "--older-than", "7d"})["purged"] == 1);
    CHECK(idsOf(cli.ctlJson({"dlq", "list"})) == std::set<int64_t>{newId});
    CHECK(cli.count("deliveries WHERE id = " + std::to_string(oldId)) == 0);
    CHECK(cli.count("deliveries WHERE id = " + std::to_string(keep)) == 1);
    const std::string human = cli.ctlOk({"dlq", "purge", "--older-than", "7d"});
    CHECK(contains(human, "purged 0"));
}

// ---------------------------------------------------------------- stats

TEST_CASE("cli: stats --json carries the original fields in snake_case")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b", {"--events", "order.*"});
    auto o = cli.sendIds({"order.created"}); // a, b
    auto u = cli.sendIds({"user.created"});  // a
    auto o2 = cli.sendIds({"order.paid"});   // a, b
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', attempt_count = 1, completed_at = updated_at WHERE id = " +
                std::to_string(o[0]) +
                ";"
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
                std::to_string(o[0]) +
                ", 1, 1000, 100, 200);"
                "UPDATE deliveries SET status = 'failed', attempt_count = 1 WHERE id = " +
                std::to_string(o[1]));
    deadLetter(cli, u[0]);

    auto s = cli.ctlJson({"stats"});
    for (const char* field :
         {"total_deliveries", "successful_deliveries", "failed_deliveries", "dead_letter_deliveries",
          "average_response_time_ms", "success_rate", "by_event_type", "by_target"})
        CHECK_MESSAGE(s.contains(field), "missing " << field << " in " << s.dump());
    CHECK(s["total_deliveries"] == 5);
    CHECK(s["successful_deliveries"] == 1);
    CHECK(s["failed_deliveries"] == 1);
    CHECK(s["dead_letter_deliveries"] == 1);
    CHECK(s["success_rate"].get<double>() == doctest::Approx(0.5));
    CHECK(s["average_response_time_ms"].is_number());
    CHECK(s["average_response_time_ms"].get<double>() >= 0);
    CHECK(s["by_event_type"].contains("order.created"));
    CHECK(s["by_event_type"].contains("user.created"));
    CHECK(s["by_event_type"].contains("order.paid"));
    CHECK(s["by_target"].contains("a"));
    CHECK(s["by_target"].contains("b"));
    CHECK(s["by_target"]["a"]["total"] == 3);
    CHECK(s["by_target"]["b"]["total"] == 2);

    // --since counts deliveries created in the window.
    cli.sqlExec("UPDATE deliveries SET created_at = " + std::to_string(wallClockMs() - 2 * 24 * 3600 * 1000LL) +
                " WHERE id IN (" + std::to_string(o2[0]) + ", " + std::to_string(o2[1]) + ")");
    CHECK(cli.ctlJson({"stats", "--since", "1d"})["total_deliveries"] == 3);
    CHECK(cli.ctlJson({"stats", "--since", "3d"})["total_deliveries"] == 5);

    const std::string human = cli.ctlOk({"stats"});
    CHECK(contains(human, "success rate"));
}

TEST_CASE("cli: stats of an empty database is all zeros")
{
    Fixture cli;
    auto s = cli.ctlJson({"stats"});
    CHECK(s["total_deliveries"] == 0);
    CHECK(s["success_rate"].is_number());
    CHECK(s["by_event_type"].empty());
    CHECK(s["by_target"].empty());
}

// ---------------------------------------------------------------- operability: stats, purge, redrive

// count old finished deliveries to target, made in one INSERT each: events
// 'bulk.N', deliveries in status, completed completedAt, one attempt each,
// and dead_letters rows for dead letters. Returns the delivery ids.
std::vector<int64_t> bulk(const Fixture& cli, int count, const std::string& target, const std::string& status,
                          int64_t completedAt)
{
    const int64_t base = cli.sqlInt("SELECT coalesce(max(id), 0) FROM events");
    const int64_t dbase = cli.sqlInt("SELECT coalesce(max(id), 0) FROM deliveries");
    const std::string n = std::to_string(count), b = std::to_string(base), d = std::to_string(dbase),
                      at = std::to_string(completedAt);
    const std::string series = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " + n + ") ";
    cli.sqlExec("BEGIN;" + series + "INSERT INTO events (id, uid, type, payload, created_at) SELECT " + b +
                " + i, 'msg_bulk' || (" + b + " + i), 'bulk.event', '{}', " + at + " - 1000 FROM c;" + series +
                "INSERT INTO deliveries (id, event_id, target_id, status, attempt_count, next_attempt_at, created_at,"
                " updated_at, completed_at) SELECT " +
                d + " + i, " + b + " + i, '" + target + "', '" + status + "', 1, " + at + ", " + at + " - 1000, " + at +
                ", " + at + " FROM c;" + series +
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) SELECT " + d +
                " + i, 1, " + at + " - 100, 100, " + (status == "delivered" ? "200" : "410") + " FROM c;" +
                (status == "dead_letter" ? series + "INSERT INTO dead_letters (delivery_id, reason, moved_at) SELECT " +
                         d + " + i, 'HTTP 410', " + at + " FROM c;"
                                         : std::string()) +
                "COMMIT;");
    if (cli.isPostgres()) // rows given ids by hand: the identity columns continue after them
        cli.sqlExec("SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events));"
                    "SELECT setval(pg_get_serial_sequence('deliveries', 'id'), (SELECT max(id) FROM deliveries));"
                    "SELECT setval(pg_get_serial_sequence('attempts', 'id'), (SELECT max(id) FROM attempts))");
    std::vector<int64_t> ids;
    for (int i = 1; i <= count; ++i)
        ids.push_back(dbase + i);
    return ids;
}

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;

TEST_CASE("cli: stats --json adds latency percentiles, time to deliver, queue depth and the oldest due age")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    std::vector<int64_t> ids;
    for (int i = 0; i < 4; ++i)
        ids.push_back(cli.sendIds({"order.paid"}).at(0));
    const int64_t now = wallClockMs();
    // Attempts of 40, 10, 20, 30 ms; the first two deliveries delivered 2 s and 4 s after creation.
    for (size_t i = 0; i < 4; ++i)
        cli.sqlExec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
                    std::to_string(ids[i]) + ", 1, 0, " + std::to_string(i == 0 ? 40 : i * 10) + ", 200)");
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', completed_at = created_at + 2000 WHERE id = " +
                std::to_string(ids[0]) +
                "; UPDATE deliveries SET status = 'delivered', completed_at = created_at + 4000"
                " WHERE id = " +
                std::to_string(ids[1]) + "; UPDATE deliveries SET status = 'failed', next_attempt_at = " +
                std::to_string(now - 60'000) + " WHERE id = " + std::to_string(ids[2]) +
                "; UPDATE deliveries SET next_attempt_at = " + std::to_string(now + 3'600'000) +
                " WHERE id = " + std::to_string(ids[3]));

    auto s = cli.ctlJson({"stats"});
    for (const char* field :
         {"total_deliveries", "successful_deliveries", "failed_deliveries", "dead_letter_deliveries",
          "average_response_time_ms", "success_rate", "by_event_type", "by_target", "attempt_latency_ms",
          "time_to_deliver_ms", "queue_depth", "oldest_due_age_ms"})
        CHECK_MESSAGE(s.contains(field), "missing " << field << " in " << s.dump());
    CHECK(s["attempt_latency_ms"] == json{{"p50", 20}, {"p95", 40}, {"p99", 40}});
    CHECK(s["time_to_deliver_ms"] == json{{"p50", 2000}, {"p95", 4000}});
    CHECK(s["queue_depth"] ==
          json{{"pending", 1},
               {"in_progress", 0},
               {"failed", 1},
               {"rate_limited", 0},
               {"delivered", 2},
               {"dead_letter", 0},
               {"waiting", 0}});
    // The failed one has been due for a minute (plus the time webhookctl took to start).
    CHECK(s["oldest_due_age_ms"].get<int64_t>() >= 60'000);
    CHECK(s["oldest_due_age_ms"].get<int64_t>() < 120'000);

    const std::string human = cli.ctlOk({"stats"});
    CHECK(contains(human, "attempt latency   p50 20 ms  p95 40 ms  p99 40 ms"));
    CHECK(contains(human, "time to deliver   p50 2000 ms  p95 4000 ms"));
    CHECK(contains(human, "pending 1  in progress 0  failed 1  rate limited 0  delivered 2  dead letter 0"));
    CHECK(contains(human, "oldest due        due for 1m "));

    cli.sqlExec("UPDATE deliveries SET next_attempt_at = " + std::to_string(now + 3'600'000));
    auto idle = cli.ctlJson({"stats"});
    CHECK(idle["oldest_due_age_ms"].is_null());
    CHECK(contains(cli.ctlOk({"stats"}), "nothing is due"));
}

TEST_CASE("cli: stats --target and --type narrow the figures, and an unknown target is one sentence")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.addTarget("b", "http://example.com/b", {"--events", "order.*"});
    cli.sendIds({"order.paid"});   // a, b
    cli.sendIds({"user.created"}); // a
    auto b = cli.ctlJson({"stats", "--target", "b"});
    CHECK(b["total_deliveries"] == 1);
    CHECK(b["by_target"].size() == 1);
    CHECK(b["queue_depth"]["pending"] == 1);
    auto user = cli.ctlJson({"stats", "--type", "user.created"});
    CHECK(user["total_deliveries"] == 1);
    CHECK(user["by_event_type"].contains("user.created"));
    CHECK(cli.ctlJson({"stats", "--type", "user.created", "--target", "b"})["total_deliveries"] == 0);
    CHECK(cli.ctlJson({"stats", "--type", "order.paid", "--target", "a", "--since", "1h"})["total_deliveries"] == 1);
    auto r = fails(cli, {"stats", "--target", "ghost"}, 1);
    CHECK(contains(r.err, "ghost"));
}

TEST_CASE("cli: purge deletes finished deliveries completed before --older-than with their attempts and events")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    const int64_t old = wallClockMs() - 40 * kDayMs;
    auto oldDone = bulk(cli, 30, "a", "delivered", old);
    auto oldDead = bulk(cli, 20, "a", "dead_letter", old);
    auto recent = bulk(cli, 10, "a", "delivered", wallClockMs() - kDayMs);
    auto waiting = cli.sendIds({"still.waiting"});

    SUBCASE("everything finished, in small batches")
    {
        auto j = cli.ctlJson({"purge", "--older-than", "30d", "--batch", "7"});
        CHECK(j["deliveries"] == 50);
        CHECK(j["attempts"] == 50);
        CHECK(j["events"] == 50);
        CHECK(j["incremental_vacuum"] == !cli.isPostgres()); // PostgreSQL's autovacuum reuses space in place
        CHECK(j["pages_freed"].get<int64_t>() >= 0);
        CHECK(std::abs(j["completed_before"].get<int64_t>() - (wallClockMs() - 30 * kDayMs)) < 60'000);
        CHECK(cli.count("deliveries") == 11);
        CHECK(cli.count("attempts") == 10);
        CHECK(cli.count("dead_letters") == 0);
        CHECK(cli.count("events") == 11);
        CHECK(cli.count("deliveries WHERE id = " + std::to_string(waiting.at(0))) == 1);
        CHECK(cli.count("deliveries WHERE id = " + std::to_string(recent.at(0))) == 1);
    }
    SUBCASE("only dead letters, with a one-line summary and nothing on stderr")
    {
        auto r = cli.ctl({"purge", "--older-than", "30d", "--status", "dead_letter"});
        REQUIRE_MESSAGE(r.exitCode == 0, describe({"purge", "--older-than", "30d", "--status", "dead_letter"}, r));
        CHECK(allLines(r.out).size() == 1);
        CHECK(startsWith(r.out, "purged 20 deliveries (20 attempts, 20 events) completed before "));
        CHECK(contains(r.out, "free pages given back") == !cli.isPostgres());
        CHECK(r.err.empty());
        CHECK(cli.count("deliveries WHERE status = 'dead_letter'") == 0);
        CHECK(cli.count("deliveries WHERE status = 'delivered'") == 40);
    }
    SUBCASE("only delivered ones")
    {
        CHECK(cli.ctlJson({"purge", "--older-than", "30d", "--status", "delivered"})["deliveries"] == 30);
        CHECK(cli.count("deliveries WHERE status = 'dead_letter'") == 20);
        CHECK(idsOf(cli.ctlJson({"dlq", "list", "--limit", "100"})).size() == 20);
    }
    SUBCASE("bad flags are usage errors that change nothing")
    {
        fails(cli, {"purge", "--older-than", "soon"}, 2);
        fails(cli, {"purge", "--older-than", "-3d"}, 2);
        fails(cli, {"purge"}, 2);
        fails(cli, {"purge", "--older-than", "30d", "--status", "failed"}, 2);
        fails(cli, {"purge", "--older-than", "30d", "--batch", "0"}, 2);
        CHECK(cli.count("deliveries") == 61);
    }
    (void)oldDone;
    (void)oldDead;
}

TEST_CASE("cli: purge --vacuum rebuilds an old database without auto-vacuum and switches it to incremental" *
          doctest::skip(postgresBackend())) // SQLite's file
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    {
        // SQLite-specific: a file made before auto-vacuum was switched on.
        SQLite::Database raw(cli.db(), SQLite::OPEN_READWRITE, 5000);
        raw.exec("PRAGMA auto_vacuum = NONE; VACUUM;");
    }
    bulk(cli, 2000, "a", "delivered", wallClockMs() - 40 * kDayMs);
    const std::string plain = cli.ctlOk({"purge", "--older-than", "30d", "--status", "dead_letter"});
    CHECK(contains(plain, "the file keeps its size"));
    auto j = cli.ctlJson({"purge", "--older-than", "30d", "--vacuum"});
    CHECK(j["deliveries"] == 2000);
    CHECK(j["incremental_vacuum"] == false);
    CHECK(j["vacuum"]["switched_to_incremental"] == true);
    CHECK(j["vacuum"]["pages_after"].get<int64_t>() < j["vacuum"]["pages_before"].get<int64_t>());
    CHECK(cli.sqlText("PRAGMA auto_vacuum") == "2");
    CHECK(cli.sqlText("PRAGMA freelist_count") == "0");
    CHECK(cli.ctlJson({"purge", "--older-than", "30d"})["incremental_vacuum"] == true);
}

TEST_CASE("cli: dlq retry --all selects by --type and --since, and --json says what changed")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto x = cli.sendIds({"x"}).at(0);
    auto y = cli.sendIds({"y"}).at(0);
    auto xOld = cli.sendIds({"x"}).at(0);
    deadLetter(cli, x);
    deadLetter(cli, y);
    deadLetter(cli, xOld, "gone", wallClockMs() - 3 * kDayMs);
    auto j = cli.ctlJson({"dlq", "retry", "--all", "--type", "x", "--since", "1d"});
    CHECK(j["retried"] == 1);
    CHECK(j["deliveries"] == json::array({json{{"id", x}, {"previous_status", "dead_letter"}}}));
    CHECK(idsOf(cli.ctlJson({"dlq", "list"})) == std::set<int64_t>{y, xOld});
    CHECK(cli.ctlJson({"dlq", "retry", "--all", "--type", "x"})["retried"] == 1);
    CHECK(idsOf(cli.ctlJson({"dlq", "list"})) == std::set<int64_t>{y});
    auto human = cli.ctl({"dlq", "retry", "--all", "--since", "1d"});
    REQUIRE_MESSAGE(human.exitCode == 0, describe({"dlq", "retry", "--all", "--since", "1d"}, human));
    CHECK(human.out == "returned 1 dead letter to pending\n");
    CHECK(human.err.empty());
    fails(cli, {"dlq", "retry", "--type", "x"}, 2, {}, false);
    fails(cli, {"dlq", "retry", std::to_string(y), "--since", "1d"}, 2, {}, false);
    fails(cli, {"dlq", "retry", "--all", "--since", "5q"}, 2);
}

TEST_CASE("cli: delivery resend requeues delivered and dead-lettered deliveries, keeping their attempts")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto done = cli.sendIds({"x"}).at(0);
    auto dead = cli.sendIds({"x"}).at(0);
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', attempt_count = 2, completed_at = " +
                std::to_string(wallClockMs()) + " WHERE id = " + std::to_string(done) +
                "; INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
                std::to_string(done) + ", 1, 0, 5, 503), (" + std::to_string(done) + ", 2, 0, 5, 200)");
    deadLetter(cli, dead);
    auto j = cli.ctlJson({"delivery", "resend", std::to_string(done), std::to_string(dead)});
    CHECK(j["resent"] == 2);
    CHECK(j["deliveries"] ==
          json::array({json{{"id", done}, {"previous_status", "delivered"}},
                       json{{"id", dead}, {"previous_status", "dead_letter"}}}));
    auto d = deliveryJson(cli, done);
    CHECK(d["status"] == "pending");
    CHECK(d["attempt_count"] == 2);
    CHECK(d["completed_at"].is_null());
    CHECK(d["attempts"].size() == 2);
    CHECK(cli.sqlText("SELECT retry_base FROM deliveries WHERE id = " + std::to_string(done)) == "2");
    CHECK(deliveryJson(cli, dead)["status"] == "pending");
    CHECK(cli.sqlText("SELECT retried_at IS NOT NULL FROM dead_letters WHERE delivery_id = " + std::to_string(dead)) ==
          "1");
    CHECK(cli.ctlJson({"dlq", "list"}).empty());

    cli.sqlExec("UPDATE deliveries SET status = 'delivered' WHERE id = " + std::to_string(done));
    const std::string human = cli.ctlOk({"delivery", "resend", std::to_string(done)});
    CHECK(human == "resent 1 delivery (pending now, with a fresh attempt budget)\n");
}

TEST_CASE("cli: delivery resend refuses an unfinished or unknown delivery with one sentence and changes nothing")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto done = cli.sendIds({"x"}).at(0);
    auto waiting = cli.sendIds({"x"}).at(0);
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', completed_at = 1 WHERE id = " + std::to_string(done));
    for (const char* status : {"pending", "failed", "rate_limited", "in_progress"}) {
        CAPTURE(status);
        cli.sqlExec("UPDATE deliveries SET status = '" + std::string(status) +
                    "' WHERE id = " + std::to_string(waiting));
        auto r = fails(cli, {"delivery", "resend", std::to_string(done), std::to_string(waiting)});
        CHECK(contains(r.err, std::to_string(waiting)));
        CHECK(contains(r.err, status));
    }
    auto r = fails(cli, {"delivery", "resend", std::to_string(done), "999"});
    CHECK(contains(r.err, "999"));
    fails(cli, {"delivery", "resend"}, 2);
    CHECK(deliveryJson(cli, done)["status"] == "delivered");
}

TEST_CASE("cli: dlq retry --all and delivery resend take thousands of rows in batches")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto ids = bulk(cli, 2500, "a", "dead_letter", wallClockMs() - kDayMs);
    auto j = cli.ctlJson({"dlq", "retry", "--all"});
    CHECK(j["retried"] == 2500);
    CHECK(j["deliveries"].size() == 2500);
    CHECK(cli.count("deliveries WHERE status = 'pending' AND retry_base = 1") == 2500);
    CHECK(cli.count("dead_letters WHERE retried_at IS NULL") == 0);

    cli.sqlExec("UPDATE deliveries SET status = 'delivered', completed_at = 1");
    std::vector<std::string> args{"delivery", "resend"};
    for (int64_t id : ids)
        args.push_back(std::to_string(id));
    auto r = cli.ctlJson(args);
    CHECK(r["resent"] == 2500);
    CHECK(cli.count("deliveries WHERE status = 'pending' AND completed_at IS NULL") == 2500);
    CHECK(cli.count("attempts") == 2500);
}

// `script` runs the command on a pseudo-terminal, as a person would.
// Runs webhookctl on a pseudo-terminal through script(1) (bsdutils, an
// essential Debian package, so always there).
std::optional<RunResult> runOnTerminal(const Fixture& cli, const std::string& args)
{
    REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/script"), "/usr/bin/script (bsdutils) is missing");
    return webhookd::test::run({"/usr/bin/script", "-qec", ctl() + " --db '" + cli.db() + "' " + args, "/dev/null"});
}

TEST_CASE("cli: purge, dlq retry and delivery resend show progress only on a terminal")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto ids = bulk(cli, 2500, "a", "dead_letter", wallClockMs() - 40 * kDayMs);
    auto piped = cli.ctl({"dlq", "retry", "--all"});
    REQUIRE_MESSAGE(piped.exitCode == 0, describe({"dlq", "retry", "--all"}, piped));
    CHECK(piped.err.empty());
    cli.sqlExec("UPDATE deliveries SET status = 'dead_letter'; UPDATE dead_letters SET retried_at = NULL");
    auto tty = runOnTerminal(cli, "dlq retry --all");
    REQUIRE(tty);
    CHECK_MESSAGE(tty->exitCode == 0, tty->out);
    CHECK(contains(tty->out, "\rretried 1000/2500 deliveries"));
    CHECK(contains(tty->out, "\rretried 2500/2500 deliveries"));
    CHECK(contains(tty->out, "returned 2,500 dead letters to pending"));
    auto resend = runOnTerminal(cli, "delivery resend " + std::to_string(ids[0]));
    REQUIRE(resend);
    CHECK(resend->exitCode == 1); // pending now: refused
    CHECK(contains(resend->out, "is still pending"));
    cli.sqlExec("UPDATE deliveries SET status = 'delivered', completed_at = 1");
    auto purge = runOnTerminal(cli, "purge --older-than 1d --batch 1000");
    REQUIRE(purge);
    CHECK_MESSAGE(purge->exitCode == 0, purge->out);
    CHECK(contains(purge->out, "\rpurged 1000 deliveries, 1000 attempts, 1000 events"));
    CHECK(contains(purge->out, "\rpurged 2500 deliveries"));
    CHECK(contains(purge->out, "purged 2500 deliveries (2500 attempts, 2500 events) completed before"));
    CHECK(cli.count("deliveries") == 0);
}

// ---------------------------------------------------------------- global options

TEST_CASE("cli: --db and --json are accepted anywhere on the line")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto ok = [](std::vector<std::string> argv) {
        argv.insert(argv.begin(), ctl());
        auto r = webhookd::test::run(argv);
        REQUIRE_MESSAGE(r.exitCode == 0, describe(argv, r));
        return r;
    };
    CHECK(contains(ok({"--db", cli.db(), "target", "list"}).out, "example.com/a"));
    CHECK(contains(ok({"target", "--db", cli.db(), "list"}).out, "example.com/a"));
    CHECK(contains(ok({"target", "list", "--db", cli.db()}).out, "example.com/a"));
    CHECK(allLines(ok({"send", "x", "--data", "{}", "--db", cli.db()}).out).size() == 1);
    CHECK(allLines(ok({"send", "--db", cli.db(), "y"}).out).size() == 1);
    CHECK(json::parse(ok({"--json", "delivery", "list", "--db", cli.db()}).out).size() == 2);
    CHECK(json::parse(ok({"delivery", "--json", "list", "--db", cli.db()}).out).size() == 2);
    CHECK(json::parse(ok({"--db", cli.db(), "delivery", "list", "--json"}).out).size() == 2);
}

TEST_CASE("cli: WEBHOOKD_DB names the database when --db is not given, and --db wins over it")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto r = webhookd::test::run({ctl(), "target", "list"}, {}, {{"WEBHOOKD_DB", cli.db()}});
    CHECK_MESSAGE(r.exitCode == 0, r.err);
    CHECK(contains(r.out, "example.com/a"));
    r = webhookd::test::run({ctl(), "send", "x"}, {}, {{"WEBHOOKD_DB", cli.db()}});
    CHECK(r.exitCode == 0);
    CHECK(cli.count("events") == 1);

    r = webhookd::test::run({ctl(), "--db", cli.db(), "target", "list"}, {},
                            {{"WEBHOOKD_DB", cli.dir().file("other.db")}});
    CHECK_MESSAGE(r.exitCode == 0, r.err);
    CHECK(contains(r.out, "example.com/a"));
    CHECK_FALSE(std::filesystem::exists(cli.dir().file("other.db")));

    // init through the variable creates the file it names.
    r = webhookd::test::run({ctl(), "init"}, {}, {{"WEBHOOKD_DB", cli.dir().file("fresh.db")}});
    CHECK(r.exitCode == 0);
    CHECK(std::filesystem::exists(cli.dir().file("fresh.db")));
}

TEST_CASE("cli: webhookctl's global options have WEBHOOKD_* twins; a bad value is one sentence naming the variable")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    const std::map<std::string, std::string> env = {{"WEBHOOKD_DB", cli.db()}, {"WEBHOOKD_JSON", "1"}};
    auto r = webhookd::test::run({ctl(), "target", "list"}, {}, env);
    CHECK_MESSAGE(r.exitCode == 0, r.err);
    CHECK(json::parse(r.out).at(0)["id"] == "a");
    r = webhookd::test::run({ctl(), "target", "list"}, {}, {{"WEBHOOKD_DB", cli.db()}, {"WEBHOOKD_JSON", "false"}});
    CHECK(json::parse(r.out, nullptr, false).is_discarded());
    CHECK(contains(r.out, "example.com/a"));
    r = webhookd::test::run({ctl(), "target", "list"}, {},
                            {{"WEBHOOKD_DB", cli.db()}, {"WEBHOOKD_BUSY_TIMEOUT", "2s"}});
    CHECK(r.exitCode == 0);

    const std::pair<std::string, std::string> bad[] = {
        {"WEBHOOKD_BUSY_TIMEOUT", "soon"},     {"WEBHOOKD_BUSY_TIMEOUT", "2d"}, {"WEBHOOKD_JSON", "yes please"},
        {"WEBHOOKD_SYNCHRONOUS", "sometimes"}, {"WEBHOOKD_MAX_PAYLOAD", "-5"},
    };
    for (const auto& [name, value] : bad) {
        CAPTURE(name);
        r = webhookd::test::run({ctl(), "target", "list"}, {}, {{"WEBHOOKD_DB", cli.db()}, {name, value}});
        CHECK(r.exitCode == 2);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), r.err);
        CHECK_MESSAGE(startsWith(r.err, "webhookctl: " + name + " "), r.err);
    }
    // The command line wins: its value is the one checked.
    r = webhookd::test::run({ctl(), "--busy-timeout", "1s", "target", "list"}, {},
                            {{"WEBHOOKD_DB", cli.db()}, {"WEBHOOKD_BUSY_TIMEOUT", "soon"}});
    CHECK_MESSAGE(r.exitCode == 0, r.err);
    r = webhookd::test::run({ctl(), "--help"});
    CHECK(contains(r.out, "(Env:WEBHOOKD_DB)"));
    CHECK(contains(r.out, "(Env:WEBHOOKD_BUSY_TIMEOUT)"));
}

// ---------------------------------------------------------------- secrets, sign, verify

TEST_CASE("cli: secret generate prints whsec_ and the base64 of 32 random bytes, or 64 hex characters with --hex")
{
    auto a = webhookd::test::run({ctl(), "secret", "generate"});
    auto b = webhookd::test::run({ctl(), "secret", "generate"});
    REQUIRE(a.exitCode == 0);
    REQUIRE(b.exitCode == 0);
    const auto la = allLines(a.out);
    REQUIRE(la.size() == 1);
    CHECK(looksLikeGeneratedSecret(la[0]));
    CHECK(a.out != b.out);

    auto h = webhookd::test::run({ctl(), "secret", "generate", "--hex"});
    REQUIRE(h.exitCode == 0);
    const auto lh = allLines(h.out);
    REQUIRE(lh.size() == 1);
    CHECK(lh[0].size() == 64);
    CHECK(lh[0].find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("cli: sign prints the three Standard Webhooks headers of the specification's test vector")
{
    auto r = webhookd::test::run(
        {ctl(), "sign", "--secret", kVectorSecret, "--id", kVectorId, "--timestamp", kVectorTimestamp}, kVectorBody);
    REQUIRE_MESSAGE(r.exitCode == 0, r.err);
    const auto ls = allLines(r.out);
    REQUIRE(ls.size() == 3);
    CHECK(ls[0] == "webhook-id: " + kVectorId);
    CHECK(ls[1] == "webhook-timestamp: " + kVectorTimestamp);
    CHECK(ls[2] == "webhook-signature: " + kVectorSignature);
}

TEST_CASE(
    "cli: verify accepts the test vector within the tolerance and rejects tampering, wrong secrets and old timestamps")
{
    // Run at the vector's own time (Debian's faketime; tools/test.sh installs
    // it): durations are capped at ten years, and the vector is from 2021.
    auto run = [](std::vector<std::string> args, const std::string& body) {
        args.insert(args.begin(), {"faketime", "@" + kVectorTimestamp});
        return webhookd::test::run(args, body);
    };
    auto valid = run(verifyArgs({kVectorSecret}, kVectorTimestamp), kVectorBody);
    CHECK_MESSAGE(valid.exitCode == 0, valid.err);

    SUBCASE("a tampered body")
    {
        auto r = run(verifyArgs({kVectorSecret}, kVectorTimestamp), R"({"test": 2432232315})");
        CHECK(r.exitCode == 1);
        CHECK(contains(r.err, "no signature matches"));
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    }
    SUBCASE("a wrong secret")
    {
        auto r = run(verifyArgs({"whsec_AAAA9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, kVectorTimestamp), kVectorBody);
        CHECK(r.exitCode == 1);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
        CHECK(contains(r.err, "no signature matches"));
    }
    SUBCASE("a tampered timestamp")
    {
        auto r = run(verifyArgs({kVectorSecret}, "1614265331"), kVectorBody);
        CHECK(r.exitCode == 1);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    }
    SUBCASE("an old timestamp at the default tolerance")
    {
        auto r = webhookd::test::run(verifyArgs({kVectorSecret}, kVectorTimestamp), kVectorBody);
        CHECK(r.exitCode == 1);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
        CHECK(contains(r.err, "tolerance"));
    }
    SUBCASE("two secrets where the second matches")
    {
        auto r =
            run(verifyArgs({"whsec_AAAA9r8GKYqrTwjUPD8ILPZIo2LaLaSw", kVectorSecret}, kVectorTimestamp), kVectorBody);
        CHECK_MESSAGE(r.exitCode == 0, r.err);
    }
}

TEST_CASE("cli: verify accepts what sign produced just now at the default tolerance")
{
    const std::string body = R"({"hello": "world"})";
    auto s = webhookd::test::run({ctl(), "sign", "--secret", "plain-secret"}, body);
    REQUIRE(s.exitCode == 0);
    std::map<std::string, std::string> h;
    for (const auto& l : allLines(s.out)) {
        auto colon = l.find(": ");
        REQUIRE(colon != std::string::npos);
        h[l.substr(0, colon)] = l.substr(colon + 2);
    }
    auto v = webhookd::test::run({ctl(), "verify", "--secret", "plain-secret", "--id", h["webhook-id"], "--timestamp",
                                  h["webhook-timestamp"], "--signature", h["webhook-signature"]},
                                 body);
    CHECK_MESSAGE(v.exitCode == 0, v.err);
    CHECK(startsWith(h["webhook-id"], "msg_"));
}

// ---------------------------------------------------------------- bad input

TEST_CASE("cli: a malformed JSON payload is refused and nothing is recorded")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    fails(cli, {"send", "x", "--data", "{bad"}, 2);
    fails(cli, {"send", "x", "--data", ""}, 2);
    fails(cli, {"send", "x", "--data", "-"}, 2, std::string("not json"));
    writeFile(cli.dir().file("bad.json"), "{\"a\": ");
    fails(cli, {"send", "x", "--data", "@" + cli.dir().file("bad.json")}, 2);
    fails(cli, {"send", "x", "--data", "@" + cli.dir().file("missing.json")});
}

TEST_CASE("cli: an unknown target id is refused by show, update, remove, enable, disable, rotate-secret and send")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    for (std::vector<std::string> args : {std::vector<std::string>{"target", "show", "nope"},
                                          {"target", "update", "nope", "--name", "x"},
                                          {"target", "remove", "nope"},
                                          {"target", "enable", "nope"},
                                          {"target", "disable", "nope"},
                                          {"target", "rotate-secret", "nope"},
                                          {"send", "x", "--target", "nope"},
                                          {"send", "x", "--target", "a", "--target", "nope"},
                                          {"dlq", "retry", "--all", "--target", "nope"}}) {
        auto r = fails(cli, args);
        CHECK(contains(r.err, "nope"));
    }
}

TEST_CASE("cli: send --target reaches only targets of the event's own application, none included")
{
    Fixture cli;
    cli.addTarget("mine", "http://example.com/mine", {"--app", "appA"});
    cli.addTarget("theirs", "http://example.com/theirs", {"--app", "appB"});
    cli.addTarget("nobody", "http://example.com/nobody");
    // Refused with one sentence (a usage error: what was given breaks a
    // rule), and nothing written (fails compares snapshots).
    for (std::vector<std::string> args : {std::vector<std::string>{"send", "x", "--target", "mine"},
                                          {"send", "x", "--target", "nobody", "--target", "theirs"}}) {
        auto r = fails(cli, args, 2);
        CHECK((contains(r.err, "theirs") || contains(r.err, "mine") || contains(r.err, "nobody")));
    }
    // Inside an application, another's target is as unknown as a missing
    // one (exit 1, as for any unknown target), in the same words.
    CHECK(fails(cli, {"send", "x", "--app", "appA", "--target", "theirs"}, 1).err ==
          "webhookctl: there is no target 'theirs' in the application 'appA'.\n");
    CHECK(fails(cli, {"send", "x", "--app", "appA", "--target", "nobody"}, 1).err ==
          "webhookctl: there is no target 'nobody' in the application 'appA'.\n");
    CHECK(targetsOf(cli, cli.sendIds({"x", "--app", "appA", "--target", "mine"})) == std::set<std::string>{"mine"});
    CHECK(targetsOf(cli, cli.sendIds({"x", "--target", "nobody"})) == std::set<std::string>{"nobody"});
}

TEST_CASE("cli: keys bound to an application, and portal links")
{
    Fixture cli;
    const auto key = cli.ctlJson({"api-key", "create", "acme-backend", "--scope", "events:write", "--app", "acme"});
    CHECK(key["app_id"] == "acme");
    CHECK(key["kind"] == "key");
    const std::string url =
        cli.ctlOk({"portal-link", "--app", "acme", "--ttl", "2h", "--url", "https://hooks.example.com/"});
    CHECK(url.rfind("https://hooks.example.com/#portal=whk_key_", 0) == 0);
    CHECK(url.find('?') == std::string::npos);
    const auto link = cli.ctlJson({"portal-link", "--app", "acme", "--url", "http://127.0.0.1:8080"});
    CHECK(link["app_id"] == "acme");
    CHECK(link["url"] == "http://127.0.0.1:8080/#portal=" + link["token"].get<std::string>());
    const auto keys = cli.ctlJson({"api-key", "list"});
    int portals = 0;
    for (const auto& k : keys)
        portals += k["kind"] == "portal" && k["app_id"] == "acme" && k["revoked_at"].is_null();
    CHECK(portals == 2);
    // The token is never listed.
    const std::string token = link["token"].get<std::string>();
    REQUIRE(tokenSecret(token).size() >= 32);
    CHECK(cli.ctlOk({"api-key", "list", "--json"}).find(tokenSecret(token)) == std::string::npos);
    CHECK(cli.ctlOk({"portal-link", "--app", "acme", "--revoke"}) == "revoked 2 portal sessions of acme\n");
    CHECK(cli.ctlOk({"portal-link", "--app", "acme", "--revoke"}) == "revoked 0 portal sessions of acme\n");
    // The listings narrow to one application, as the API's ?app_id= does.
    cli.addTarget("acme-hook", "http://example.com/a", {"--app", "acme"});
    cli.addTarget("other", "http://example.com/o");
    cli.ctlOk({"send", "x", "--app", "acme"});
    cli.ctlOk({"send", "x"});
    const auto targets = cli.ctlJson({"target", "list", "--app", "acme"});
    REQUIRE(targets.size() == 1);
    CHECK(targets[0]["id"] == "acme-hook");
    const auto deliveries = cli.ctlJson({"delivery", "list", "--app", "acme"});
    REQUIRE(deliveries.size() == 1);
    CHECK(deliveries[0]["target_id"] == "acme-hook");
    CHECK(cli.ctlJson({"stats", "--app", "acme"})["by_target"].size() == 1);
    // Refused with one sentence, nothing written.
    fails(cli, {"portal-link", "--app", "acme"}, 2);
    fails(cli, {"portal-link", "--app", "acme", "--ttl", "8d", "--url", "https://h.example"}, 2);
    fails(cli, {"portal-link", "--app", "not valid", "--url", "https://h.example"}, 2);
    fails(cli, {"api-key", "create", "x", "--scope", "read", "--app", "not valid"}, 2);
}

TEST_CASE("cli: other bad send, list, sign and verify input is refused with one sentence")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    fails(cli, {"send", "x", "--idempotency-key", ""}, 2);
    fails(cli, {"send", "x", "--idempotency-key", std::string(256, 'k')}, 2);
    fails(cli, {"target", "add", "b", "--url", "http://example.com/" + std::string(2100, 'a')}, 2);
    CHECK(contains(fails(cli, {"delivery", "list", "--status", "bogus"}, 2, {}, false).err, "bogus"));
    // A bad secret, id or timestamp is bad input (2); a signature that does
    // not verify is a failure (1).
    for (auto [args, code] :
         {std::pair{std::vector<std::string>{ctl(), "sign", "--secret", "s", "--timestamp", "abc"}, 2},
          {{ctl(), "sign", "--secret", "whsec_!!!", "--timestamp", "1"}, 2},
          {{ctl(), "sign", "--secret", "s", "--id", "has.dot", "--timestamp", "1"}, 2},
          {{ctl(), "verify", "--secret", "s", "--id", "a", "--timestamp", "abc", "--signature", "v1,xx"}, 1},
          {{ctl(), "verify", "--secret", "s", "--id", "a", "--timestamp", "1", "--signature", "garbage", "--tolerance",
            "3650d"},
           1}}) {
        auto r = webhookd::test::run(args, std::string("{}"));
        INFO(describe(args, r));
        CHECK(r.exitCode == code);
        CHECK(r.out.empty());
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    }
}

TEST_CASE("cli: an unknown delivery id is refused by delivery show and dlq retry")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    cli.sendIds({"x"});
    CHECK(contains(fails(cli, {"delivery", "show", "999"}).err, "999"));
    CHECK(contains(fails(cli, {"dlq", "retry", "999"}).err, "999"));
}

TEST_CASE("cli: bad URLs are refused by target add and target update")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    for (const std::string url : {"ftp://example.com/x", "http://", "https://", "http:///path", "http://exa mple.com/",
                                  "http://example.com/a b", "example.com/hook", ""}) {
        CAPTURE(url);
        fails(cli, {"target", "add", "b", "--url", url}, 2);
        fails(cli, {"target", "update", "a", "--url", url}, 2);
    }
    fails(cli, {"target", "add", "b"}, 2, {}, false); // no --url at all
    CHECK(cli.count("targets") == 1);
}

TEST_CASE("cli: other bad target settings are refused and change nothing")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    fails(cli, {"target", "add", "a", "--url", "http://example.com/dup"});
    fails(cli, {"target", "add", "bad id", "--url", "http://example.com/"}, 2);
    fails(cli, {"target", "add", "b", "--url", "http://example.com/", "--max-attempts", "0"}, 2, {}, false);
    fails(cli, {"target", "add", "b", "--url", "http://example.com/", "--jitter", "2"}, 2, {}, false);
    fails(cli, {"target", "add", "b", "--url", "http://example.com/", "--header", "no-colon"}, 2);
    fails(cli, {"target", "add", "b", "--url", "http://example.com/", "--metadata", "no-equals"}, 2);
    fails(cli, {"target", "update", "a", "--max-attempts", "0"}, 2, {}, false);
}

TEST_CASE("cli: bad durations are usage errors")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    for (std::vector<std::string> args :
         {std::vector<std::string>{"target", "add", "b", "--url", "http://e.com/", "--timeout", "5q"},
          {"target", "update", "a", "--initial-delay", "5q"},
          {"target", "update", "a", "--max-delay", "soon"},
          {"target", "rotate-secret", "a", "--overlap", "5q"},
          {"delivery", "list", "--since", "5q"},
          {"dlq", "purge", "--older-than", "5q"},
          {"dlq", "purge", "--older-than", "-1d"},
          {"stats", "--since", "5q"},
          {"purge", "--older-than", "5q"},
          {"purge", "--older-than", "-1d"},
          {"dlq", "retry", "--all", "--since", "5q"},
          {"--busy-timeout", "5q", "send", "x"}})
        fails(cli, args, 2, {}, /*strict=*/false);
    auto r = webhookd::test::run({ctl(), "verify", "--secret", kVectorSecret, "--id", kVectorId, "--timestamp",
                                  kVectorTimestamp, "--signature", kVectorSignature, "--tolerance", "5q"},
                                 kVectorBody);
    CHECK(r.exitCode == 2);
}

TEST_CASE("cli: other usage errors exit 2 and change nothing")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    auto id = cli.sendIds({"x"}).at(0);
    fails(cli, {"send", "x", "--bogus"}, 2, {}, false);
    fails(cli, {"--bogus", "target", "list"}, 2, {}, false);
    fails(cli, {"frobnicate"}, 2, {}, false);
    fails(cli, {}, 2, {}, false);
    fails(cli, {"target"}, 2, {}, false);
    fails(cli, {"target", "add"}, 2, {}, false);
    fails(cli, {"target", "show"}, 2, {}, false);
    fails(cli, {"delivery", "show"}, 2, {}, false);
    fails(cli, {"delivery", "show", "abc"}, 2, {}, false);
    fails(cli, {"dlq", "purge"}, 2, {}, false);
    fails(cli, {"dlq", "retry", std::to_string(id), "--all"}, 2, {}, false);
    fails(cli, {"delivery", "list", "--limit", "0"}, 2, {}, false);
    fails(cli, {"--max-payload", "0", "send", "x"}, 2, {}, false);
    fails(cli, {"send", "x", "--priority", "high"}, 2, {}, false);
    // These are webhookctl's own usage checks.
    fails(cli, {"send"}, 2);
    fails(cli, {"dlq", "retry"}, 2);
    fails(cli, {"send", "x", "--batch"}, 2, std::string("{\"type\": \"a\"}\n"));
    auto v = webhookd::test::run(
        {ctl(), "verify", "--id", kVectorId, "--timestamp", kVectorTimestamp, "--signature", kVectorSignature},
        kVectorBody);
    CHECK(v.exitCode == 2);
    auto s = webhookd::test::run({ctl(), "sign", "--id", kVectorId}, kVectorBody);
    CHECK(s.exitCode == 2);
}

// Usage errors CLI11 detects come out as one sentence too.
TEST_CASE("cli: a usage error is reported as exactly one sentence on stderr")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    fails(cli, {"send", "x", "--bogus"}, 2);
    fails(cli, {"target", "add"}, 2);
    fails(cli, {"dlq", "purge"}, 2);
    fails(cli, {"target", "add", "b", "--url", "http://e.com/", "--timeout", "5q"}, 2);
    fails(cli, {"delivery", "list", "--since", "5q"}, 2);
    fails(cli, {"stats", "--since", "5q"}, 2);
    fails(cli, {"purge", "--older-than", "5q"}, 2);
}

TEST_CASE("cli: oversized payloads are refused")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    const std::string p200 = "{\"a\": \"" + std::string(191, 'x') + "\"}";
    REQUIRE(p200.size() == 200);
    auto r = fails(cli, {"--max-payload", "100", "send", "x", "--data", p200}, 2);
    CHECK(contains(r.err, "100"));
    CHECK(cli.sendIds({"--max-payload", "200", "x", "--data", p200}).size() == 1);

    writeFile(cli.dir().file("big.json"), "\"" + std::string(1024 * 1024 - 1, 'a') + "\"");
    REQUIRE(std::filesystem::file_size(cli.dir().file("big.json")) == 1024 * 1024 + 1);
    fails(cli, {"send", "x", "--data", "@" + cli.dir().file("big.json")}, 2);
    fails(cli, {"send", "x", "--data", "-"}, 2, readFile(cli.dir().file("big.json")));
}

TEST_CASE("cli: custom headers with CR or LF in the value, or reserved names, are refused")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a", {"--header", "X-Ok: yes"});
    for (const std::string header :
         {"X-A: b\r\nX-Injected: 1", "X-A: b\nc", "X-A: b\rc", "Content-Type: text/plain", "content-length: 5",
          "Host: evil.example", "User-Agent: me", "webhook-signature: v1,abc", "webhook-id: msg_1",
          "Transfer-Encoding: chunked", "Bad Name: x"}) {
        CAPTURE(header);
        fails(cli, {"target", "add", "b", "--url", "http://example.com/", "--header", header}, 2);
        fails(cli, {"target", "update", "a", "--header", header}, 2);
    }
    CHECK(cli.ctlJson({"target", "show", "a"})["headers"] == json{{"X-Ok", "yes"}});
}

TEST_CASE("cli: bad event types and priorities out of range are refused")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    fails(cli, {"send", "bad type"}, 2);
    fails(cli, {"send", "bad/type"}, 2);
    fails(cli, {"send", "x", "--priority", "1001"}, 2, {}, false);
    fails(cli, {"send", "x", "--priority", "-1001"}, 2, {}, false);
    auto empty = fails(cli, {"send", ""}, 2);
    CHECK(contains(empty.err, "TYPE"));
    // The extremes are fine.
    CHECK(cli.sendIds({"x", "--priority", "1000"}).size() == 1);
    CHECK(cli.sendIds({"x", "--priority", "-1000"}).size() == 1);
}

TEST_CASE("cli: commands other than init refuse a database that does not exist and do not create it")
{
    TempDir dir;
    const std::string missing = dir.file("missing.db");
    for (std::vector<std::string> args : {std::vector<std::string>{"target", "list"},
                                          {"target", "add", "a", "--url", "http://example.com/"},
                                          {"send", "x"},
                                          {"delivery", "list"},
                                          {"dlq", "list"},
                                          {"stats"}}) {
        std::vector<std::string> argv{ctl(), "--db", missing};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = webhookd::test::run(argv);
        INFO(describe(argv, r));
        CHECK(r.exitCode == 1);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
        CHECK(contains(r.err, "webhookctl init"));
        CHECK_FALSE(std::filesystem::exists(missing));
    }
}

TEST_CASE("cli: a file that is not a database is refused and left alone")
{
    TempDir dir;
    const std::string junk = dir.file("junk.db");
    writeFile(junk, "this is not a database, just some text\n");
    for (std::vector<std::string> args :
         {std::vector<std::string>{"target", "list"}, {"send", "x"}, {"stats"}, {"init"}}) {
        std::vector<std::string> argv{ctl(), "--db", junk};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = webhookd::test::run(argv);
        INFO(describe(argv, r));
        CHECK(r.exitCode == 1);
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
        CHECK(readFile(junk) == "this is not a database, just some text\n");
    }
    // SQLite-specific: a SQLite database that is not webhookd's.
    const std::string other = dir.file("other.db");
    {
        SQLite::Database raw(other, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        raw.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')");
    }
    auto r = webhookd::test::run({ctl(), "--db", other, "send", "x"});
    CHECK(r.exitCode == 1);
    CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
    SQLite::Database raw(other, SQLite::OPEN_READONLY);
    CHECK(raw.execAndGet("SELECT count(*) FROM sqlite_master").getInt() == 1);
}

TEST_CASE("cli: a locked database is waited for up to --busy-timeout, then refused with nothing written" *
          doctest::skip(postgresBackend())) // SQLite's file
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a");
    const std::string before = cli.snapshot();
    {
        // SQLite-specific: another connection holding the file's write lock.
        SQLite::Database lock(cli.db(), SQLite::OPEN_READWRITE);
        lock.exec("BEGIN IMMEDIATE");
        const auto start = std::chrono::steady_clock::now();
        auto r = cli.ctl({"--busy-timeout", "300ms", "send", "x"});
        const auto took = std::chrono::steady_clock::now() - start;
        INFO(describe({"--busy-timeout", "300ms", "send", "x"}, r));
        CHECK(r.exitCode == 1);
        CHECK(r.out.empty());
        CHECK_MESSAGE(oneSentence(r.err, "webhookctl"), "stderr was: " << r.err);
        CHECK(contains(r.err, "locked"));
        CHECK(took >= std::chrono::milliseconds(250));
        CHECK(took < std::chrono::seconds(4)); // not the 5 s default

        // Reads still work beside the writer (WAL).
        auto list = cli.ctl({"--busy-timeout", "300ms", "target", "list"});
        CHECK_MESSAGE(list.exitCode == 0, list.err);
        lock.exec("ROLLBACK");
    }
    CHECK(cli.snapshot() == before);
    auto ok = cli.ctl({"--busy-timeout", "300ms", "send", "x"});
    CHECK_MESSAGE(ok.exitCode == 0, ok.err);
    CHECK(allLines(ok.out).size() == 1);
    CHECK(cli.count("events") == 1);
}

// Runs webhookctl as the unprivileged user "nobody" (through setpriv), so that
// file permissions apply even when the tests run as root; nullopt when that is
// not possible here.
std::optional<RunResult> runAsNobody(const std::string& db, const std::vector<std::string>& args)
{
    if (geteuid() != 0 || !std::filesystem::exists("/usr/bin/setpriv"))
        return std::nullopt;
    std::vector<std::string> argv{
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ctl(), "--db", db};
    argv.insert(argv.end(), args.begin(), args.end());
    return webhookd::test::run(argv);
}

// A database file its user may read but not write, in a folder they may or
// may not write (SQLite wants to create the -shm file of a WAL database).
void checkReadOnly(const Fixture& cli, bool folderWritable)
{
    using std::filesystem::perm_options;
    using std::filesystem::perms;
    cli.addTarget("a", "http://example.com/a");
    cli.sendIds({"x"});
    const std::string before = cli.snapshot();
    {
        // SQLite-specific: checkpoint, so that the last connection to close
        // removes -wal and -shm.
        SQLite::Database raw(cli.db(), SQLite::OPEN_READWRITE);
        raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    const perms readable = perms::owner_read | perms::group_read | perms::others_read;
    const perms traversable = perms::owner_exec | perms::group_exec | perms::others_exec;
    std::function<RunResult(const std::vector<std::string>&)> run;
    if (geteuid() != 0) {
        std::filesystem::permissions(cli.db(), readable, perm_options::replace);
        std::filesystem::permissions(cli.dir().path(),
                                     folderWritable ? perms::owner_all : perms::owner_read | perms::owner_exec,
                                     perm_options::replace);
        run = [&](const std::vector<std::string>& args) { return cli.ctl(args); };
    } else if (runAsNobody(cli.db(), {"secret", "generate"})) {
        // root may write any file, so the CLI runs as "nobody" instead.
        std::filesystem::permissions(cli.db(), readable | perms::owner_write, perm_options::replace);
        std::filesystem::permissions(cli.dir().path(),
                                     folderWritable ? perms::all : readable | traversable | perms::owner_write,
                                     perm_options::replace);
        run = [&](const std::vector<std::string>& args) { return *runAsNobody(cli.db(), args); };
    } else {
        FAIL("the tests run as root, who may write any file, and setpriv (util-linux) could not drop privileges, "
             "so a read-only database cannot be made here");
    }
    auto list = run({"delivery", "list"});
    CHECK_MESSAGE(list.exitCode == 0, list.err);
    CHECK(allLines(list.out).size() == 2);
    auto targets = run({"target", "list", "--json"});
    CHECK_MESSAGE(targets.exitCode == 0, targets.err);
    auto stats = run({"stats"});
    CHECK_MESSAGE(stats.exitCode == 0, stats.err);
    auto send = run({"send", "y"});
    CHECK(send.exitCode == 1);
    CHECK(send.out.empty());
    CHECK_MESSAGE(oneSentence(send.err, "webhookctl"), "stderr was: " << send.err);
    CHECK(contains(send.err, "read-only"));
    auto add = run({"target", "add", "b", "--url", "http://example.com/b"});
    CHECK(add.exitCode == 1);
    std::filesystem::permissions(cli.dir().path(), perms::owner_all, perm_options::replace);
    std::filesystem::permissions(cli.db(), perms::owner_read | perms::owner_write, perm_options::replace);
    CHECK(cli.snapshot() == before);
}

TEST_CASE("cli: a read-only database still serves reads and refuses writes" *
          doctest::skip(postgresBackend())) // SQLite's file
{
    Fixture cli;
    checkReadOnly(cli, true); // the folder is writable: SQLite can make its -shm file
}

// A read-only file in a read-only folder: SQLite cannot make the -shm file,
// so the database is read as immutable (it has no -wal left to miss).
TEST_CASE("cli: a read-only database in a read-only folder still serves reads" *
          doctest::skip(postgresBackend())) // SQLite's file
{
    Fixture cli;
    checkReadOnly(cli, false);
}

// ---------------------------------------------------------------- help

TEST_CASE("cli: --help exists and exits 0 for webhookctl and every subcommand, without touching a database")
{
    TempDir dir;
    const std::string missing = dir.file("missing.db");
    for (std::vector<std::string> path : {std::vector<std::string>{},
                                          {"init"},
                                          {"target"},
                                          {"target", "add"},
                                          {"target", "list"},
                                          {"target", "show"},
                                          {"target", "update"},
                                          {"target", "enable"},
                                          {"target", "disable"},
                                          {"target", "remove"},
                                          {"target", "rotate-secret"},
                                          {"send"},
                                          {"delivery"},
                                          {"delivery", "show"},
                                          {"delivery", "list"},
                                          {"delivery", "resend"},
                                          {"dlq"},
                                          {"dlq", "list"},
                                          {"dlq", "retry"},
                                          {"dlq", "purge"},
                                          {"stats"},
                                          {"purge"},
                                          {"secret"},
                                          {"secret", "generate"},
                                          {"sign"},
                                          {"verify"}}) {
        std::vector<std::string> argv{ctl(), "--db", missing};
        argv.insert(argv.end(), path.begin(), path.end());
        argv.push_back("--help");
        auto r = webhookd::test::run(argv);
        INFO(describe(argv, r));
        CHECK(r.exitCode == 0);
        CHECK(contains(r.out, "Usage"));
        CHECK(r.err.empty());
    }
    CHECK_FALSE(std::filesystem::exists(missing));
    auto all = webhookd::test::run({ctl(), "--help-all"});
    CHECK(all.exitCode == 0);
    CHECK(contains(all.out, "rotate-secret"));
}

TEST_CASE("cli: usage errors are one sentence in the project's words, with a did-you-mean, and exit 2")
{
    Fixture cli;
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const auto& c : std::vector<Case>{
             {{"tagret", "list"}, "'tagret' is not a command of webhookctl; did you mean 'target'?"},
             {{"target", "ad", "x"}, "'ad' is not a command of webhookctl target; did you mean 'add'?"},
             {{"target", "add", "x"}, "webhookctl target add needs --url"},
             {{"delivery", "list", "--limt", "3"}, "has no option --limt; did you mean --limit?"},
             {{"delivery", "list", "--limit", "abc"}, "--limit must be a whole number from 1 to 1,000,000 (not 'abc')"},
             {{"delivery", "list", "--status", "done"}, "--status must be pending, in_progress, failed"},
             {{"delivery", "show"}, "webhookctl delivery show needs ID"},
             {{"purge", "--older-than", "1.5h"}, "--older-than must be a duration like"},
             {{"target", "add", "x", "--url", "http://e.com/", "--backoff", "0.5"}, "--backoff must be a number"}}) {
        auto r = cli.ctl(c.args);
        INFO(describe(c.args, r));
        CHECK(r.exitCode == 2);
        CHECK(contains(r.err, c.says));
        CHECK(oneSentence(r.err, "webhookctl"));
        CHECK_FALSE(contains(r.err, "iD"));
        CHECK_FALSE(contains(r.err, "Value"));
        CHECK(contains(r.err, "--help')."));
    }
    auto webhookd = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--concurency", "3"});
    CHECK(webhookd.exitCode == 2);
    CHECK(contains(webhookd.err, "did you mean --concurrency?"));
    CHECK(oneSentence(webhookd.err, "webhookd"));
}

TEST_CASE("cli: both programs print --version")
{
    for (const char* program : {"WEBHOOKD_BIN_WEBHOOKCTL", "WEBHOOKD_BIN_WEBHOOKD"}) {
        auto r = run({binary(program), "--version"});
        CHECK(r.exitCode == 0);
        CHECK(lines(r.out).size() == 1);
        CHECK(contains(r.out, " 0."));
    }
}

TEST_CASE("cli: durations compound, --since and --until take ISO-8601, and cut listings say so")
{
    Fixture cli;
    cli.addTarget("a", "http://example.com/a", {"--timeout", "1m30s", "--max-delay", "1h30m"});
    const json t = cli.ctlJson({"target", "show", "a"});
    CHECK(t["timeout_ms"] == 90'000);
    CHECK(t["max_delay_ms"] == 5'400'000);
    cli.sendBatch("a", 6);
    auto r = cli.ctl({"delivery", "list", "--limit", "4"});
    REQUIRE(r.exitCode == 0);
    CHECK(lines(r.out).size() == 5); // header + 4
    CHECK(contains(r.err, "showing 4 of 6; the next page: --before "));
    const std::string before = r.err.substr(r.err.rfind(' ') + 1, r.err.size() - r.err.rfind(' ') - 3);
    auto next = cli.ctl({"delivery", "list", "--limit", "4", "--before", before});
    REQUIRE(next.exitCode == 0);
    CHECK(lines(next.out).size() == 3); // header + the 2 older
    CHECK(next.err.empty());
    CHECK(cli.ctlJson({"delivery", "list", "--since", "2000-01-01"}).size() == 6);
    CHECK(cli.ctlJson({"delivery", "list", "--until", "2000-01-01T00:00Z"}).empty());
    CHECK(cli.ctlJson({"delivery", "list", "--since", "1h", "--until", "2999-01-01"}).size() == 6);
    CHECK(cli.ctl({"stats", "--since", "yesterday"}).exitCode == 2);
}

TEST_CASE("cli: bash completion offers commands and flags the programs have")
{
    const std::string script = std::string(std::getenv("WEBHOOKD_SOURCE_ROOT")) + "/dist/completion/webhookctl.bash";
    auto complete = [&](const std::string& words, int cword) {
        const std::string cmd = "source '" + script + "'; COMP_WORDS=(" + words +
            "); COMP_CWORD=" + std::to_string(cword) + "; _webhookd_cli; printf '%s\\n' \"${COMPREPLY[@]}\"";
        return run({"bash", "-c", cmd});
    };
    const std::string ctl = "'" + binary("WEBHOOKD_BIN_WEBHOOKCTL") + "'";
    auto top = complete(ctl + " ta", 1);
    REQUIRE(top.exitCode == 0);
    CHECK(lines(top.out) == std::vector<std::string>{"target"});
    auto sub = complete(ctl + " target rot", 2);
    CHECK(lines(sub.out) == std::vector<std::string>{"rotate-secret"});
    auto flags = complete(ctl + " target add x --max-a", 4);
    CHECK(lines(flags.out) == std::vector<std::string>{"--max-attempts"});
    auto worker = complete("'" + binary("WEBHOOKD_BIN_WEBHOOKD") + "' --conc", 1);
    CHECK(lines(worker.out) == std::vector<std::string>{"--concurrency"});
}
