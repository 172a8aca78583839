// What only PostgreSQL has, end to end against a real server the test starts
// itself (tests/support/postgres.h): the schema beside SQLite's, many
// workers on one database, a server restart mid-run, a worker whose clock
// is an hour off, and migrate-store. The tests that both backends pass run
// twice (the "-pg" twins in tests/e2e/meson.build).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.h"
#include "storage/events.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "support/fixture.h"
#include "support/postgres.h"
#include "support/process.h"
#include "support/raw_sql.h"

using namespace webhookd;
using namespace webhookd::test;
using nlohmann::json;

namespace {

FixtureOptions onDatabase(const std::string& url)
{
    FixtureOptions o;
    o.dbPath = url;
    return o;
}

std::set<std::string> rowsAsSet(const std::vector<std::vector<std::string>>& rows)
{
    std::set<std::string> out;
    for (const auto& r : rows) {
        std::string s;
        for (const auto& c : r)
            s += c + ".";
        out.insert(s);
    }
    return out;
}

// The "attempts=N" of a stopped worker's last log line.
int64_t attemptsLogged(const std::string& stderrText)
{
    for (const auto& l : lines(stderrText)) {
        auto j = json::parse(l, nullptr, false);
        if (j.is_object() && j.value("msg", "") == "webhookd stopped")
            return j.value("attempts", int64_t{0});
    }
    return -1;
}

} // namespace

TEST_CASE("postgres: the schema has the same tables, columns and views as SQLite's")
{
    TempDir dir;
    Fixture lite(onDatabase(dir.file("lite.db")));
    Fixture pg(onDatabase(freshPostgresDatabase()));
    REQUIRE(pg.isPostgres());
    const auto liteColumns =
        rowsAsSet(lite.sqlRows("SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p"
                               " WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'"));
    const auto pgColumns =
        rowsAsSet(pg.sqlRows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema ="
                             " current_schema() AND table_name <> 'webhookd_migrations'"));
    CHECK(liteColumns.size() > 100);
    CHECK(liteColumns == pgColumns);
    CHECK(
        rowsAsSet(lite.sqlRows("SELECT name FROM sqlite_master WHERE type = 'view'")) ==
        rowsAsSet(pg.sqlRows("SELECT table_name FROM information_schema.views WHERE table_schema = current_schema()")));
    CHECK(rowsAsSet(lite.sqlRows("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")) ==
          rowsAsSet(pg.sqlRows("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                               " AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'")));
    CHECK(pg.sqlInt("SELECT max(version) FROM webhookd_migrations") == lite.sqlInt("PRAGMA user_version"));
    // The same example query answers the same on both.
    for (Fixture* f : {&lite, &pg}) {
        f->addTarget("a", "http://example.com/a");
        f->send("a", "order.paid", R"({"n": 1})");
    }
    const std::string q = "SELECT event_type, target_id, status, attempt_count FROM delivery_history";
    CHECK(lite.sqlRows(q) == pg.sqlRows(q));
    CHECK(pg.sqlText("SELECT payload FROM events") == R"({"n": 1})"); // json keeps the bytes as sent
}

TEST_CASE("postgres: four workers deliver 20,000 events exactly once")
{
    Fixture fx(onDatabase(freshPostgresDatabase()));
    // A thread for each of the 4 x 32 connections: a request queued behind
    // busy threads for the 30 s timeout is retried, and counts twice here.
    Receiver rx({"--quiet", "--threads", "160"});
    fx.addTarget("t", rx.url("/ok"));
    fx.sendBatch("t", 20000);
    std::vector<Process> workers;
    for (int i = 0; i < 4; ++i)
        workers.push_back(fx.startWorker({"--concurrency", "32", "--listen", "127.0.0.1:0"}));
    const bool done = waitUntil([&] { return fx.countStatus("delivered") == 20000; }, 240s, 250ms);
    std::vector<int64_t> perWorker;
    for (auto& w : workers) {
        w.kill(SIGTERM);
        w.wait();
        perWorker.push_back(attemptsLogged(w.stderrText()));
    }
    REQUIRE_MESSAGE(done, "delivered: " << fx.countStatus("delivered"));
    const json stats = rx.stats();
    CHECK(stats["requests"] == 20000);
    CHECK(stats["distinct_ids"] == 20000);
    CHECK(stats["duplicate_ids"] == 0);
    CHECK(fx.count("attempts") == 20000);
    int64_t total = 0;
    for (int64_t n : perWorker) {
        CHECK(n > 0); // every worker took part
        total += n;
    }
    CHECK(total == 20000);
}

TEST_CASE("postgres: two workers with four delivery threads each deliver 10,000 events exactly once")
{
    Fixture fx(onDatabase(freshPostgresDatabase()));
    Receiver rx({"--quiet", "--threads", "160"});
    fx.addTarget("t", rx.url("/ok"));
    fx.sendBatch("t", 10000);
    Process a = fx.startWorker({"--drain", "--concurrency", "64", "--threads", "4", "--listen", "127.0.0.1:0"});
    Process b = fx.startWorker({"--drain", "--concurrency", "64", "--threads", "4", "--listen", "127.0.0.1:0"});
    auto codeA = a.waitFor(240s);
    auto codeB = b.waitFor(240s);
    INFO("worker a stderr: " << a.stderrText());
    INFO("worker b stderr: " << b.stderrText());
    REQUIRE(codeA == 0);
    REQUIRE(codeB == 0);
    CHECK(fx.countStatus("delivered") == 10000);
    const json stats = rx.stats();
    CHECK(stats["requests"] == 10000);
    CHECK(stats["distinct_ids"] == 10000);
    CHECK(stats["duplicate_ids"] == 0);
    CHECK(fx.count("attempts") == 10000);
    const int64_t byA = attemptsLogged(a.stderrText()), byB = attemptsLogged(b.stderrText());
    CHECK(byA > 0);
    CHECK(byB > 0);
    CHECK(byA + byB == 10000);
}

TEST_CASE("postgres: the server restarts mid-run; the workers reconnect and nothing is lost")
{
    PgServer server;
    Fixture fx(onDatabase(server.createDatabase()));
    Receiver rx({"--quiet"});
    fx.addTarget("t", rx.url("/ok"));
    fx.sendBatch("t", 3000);
    std::vector<Process> workers;
    for (int i = 0; i < 2; ++i)
        workers.push_back(fx.startWorker({"--concurrency", "8", "--listen", "127.0.0.1:0"}));
    REQUIRE(waitUntil([&] { return rx.stats()["requests"].get<int64_t>() > 300; }, 60s));
    server.stop(); // a fast shutdown: every connection is cut
    std::this_thread::sleep_for(2s);
    for (auto& w : workers)
        CHECK(w.running()); // waiting for the server, not dead
    server.start();
    const bool done = waitUntil([&] { return fx.countStatus("delivered") == 3000; }, 120s, 250ms);
    for (auto& w : workers) {
        w.kill(SIGTERM);
        CHECK(w.wait() == 0);
    }
    REQUIRE_MESSAGE(done, "delivered: " << fx.countStatus("delivered"));
    CHECK(rx.stats()["distinct_ids"] == 3000);
    CHECK(fx.count("deliveries WHERE status <> 'delivered'") == 0);
    bool sawReconnect = false;
    for (auto& w : workers)
        sawReconnect = sawReconnect || contains(w.stderrText(), "storage failure");
    CHECK(sawReconnect); // the cut was felt, and outlived
}

namespace {

// Debian's multiarch folder name of this build, such as x86_64-linux-gnu.
std::string multiarchTriplet()
{
    const RunResult r = run({"gcc", "-print-multiarch"});
    return r.exitCode == 0 && !r.out.empty() ? lines(r.out).at(0) : "x86_64-linux-gnu";
}

} // namespace

TEST_CASE("postgres: a worker whose own clock is an hour behind honours the server's schedule")
{
    Fixture fx(onDatabase(freshPostgresDatabase()));
    Receiver rx({"--quiet", "--script", "/flaky=500,200"});
    fx.addTarget("t", rx.url("/flaky"), {"--initial-delay", "3s", "--jitter", "0"});
    const int64_t sentAt = wallClockMs();
    const int64_t id = fx.send("t");
    // Debian's libfaketime: every clock of the process an hour behind the
    // server's. Preloaded into webhookd itself, not through the faketime
    // wrapper, which forks: a signal to the wrapper would leave webhookd
    // running after the test.
    const auto lib = std::filesystem::path("/usr/lib") / multiarchTriplet() / "faketime/libfaketime.so.1";
    REQUIRE_MESSAGE(std::filesystem::exists(lib), lib << " is missing (Debian's libfaketime)");
    auto w = Process::start({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", fx.db(), "--allow-private-networks",
                             "--poll-interval", "100ms", "--listen", "127.0.0.1:0", "--log-format", "json"},
                            {{"LD_PRELOAD", lib.string()}, {"FAKETIME", "-1h"}});
    const bool done = waitUntil([&] { return fx.show(id)["status"] == "delivered"; }, 30s, 100ms);
    w.kill(SIGTERM);
    w.wait();
    INFO(w.stderrText());
    REQUIRE(done); // on its own clock the event was due an hour from now
    auto attempts = fx.sqlRows("SELECT started_at FROM attempts ORDER BY number");
    REQUIRE(attempts.size() == 2);
    const int64_t first = std::stoll(attempts[0][0]), second = std::stoll(attempts[1][0]);
    CHECK(std::llabs(first - sentAt) < 10'000); // stored on the server's clock, not an hour back
    CHECK(second - first >= 2'900);             // the retry waited its 3 s
    CHECK(second - first < 10'000);
}

TEST_CASE("postgres: migrate-store copies a SQLite store, history included, and checks the counts")
{
    TempDir dir;
    Fixture lite(onDatabase(dir.file("lite.db")));
    Receiver rx({"--quiet", "--script", "/flaky=500,200", "--script", "/gone=410"});
    lite.addTarget("ok", rx.url("/ok"), kFastRetry);
    lite.addTarget("flaky", rx.url("/flaky"), kFastRetry);
    lite.addTarget("gone", rx.url("/gone"), kFastRetry);
    lite.sendBatch("ok", 50);
    lite.send("flaky");
    lite.send("gone");
    lite.drain();
    lite.sendBatch("ok", 5, "later.event"); // still pending
    lite.ctlOk({"api-key", "create", "ops", "--scope", "read"});

    const std::string url = freshPostgresDatabase();
    auto r = lite.ctl({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", url});
    INFO(describe({"migrate-store"}, r));
    REQUIRE(r.exitCode == 0);
    Fixture pg(onDatabase(url));
    for (const char* t : {"targets", "events", "deliveries", "attempts", "dead_letters", "api_keys", "stats_minutely"})
        CHECK_MESSAGE(pg.count(t) == lite.count(t), t);
    const std::string q = "SELECT delivery_id, event_uid, target_id, status, attempt_count, created_at"
                          " FROM delivery_history ORDER BY delivery_id";
    CHECK(pg.sqlRows(q) == lite.sqlRows(q));
    CHECK(pg.sqlRows("SELECT secret FROM targets ORDER BY id") ==
          lite.sqlRows("SELECT secret FROM targets ORDER BY id"));
    // The copy carries on: new ids continue after the copied ones, the
    // pending deliveries go out from PostgreSQL.
    const int64_t fresh = pg.send("ok");
    CHECK(fresh > lite.sqlInt("SELECT max(id) FROM deliveries"));
    pg.drain();
    CHECK(pg.countStatus("delivered") == lite.countStatus("delivered") + 6);

    // A second copy into a store that holds data is refused, with nothing written.
    const int64_t before = pg.count("deliveries");
    auto again = lite.ctl({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", url});
    CHECK(again.exitCode != 0);
    CHECK(oneSentence(again.err, "webhookctl"));
    CHECK(pg.count("deliveries") == before);
}

namespace {

// A TCP relay on loopback to the database, which can be cut: its
// connections are reset and new ones refused, as when a worker's host loses
// its route to the server.
class Relay {
public:
    explicit Relay(int targetPort)
        : target_(targetPort)
    {
        listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_, 16) == 0);
        socklen_t len = sizeof a;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        accepter_ = std::thread([this] { acceptLoop(); });
    }
    ~Relay()
    {
        cut();
        accepter_.join();
        for (auto& t : pumps_)
            t.join();
    }
    int port() const { return port_; }
    void cut()
    {
        if (cut_.exchange(true))
            return;
        ::shutdown(listen_, SHUT_RDWR);
        ::close(listen_);
        std::lock_guard<std::mutex> lock(m_);
        for (int fd : open_) {
            linger l{1, 0}; // RST
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            ::shutdown(fd, SHUT_RDWR);
        }
    }

private:
    void acceptLoop()
    {
        for (;;) {
            const int c = ::accept(listen_, nullptr, nullptr);
            if (c < 0 || cut_)
                return;
            const int s = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<uint16_t>(target_));
            if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                ::close(c);
                ::close(s);
                continue;
            }
            std::lock_guard<std::mutex> lock(m_);
            open_.insert(open_.end(), {c, s});
            pumps_.emplace_back([c, s] {
                pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
                char buf[16384];
                while (::poll(p, 2, -1) > 0) {
                    for (int i = 0; i < 2; ++i)
                        if (p[i].revents) {
                            const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
                            if (n <= 0 || ::write(p[1 - i].fd, buf, static_cast<size_t>(n)) != n) {
                                ::close(c);
                                ::close(s);
                                return;
                            }
                        }
                }
            });
        }
    }

    int target_;
    int listen_ = -1;
    int port_ = 0;
    std::atomic<bool> cut_{false};
    std::mutex m_;
    std::vector<int> open_;
    std::thread accepter_;
    std::vector<std::thread> pumps_;
};

} // namespace

TEST_CASE("postgres: a worker cut off from the database stops claiming; its leases come back to the others")
{
    const std::string url = freshPostgresDatabase(); // postgresql://webhookd@127.0.0.1:PORT/NAME
    const auto colon = url.find(':', url.find('@'));
    const auto slash = url.find('/', colon);
    const int pgPort = std::stoi(url.substr(colon + 1, slash - colon - 1));
    Relay relay(pgPort);
    const std::string viaRelay = url.substr(0, colon + 1) + std::to_string(relay.port()) + url.substr(slash);

    Fixture fx(onDatabase(url));
    Receiver rx({"--quiet", "--script", "/slow=200;delay=2000"});
    fx.addTarget("t", rx.url("/slow"), {"--timeout", "5s"});
    fx.sendBatch("t", 100);
    auto cutOff = Process::start({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", viaRelay, "--allow-private-networks",
                                  "--concurrency", "10", "--lease", "5s", "--poll-interval", "100ms", "--listen",
                                  "127.0.0.1:0", "--log-format", "json"});
    const bool holding = waitUntil([&] { return fx.countStatus("in_progress") >= 5; }, 20s);
    REQUIRE_MESSAGE(holding, cutOff.stderrText());
    relay.cut(); // its leases (5 s timeout + 15 s margin) are held by a worker that cannot reach the store
    const auto cutAt = Steady::now();
    auto other = fx.startWorker({"--concurrency", "20", "--listen", "127.0.0.1:0"});
    const bool done = waitUntil([&] { return fx.countStatus("delivered") == 100; }, 120s, 250ms);
    const int64_t tookMs = msSince(cutAt);
    other.kill(SIGTERM);
    other.wait();
    cutOff.kill(SIGKILL);
    cutOff.wait();
    INFO(cutOff.stderrText());
    REQUIRE(done);
    CHECK(contains(cutOff.stderrText(), "storage failure")); // it noticed, and kept trying
    CHECK(rx.stats()["distinct_ids"] == 100);
    CHECK(tookMs >= 12'000); // the cut-off worker's rows waited for their leases to expire
    CHECK(fx.count("deliveries WHERE status <> 'delivered'") == 0);
}

namespace {

// The locator with a password in the URL's user info: the tests' server
// trusts every local connection, so any password is accepted and only its
// printing is under test.
std::string withPassword(const std::string& url, const std::string& password)
{
    const auto user = url.find("webhookd@");
    REQUIRE(user != std::string::npos);
    return url.substr(0, user) + "webhookd:" + password + url.substr(user + 8);
}

long rssKb(pid_t pid)
{
    for (const auto& l : lines(readFile("/proc/" + std::to_string(pid) + "/status")))
        if (startsWith(l, "VmRSS:"))
            return std::stol(l.substr(6));
    return -1;
}

// One API request through curl: the status and the answer's headers and body.
struct ApiReply {
    int status = 0;
    std::string text; // headers, a blank line, the body
};

ApiReply api(int port, const std::string& token, const std::string& path, const std::string& body = {})
{
    std::vector<std::string> argv = {"curl", "-s", "-i", "-m", "20", "-H", "Authorization: Bearer " + token};
    if (!body.empty())
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    argv.push_back("http://127.0.0.1:" + std::to_string(port) + path);
    auto r = run(argv);
    ApiReply out;
    out.text = r.out;
    if (r.exitCode == 0 && startsWith(r.out, "HTTP/1.1 "))
        out.status = std::stoi(r.out.substr(9, 3));
    return out;
}

std::string lastLine(const std::string& text) { return lines(text).back(); }

// webhookd --no-deliver with the API on a free port, JSON logs.
Process startApi(const std::string& db, int& port, std::vector<std::string> extra = {})
{
    std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKD"),
                                     "--db",
                                     db,
                                     "--no-deliver",
                                     "--api-listen",
                                     "127.0.0.1:0",
                                     "--log-format",
                                     "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::start(argv);
    port = loggedPort(p, "api listening");
    return p;
}

} // namespace

TEST_CASE("postgres: a password in the locator is printed as *** by webhookctl and webhookd, in every form")
{
    const std::string url = freshPostgresDatabase();
    const std::string secret = "S3cretPassw0rd";
    const std::string ctl = binary("WEBHOOKD_BIN_WEBHOOKCTL"), webhookd = binary("WEBHOOKD_BIN_WEBHOOKD");
    for (const std::string& locator : {withPassword(url, secret), url + "?password=" + secret}) {
        CAPTURE(locator);
        auto init = run({ctl, "--db", locator, "init"});
        CHECK(init.exitCode == 0);
        CHECK(contains(init.out, "***"));
        auto initJson = run({ctl, "--db", locator, "init", "--json"});
        CHECK(initJson.exitCode == 0);
        for (const auto& log : {std::string("text"), std::string("json")}) {
            auto drained = run({webhookd, "--db", locator, "--drain", "--log-format", log});
            CHECK(drained.exitCode == 0);
            CHECK(contains(drained.err, "webhookd started"));
            CHECK(contains(drained.err, "***"));
            CHECK_FALSE(contains(drained.out + drained.err, secret));
        }
        int port = 0;
        auto apiOnly = startApi(locator, port);
        REQUIRE(waitUntil([&] { return contains(apiOnly.stderrText(), "without delivering"); }, 10s));
        apiOnly.kill(SIGTERM);
        CHECK(apiOnly.wait() == 0);
        CHECK(contains(apiOnly.stderrText(), "***"));
        // Nothing anywhere: not in init's text or JSON, not in a start line.
        CHECK_FALSE(contains(init.out + init.err + initJson.out + initJson.err + apiOnly.stderrText(), secret));
    }
    // A server that cannot be reached: the error names the store, masked.
    auto down = run({ctl, "--db", "postgresql://webhookd:" + secret + "@127.0.0.1:1/nodb", "stats"});
    CHECK(down.exitCode == 1);
    CHECK(oneSentence(down.err, "webhookctl"));
    CHECK_FALSE(contains(down.err, secret));
    auto downQuery = run({ctl, "--db", "postgresql://webhookd@127.0.0.1:1/nodb?password=" + secret, "stats"});
    CHECK(downQuery.exitCode == 1);
    CHECK_FALSE(contains(downQuery.err, secret));
}

TEST_CASE("postgres: notifications do not pile up in connections that never read them (API, ingest)")
{
    Fixture fx(onDatabase(freshPostgresDatabase()));
    fx.addTarget("t", "http://127.0.0.1:9/t");
    const std::string token = lastLine(fx.ctlOk({"api-key", "create", "ops", "--scope", "admin"}));
    int port = 0;
    auto p = startApi(fx.db(), port, {"--api-threads", "2"});
    // Every kind of connection the API process has: the pool's, the ingest writer's.
    auto poke = [&] {
        REQUIRE(api(port, token, "/api/v1/events?limit=1").status == 200);
        REQUIRE(api(port, token, "/api/v1/targets").status == 200);
        REQUIRE(api(port, token, "/api/v1/events", R"({"type":"x.y","data":{}})").status == 202);
    };
    poke();
    poke();
    const long before = rssKb(p.pid());
    // 200,000 notifications: libpq keeps each (60-85 bytes) in every
    // connection that LISTENs until it is read, and reads them off the
    // socket with the connection's next statement (the poke).
    fx.sqlExec("DO $$ BEGIN FOR i IN 1..200000 LOOP PERFORM pg_notify('webhookd', 'n' || i); END LOOP; END $$");
    poke();
    poke();
    const long after = rssKb(p.pid());
    p.kill(SIGTERM);
    CHECK(p.wait() == 0);
    INFO("VmRSS before " << before << " kB, after " << after << " kB");
    REQUIRE(before > 0);
    CHECK(after - before < 4000); // a listening connection would hold 12+ MB more
    // The worker's queue connection still listens: a send wakes it at once.
    Receiver rx({"--quiet"});
    fx.addTarget("live", rx.url("/live"));
    auto w = fx.startWorker({"--poll-interval", "30s", "--listen", "127.0.0.1:0"});
    const int statusPort = loggedPort(w, "status endpoint listening");
    REQUIRE(waitUntil([&] { return firstClaimDone(statusPort); }, 10s)); // idle now, for 30 s
    fx.send("live");
    CHECK(waitUntil([&] { return rx.stats()["requests"].get<int64_t>() == 1; }, 10s));
    w.kill(SIGTERM);
    CHECK(w.wait() == 0);
}

TEST_CASE("postgres: while the server is down the API answers 503 store_unavailable with Retry-After, logged once")
{
    PgServer server;
    Fixture fx(onDatabase(server.createDatabase()));
    const std::string token = lastLine(fx.ctlOk({"api-key", "create", "ops", "--scope", "admin"}));
    int port = 0;
    auto p = startApi(fx.db(), port, {"--api-threads", "4"});
    for (int i = 0; i < 3; ++i)
        REQUIRE(api(port, token, "/api/v1/events?limit=1").status == 200);

    server.stop();
    int unavailable = 0;
    for (int i = 0; i < 30; ++i) {
        const auto r = api(port, token, i % 2 ? "/api/v1/events?limit=1" : "/api/v1/targets");
        INFO(r.text);
        CHECK(r.status == 503);
        CHECK(contains(r.text, "Retry-After: 1"));
        CHECK(contains(r.text, "\"code\":\"store_unavailable\""));
        unavailable += r.status == 503;
    }
    CHECK(unavailable == 30);
    server.start();
    // The first request after the restart is answered: the broken pooled
    // connection is replaced before its statement fails the request.
    CHECK(api(port, token, "/api/v1/events?limit=1").status == 200);
    CHECK(api(port, token, "/api/v1/events", R"({"type":"x.y","data":{}})").status == 202);

    // A restart while the API sits idle: no request fails afterwards.
    server.stop();
    server.start();
    for (int i = 0; i < 5; ++i) {
        CHECK(api(port, token, "/api/v1/targets").status == 200);
        CHECK(api(port, token, "/api/v1/events", R"({"type":"x.z","data":{}})").status == 202);
    }
    p.kill(SIGTERM);
    CHECK(p.wait() == 0);
    const std::string log = p.stderrText();
    INFO(log);
    CHECK(logLines(log, "the store cannot be reached; requests are answered 503 until it can").size() == 1);
    int errors = 0;
    for (const auto& l : lines(log))
        errors += contains(l, "\"level\":\"error\"");
    CHECK(errors <= 2); // one line for the outage, not one per request
}

TEST_CASE("postgres: a first use of one idempotency key racing on two connections is answered as the replay")
{
    const std::string url = freshPostgresDatabase();
    Fixture fx(onDatabase(url));
    fx.addTarget("t", "http://127.0.0.1:9/t");
    auto open = [&] {
        auto db = Database::open(url);
        REQUIRE(db);
        return std::move(*db);
    };
    Database first = open(), second = open();
    const auto& clock = SystemClock::instance();
    // The loser's insert is waiting on the winner's row lock.
    auto loserWaits = [&] {
        return waitUntil(
            [&] { return fx.sqlInt("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") == 1; }, 10s,
            5ms);
    };
    EventInput e;
    e.type = "order.paid";
    e.payload = R"({"order":42})";
    e.idempotencyKey = "order-42";

    SUBCASE("the same event: the loser gets the winner's ids, as a duplicate")
    {
        // The winner has inserted, not committed: the loser's lookup sees
        // nothing, and its insert waits for the winner's commit.
        sql::Transaction tx(detail::sql(first), true);
        auto won = detail::writeEventOnce(detail::sql(first), e, clock.nowMs());
        REQUIRE(won);
        std::optional<Result<SendResult>> lost;
        std::thread loser([&] { lost = sendEvent(second, e, clock); });
        CHECK(loserWaits());
        tx.commit();
        loser.join();
        REQUIRE(lost);
        INFO((*lost ? std::string() : lost->error().toString()));
        REQUIRE(*lost);
        CHECK((*lost)->duplicate);
        CHECK((*lost)->eventId == won->eventId);
        CHECK((*lost)->deliveryIds == won->deliveryIds);
    }
    SUBCASE("another event: the loser is told the key was used, in one sentence without SQL")
    {
        sql::Transaction tx(detail::sql(first), true);
        REQUIRE(detail::writeEventOnce(detail::sql(first), e, clock.nowMs()));
        EventInput other = e;
        other.payload = R"({"order":43})";
        std::optional<Result<std::vector<Result<SendResult>>>> lost; // the API's ingest path
        std::thread loser([&] { lost = sendEach(second, {other}, clock); });
        CHECK(loserWaits());
        tx.commit();
        loser.join();
        REQUIRE(lost);
        REQUIRE(*lost);
        const auto& r = (**lost)[0];
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Conflict));
        CHECK(contains(r.error().message(), "was first used with a different event"));
        CHECK_FALSE(contains(r.error().message(), "constraint"));
    }
    CHECK(fx.count("events") == 1);
}

TEST_CASE("postgres: an explicit target of another application is refused, nothing written, as on SQLite")
{
    const std::string url = freshPostgresDatabase();
    Fixture fx(onDatabase(url));
    fx.addTarget("mine", "http://127.0.0.1:9/mine", {"--app", "appA"});
    fx.addTarget("nobody", "http://127.0.0.1:9/nobody");
    auto db = Database::open(url);
    REQUIRE(db);
    EventInput e;
    e.type = "x";
    e.targets = {"mine"};
    auto r = sendEvent(*db, e, SystemClock::instance());
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Error::Kind::Invalid));
    e.appId = "appA";
    e.targets = {"nobody"};
    auto s = sendEvent(*db, e, SystemClock::instance());
    REQUIRE_FALSE(s);
    // Inside an application another's target is as unknown as a missing one.
    CHECK(s.error().is(Error::Kind::NotFound));
    CHECK(s.error().message() == "there is no target 'nobody' in the application 'appA'");
    CHECK(fx.count("events") == 0);
}

TEST_CASE("postgres: a response excerpt with NUL bytes is stored alike on both backends; migrate-store reports it")
{
    TempDir dir;
    Receiver rx({"--quiet", "--script", "/bin=500;body=binary"});
    Fixture lite(onDatabase(dir.file("lite.db")));
    Fixture pg(onDatabase(freshPostgresDatabase()));
    std::vector<std::string> excerpts;
    for (Fixture* fx : {&lite, &pg}) {
        fx->addTarget("bin", rx.url("/bin"), {"--max-attempts", "1"});
        const int64_t id = fx->send("bin");
        fx->drain();
        const auto shown = fx->show(id);
        REQUIRE(shown["attempts"].size() == 1);
        excerpts.push_back(shown["attempts"][0]["response_excerpt"].get<std::string>());
    }
    INFO("sqlite: " << excerpts[0] << " postgres: " << excerpts[1]);
    CHECK(contains(excerpts[0], "not text"));
    CHECK(excerpts[0].find('\0') == std::string::npos);
    CHECK(contains(excerpts[0], "\xEF\xBF\xBD"));
    CHECK(excerpts[1] == excerpts[0]);

    // A SQLite store written before both kept the same text: a U+0000 in an
    // excerpt is copied as U+FFFD, counted, and the contents are checked.
    lite.sqlExec("UPDATE attempts SET response_excerpt = 'a' || char(0) || 'b'");
    const std::string url = freshPostgresDatabase();
    auto r = lite.ctl({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", url});
    INFO(describe({"migrate-store"}, r));
    REQUIRE(r.exitCode == 0);
    CHECK(contains(r.out, "the counts and contents match"));
    CHECK(contains(r.out, "1 in attempts"));
    Fixture copy(onDatabase(url));
    CHECK(copy.sqlText("SELECT response_excerpt FROM attempts") ==
          "a\xEF\xBF\xBD"
          "b");
    auto j = json::parse(
        lite.ctlOk({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", dir.file("copy.db"), "--json"}));
    CHECK(j["changed_values"]["attempts"] == 1);
    CHECK(j["contents_checked"] == true);
}

// The README's steps on PostgreSQL 15, whose public schema no longer lets
// every role create tables: a role that owns its database runs `init` and a
// worker; one that does not is told what it lacks, not that the store is
// read-only.
TEST_CASE("postgres: the README's role and database work as written; a missing privilege is named as one")
{
    const std::string admin = freshPostgresDatabase(); // postgresql://webhookd@HOST:PORT/DB, a superuser
    const std::string ctl = binary("WEBHOOKD_BIN_WEBHOOKCTL");
    const auto at = admin.find('@'), slash = admin.rfind('/');
    auto as = [&](const std::string& role, const std::string& db) {
        return "postgresql://" + role + admin.substr(at, slash - at) + "/" + db;
    };
    const std::string suffix = std::to_string(::getpid());
    const std::string owner = "app_" + suffix, stranger = "stranger_" + suffix;
    {
        RawSql sql(admin);
        // README, "Scaling out with PostgreSQL": createuser, then createdb --owner.
        sql.exec("CREATE ROLE " + owner + " LOGIN PASSWORD 'x'");
        sql.exec("CREATE DATABASE " + owner + " OWNER " + owner);
        sql.exec("CREATE ROLE " + stranger + " LOGIN PASSWORD 'x'");
    }
    auto init = run({ctl, "--db", as(owner, owner), "init"});
    CHECK_MESSAGE(init.exitCode == 0, init.err);
    auto added = run({ctl, "--db", as(owner, owner), "target", "add", "t", "--url", "https://example.com/hook",
                      "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    CHECK_MESSAGE(added.exitCode == 0, added.err);

    // A role that may connect but not create: init refuses with the privilege it lacks.
    const std::string theirs = admin.substr(slash + 1);
    auto refused = run({ctl, "--db", as(stranger, theirs), "init"});
    CHECK(refused.exitCode == 1);
    CHECK(oneSentence(refused.err, "webhookctl"));
    CHECK(contains(refused.err, "permission denied"));
    CHECK_FALSE(contains(refused.err, "read-only"));
    CHECK(contains(refused.err, "OWNER"));
}

// README, "Scaling out with PostgreSQL": stop webhookd, then migrate-store. A
// webhookd still delivering from the source is noticed by its live leases.
TEST_CASE("postgres: migrate-store refuses a source a webhookd is delivering from, and copies once it stopped")
{
    TempDir dir;
    Fixture lite(onDatabase(dir.file("lite.db")));
    Receiver rx({"--quiet", "--script", "/slow=200;delay=3000"});
    lite.addTarget("slow", rx.url("/slow"), kFastRetry);
    lite.send("slow");
    Process worker = lite.startWorker();
    REQUIRE(waitUntil([&] { return lite.countStatus("in_progress") == 1; }, 10s));

    const std::string url = freshPostgresDatabase();
    auto refused = lite.ctl({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", url});
    CHECK(refused.exitCode == 1);
    CHECK(oneSentence(refused.err, "webhookctl"));
    CHECK(contains(refused.err, "running webhookd"));
    CHECK(contains(refused.err, "stop every webhookd"));
    Fixture pg(onDatabase(url));
    CHECK(pg.count("targets") == 0);

    // Stopped: it finishes what it sent, and the copy goes through.
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
    auto copied = lite.ctl({"migrate-store", "--from", "sqlite:" + lite.db(), "--to", url});
    INFO(describe({"migrate-store"}, copied));
    CHECK(copied.exitCode == 0);
    CHECK(pg.count("deliveries") == 1);
    // The store's settings are the source's (both fixtures set a default retry
    // policy; the destination's gave way).
    CHECK(pg.count("settings") == 1);
}
