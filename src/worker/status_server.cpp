#include "worker/status_server.h"

#include <mutex>

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
// Fewer attempts than this in the window say nothing about the success rate.
constexpr int64_t kMinAttemptsForRate = 5;

} // namespace

struct StatusServer::Impl {
    StatusServerOptions opt;
    const Worker& worker; // must outlive the StatusServer (see status_server.h)
    std::unique_ptr<http::Server> http;
    int64_t createdAt = SystemClock::instance().nowMs(); // the loop's first turn counts from here

    std::mutex mutex; // the connection and the snapshot
    std::optional<Database> db;
    std::optional<MonitorSnapshot> snapshot;
    int64_t snapshotAt = 0;
    std::string dbError;

    Impl(StatusServerOptions o, const Worker& w)
        : opt(std::move(o)),
          worker(w)
    { }

    // Opens the read connection if it is not open; false (and dbError) when
    // the file cannot be opened. Holds: mutex.
    bool connectLocked()
    {
        if (db)
            return true;
        OpenOptions open;
        open.busyTimeoutMs = 1000;
        auto d = Database::open(opt.database, open);
        if (!d) {
            dbError = d.error().message();
            return false;
        }
        db.emplace(std::move(*d));
        return true;
    }

    // The cached snapshot, refreshed when older than a second; nullopt (and
    // dbError) when the database does not answer.
    std::optional<MonitorSnapshot> readSnapshot(int64_t now)
    {
        std::lock_guard lock(mutex);
        if (snapshot && now - snapshotAt < kSnapshotMaxAgeMs && dbError.empty())
            return snapshot;
        if (!connectLocked())
            return std::nullopt;
        auto s = monitorSnapshot(*db, now);
        if (!s) {
            dbError = s.error().message();
            db.reset(); // reopened next time
            return std::nullopt;
        }
        dbError.clear();
        snapshot = std::move(*s);
        snapshotAt = now;
        return snapshot;
    }

    void healthz(http::Response& res)
    {
        using nlohmann::json;
        const int64_t now = SystemClock::instance().nowMs();
        const WorkerCounters& c = worker.metrics().counters;
        const int64_t tickAge = now - std::max(c.lastTickMs.load(), createdAt);
        const bool loopOk = tickAge <= opt.stallMs;
        const auto snap = readSnapshot(now);
        const auto window = worker.metrics().recent(now);
        const double rate =
            window.attempts == 0 ? 1.0 : static_cast<double>(window.successes) / static_cast<double>(window.attempts);
        const bool rateOk = window.attempts < kMinAttemptsForRate || rate >= opt.healthyRate;
        const bool healthy = loopOk && snap.has_value() && rateOk;

        json body;
        body["status"] = healthy ? "healthy" : "degraded";
        body["worker"] = worker.id();
        body["checks"]["loop"] = {{"ok", loopOk}, {"last_tick_age_ms", tickAge}, {"limit_ms", opt.stallMs}};
        std::string error;
        {
            std::lock_guard lock(mutex);
            error = dbError;
        }
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

    void metrics(http::Response& res)
    {
        const int64_t now = SystemClock::instance().nowMs();
        auto snap = readSnapshot(now);
        if (!snap) {
            res.set(503, "the database does not answer\n", "text/plain");
            return;
        }
        res.set(200, prometheusText(worker.metrics(), *snap, now), "text/plain; version=0.0.4; charset=utf-8");
    }

    void stats(http::Response& res)
    {
        std::lock_guard lock(mutex);
        Result<Stats> s = fail(Error::storage(dbError));
        if (connectLocked())
            s = statistics(*db, StatsFilter{}, SystemClock::instance());
        if (!s) {
            res.set(503, nlohmann::json{{"error", s.error().message()}}.dump() + "\n", "application/json");
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
    so.threads = 2;
    so.ioTimeoutMs = 5000;
    so.requestDeadlineMs = 30'000;
    auto server = http::Server::create(std::move(so));
    if (!server)
        return fail(server.error());
    p->http = std::move(*server);
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
