// webhookd-bench: the measurements behind tools/bench. Each subcommand runs one
// measurement once and prints one JSON object; tools/bench repeats them, takes
// medians and prints the table.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "delivery/http_client.h"
#include "retry/retry.h"
#include "storage/api_keys.h"
#include "storage/database.h"
#include "storage/events.h"
#include "storage/queue.h"
#include "storage/sql/connection.h"
#include "storage/targets.h"
#include "worker/worker.h"

using namespace webhookd;
using nlohmann::json;

namespace {

double seconds(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

pid_t serverPid = 0; // a webhookd this run started: stopped by die()

[[noreturn]] void die(const std::string& what)
{
    if (serverPid > 0)
        kill(serverPid, SIGTERM);
    std::cerr << "webhookd-bench: " << what << '\n';
    std::exit(1);
}

double cpuSeconds(const rusage& u)
{
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

// The CPU a timed section used: this process's (every thread) and the whole
// machine's (every core, every process: the receiver, PostgreSQL, the
// kernel), in µs a unit of work. tools/bench sets them beside the rate.
class CpuMeter {
public:
    CpuMeter() : own_(ownSeconds()), machine_(machineSeconds()) { }
    json per(double units) const
    {
        return {{"cpu_us", (ownSeconds() - own_) * 1e6 / units},
                {"machine_us", (machineSeconds() - machine_) * 1e6 / units}};
    }

private:
    static double ownSeconds()
    {
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        return cpuSeconds(u);
    }
    // Busy time of every core: all of /proc/stat's first line but idle and iowait.
    static double machineSeconds()
    {
        FILE* f = std::fopen("/proc/stat", "r");
        unsigned long long v[8] = {};
        if (f == nullptr || std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                                        &v[4], &v[5], &v[6], &v[7]) != 8)
            die("cannot read /proc/stat");
        std::fclose(f);
        const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    double own_, machine_;
};

template <typename T>
T must(Result<T> r, const char* what)
{
    if (!r)
        die(std::string(what) + ": " + r.error().toString());
    return std::move(*r);
}

void mustOk(const Status& s, const char* what)
{
    if (!s)
        die(std::string(what) + ": " + s.error().toString());
}

// A fresh file, or, for a PostgreSQL URL, its database emptied.
Database freshDb(const std::string& path, Durability durability)
{
    const bool pg = Database::isServerLocator(path);
    for (const char* suffix : {"", "-wal", "-shm"})
        if (!pg)
            std::remove((path + suffix).c_str());
    OpenOptions o;
    o.create = true;
    o.durability = durability;
    o.notifications = true; // the benchmark's queue claims on it
    Database db = must(Database::open(path, o), "open");
    if (pg)
        detail::sql(db).exec("TRUNCATE targets, events, deliveries, attempts, dead_letters, stats_minutely, api_keys"
                             " RESTART IDENTITY CASCADE");
    return db;
}

void addBenchTarget(Database& db, const std::string& url, const std::string& id = "bench", TargetSpec spec = {})
{
    spec.url = url;
    spec.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    must(addTarget(db, id, spec, SystemClock::instance()), "add target");
}

// The store opened as webhookd's worker opens it: NORMAL durability, and
// on PostgreSQL a connection that listens, so that the claim reads its
// targets again only when one changed (Queue::loadTargets), as the
// worker's does.
OpenOptions workerOpenOptions()
{
    OpenOptions o;
    o.durability = Durability::Normal;
    o.notifications = true;
    return o;
}

// N pending deliveries, inserted with plain SQL in one transaction (setup
// cost is not what is measured): to the bench target, or spread round-robin
// over `targets` targets bench0, bench1, ….
void fillBacklog(const std::string& path, int64_t n, int priority, int64_t dueInMs, DeliveryStatus status,
                 int targets = 0, const std::string& target = "bench")
{
    OpenOptions o;
    o.durability = Durability::Normal;
    o.busyTimeoutMs = 60'000;
    Database store = must(Database::open(path, o), "open");
    sql::Connection& db = detail::sql(store); // webhookd's own driver: either backend
    const bool pg = Database::isServerLocator(path);
    if (!pg)
        db.exec("PRAGMA synchronous = OFF");
    sql::Transaction tx(db, true);
    const int64_t now = SystemClock::instance().nowMs();
    const int64_t base = sql::queryInt64(db, "SELECT coalesce(max(id), 0) FROM events");
    // Parameters as the backend spells them (?N, $N).
    auto p = [&](int i) { return db.placeholder(i); };
    const std::string payload =
        "'{\"n\":' || (" + p(2) + " + i) || ',\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}'";
    sql::Statement ev(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + p(1) +
                              ") INSERT INTO events (id, uid, type, payload, priority, created_at) SELECT " + p(2) +
                              " + i, 'msg_bench' || (" + p(2) + " + i), 'bench.event', " +
                              (pg ? "CAST(" + payload + " AS json)" : payload) + ", " + p(3) + ", " + p(4) +
                              " FROM n");
    ev.bind(1, n);
    ev.bind(2, base);
    ev.bind(3, priority);
    ev.bind(4, now);
    ev.exec();
    sql::Statement dl(db, "INSERT INTO deliveries (event_id, target_id, status, priority, next_attempt_at,"
                          " created_at, updated_at) SELECT id, CASE WHEN " +
                              p(6) + " > 0 THEN 'bench' || (id % " + p(6) + ") ELSE " + p(7) + " END, " + p(1) +
                              ", " + p(2) + ", " + p(3) + ", " + p(4) + ", " + p(4) + " FROM events WHERE id > " +
                              p(5));
    dl.bind(1, std::string(toString(status)));
    dl.bind(2, priority);
    dl.bind(3, now + dueInMs);
    dl.bind(4, now);
    dl.bind(5, base);
    dl.bind(6, targets);
    dl.bind(7, target);
    dl.exec();
    if (pg)
        db.exec("SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))");
    tx.commit();
}

// Turns the bench target's backlog into `groups` ordering groups (its
// ordering set to key): in each group the oldest delivery is due and the
// rest wait their turn, as fan-out would have left them.
void orderBacklog(const std::string& path, int groups)
{
    Database store = must(Database::open(path), "open");
    TargetSpec keyed;
    keyed.ordering = Ordering::Key;
    must(updateTarget(store, "bench", keyed, SystemClock::instance()), "order the target");
    sql::Connection& db = detail::sql(store);
    sql::Transaction tx(db, true);
    db.exec("UPDATE deliveries SET ordering_group = 'g' || (id % " + std::to_string(groups) + ")");
    db.exec("UPDATE deliveries SET status = 'waiting' WHERE id NOT IN"
            " (SELECT min(id) FROM deliveries GROUP BY ordering_group)");
    tx.commit();
    // Fan-out writes such rows once; these updates left PostgreSQL a dead
    // version of each, and index entries the claim would step over.
    if (Database::isServerLocator(path))
        db.exec("VACUUM ANALYZE deliveries");
}

EventInput benchEvent()
{
    EventInput e;
    e.type = "bench.event";
    e.payload = R"({"order":"ord_123","amount_cents":4200})";
    return e;
}

// Events/s recorded one transaction each (sendEvent) on a fresh file.
double oneEventPerCommit(const std::string& path, int count, Durability durability)
{
    Database db = freshDb(path, durability);
    addBenchTarget(db, "http://127.0.0.1:9/bench");
    const EventInput e = benchEvent();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i)
        must(sendEvent(db, e, SystemClock::instance()), "send");
    return count / seconds(t0);
}

json enqueue(const std::string& path, int count, Durability durability)
{
    const double lib = oneEventPerCommit(path, count, durability);
    OpenOptions o;
    o.durability = durability;
    Database db = must(Database::open(path, o), "open");
    const EventInput e = benchEvent();

    // The API's writer: the same events in groups of 64, one commit a group
    // and a savepoint an event (sendEach): its ceiling, HTTP aside.
    std::vector<EventInput> group(64, e);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < count; i += 64)
        must(sendEach(db, group, SystemClock::instance()), "send a group");
    const double grouped = (count + 63) / 64 * 64 / seconds(t0);

    // The same number of one-row transactions on a bare table at the same
    // synchronous level: what the disk allows.
    const std::string rawPath = path + ".raw";
    for (const char* suffix : {"", "-wal", "-shm"})
        std::remove((rawPath + suffix).c_str());
    SQLite::Database raw(rawPath, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA journal_mode = WAL");
    raw.exec(durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    raw.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    SQLite::Statement ins(raw, "INSERT INTO t (v) VALUES (?)");
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) {
        SQLite::Transaction tx(raw, SQLite::TransactionBehavior::IMMEDIATE);
        ins.reset();
        ins.bind(1, e.payload);
        ins.exec();
        tx.commit();
    }
    const double rawRate = count / seconds(t0);
    return {{"events_per_s", lib},
            {"raw_commits_per_s", rawRate},
            {"ratio", lib / rawRate},
            {"grouped_64_events_per_s", grouped}};
}

// Each claimed delivery answered 204 in 1 ms at now.
std::vector<Completion> deliveredNow(const std::vector<ClaimedDelivery>& claimed, int64_t now)
{
    std::vector<Completion> out;
    for (const auto& d : claimed) {
        Completion c;
        c.deliveryId = d.id;
        c.targetId = d.target->id;
        c.attemptNumber = d.attemptNumber;
        c.outcome.statusCode = 204;
        c.outcome.startedAtMs = now;
        c.outcome.durationMs = 1;
        c.status = DeliveryStatus::Delivered;
        out.push_back(std::move(c));
    }
    return out;
}

json claimComplete(const std::string& path, int count, int batch)
{
    {
        Database db = freshDb(path, Durability::Normal);
        addBenchTarget(db, "http://127.0.0.1:9/bench");
    }
    fillBacklog(path, count, 0, 0, DeliveryStatus::Pending);
    Database db = must(Database::open(path, workerOpenOptions()), "open");
    Queue q(db, "bench");
    const CpuMeter cpu;
    auto t0 = std::chrono::steady_clock::now();
    int64_t done = 0;
    std::vector<Completion> completions;
    for (;;) {
        const int64_t now = SystemClock::instance().nowMs();
        auto r = must(q.claim(now, 60'000, 30'000, batch), "claim");
        if (r.claimed.empty())
            break;
        completions = deliveredNow(r.claimed, now);
        mustOk(q.complete(completions, now), "complete");
        done += static_cast<int64_t>(completions.size());
    }
    if (done != count)
        die("claimed " + std::to_string(done) + " of " + std::to_string(count));
    json out = cpu.per(static_cast<double>(done));
    out["deliveries_per_s"] = static_cast<double>(done) / seconds(t0);
    return out;
}

json rawHttp(const std::string& url, int concurrency, int count)
{
    HttpOptions options;
    options.guard = AddressGuard(true);
    auto client = must(HttpClient::create(std::move(options), SystemClock::instance()), "http client");
    const std::string body =
        R"({"id":"msg_bench","type":"bench.event","timestamp":"2026-01-01T00:00:00.000Z","data":{"n":1}})";
    int started = 0, finished = 0, failed = 0;
    std::vector<HttpResult> done;
    auto t0 = std::chrono::steady_clock::now();
    while (finished < count) {
        while (started < count && static_cast<int>(client->inFlight()) < concurrency) {
            HttpRequest r;
            r.tag = static_cast<uint64_t>(started++);
            r.url = url;
            r.body = body;
            r.headers = {"Content-Type: application/json", "User-Agent: webhookd-bench"};
            r.timeoutMs = 10'000;
            client->start(std::move(r));
        }
        client->poll(10, done);
        for (const auto& d : done)
            failed += d.outcome.statusCode < 200 || d.outcome.statusCode > 299;
        finished += static_cast<int>(done.size());
        done.clear();
    }
    if (failed > 0)
        die(std::to_string(failed) + " raw requests failed");
    return {{"requests_per_s", count / seconds(t0)}};
}

// Delivery threads for the worker (0: one per core, webhookd's default).
int gThreads = 0;

WorkerOptions workerOptions(const std::string& path, int concurrency)
{
    WorkerOptions opt;
    opt.database = path;
    opt.concurrency = concurrency;
    opt.threads = gThreads;
    opt.allowPrivateNetworks = true;
    opt.pollIntervalMs = 1000;
    return opt;
}

json endToEnd(const std::string& path, const std::string& url, int concurrency, int count, int groups)
{
    {
        Database db = freshDb(path, Durability::Normal);
        addBenchTarget(db, url);
    }
    fillBacklog(path, count, 0, 0, DeliveryStatus::Pending);
    if (groups > 0)
        orderBacklog(path, groups);
    auto opt = workerOptions(path, concurrency);
    opt.drain = true;
    auto worker = must(Worker::create(opt), "worker");
    const CpuMeter cpu;
    auto t0 = std::chrono::steady_clock::now();
    mustOk(worker->run(), "run");
    const double elapsed = seconds(t0);
    json out = cpu.per(count);
    SQLite::Database check(path, SQLite::OPEN_READONLY);
    const int64_t delivered = check.execAndGet("SELECT count(*) FROM deliveries WHERE status = 'delivered'").getInt64();
    if (delivered != count)
        die("delivered " + std::to_string(delivered) + " of " + std::to_string(count));
    out["deliveries_per_s"] = count / elapsed;
    return out;
}

// Send-to-receipt times of the events in sentAt (uid -> send time), from
// the receiver's /_requests; dies unless every one arrived. Sorted; lastMs
// gets the latest receipt.
std::vector<int64_t> receipts(const std::string& url, const std::map<std::string, int64_t>& sentAt, int64_t* lastMs)
{
    const auto slash = url.find('/', 8);
    httplib::Client client(url.substr(0, slash));
    auto res = client.Get("/_requests");
    if (!res || res->status != 200)
        die("could not read the receiver's /_requests");
    std::vector<int64_t> lat;
    for (const auto& r : json::parse(res->body)) {
        if (!r.contains("webhook_id") || r["webhook_id"].is_null())
            continue;
        auto it = sentAt.find(r["webhook_id"].get<std::string>());
        if (it == sentAt.end())
            continue;
        lat.push_back(r["time_ms"].get<int64_t>() - it->second);
        if (lastMs)
            *lastMs = std::max(*lastMs, r["time_ms"].get<int64_t>());
    }
    if (lat.size() != sentAt.size())
        die("the receiver saw " + std::to_string(lat.size()) + " of " + std::to_string(sentAt.size()) + " events");
    std::sort(lat.begin(), lat.end());
    return lat;
}

json latency(const std::string& path, const std::string& url, int count, int intervalMs)
{
    {
        Database db = freshDb(path, Durability::Full);
        addBenchTarget(db, url);
    }
    auto worker = must(Worker::create(workerOptions(path, 16)), "worker");
    std::thread runner([&] { mustOk(worker->run(), "run"); });
    Database db = must(Database::open(path), "open");
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // let the worker go idle
    EventInput e;
    e.type = "bench.latency";
    std::map<std::string, int64_t> sentAt;
    for (int i = 0; i < count; ++i) {
        const int64_t t = SystemClock::instance().nowMs();
        auto r = must(sendEvent(db, e, SystemClock::instance()), "send");
        sentAt[r.uid] = t;
        std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    worker->stop();
    runner.join();

    const std::vector<int64_t> lat = receipts(url, sentAt, nullptr);
    auto pct = [&](double p) {
        return lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))];
    };
    return {{"p50_ms", pct(0.50)}, {"p99_ms", pct(0.99)}, {"max_ms", lat.back()}};
}

// Cost of one claim of `batch` due rows with `waiting` rows in the queue. With
// storm, the waiting rows are high-priority retries not yet due and the due
// rows sit below them.
json scale(const std::string& path, int64_t waiting, bool storm, int batch, int claims, int targets, int groups)
{
    // The claim shares a worker's slots as a running worker would, every
    // target having answered fast before.
    ClaimContext context;
    context.concurrency = batch;
    {
        Database db = freshDb(path, Durability::Normal);
        if (targets <= 1) {
            addBenchTarget(db, "http://127.0.0.1:9/bench");
            context.targets["bench"].typicalMs = 5;
        }
        for (int i = 0; targets > 1 && i < targets; ++i) {
            addBenchTarget(db, "http://127.0.0.1:9/bench", "bench" + std::to_string(i));
            context.targets["bench" + std::to_string(i)].typicalMs = 5;
        }
    }
    const int spread = targets > 1 ? targets : 0;
    // Each claim is completed (untimed), as a draining worker's is: the
    // backlog holds `waiting` due rows or more throughout. (Releasing the
    // rows instead would claim the same 64 rows again and again, which on
    // PostgreSQL measures their pile of dead row versions.)
    const int64_t drained = static_cast<int64_t>(claims) * batch;
    if (storm) {
        fillBacklog(path, waiting, 100, 3'600'000, DeliveryStatus::Failed, spread);
        fillBacklog(path, drained + batch, 0, 0, DeliveryStatus::Pending, spread);
    } else {
        fillBacklog(path, waiting + drained, 0, 0, DeliveryStatus::Pending, spread);
    }
    // Ordered: the backlog is `groups` keys' queues; each claim takes their
    // heads, and each completion lets the next of each group go.
    if (groups > 0)
        orderBacklog(path, groups);
    {
        Database analyze = must(Database::open(path), "open");
        detail::sql(analyze).exec("ANALYZE");
    }
    Database db = must(Database::open(path, workerOpenOptions()), "open");
    Queue q(db, "bench");
    std::vector<double> us;
    for (int i = 0; i < claims; ++i) {
        const int64_t now = SystemClock::instance().nowMs();
        auto t0 = std::chrono::steady_clock::now();
        auto r = must(q.claim(now, 60'000, 30'000, batch, context), "claim");
        us.push_back(seconds(t0) * 1e6);
        if (static_cast<int>(r.claimed.size()) != batch)
            die("a claim found " + std::to_string(r.claimed.size()) + " rows");
        const std::vector<Completion> completions = deliveredNow(r.claimed, now);
        mustOk(q.complete(completions, now), "complete");
    }
    std::sort(us.begin(), us.end());
    return {{"claim_us_median", us[us.size() / 2]}, {"claim_us_p90", us[us.size() * 9 / 10]}};
}

// A slow target (its receiver answers after a second) with a backlog that
// could fill every slot, beside a fast one. Throughput: a backlog of `count`
// fast deliveries waiting beside it from the start (both targets unknown to
// the worker), timed until the last is delivered. Latency: then `paced`
// events sent to the fast target every intervalMs, from send to receipt,
// while the slow one still holds its share.
json slowBesideFast(const std::string& path, const std::string& fastUrl, const std::string& slowUrl, int count,
                    int slowBacklog, int concurrency, int paced, int intervalMs)
{
    {
        Database db = freshDb(path, Durability::Normal);
        TargetSpec slow;
        slow.timeoutMs = 10'000;
        addBenchTarget(db, slowUrl, "slow", slow);
        addBenchTarget(db, fastUrl, "fast");
    }
    fillBacklog(path, slowBacklog, 0, 0, DeliveryStatus::Pending, 0, "slow");
    fillBacklog(path, count, 0, 0, DeliveryStatus::Pending, 0, "fast");
    SQLite::Database check(path, SQLite::OPEN_READONLY, 10'000);
    auto fastDelivered = [&] {
        return check.execAndGet("SELECT count(*) FROM deliveries WHERE target_id = 'fast' AND status = 'delivered'")
            .getInt64();
    };
    auto waitFor = [&](int64_t n) {
        for (int i = 0; i < 12'000 && fastDelivered() < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (fastDelivered() < n)
            die("the fast target's deliveries did not all arrive within a minute");
    };

    auto t0 = std::chrono::steady_clock::now();
    auto worker = must(Worker::create(workerOptions(path, concurrency)), "worker");
    std::thread runner([&] { mustOk(worker->run(), "run"); });
    waitFor(count);
    const double backlogSeconds = seconds(t0);

    Database db = must(Database::open(path), "open");
    EventInput e;
    e.type = "bench.fast";
    e.targets = {"fast"};
    std::map<std::string, int64_t> sentAt;
    for (int i = 0; i < paced; ++i) {
        const int64_t t = SystemClock::instance().nowMs();
        auto r = must(sendEvent(db, e, SystemClock::instance()), "send");
        sentAt[r.uid] = t;
        std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
    }
    waitFor(count + paced);
    const int64_t slowDone =
        check.execAndGet("SELECT count(*) FROM deliveries WHERE target_id = 'slow' AND status = 'delivered'")
            .getInt64();
    const int64_t slowInFlight =
        check.execAndGet("SELECT count(*) FROM deliveries WHERE target_id = 'slow' AND status = 'in_progress'")
            .getInt64();
    worker->stop();
    runner.join();

    const std::vector<int64_t> lat = receipts(fastUrl, sentAt, nullptr);
    return {{"fast_deliveries_per_s", static_cast<double>(count) / backlogSeconds},
            {"p50_ms", lat[lat.size() / 2]},
            {"p99_ms", lat[std::min(lat.size() - 1, lat.size() * 99 / 100)]},
            {"slow_delivered", slowDone},
            {"slow_in_flight_at_end", slowInFlight}};
}

// A lean load generator: one thread, `clients` keep-alive connections in an
// epoll set, each sending `request` again as soon as its answer (which must
// be a 202) is in, `total` in all; each answer's latency in ms. An HTTP
// client library's threads would take much of the two cores webhookd is
// measured on.
void leanPosts(const std::string& host, int port, const std::string& request, int clients, int total,
               std::vector<double>& latencies)
{
    struct Conn {
        int fd = -1;
        std::string in;
        std::chrono::steady_clock::time_point sent;
    };
    const int ep = epoll_create1(0);
    std::vector<Conn> conns(static_cast<size_t>(clients));
    int started = 0, answered = 0;
    auto send = [&](Conn& c) {
        c.in.clear();
        c.sent = std::chrono::steady_clock::now();
        for (size_t off = 0; off < request.size();) {
            const ssize_t n = ::send(c.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
            if (n <= 0)
                die(std::string("send: ") + std::strerror(errno));
            off += static_cast<size_t>(n);
        }
        ++started;
    };
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    for (size_t i = 0; i < conns.size(); ++i) {
        Conn& c = conns[i];
        c.fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            die(std::string("connect: ") + std::strerror(errno));
        const int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        if (started < total)
            send(c);
    }
    std::vector<epoll_event> events(conns.size());
    char buf[16384];
    while (answered < total) {
        const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 30'000);
        if (n <= 0)
            die("no answer within 30 s");
        for (int k = 0; k < n; ++k) {
            Conn& c = conns[events[static_cast<size_t>(k)].data.u64];
            const ssize_t got = recv(c.fd, buf, sizeof buf, 0);
            if (got <= 0)
                die("webhookd closed a connection");
            c.in.append(buf, static_cast<size_t>(got));
            const size_t head = c.in.find("\r\n\r\n");
            if (head == std::string::npos)
                continue;
            size_t length = 0;
            for (size_t at = 0; (at = c.in.find("\r\n", at)) < head; at += 2)
                if (strncasecmp(c.in.c_str() + at + 2, "Content-Length:", 15) == 0)
                    length = std::strtoul(c.in.c_str() + at + 17, nullptr, 10);
            if (c.in.size() < head + 4 + length)
                continue;
            if (c.in.compare(0, 13, "HTTP/1.1 202 ") != 0)
                die("an answer was not 202: " + c.in.substr(0, 200));
            latencies.push_back(seconds(c.sent) * 1000.0);
            ++answered;
            if (started < total)
                send(c);
        }
    }
    for (auto& c : conns)
        close(c.fd);
    close(ep);
}

// POST /api/v1/events through a real webhookd --no-deliver: `clients`
// keep-alive connections send `count` events in all (batch > 1: that many
// events per POST /events/batch), each answered once on disk (FULL).
json apiIngest(const std::string& webhookd, const std::string& path, int count, int clients, int batch)
{
    // What one FULL commit per request allows on this disk, measured just
    // before and just after (a VM's disk drifts between runs minutes apart).
    const int baselineCount = std::min(count, 2000);
    const double before = oneEventPerCommit(path + ".one", baselineCount, Durability::Full);
    std::string token;
    {
        Database db = freshDb(path, Durability::Full);
        addBenchTarget(db, "http://127.0.0.1:9/bench");
        token = must(createApiKey(db, "bench", {"events:write"}, std::nullopt, SystemClock::instance()), "key").token;
    }
    int pipeFds[2];
    if (pipe(pipeFds) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipeFds[1], 2);
        close(pipeFds[0]);
        const std::string threads = std::to_string(clients + 4);
        execl(webhookd.c_str(), webhookd.c_str(), "--db", path.c_str(), "--no-deliver", "--api-listen", "127.0.0.1:0",
              "--api-threads", threads.c_str(), "--log-level", "info", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(pipeFds[1]);
    serverPid = pid;
    // The address from its "api listening address=HOST:PORT" line.
    std::string log, address;
    char buf[512];
    while (address.empty()) {
        const ssize_t n = read(pipeFds[0], buf, sizeof buf);
        if (n <= 0)
            die("webhookd --no-deliver did not start: " + log);
        log.append(buf, static_cast<size_t>(n));
        const size_t at = log.find("api listening address=");
        const size_t end = at == std::string::npos ? at : log.find('\n', at);
        if (end != std::string::npos)
            address = log.substr(at + 22, end - at - 22);
    }
    std::thread drainLog([fd = pipeFds[0], logPath = path + ".log"] {
        FILE* out = std::fopen(logPath.c_str(), "w");
        char sink[512];
        for (ssize_t n; (n = read(fd, sink, sizeof sink)) > 0;)
            if (out)
                std::fwrite(sink, 1, static_cast<size_t>(n), out);
        if (out)
            std::fclose(out);
    });
    const size_t colon = address.rfind(':');
    const std::string host = address.substr(0, colon);
    const int port = std::stoi(address.substr(colon + 1));

    std::string one = R"({"type":"bench.api","data":{"order":"ord_1","amount_cents":4200}})";
    std::string many = "[";
    for (int i = 0; i < batch; ++i)
        many += (i ? "," : "") + one;
    many += "]";
    const int requests = batch > 1 ? count / batch : count;
    const std::string& body = batch > 1 ? many : one;
    const std::string request = std::string("POST ") + (batch > 1 ? "/api/v1/events/batch" : "/api/v1/events") +
        " HTTP/1.1\r\nHost: " + address + "\r\nAuthorization: Bearer " + token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    std::vector<double> latencies;
    latencies.reserve(static_cast<size_t>(requests));
    auto t0 = std::chrono::steady_clock::now();
    leanPosts(host, port, request, clients, requests, latencies);
    const double elapsed = seconds(t0);
    kill(pid, SIGTERM);
    int status = 0;
    rusage server{};
    wait4(pid, &status, 0, &server);
    serverPid = 0;
    drainLog.join();
    close(pipeFds[0]);
    SQLite::Database check(path, SQLite::OPEN_READONLY);
    const int64_t stored = check.execAndGet("SELECT count(*) FROM events").getInt64();
    if (stored != static_cast<int64_t>(requests) * batch)
        die("stored " + std::to_string(stored) + " events of " + std::to_string(requests * batch));
    std::sort(latencies.begin(), latencies.end());
    const double after = oneEventPerCommit(path + ".one", baselineCount, Durability::Full);
    const double rate = static_cast<double>(stored) / elapsed, single = (before + after) / 2;
    return {{"events_per_s", rate},
            {"one_commit_per_event_per_s", single},
            {"ratio", rate / single},
            {"seconds", elapsed},
            {"requests", requests},
            {"p50_ms", latencies[latencies.size() / 2]},
            {"p99_ms", latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)]},
            // webhookd's CPU (user + system) over the whole run, start and
            // stop included: the load generator shares this machine's cores.
            {"server_cpu_s", cpuSeconds(server)},
            {"server_cpu_us_per_event", cpuSeconds(server) * 1e6 / static_cast<double>(stored)}};
}

json retryDelays(int64_t count)
{
    RetryPolicy p;
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(0, 1);
    int64_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < count; ++i)
        sink += backoffDelay(p, static_cast<int>(i % 12) + 1, u(rng));
    const double rate = static_cast<double>(count) / seconds(t0);
    return {{"per_s", rate}, {"checksum", sink}};
}

// Runs webhookd on a backlog of `count` deliveries with --drain and reports
// its peak resident set size.
json memory(const std::string& webhookd, const std::string& path, const std::string& url, int64_t count,
            int concurrency)
{
    {
        Database db = freshDb(path, Durability::Normal);
        addBenchTarget(db, url);
    }
    fillBacklog(path, count, 0, 0, DeliveryStatus::Pending);
    auto t0 = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
        const std::string c = std::to_string(concurrency);
        execl(webhookd.c_str(), webhookd.c_str(), "--db", path.c_str(), "--drain", "--allow-private-networks",
              "--concurrency", c.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    rusage usage{};
    if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("webhookd did not drain the backlog cleanly");
    const double elapsed = seconds(t0);
    return {{"peak_rss_mib", static_cast<double>(usage.ru_maxrss) / 1024.0}, {"deliveries_per_s", count / elapsed}};
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app("webhookd-bench: one measurement per run, printed as JSON (tools/bench drives it)");
    app.require_subcommand(1);
    std::string db = "/tmp/webhookd-bench.db", url, sync = "full", webhookd;
    int count = 1000, concurrency = 64, batch = 64, interval = 10, claims = 200, targets = 1, slowBacklog = 3000,
        paced = 500, groups = 0;
    std::string slowUrl;
    int64_t waiting = 10'000;
    bool storm = false;

    auto* enq = app.add_subcommand("enqueue", "library enqueue, one event per transaction, vs raw SQLite commits");
    enq->add_option("--db", db);
    enq->add_option("--count", count);
    enq->add_option("--sync", sync)->check(CLI::IsMember({"full", "normal"}));
    auto* cc = app.add_subcommand("claim-complete", "claim + complete through the storage layer, no HTTP");
    cc->add_option("--db", db);
    cc->add_option("--count", count);
    cc->add_option("--batch", batch);
    auto* raw = app.add_subcommand("raw-http", "a plain libcurl multi loop to the receiver, no database");
    raw->add_option("--url", url)->required();
    raw->add_option("--count", count);
    raw->add_option("--concurrency", concurrency);
    auto* e2e = app.add_subcommand("e2e", "a backlog drained by the worker into the receiver");
    e2e->add_option("--db", db);
    e2e->add_option("--url", url)->required();
    e2e->add_option("--count", count);
    e2e->add_option("--concurrency", concurrency);
    e2e->add_option("--threads", gThreads, "delivery threads (default: one per core)");
    e2e->add_option("--groups", groups, "an ordered target (key) whose backlog is this many groups");
    auto* lat = app.add_subcommand("latency", "send-to-receipt latency at low load");
    lat->add_option("--db", db);
    lat->add_option("--url", url)->required();
    lat->add_option("--count", count);
    lat->add_option("--interval-ms", interval);
    auto* sc = app.add_subcommand("scale", "claim cost with many deliveries waiting");
    sc->add_option("--db", db);
    sc->add_option("--waiting", waiting);
    sc->add_flag("--storm", storm, "the waiting rows are high-priority retries not yet due");
    sc->add_option("--batch", batch);
    sc->add_option("--claims", claims);
    sc->add_option("--targets", targets, "spread the backlog over this many targets");
    sc->add_option("--groups", groups, "an ordered target (key) whose backlog is this many groups");
    auto* mixed = app.add_subcommand("slow-beside-fast", "a fast target's deliveries while a slow one has a backlog");
    mixed->add_option("--db", db);
    mixed->add_option("--url", url, "the fast target's receiver")->required();
    mixed->add_option("--slow-url", slowUrl, "the slow target's receiver")->required();
    mixed->add_option("--count", count);
    mixed->add_option("--slow-backlog", slowBacklog);
    mixed->add_option("--paced", paced, "events then sent one every --interval ms, for latency");
    mixed->add_option("--interval", interval);
    mixed->add_option("--concurrency", concurrency);
    auto* ai = app.add_subcommand("api-ingest", "POST /api/v1/events through webhookd --no-deliver");
    ai->add_option("--webhookd", webhookd)->required();
    ai->add_option("--db", db);
    ai->add_option("--count", count);
    ai->add_option("--concurrency", concurrency, "keep-alive clients");
    ai->add_option("--batch", batch, "events per request (POST /events/batch when above 1)");
    auto* rd = app.add_subcommand("retry-delay", "backoff computations per second");
    rd->add_option("--count", count);
    auto* mem = app.add_subcommand("memory", "webhookd's peak RSS through a backlog");
    mem->add_option("--webhookd", webhookd)->required();
    mem->add_option("--db", db);
    mem->add_option("--url", url)->required();
    mem->add_option("--waiting", waiting);
    mem->add_option("--concurrency", concurrency);
    CLI11_PARSE(app, argc, argv);

    json out;
    if (*enq)
        out = enqueue(db, count, sync == "full" ? Durability::Full : Durability::Normal);
    else if (*cc)
        out = claimComplete(db, count, batch);
    else if (*raw)
        out = rawHttp(url, concurrency, count);
    else if (*e2e)
        out = endToEnd(db, url, concurrency, count, groups);
    else if (*lat)
        out = latency(db, url, count, interval);
    else if (*sc)
        out = scale(db, waiting, storm, batch, claims, targets, groups);
    else if (*mixed)
        out = slowBesideFast(db, url, slowUrl, count, slowBacklog, concurrency, paced, interval);
    else if (*ai)
        out = apiIngest(webhookd, db, count, concurrency, batch);
    else if (*rd)
        out = retryDelays(count);
    else if (*mem)
        out = memory(webhookd, db, url, waiting, concurrency);
    std::cout << out.dump() << std::endl;
    return 0;
}
