#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// Operability end to end: the circuit breaker and 410 Gone on a real
// receiver, webhookd's /healthz, /metrics and /stats over loopback, and the
// log lines. Real binaries, a real SQLite file; nothing mocked.

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "support/fixture.h"

using namespace webhookd::test;
using nlohmann::json;

namespace {

// The port webhookd's status endpoint listens on, from its log.
int statusPort(Process& worker) { return loggedPort(worker, "status endpoint listening"); }

json targetJson(const Fixture& fx, const std::string& id)
{
    return json::parse(fx.ctlOk({"--json", "target", "show", id}));
}

// A strict reader of the Prometheus text format 0.0.4: every line a comment,
// a HELP/TYPE line or a sample; names and labels well formed; each family
// TYPEd once before its samples; no series twice; histogram buckets
// cumulative and ending in +Inf equal to _count. Returns "name{labels}" →
// value, or fails the test with the offending line.
std::map<std::string, double> parsePrometheus(const std::string& text)
{
    REQUIRE_MESSAGE((!text.empty() && text.back() == '\n'), "the exposition must end with a newline");
    static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
    static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    static const std::regex kSample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)( -?[0-9]+)?$)");
    static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
    std::map<std::string, std::string> types;
    std::set<std::string> helps;
    std::map<std::string, double> series;
    struct Histo {
        double last = -1;
        std::optional<double> inf, count;
    };
    std::map<std::string, Histo> histos; // family + labels without le
    for (const auto& line : lines(text)) {
        CAPTURE(line);
        std::smatch m;
        if (std::regex_match(line, m, kHelp)) {
            REQUIRE_MESSAGE(helps.insert(m[1]).second, "HELP given twice");
        } else if (std::regex_match(line, m, kType)) {
            REQUIRE_MESSAGE(types.emplace(m[1], m[2]).second, "TYPE given twice");
        } else if (line.rfind('#', 0) == 0) {
            continue;
        } else {
            REQUIRE_MESSAGE(std::regex_match(line, m, kSample), "not a valid sample line");
            const std::string name = m[1], labels = m[3], valueText = m[4];
            char* end = nullptr;
            const double value = valueText == "+Inf" ? INFINITY
                : valueText == "-Inf"                ? -INFINITY
                                                     : std::strtod(valueText.c_str(), &end);
            REQUIRE_MESSAGE((valueText == "+Inf" || valueText == "-Inf" || valueText == "NaN" || (end && *end == '\0')),
                            "bad value");
            std::string family = name;
            std::string le;
            std::string rest;
            for (auto it = std::sregex_iterator(labels.begin(), labels.end(), kLabel); it != std::sregex_iterator();
                 ++it) {
                if ((*it)[1] == "le")
                    le = (*it)[2];
                else
                    rest += (*it)[0].str() + ",";
            }
            for (const char* suffix : {"_bucket", "_sum", "_count"}) {
                const std::string s = suffix;
                if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                    types.count(name.substr(0, name.size() - s.size())) &&
                    types[name.substr(0, name.size() - s.size())] == "histogram")
                    family = name.substr(0, name.size() - s.size());
            }
            REQUIRE_MESSAGE(types.count(family), "a sample before its TYPE line");
            if (types[family] == "counter")
                CHECK_MESSAGE(name.size() > 6, "counter names end in _total");
            if (types[family] == "counter")
                CHECK(name.substr(name.size() - 6) == "_total");
            const std::string key = name + "{" + labels + "}";
            REQUIRE_MESSAGE(series.emplace(key, value).second, "the same series twice");
            if (types[family] == "histogram") {
                Histo& h = histos[family + "{" + rest + "}"];
                if (name == family + "_bucket") {
                    REQUIRE_MESSAGE(!le.empty(), "a bucket without le");
                    REQUIRE_MESSAGE(value >= h.last, "buckets must be cumulative");
                    h.last = value;
                    if (le == "+Inf")
                        h.inf = value;
                } else if (name == family + "_count") {
                    h.count = value;
                }
            }
        }
    }
    for (const auto& [key, h] : histos) {
        CAPTURE(key);
        REQUIRE(h.inf.has_value());
        REQUIRE(h.count.has_value());
        CHECK(*h.inf == *h.count);
    }
    return series;
}

double sample(const std::map<std::string, double>& series, const std::string& key)
{
    auto it = series.find(key);
    INFO("series " << key);
    REQUIRE(it != series.end());
    return it->second;
}

} // namespace

TEST_CASE("breaker: a failing target is paused, probed after the cool-down, and resumed by a success")
{
    // Four 500s, then 204s: three failures open the breaker, the first probe
    // fails, the second succeeds.
    Receiver rx({"--script", "/b=500,500,500,500,204"});
    Fixture fx;
    fx.addTarget("b", rx.url("/b"), {"--initial-delay", "10ms", "--max-delay", "20ms", "--max-attempts", "10"});
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(fx.send("b"));

    Process worker = fx.startWorker(
        {"--concurrency", "1", "--breaker-failures", "3", "--breaker-cooldown", "2500ms", "--listen", "127.0.0.1:0"});
    const int port = statusPort(worker);
    REQUIRE_MESSAGE(waitUntil([&] { return !targetJson(fx, "b")["paused_until"].is_null(); }, 10s),
                    worker.stderrText());
    json paused = targetJson(fx, "b");
    CHECK(paused["consecutive_failures"] == 3);
    CHECK(paused["paused_reason"] == "3 failed attempts in a row");
    CHECK(paused["enabled"] == true);
    // While paused nothing is sent, so no delivery spends its attempts.
    CHECK(rx.requests().size() == 3);
    // /metrics reads the database at most once a second.
    CHECK(waitUntil(
        [&] {
            const auto metrics = parsePrometheus(httpGet("127.0.0.1", port, "/metrics").body);
            return sample(metrics, "webhookd_target_paused{target=\"b\"}") == 1;
        },
        3s));
    CHECK(fx.ctlOk({"target", "list"}).find("paused") != std::string::npos);
    CHECK(fx.ctlOk({"target", "show", "b"}).find("3 failed attempts in a row") != std::string::npos);

    REQUIRE_MESSAGE(waitUntil([&] { return fx.countStatus("delivered") == 5; }, 20s), worker.stderrText());
    worker.kill(SIGTERM);
    REQUIRE(worker.waitFor(15s) == std::optional<int>(0));

    const json resumed = targetJson(fx, "b");
    CHECK(resumed["paused_until"].is_null());
    CHECK(resumed["paused_reason"].is_null());
    CHECK(resumed["consecutive_failures"] == 0);
    // 3 failures + a failed probe + 5 successes; the probes came a cool-down apart.
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts") == 9);
    CHECK(rx.requests().size() == 9);
    CHECK(fx.sqlInt("SELECT max(attempt_count) FROM deliveries") <= 3);
    const int64_t gap1 = fx.sqlInt("SELECT (SELECT started_at FROM attempts ORDER BY started_at LIMIT 1 OFFSET 3) -"
                                   " (SELECT started_at FROM attempts ORDER BY started_at LIMIT 1 OFFSET 2)");
    const int64_t gap2 = fx.sqlInt("SELECT (SELECT started_at FROM attempts ORDER BY started_at LIMIT 1 OFFSET 4) -"
                                   " (SELECT started_at FROM attempts ORDER BY started_at LIMIT 1 OFFSET 3)");
    CHECK(gap1 >= 2400);
    CHECK(gap2 >= 2400);

    const std::string log = worker.stderrText();
    auto pausedLines = logLines(log, "target paused by the circuit breaker");
    REQUIRE(pausedLines.size() == 1);
    CHECK(pausedLines[0]["level"] == "warn");
    CHECK(pausedLines[0]["target"] == "b");
    auto resumedLines = logLines(log, "target resumed");
    REQUIRE(resumedLines.size() == 1);
    CHECK(resumedLines[0]["target"] == "b");
}

TEST_CASE("breaker: --breaker-failures 0 never pauses")
{
    Receiver rx({"--script", "/n=500,500,500,500,500,500,204"});
    Fixture fx;
    fx.addTarget("n", rx.url("/n"), {"--initial-delay", "10ms", "--max-delay", "20ms", "--max-attempts", "10"});
    fx.send("n");
    const std::string log = fx.drain({"--concurrency", "1", "--breaker-failures", "0", "--listen", "off"});
    CHECK(logLines(log, "target paused by the circuit breaker").empty());
    CHECK(fx.countStatus("delivered") == 1);
    CHECK(fx.sqlInt("SELECT attempt_count FROM deliveries") == 7);
}

TEST_CASE("breaker: 410 Gone disables the target at once; target enable resumes it by hand")
{
    Receiver rx({"--script", "/g=410,204"});
    Fixture fx;
    fx.addTarget("g", rx.url("/g"), kFastRetry);
    const int64_t first = fx.send("g");
    fx.send("g");
    fx.send("g");
    const std::string log = fx.drain({"--concurrency", "1", "--listen", "off"});

    CHECK(rx.requests().size() == 1);
    CHECK(fx.show(first)["status"] == "dead_letter");
    CHECK(fx.countStatus("pending") == 2);
    const json t = targetJson(fx, "g");
    CHECK(t["enabled"] == false);
    CHECK(t["disabled_reason"] == "the receiver answered 410 Gone to delivery " + std::to_string(first));
    CHECK(fx.ctlOk({"target", "show", "g"}).find("410 Gone") != std::string::npos);
    auto disabled = logLines(log, "target disabled");
    REQUIRE(disabled.size() == 1);
    CHECK(disabled[0]["level"] == "warn");

    fx.ctlOk({"target", "enable", "g"});
    CHECK(targetJson(fx, "g")["disabled_reason"].is_null());
    fx.drain({"--listen", "off"});
    CHECK(fx.countStatus("delivered") == 2);
    CHECK(targetJson(fx, "g")["enabled"] == true);
}

TEST_CASE("endpoint: /healthz turns 503 while a target fails and 200 again after it recovers")
{
    std::string script = "/h=";
    for (int i = 0; i < 40; ++i)
        script += "500,";
    script += "204";
    Receiver rx({"--script", script});
    Fixture fx;
    fx.addTarget("h", rx.url("/h"), {"--initial-delay", "20ms", "--max-delay", "50ms", "--max-attempts", "100"});
    Process worker = fx.startWorker(
        {"--listen", "127.0.0.1:0", "--health-window", "2s", "--breaker-failures", "0", "--concurrency", "2"});
    const int port = statusPort(worker);

    auto health = [&] { return httpGet("127.0.0.1", port, "/healthz"); };
    HttpReply before = health();
    CHECK(before.status == 200);
    CHECK(json::parse(before.body)["status"] == "healthy");

    for (int i = 0; i < 4; ++i)
        fx.send("h");
    HttpReply degraded;
    REQUIRE_MESSAGE(waitUntil([&] { return (degraded = health()).status == 503; }, 15s), worker.stderrText());
    json body = json::parse(degraded.body);
    CHECK(body["status"] == "degraded");
    CHECK(body["checks"]["success_rate"]["ok"] == false);
    CHECK(body["checks"]["loop"]["ok"] == true);
    CHECK(body["checks"]["database"]["ok"] == true);
    CHECK(body["checks"]["success_rate"]["threshold"] == 0.9);
    CHECK(body.contains("queue_depth"));
    CHECK(degraded.contentType.find("application/json") == 0);

    REQUIRE_MESSAGE(waitUntil([&] { return fx.countStatus("delivered") == 4; }, 30s), worker.stderrText());
    HttpReply recovered;
    REQUIRE(waitUntil([&] { return (recovered = health()).status == 200; }, 10s));
    CHECK(json::parse(recovered.body)["status"] == "healthy");
    CHECK(json::parse(recovered.body)["queue_depth"]["delivered"] == 4);
    worker.kill(SIGTERM);
    CHECK(worker.waitFor(15s) == std::optional<int>(0));
}

TEST_CASE("endpoint: /metrics is valid Prometheus text with deliveries, attempts, latency and queue depth")
{
    Receiver rx({"--script", "/m=503,204", "--script", "/d=400"});
    Fixture fx;
    fx.addTarget("m", rx.url("/m"), kFastRetry);
    fx.addTarget("d", rx.url("/d"), kFastRetry);
    fx.send("m");
    fx.send("m");
    fx.send("d");
    Process worker = fx.startWorker({"--listen", "127.0.0.1:0", "--concurrency", "1"});
    const int port = statusPort(worker);
    REQUIRE(waitUntil([&] { return fx.countStatus("delivered") == 2 && fx.countStatus("dead_letter") == 1; }, 15s));
    fx.send("m");
    REQUIRE(waitUntil([&] { return fx.countStatus("delivered") == 3; }, 15s));

    HttpReply reply;
    std::map<std::string, double> series;
    // The snapshot is cached for a second: wait for the last delivery to show.
    REQUIRE(waitUntil(
        [&] {
            reply = httpGet("127.0.0.1", port, "/metrics");
            series = parsePrometheus(reply.body);
            return series["webhookd_deliveries{target=\"m\",status=\"delivered\"}"] == 3;
        },
        5s));
    CHECK(reply.status == 200);
    CHECK(reply.contentType.find("text/plain; version=0.0.4") == 0);
    CHECK(sample(series, "webhookd_deliveries{target=\"d\",status=\"dead_letter\"}") == 1);
    CHECK(sample(series, "webhookd_queue_depth{status=\"delivered\"}") == 3);
    CHECK(sample(series, "webhookd_queue_depth{status=\"pending\"}") == 0);
    CHECK(sample(series, "webhookd_attempts_total{outcome=\"success\"}") == 3);
    CHECK(sample(series, "webhookd_attempts_total{outcome=\"http_5xx\"}") == 1);
    CHECK(sample(series, "webhookd_attempts_total{outcome=\"http_4xx\"}") == 1);
    CHECK(sample(series, "webhookd_attempt_duration_seconds_count{}") == 5);
    CHECK(sample(series, "webhookd_attempt_duration_seconds_bucket{le=\"+Inf\"}") == 5);
    CHECK(sample(series, "webhookd_delivered_total{}") == 3);
    CHECK(sample(series, "webhookd_dead_lettered_total{}") == 1);
    CHECK(sample(series, "webhookd_in_flight{}") == 0);
    CHECK(sample(series, "webhookd_oldest_due_age_seconds{}") == 0);
    CHECK(sample(series, "webhookd_target_enabled{target=\"m\"}") == 1);

    // promtool, where tools/test.sh could fetch Debian's prometheus package.
    if (const char* promtool = std::getenv("WEBHOOKD_PROMTOOL"); promtool && *promtool) {
        auto r = run({promtool, "check", "metrics"}, reply.body);
        INFO("promtool: " << r.out << r.err);
        CHECK(r.exitCode == 0);
    } else {
        MESSAGE("WEBHOOKD_PROMTOOL is not set; the strict parser alone checked the format");
    }

    HttpReply stats = httpGet("127.0.0.1", port, "/stats");
    CHECK(stats.status == 200);
    json s = json::parse(stats.body);
    CHECK(s["total_deliveries"] == 4);
    CHECK(s["successful_deliveries"] == 3);
    CHECK(s["dead_letter_deliveries"] == 1);

    CHECK(httpGet("127.0.0.1", port, "/nope").status == 404);
    worker.kill(SIGTERM);
    CHECK(worker.waitFor(15s) == std::optional<int>(0));
}

TEST_CASE("endpoint: a bad --listen is a usage error; a port in use fails only when asked for")
{
    Fixture fx;
    for (const char* bad : {"9464", "localhost:", "127.0.0.1:99999", "[::1:80", "127.0.0.1:x"}) {
        CAPTURE(bad);
        auto r = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", fx.db(), "--listen", bad, "--drain"});
        CHECK(r.exitCode == 2);
        CHECK(lines(r.err).size() == 1);
        CHECK(r.err.find("--listen") != std::string::npos);
    }
    Receiver busy; // holds a port
    const std::string taken = "127.0.0.1:" + std::to_string(busy.port());
    auto r = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", fx.db(), "--listen", taken, "--drain"});
    CHECK(r.exitCode == 1);
    CHECK(lines(r.err).size() == 1);
    CHECK(r.err.find("cannot listen on " + taken) != std::string::npos);
}

TEST_CASE("logs: start names the effective configuration; --log-payloads adds payloads to failure lines only")
{
    Receiver rx({"--script", "/p=500,204"});
    Fixture fx;
    fx.addTarget("p", rx.url("/p"), kFastRetry);
    fx.send("p", "pay.load", R"({"card":"4111-PAYLOAD-MARKER"})");
    std::string quiet = fx.drain({"--listen", "off"});
    CHECK(quiet.find("PAYLOAD-MARKER") == std::string::npos);
    auto started = logLines(quiet, "webhookd started");
    REQUIRE(started.size() == 1);
    for (const char* key : {"concurrency", "poll_interval", "default_timeout", "lease", "breaker", "https_only",
                            "max_response_bytes", "private_networks", "log_payloads"})
        CHECK_MESSAGE(started[0].contains(key), key);
    CHECK(logLines(quiet, "attempt failed; retry scheduled").size() == 1);

    fx.send("p", "pay.load", R"({"card":"4111-PAYLOAD-MARKER"})");
    rx.reset();
    std::string loud = fx.drain({"--listen", "off", "--log-payloads"});
    auto failed = logLines(loud, "attempt failed; retry scheduled");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0]["payload"] == R"({"card":"4111-PAYLOAD-MARKER"})");
    CHECK(failed[0]["level"] == "info");
}

TEST_CASE("service: the flags in dist/webhookd.service are ones webhookd accepts")
{
    const char* root = std::getenv("WEBHOOKD_SOURCE_ROOT");
    REQUIRE(root != nullptr);
    std::ifstream unit(std::string(root) + "/dist/webhookd.service");
    REQUIRE(unit.good());
    std::string execStart;
    for (std::string line; std::getline(unit, line);)
        if (line.rfind("ExecStart=", 0) == 0)
            execStart = line.substr(10);
    REQUIRE_FALSE(execStart.empty());
    std::istringstream words(execStart);
    std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKD")};
    std::string word;
    words >> word; // the installed path
    CHECK(word == "/usr/local/bin/webhookd");
    while (words >> word)
        argv.push_back(word == "127.0.0.1:9464" ? "127.0.0.1:0" : word);
    Fixture fx;
    argv.insert(argv.end(), {"--db", fx.db(), "--drain"});
    auto r = run(argv);
    INFO(r.err);
    CHECK(r.exitCode == 0);
}

TEST_CASE("retention: webhookd --retention deletes finished deliveries past it while it keeps delivering")
{
    Receiver rx;
    Fixture fx;
    fx.addTarget("r", rx.url("/r"));
    const int64_t oldOne = fx.send("r");
    const int64_t oldTwo = fx.send("r");
    const int64_t recent = fx.send("r");
    fx.drain({"--listen", "off"});
    fx.sqlExec("UPDATE deliveries SET completed_at = completed_at - 3 * 86400000 WHERE id IN (" +
               std::to_string(oldOne) + ", " + std::to_string(oldTwo) + ")");
    Process worker = fx.startWorker({"--retention", "1d", "--listen", "off"});
    REQUIRE_MESSAGE(waitUntil([&] { return fx.sqlInt("SELECT count(*) FROM deliveries") == 1; }, 10s),
                    worker.stderrText());
    // New work flows meanwhile.
    const int64_t fresh = fx.send("r");
    REQUIRE(waitUntil([&] { return fx.show(fresh)["status"] == "delivered"; }, 10s));
    worker.kill(SIGTERM);
    REQUIRE(worker.waitFor(15s) == std::optional<int>(0));

    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE id = " + std::to_string(recent)) == 1);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts WHERE delivery_id IN (" + std::to_string(oldOne) + ", " +
                    std::to_string(oldTwo) + ")") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM events") == 2);
    auto purged = logLines(worker.stderrText(), "retention: deleted finished deliveries");
    REQUIRE(purged.size() == 1);
    CHECK(purged[0]["deliveries"] == 2);
    CHECK(purged[0]["events"] == 2);
}
