#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// Operability end to end: the circuit breaker and 410 Gone on a real
// receiver, webhookd's /healthz, /metrics and /stats over loopback, and the
// log lines. Real binaries, a real SQLite file; nothing mocked.

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "support/fixture.h"
#include "support/raw_socket.h"

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

// Every series name and its labels, one a line: for checks of what is absent.
std::string text(const std::map<std::string, double>& series)
{
    std::string out;
    for (const auto& [key, value] : series)
        out += key + "\n";
    return out;
}

// The version webhookd prints for --version ("webhookd 0.2.0" -> "0.2.0").
std::string webhookdVersion()
{
    const auto r = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--version"});
    REQUIRE(r.exitCode == 0);
    const std::string line = lines(r.out).at(0);
    return line.substr(line.rfind(' ') + 1);
}

// promtool check metrics, where tools/test.sh could fetch Debian's
// prometheus package (WEBHOOKD_PROMTOOL); the strict parser above otherwise.
void promtoolAccepts(const std::string& exposition)
{
    if (const char* promtool = std::getenv("WEBHOOKD_PROMTOOL"); promtool && *promtool) {
        auto r = run({promtool, "check", "metrics"}, exposition);
        INFO("promtool: " << r.out << r.err);
        CHECK(r.exitCode == 0);
    } else {
        MESSAGE("WEBHOOKD_PROMTOOL is not set; the strict parser alone checked the format");
    }
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
    Receiver rx({"--script", "/m=503,204", "--script", "/d=400", "--script", "/t=429;retry-after=1,204"});
    Fixture fx;
    fx.addTarget("m", rx.url("/m"), kFastRetry);
    fx.addTarget("d", rx.url("/d"), kFastRetry);
    fx.addTarget("t", rx.url("/t"), kFastRetry);
    fx.send("m");
    fx.send("m");
    fx.send("d");
    fx.send("t");
    Process worker = fx.startWorker({"--listen", "127.0.0.1:0", "--concurrency", "1"});
    const int port = statusPort(worker);
    REQUIRE(waitUntil([&] { return fx.countStatus("delivered") == 3 && fx.countStatus("dead_letter") == 1; }, 15s));
    fx.send("m");
    REQUIRE(waitUntil([&] { return fx.countStatus("delivered") == 4; }, 15s));

    HttpReply reply;
    std::map<std::string, double> series;
    // The snapshot is cached for a second: wait for the last delivery to show.
    REQUIRE(waitUntil(
        [&] {
            reply = httpGet("127.0.0.1", port, "/metrics");
            series = parsePrometheus(reply.body);
            return series["webhookd_deliveries{target=\"m\",status=\"delivered\"}"] == 3 &&
                series["webhookd_deliveries{target=\"t\",status=\"delivered\"}"] == 1;
        },
        5s));
    CHECK(reply.status == 200);
    CHECK(reply.contentType.find("text/plain; version=0.0.4") == 0);
    CHECK(sample(series, "webhookd_deliveries{target=\"d\",status=\"dead_letter\"}") == 1);
    CHECK(sample(series, "webhookd_queue_depth{status=\"delivered\"}") == 4);
    CHECK(sample(series, "webhookd_queue_depth{status=\"pending\"}") == 0);
    // Per target, what each attempt made of its delivery.
    CHECK(sample(series, "webhookd_attempts_total{target=\"m\",outcome=\"delivered\"}") == 3);
    CHECK(sample(series, "webhookd_attempts_total{target=\"m\",outcome=\"failed\"}") == 1);
    CHECK(sample(series, "webhookd_attempts_total{target=\"d\",outcome=\"dead_letter\"}") == 1);
    CHECK(sample(series, "webhookd_attempts_total{target=\"t\",outcome=\"throttled\"}") == 1);
    CHECK(sample(series, "webhookd_attempts_total{target=\"t\",outcome=\"delivered\"}") == 1);
    CHECK(series.count("webhookd_attempts_total{target=\"d\",outcome=\"delivered\"}") == 0);
    // And what each attempt's answer was.
    CHECK(sample(series, "webhookd_attempt_results_total{result=\"success\"}") == 4);
    CHECK(sample(series, "webhookd_attempt_results_total{result=\"http_5xx\"}") == 1);
    CHECK(sample(series, "webhookd_attempt_results_total{result=\"http_4xx\"}") == 2);
    CHECK(sample(series, "webhookd_attempt_duration_seconds_count{}") == 7);
    CHECK(sample(series, "webhookd_attempt_duration_seconds_bucket{le=\"+Inf\"}") == 7);
    CHECK(sample(series,
                 "webhookd_build_info{version=\"" + webhookdVersion() + "\",backend=\"" +
                     (fx.isPostgres() ? "postgres" : "sqlite") + "\"}") == 1);
    // This process serves no API: no API series.
    CHECK(text(series).find("webhookd_api_") == std::string::npos);
    CHECK(sample(series, "webhookd_delivered_total{}") == 4);
    CHECK(sample(series, "webhookd_dead_lettered_total{}") == 1);
    CHECK(sample(series, "webhookd_in_flight{}") == 0);
    CHECK(sample(series, "webhookd_oldest_due_age_seconds{}") == 0);
    CHECK(sample(series, "webhookd_target_enabled{target=\"m\"}") == 1);

    promtoolAccepts(reply.body);

    HttpReply stats = httpGet("127.0.0.1", port, "/stats");
    CHECK(stats.status == 200);
    json s = json::parse(stats.body);
    CHECK(s["total_deliveries"] == 5);
    CHECK(s["successful_deliveries"] == 4);
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

// ---------------------------------------------------------------- configuration from the environment

namespace {

std::string webhookdBin() { return binary("WEBHOOKD_BIN_WEBHOOKD"); }

// The "webhookd started" line of a webhookd --drain run on fx's (empty)
// store with flags and env; REQUIREs exit 0.
json startedWith(const Fixture& fx, std::vector<std::string> flags, std::map<std::string, std::string> env)
{
    env.emplace("WEBHOOKD_DB", fx.db());
    std::vector<std::string> argv = {webhookdBin(), "--drain", "--listen", "off", "--log-format", "json"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto r = run(argv, {}, env);
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
    auto started = logLines(r.err, "webhookd started");
    REQUIRE(started.size() == 1);
    return started[0];
}

} // namespace

TEST_CASE("env: every flag of webhookd has a WEBHOOKD_* twin, which --help shows")
{
    const auto r = run({webhookdBin(), "--help"});
    REQUIRE(r.exitCode == 0);
    static const std::regex kFlag(R"(^\s+(--[a-z0-9-]+))");
    int flags = 0;
    for (const auto& line : lines(r.out)) {
        std::smatch m;
        if (!std::regex_search(line, m, kFlag) || m[1] == "--help" || m[1] == "--version")
            continue;
        std::string twin = "WEBHOOKD_";
        for (char c : m[1].str().substr(2))
            twin += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        CAPTURE(line);
        CHECK(contains(line, "(Env:" + twin + ")"));
        ++flags;
    }
    CHECK(flags >= 30);
    CHECK(contains(r.out, "(Env:WEBHOOKD_API_LISTEN)"));
    CHECK(contains(r.out, "(Env:WEBHOOKD_DB)"));
}

TEST_CASE("env: WEBHOOKD_* variables configure webhookd as its flags do")
{
    Receiver rx;
    Fixture fx;
    fx.addTarget("e", rx.url("/e"));
    const int64_t id = fx.send("e");
    // No flag at all: the store, the status listener, JSON logs, loopback
    // allowed and the rest come from the environment.
    Process worker = Process::start({webhookdBin()},
                                    {{"WEBHOOKD_DB", fx.db()},
                                     {"WEBHOOKD_LISTEN", "127.0.0.1:0"},
                                     {"WEBHOOKD_LOG_FORMAT", "json"},
                                     {"WEBHOOKD_ALLOW_PRIVATE_NETWORKS", "true"},
                                     {"WEBHOOKD_CONCURRENCY", "3"},
                                     {"WEBHOOKD_POLL_INTERVAL", "100ms"},
                                     {"WEBHOOKD_HTTPS_ONLY", "0"}});
    const int port = statusPort(worker);
    CHECK(httpGet("127.0.0.1", port, "/livez").status == 200);
    REQUIRE_MESSAGE(waitUntil([&] { return fx.show(id)["status"] == "delivered"; }, 10s), worker.stderrText());
    auto started = logLines(worker.stderrText(), "webhookd started");
    REQUIRE(started.size() == 1);
    CHECK(started[0]["concurrency"] == 3);
    CHECK(started[0]["poll_interval"] == "100ms");
    CHECK(started[0]["https_only"] == false);
    CHECK(started[0]["private_networks"] == "allowed");
    worker.kill(SIGTERM);
    CHECK(worker.waitFor(15s) == std::optional<int>(0));
}

TEST_CASE("env: the command line wins over the environment, and a WEBHOOKD_* name over the original one")
{
    Fixture fx;
    CHECK(startedWith(fx, {}, {{"WEBHOOKD_CONCURRENCY", "3"}})["concurrency"] == 3);
    CHECK(startedWith(fx, {"--concurrency", "5"}, {{"WEBHOOKD_CONCURRENCY", "3"}})["concurrency"] == 5);
    // The original names keep working: plain counts and milliseconds.
    const json old = startedWith(
        fx, {},
        {{"WEBHOOK_MAX_CONCURRENT", "4"}, {"WEBHOOK_QUEUE_INTERVAL", "250"}, {"WEBHOOK_DEFAULT_TIMEOUT", "45000"}});
    CHECK(old["concurrency"] == 4);
    CHECK(old["poll_interval"] == "250ms");
    CHECK(old["default_timeout"] == "45s");
    CHECK(startedWith(fx, {}, {{"WEBHOOK_MAX_CONCURRENT", "4"}, {"WEBHOOKD_CONCURRENCY", "6"}})["concurrency"] == 6);
    CHECK(startedWith(fx, {}, {{"WEBHOOK_QUEUE_INTERVAL", "250"}, {"WEBHOOKD_POLL_INTERVAL", "2s"}})["poll_interval"] ==
          "2s");
    CHECK(startedWith(fx, {"--default-timeout", "5s"}, {{"WEBHOOK_DEFAULT_TIMEOUT", "45000"}})["default_timeout"] ==
          "5s");
    // Flags take 1, 0, true or false; the command line still wins.
    CHECK(startedWith(fx, {}, {{"WEBHOOKD_HTTPS_ONLY", "TRUE"}})["https_only"] == true);
    CHECK(startedWith(fx, {}, {{"WEBHOOKD_HTTPS_ONLY", "0"}})["https_only"] == false);
    CHECK(startedWith(fx, {"--https-only"}, {{"WEBHOOKD_HTTPS_ONLY", "false"}})["https_only"] == true);
    // Repeatable options take a list.
    CHECK(startedWith(fx, {},
                      {{"WEBHOOKD_DENY_NETWORK", "10.1.0.0/16, 10.2.0.0/16,192.168.7.0/24"}})["denied_networks"] == 3);
    // An empty variable is no value.
    CHECK(startedWith(fx, {}, {{"WEBHOOKD_CONCURRENCY", ""}, {"WEBHOOK_MAX_CONCURRENT", "7"}})["concurrency"] == 7);
}

TEST_CASE("env: a bad value in a variable is one sentence naming the variable, exit 2")
{
    Fixture fx;
    struct Case {
        std::map<std::string, std::string> env;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{{"WEBHOOKD_CONCURRENCY", "lots"}}, "WEBHOOKD_CONCURRENCY must be a whole number from 1 to 10,000"},
        {{{"WEBHOOK_MAX_CONCURRENT", "0"}}, "WEBHOOK_MAX_CONCURRENT must be a whole number from 1 to 10,000"},
        // The original name wins nothing over a bad twin: the twin is read first.
        {{{"WEBHOOKD_CONCURRENCY", "-1"}, {"WEBHOOK_MAX_CONCURRENT", "4"}}, "WEBHOOKD_CONCURRENCY must be"},
        {{{"WEBHOOK_QUEUE_INTERVAL", "soon"}}, "WEBHOOK_QUEUE_INTERVAL must be a duration"},
        // The twin takes what the flag takes: a duration with its unit.
        {{{"WEBHOOKD_POLL_INTERVAL", "250"}}, "WEBHOOKD_POLL_INTERVAL must be a duration"},
        {{{"WEBHOOKD_HTTPS_ONLY", "yes"}}, "WEBHOOKD_HTTPS_ONLY must be 1, 0, true or false (not 'yes')"},
        {{{"WEBHOOKD_LOG_FORMAT", "xml"}}, "WEBHOOKD_LOG_FORMAT must be text or json"},
        {{{"WEBHOOKD_LISTEN", "9464"}}, "WEBHOOKD_LISTEN needs HOST:PORT"},
        {{{"WEBHOOKD_BUSY_TIMEOUT", "2d"}}, "WEBHOOKD_BUSY_TIMEOUT must be at most 24h"},
        {{{"WEBHOOKD_ALLOW_NETWORK", "10.0.0.0/8,nonsense"}}, "WEBHOOKD_ALLOW_NETWORK: "},
        {{{"WEBHOOKD_NO_DELIVER", "1"}}, "WEBHOOKD_NO_DELIVER serves the API only, so it needs --api-listen"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.says);
        auto env = c.env;
        env.emplace("WEBHOOKD_DB", fx.db());
        const auto r = run({webhookdBin(), "--drain"}, {}, env);
        CHECK(r.exitCode == 2);
        CHECK_MESSAGE(oneSentence(r.err, "webhookd"), r.err);
        CHECK_MESSAGE(contains(r.err, c.says), r.err);
    }
    // A flag given on the command line is the value checked, not the variable's.
    CHECK(startedWith(fx, {"--concurrency", "2"}, {{"WEBHOOKD_CONCURRENCY", "lots"}})["concurrency"] == 2);
}

// ---------------------------------------------------------------- calm logs

TEST_CASE("logs: an idle worker writes nothing after starting; one that works logs its progress")
{
    Receiver rx;
    Fixture fx;
    fx.addTarget("p", rx.url("/p"));
    Process worker = fx.startWorker({"--listen", "127.0.0.1:0", "--progress-interval", "100ms"});
    const int port = statusPort(worker);
    // The loop's own clock, from /metrics: it turns every few milliseconds.
    auto lastTick = [&] {
        const auto series = parsePrometheus(httpGet("127.0.0.1", port, "/metrics").body);
        return sample(series, "webhookd_last_tick_timestamp_seconds{}");
    };
    // Until the loop has turned through ten progress intervals.
    auto idleFor = [&](double seconds) {
        const double from = lastTick();
        REQUIRE(from > 0);
        REQUIRE(waitUntil([&] { return lastTick() >= from + seconds; }, 20s));
    };
    REQUIRE(waitUntil([&] { return firstClaimDone(port); }, 10s));
    const auto startup = lines(worker.stderrText());
    idleFor(1.0);
    CHECK_MESSAGE(lines(worker.stderrText()) == startup, worker.stderrText());
    CHECK(logLines(worker.stderrText(), "progress").empty());

    // Work: a progress line says what was done, with numbers as numbers.
    fx.send("p");
    REQUIRE(waitUntil([&] { return !logLines(worker.stderrText(), "progress").empty(); }, 10s));
    const json progress = logLines(worker.stderrText(), "progress").at(0);
    CHECK(progress["attempts"] == 1);
    CHECK(progress["delivered"] == 1);
    CHECK(progress["in_flight"] == 0);

    // Idle again: silent again.
    const auto worked = lines(worker.stderrText());
    idleFor(1.0);
    CHECK_MESSAGE(lines(worker.stderrText()) == worked, worker.stderrText());
    worker.kill(SIGTERM);
    CHECK(worker.waitFor(15s) == std::optional<int>(0));
}

// ---------------------------------------------------------------- the API's access log and metrics

namespace {

// One request on a new connection to the API; the whole answer.
std::string request(int port, const std::string& method, const std::string& target, const std::string& token = "")
{
    int fd = connectTo(port);
    REQUIRE(fd >= 0);
    std::string head = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!token.empty())
        head += "Authorization: Bearer " + token + "\r\n";
    sendAll(fd, head + "\r\n");
    auto r = readAnswers(fd, 1, 5s);
    ::close(fd);
    return r.bytes;
}

} // namespace

TEST_CASE("api: one access line per request, with route pattern, status, duration and key name, never the token")
{
    Fixture fx;
    const auto created = lines(fx.ctlOk({"api-key", "create", "ops-reader", "--scope", "read"}));
    const std::string token = created.back();
    REQUIRE(startsWith(token, "whk_"));
    fx.addTarget("t1", "https://example.com/hook");
    Process worker = fx.startWorker({"--api-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"});
    const int api = loggedPort(worker, "api listening");
    const int status = statusPort(worker);

    CHECK(startsWith(request(api, "GET", "/api/v1/targets/t1", token), "HTTP/1.1 200"));
    CHECK(startsWith(request(api, "GET", "/api/v1/targets?limit=5", token), "HTTP/1.1 200"));
    CHECK(startsWith(request(api, "GET", "/api/v1/deliveries"), "HTTP/1.1 401"));
    // A careless client puts the token in the query: refused, and not logged.
    CHECK(startsWith(request(api, "GET", "/api/v1/targets?api_key=" + token), "HTTP/1.1 401"));
    CHECK(startsWith(request(api, "GET", "/api/v1/nothing/here/42", token), "HTTP/1.1 404"));
    CHECK(startsWith(request(api, "DELETE", "/api/v1/stats", token), "HTTP/1.1 405"));
    CHECK(startsWith(request(api, "GET", "/"), "HTTP/1.1 200"));
    CHECK(startsWith(request(api, "GET", "/api/v1/health"), "HTTP/1.1 200"));

    std::vector<json> access;
    REQUIRE(waitUntil([&] { return (access = logLines(worker.stderrText(), "api request")).size() >= 8; }, 5s));
    CHECK(access.size() == 8);
    for (const auto& line : access) {
        CAPTURE(line.dump());
        CHECK(line["level"] == "info");
        CHECK(line["status"].is_number_integer());
        CHECK(line["duration_ms"].is_number());
        CHECK(line["duration_ms"] >= 0);
        CHECK(line["key"].is_string());
        CHECK_FALSE(contains(line["route"].get<std::string>(), "t1"));
    }
    auto find = [&](const std::string& method, const std::string& route, int code) {
        for (const auto& line : access)
            if (line["method"] == method && line["route"] == route && line["status"] == code)
                return line;
        FAIL("no access line for " << method << " " << route << " " << code);
        return json();
    };
    const json one = find("GET", "/api/v1/targets/{id}", 200);
    CHECK(one["key"] == "ops-reader");
    CHECK(startsWith(one["key_id"].get<std::string>(), "key_"));
    CHECK(find("GET", "/api/v1/targets", 200)["key"] == "ops-reader");
    CHECK(find("GET", "/api/v1/deliveries", 401)["key"] == "-");
    CHECK(find("GET", "/api/v1/targets", 401)["key"] == "-");
    CHECK(find("GET", "other", 404)["key"] == "-");
    CHECK(find("DELETE", "/api/v1/stats", 405)["key"] == "-");
    CHECK(find("GET", "/", 200)["key"] == "-");
    CHECK(find("GET", "/api/v1/health", 200)["key"] == "-");
    // The token, or its secret half, appears nowhere in the log.
    const std::string log = worker.stderrText();
    CHECK_FALSE(contains(log, token));
    REQUIRE(tokenSecret(token).size() >= 32);
    CHECK_FALSE(contains(log, tokenSecret(token)));

    // /metrics of the same process counts them by route and status.
    std::map<std::string, double> series;
    std::string exposition;
    REQUIRE(waitUntil(
        [&] {
            exposition = httpGet("127.0.0.1", status, "/metrics").body;
            series = parsePrometheus(exposition);
            return series.count(
                "webhookd_api_requests_total{method=\"GET\",route=\"/api/v1/targets/{id}\",status=\"200\"}");
        },
        5s));
    promtoolAccepts(exposition);
    CHECK(sample(series, "webhookd_api_requests_total{method=\"GET\",route=\"/api/v1/targets/{id}\",status=\"200\"}") ==
          1);
    CHECK(sample(series, "webhookd_api_requests_total{method=\"GET\",route=\"/api/v1/deliveries\",status=\"401\"}") ==
          1);
    CHECK(sample(series, "webhookd_api_requests_total{method=\"GET\",route=\"other\",status=\"404\"}") == 1);
    CHECK(sample(series, "webhookd_api_requests_total{method=\"DELETE\",route=\"/api/v1/stats\",status=\"405\"}") == 1);
    CHECK(sample(series, "webhookd_api_request_duration_seconds_count{route=\"/api/v1/targets/{id}\"}") == 1);
    CHECK(sample(series, "webhookd_api_request_duration_seconds_bucket{route=\"/api/v1/targets/{id}\",le=\"+Inf\"}") ==
          1);
    CHECK(sample(series, "webhookd_api_request_duration_seconds_count{route=\"/api/v1/targets\"}") == 2);
    for (const auto& [key, value] : series)
        if (startsWith(key, "webhookd_api_"))
            CHECK_FALSE(contains(key, "t1")); // patterns, not paths
    worker.kill(SIGTERM);
    CHECK(worker.waitFor(15s) == std::optional<int>(0));
}

TEST_CASE("api: an API-only process serves /metrics where --listen says, and only then")
{
    Fixture fx;
    Process quiet = fx.startWorker({"--no-deliver", "--api-listen", "127.0.0.1:0"});
    loggedPort(quiet, "api listening");
    REQUIRE(waitUntil(
        [&] { return !logLines(quiet.stderrText(), "webhookd started without delivering (--no-deliver)").empty(); },
        10s));
    CHECK(logLines(quiet.stderrText(), "status endpoint listening").empty());
    quiet.kill(SIGTERM);
    CHECK(quiet.waitFor(15s) == std::optional<int>(0));

    Process apiOnly = fx.startWorker({"--no-deliver", "--api-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"});
    const int api = loggedPort(apiOnly, "api listening");
    const int status = statusPort(apiOnly);
    CHECK(startsWith(request(api, "GET", "/api/v1/health"), "HTTP/1.1 200"));
    std::map<std::string, double> series;
    std::string exposition;
    REQUIRE(waitUntil(
        [&] {
            exposition = httpGet("127.0.0.1", status, "/metrics").body;
            series = parsePrometheus(exposition);
            return series.count("webhookd_api_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"200\"}");
        },
        5s));
    promtoolAccepts(exposition);
    CHECK(sample(series,
                 "webhookd_build_info{version=\"" + webhookdVersion() + "\",backend=\"" +
                     (fx.isPostgres() ? "postgres" : "sqlite") + "\"}") == 1);
    CHECK(series.count("webhookd_queue_depth{status=\"pending\"}") == 1);
    // Nothing of a delivery loop it does not run.
    CHECK_FALSE(contains(text(series), "webhookd_attempt"));
    CHECK_FALSE(contains(text(series), "webhookd_last_tick"));
    CHECK(httpGet("127.0.0.1", status, "/livez").status == 200);
    CHECK(httpGet("127.0.0.1", status, "/readyz").status == 200);
    CHECK(httpGet("127.0.0.1", status, "/healthz").status == 404);
    apiOnly.kill(SIGTERM);
    CHECK(apiOnly.waitFor(15s) == std::optional<int>(0));
}
