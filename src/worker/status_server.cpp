#include "worker/status_server.h"

#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "http/server.h"
#include "records/json.h"
#include "storage/database.h"
#include "storage/monitor.h"
#include "storage/stats.h"
#include "worker/worker.h"

namespace webhookd {

namespace {

// A scrape every second from several Prometheus servers reads the table once.
constexpr int64_t kSnapshotMaxAgeMs = 1000;
// /stats reads every delivery and attempt: at most once every few seconds.
constexpr int64_t kStatsMaxAgeMs = 5000;
// Fewer attempts than this in the window say nothing about the success rate.
constexpr int64_t kMinAttemptsForRate = 5;

} // namespace

// A read connection and what it last produced, refreshed at most every
// maxAgeMs. Readers never wait for a refresh another thread is doing: they
// take the last result while one runs (a stale answer beats a late one for
// /healthz and /metrics).
template <typename T>
class CachedRead {
public:
    CachedRead(std::string database, int64_t maxAgeMs)
        : database_(std::move(database)),
          maxAgeMs_(maxAgeMs)
    { }

    // The value, or nullopt with the database's error in `error`.
    template <typename Compute>
    std::optional<T> get(int64_t now, Compute compute, std::string& error)
    {
        {
            std::lock_guard lock(mutex_);
            if (value_ && now - at_ < maxAgeMs_ && error_.empty())
                return value_;
        }
        std::unique_lock refreshing(refresh_, std::try_to_lock);
        if (!refreshing.owns_lock()) {
            {
                std::lock_guard lock(mutex_);
                if (value_) // someone is refreshing: the last value will do
                    return value_;
            }
            refreshing.lock(); // nothing yet: wait for the first (mutex_ is not held: no lock order to break)
            std::lock_guard lock(mutex_);
            if (value_ && now - at_ < maxAgeMs_ && error_.empty())
                return value_;
        }
        std::optional<T> fresh;
        std::string failed;
        if (!db_) {
            OpenOptions open;
            open.busyTimeoutMs = 1000;
            auto d = Database::open(database_, open);
            if (d)
                db_.emplace(std::move(*d));
            else
                failed = d.error().message();
        }
        if (db_) {
            if (auto same = db_->checkIdentity(); !same) {
                failed = same.error().message();
                db_.reset(); // reopened next time, on the new file
            } else if (auto r = compute(*db_)) {
                fresh = std::move(*r);
            } else {
                failed = r.error().message();
                db_.reset(); // reopened next time
            }
        }
        std::lock_guard lock(mutex_);
        error_ = failed;
        if (fresh) {
            value_ = std::move(fresh);
            at_ = now;
        } else {
            value_.reset();
        }
        error = error_;
        return value_;
    }

private:
    std::string database_;
    int64_t maxAgeMs_;
    std::mutex refresh_; // held while the connection computes; guards db_
    std::optional<Database> db_;
    std::mutex mutex_; // guards what follows
    std::optional<T> value_;
    int64_t at_ = 0;
    std::string error_;
};

struct StatusServer::Impl {
    StatusServerOptions opt;
    const Worker& worker; // must outlive the StatusServer (see status_server.h)
    std::unique_ptr<http::Server> http;
    int64_t createdAt = SystemClock::instance().nowMs(); // the loop's first turn counts from here

    // /healthz and /metrics share one snapshot; /stats (a scan of every
    // delivery and attempt) has its own connection and cache, so it never
    // holds up the other two.
    CachedRead<MonitorSnapshot> snapshots;
    CachedRead<Stats> stats_;

    Impl(StatusServerOptions o, const Worker& w)
        : opt(std::move(o)),
          worker(w),
          snapshots(opt.database, kSnapshotMaxAgeMs),
          stats_(opt.database, kStatsMaxAgeMs)
    { }

    std::optional<MonitorSnapshot> readSnapshot(int64_t now, std::string& error)
    {
        return snapshots.get(
            now, [now](Database& db) { return monitorSnapshot(db, now); }, error);
    }

    void healthz(http::Response& res)
    {
        using nlohmann::json;
        const int64_t now = SystemClock::instance().nowMs();
        const WorkerCounters& c = worker.metrics().counters;
        const int64_t tickAge = now - std::max(c.lastTickMs.load(), createdAt);
        const bool loopOk = tickAge <= opt.stallMs;
        std::string error;
        const auto snap = readSnapshot(now, error);
        const auto window = worker.metrics().recent(now);
        const double rate =
            window.attempts == 0 ? 1.0 : static_cast<double>(window.successes) / static_cast<double>(window.attempts);
        const bool rateOk = window.attempts < kMinAttemptsForRate || rate >= opt.healthyRate;
        const bool healthy = loopOk && snap.has_value() && rateOk;

        json body;
        body["status"] = healthy ? "healthy" : "degraded";
        body["worker"] = worker.id();
        body["checks"]["loop"] = {{"ok", loopOk}, {"last_tick_age_ms", tickAge}, {"limit_ms", opt.stallMs}};
        body["checks"]["database"] = {{"ok", snap.has_value()}};
        if (!snap)
            body["checks"]["database"]["error"] = error;
        body["checks"]["success_rate"] = {{"ok", rateOk},
                                          {"rate", rate},
                                          {"attempts", window.attempts},
                                          {"successes", window.successes},
                                          {"window_ms", worker.metrics().healthWindowMs()},
                                          {"threshold", opt.healthyRate},
                                          {"min_attempts", kMinAttemptsForRate}};
        body["in_flight"] = c.inFlight.load();
        if (snap) {
            json depth = json::object();
            for (DeliveryStatus s : status_set::kAll)
                depth[std::string(toString(s))] = 0;
            for (const auto& [key, n] : snap->deliveries) {
                auto& d = depth[std::string(toString(key.second))];
                d = d.get<int64_t>() + n;
            }
            body["queue_depth"] = depth;
            body["oldest_due_age_ms"] =
                snap->oldestDueAt ? json(std::max<int64_t>(0, now - *snap->oldestDueAt)) : json(nullptr);
            json paused = json::array(), disabled = json::array();
            for (const auto& t : snap->targets) {
                if (!t.enabled)
                    disabled.push_back(t.id);
                else if (t.paused)
                    paused.push_back(t.id);
            }
            body["paused_targets"] = paused;
            body["disabled_targets"] = disabled;
        }
        res.set(healthy ? 200 : 503, body.dump() + "\n", "application/json");
    }

    // The process answers and its delivery loop turned within stallMs.
    void livez(http::Response& res)
    {
        const int64_t now = SystemClock::instance().nowMs();
        const int64_t tickAge = now - std::max(worker.metrics().counters.lastTickMs.load(), createdAt);
        const bool ok = tickAge <= opt.stallMs;
        nlohmann::json body = {{"status", ok ? "ok" : "stalled"},
                               {"loop", {{"ok", ok}, {"last_tick_age_ms", tickAge}, {"limit_ms", opt.stallMs}}}};
        res.set(ok ? 200 : 503, body.dump() + "\n", "application/json");
    }

    // The store answers (the snapshot /metrics uses, at most a second old)
    // and the API, when this process serves it, accepts connections.
    void readyz(http::Response& res)
    {
        std::string error;
        const bool store = readSnapshot(SystemClock::instance().nowMs(), error).has_value();
        nlohmann::json body;
        body["checks"]["database"] = {{"ok", store}};
        if (!store)
            body["checks"]["database"]["error"] = error;
        bool ok = store;
        if (opt.apiAccepting) {
            const bool api = opt.apiAccepting();
            body["checks"]["api"] = {{"ok", api}};
            ok = ok && api;
        }
        body["status"] = ok ? "ready" : "not_ready";
        res.set(ok ? 200 : 503, body.dump() + "\n", "application/json");
    }

    void metrics(http::Response& res)
    {
        const int64_t now = SystemClock::instance().nowMs();
        std::string error;
        auto snap = readSnapshot(now, error);
        if (!snap) {
            res.set(503, "the database does not answer\n", "text/plain");
            return;
        }
        res.set(200, prometheusText(worker.metrics(), *snap, now), "text/plain; version=0.0.4; charset=utf-8");
    }

    void stats(http::Response& res)
    {
        std::string error;
        auto s = stats_.get(
            SystemClock::instance().nowMs(),
            [](Database& db) { return statistics(db, StatsFilter{}, SystemClock::instance()); }, error);
        if (!s) {
            res.set(503, nlohmann::json{{"error", error}}.dump() + "\n", "application/json");
            return;
        }
        res.set(200, statsJson(*s).dump() + "\n", "application/json");
    }
};

StatusServer::StatusServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }

StatusServer::~StatusServer() { stop(); }

Result<std::unique_ptr<StatusServer>> StatusServer::create(StatusServerOptions options, const Worker& worker)
{
    auto impl = std::make_unique<Impl>(std::move(options), worker);
    Impl* p = impl.get();
    http::ServerOptions so;
    so.host = p->opt.host;
    so.port = p->opt.port;
    // Idle and slow clients hold no thread (the server reads them on its
    // loop); threads only run handlers, so a /stats scan on one leaves the
    // rest to /livez and /healthz. No keep-alive: every answer closes its
    // connection, and one that sends nothing for a second is closed. No
    // request needs a body.
    so.threads = 4;
    so.ioTimeoutMs = 2000;
    so.headTimeoutMs = 2000;
    so.requestDeadlineMs = 2000;
    so.maxBodyBytes = 0;
    so.keepAliveMax = 1;
    so.keepAliveTimeoutMs = 1000;
    so.maxConnections = 1024;
    so.maxConnectionsPerPeer = 256;
    auto server = http::Server::create(std::move(so));
    if (!server)
        return fail(server.error());
    p->http = std::move(*server);
    p->http->route("GET", "/livez", [p](const http::Request&, http::Response& res) { p->livez(res); });
    p->http->route("GET", "/readyz", [p](const http::Request&, http::Response& res) { p->readyz(res); });
    p->http->route("GET", "/healthz", [p](const http::Request&, http::Response& res) { p->healthz(res); });
    p->http->route("GET", "/metrics", [p](const http::Request&, http::Response& res) { p->metrics(res); });
    p->http->route("GET", "/stats", [p](const http::Request&, http::Response& res) { p->stats(res); });
    return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

void StatusServer::start() { impl_->http->start(); }

void StatusServer::stop()
{
    if (impl_)
        impl_->http->stop();
}

std::string StatusServer::address() const { return impl_->http->address(); }

} // namespace webhookd
