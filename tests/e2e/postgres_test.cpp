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
#include <mutex>
#include <set>
#include <thread>

#include "support/fixture.h"
#include "support/postgres.h"
#include "support/process.h"

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
            return std::stoll(j.value("attempts", "0"));
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

TEST_CASE("postgres: a worker whose own clock is an hour behind honours the server's schedule")
{
    Fixture fx(onDatabase(freshPostgresDatabase()));
    Receiver rx({"--quiet", "--script", "/flaky=500,200"});
    fx.addTarget("t", rx.url("/flaky"), {"--initial-delay", "3s", "--jitter", "0"});
    const int64_t sentAt = wallClockMs();
    const int64_t id = fx.send("t");
    // Debian's faketime: every clock of the process an hour behind the server's.
    auto w = Process::start({"faketime", "-f", "-1h", binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", fx.db(),
                             "--allow-private-networks", "--poll-interval", "100ms", "--listen", "127.0.0.1:0",
                             "--log-format", "json"});
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
