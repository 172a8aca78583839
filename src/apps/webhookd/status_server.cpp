#include "apps/webhookd/status_server.h"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/request_metrics.h"
#include "core/clock.h"
#include "http/server.h"
#include "model/delivery_status.h"
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

std::string labelValue(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

struct Writer {
    std::string out;

    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, std::string_view labels, double value)
    {
        out += name;
        if (!labels.empty())
            out += fmt::format("{{{}}}", labels);
        out += fmt::format(" {}\n", value);
    }
};

// A histogram's _bucket, _sum and _count lines; labels (may be empty) go
// before le. counts are per bucket, not cumulative.
template <size_t N>
void histogram(Writer& w, std::string_view name, const std::string& labels, const std::array<double, N>& bounds,
               const std::array<int64_t, N>& counts, int64_t count, double sumSeconds)
{
    const std::string sep = labels.empty() ? "" : labels + ",";
    int64_t cumulative = 0;
    for (size_t i = 0; i < N; ++i) {
        cumulative += counts[i];
        w.sample(fmt::format("{}_bucket", name), fmt::format("{}le=\"{}\"", sep, bounds[i]),
                 static_cast<double>(cumulative));
    }
    w.sample(fmt::format("{}_bucket", name), sep + "le=\"+Inf\"", static_cast<double>(count));
    w.sample(fmt::format("{}_sum", name), labels, sumSeconds);
    w.sample(fmt::format("{}_count", name), labels, static_cast<double>(count));
}

// What /metrics reports on besides the store: this process's delivery loop
// and API, each when it runs one.
struct Sources {
    const WorkerMetrics* worker = nullptr;
    const RequestMetrics* api = nullptr;
    std::string_view backend; // "sqlite" or "postgres"
};

void workerFamilies(Writer& w, const WorkerMetrics& metrics)
{
    const WorkerCounters& c = metrics.counters;
    auto counter = [&](std::string_view name, std::string_view help, int64_t value) {
        w.family(name, "counter", help);
        w.sample(name, "", static_cast<double>(value));
    };
    w.family("webhookd_attempts_total", "counter",
             "HTTP attempts this worker finished, by target and what became of the delivery: delivered, failed (a "
             "retry is scheduled), throttled (a retry a 429 with Retry-After asked for, not counted against the "
             "attempts) or dead_letter.");
    for (const auto& [key, n] : metrics.attemptsByTarget())
        w.sample("webhookd_attempts_total",
                 fmt::format("target=\"{}\",outcome=\"{}\"", labelValue(key.first), labelValue(key.second)),
                 static_cast<double>(n));
    w.family("webhookd_attempt_results_total", "counter",
             "HTTP attempts this worker finished, by result: success, http_3xx, http_4xx, http_5xx or the transport "
             "error (timeout, connect, dns, tls, blocked_address, bad_url, too_large, network).");
    for (const auto& [result, n] : metrics.attemptsByResult())
        w.sample("webhookd_attempt_results_total", fmt::format("result=\"{}\"", labelValue(result)),
                 static_cast<double>(n));

    const auto h = metrics.latency();
    w.family("webhookd_attempt_duration_seconds", "histogram", "Duration of HTTP attempts.");
    histogram(w, "webhookd_attempt_duration_seconds", "", WorkerMetrics::kBuckets, h.buckets, h.count, h.sumSeconds);

    counter("webhookd_delivered_total", "Deliveries this worker delivered.", c.delivered);
    counter("webhookd_retries_scheduled_total", "Failed attempts after which a retry was scheduled.", c.retried);
    counter("webhookd_dead_lettered_total", "Deliveries this worker moved to the dead-letter queue.", c.deadLettered);
    counter("webhookd_claimed_total", "Deliveries this worker claimed.", c.claimed);
    counter("webhookd_breaker_trips_total", "Times this worker paused a target (circuit breaker opened).",
            c.breakerTrips);
    counter("webhookd_breaker_resumes_total", "Times a probe succeeded and resumed a paused target.", c.breakerResumes);
    counter("webhookd_throttle_cuts_total", "Times this worker halved a target's rate on 429, 502, 503 or 504.",
            c.throttleCuts);
    counter("webhookd_targets_gone_total", "Targets this worker disabled because they answered 410 Gone.",
            c.targetsGone);
    counter("webhookd_storage_failures_total", "Database operations that failed (and were retried).",
            c.storageFailures);
    w.family("webhookd_in_flight", "gauge", "HTTP transfers in flight.");
    w.sample("webhookd_in_flight", "", static_cast<double>(c.inFlight.load()));
    w.family("webhookd_last_tick_timestamp_seconds", "gauge", "When the delivery loop last turned (Unix time).");
    w.sample("webhookd_last_tick_timestamp_seconds", "", static_cast<double>(c.lastTickMs.load()) / 1000.0);
}

void apiFamilies(Writer& w, const RequestMetrics& api)
{
    const auto snap = api.snapshot();
    w.family("webhookd_api_requests_total", "counter",
             "HTTP API requests answered, by method, route pattern (other: no route) and status.");
    for (const auto& [key, n] : snap.requests) {
        const auto& [method, route, status] = key;
        w.sample("webhookd_api_requests_total",
                 fmt::format("method=\"{}\",route=\"{}\",status=\"{}\"", labelValue(method), labelValue(route), status),
                 static_cast<double>(n));
    }
    w.family("webhookd_api_request_duration_seconds", "histogram",
             "How long the HTTP API took to answer, from a request's first byte, by route pattern.");
    for (const auto& [route, h] : snap.durations)
        histogram(w, "webhookd_api_request_duration_seconds", fmt::format("route=\"{}\"", labelValue(route)),
                  RequestMetrics::kBuckets, h.buckets, h.count, h.sumSeconds);
}

// The Prometheus text exposition (format 0.0.4) of what this process runs
// and of the database's state: what /metrics serves.
std::string prometheusText(const Sources& src, const MonitorSnapshot& db, int64_t nowMs)
{
    Writer w;
    w.family("webhookd_build_info", "gauge", "Always 1; its labels say which webhookd runs, on which store.");
    w.sample("webhookd_build_info",
             fmt::format("version=\"{}\",backend=\"{}\"", labelValue(WEBHOOKD_VERSION), labelValue(src.backend)), 1);

    w.family("webhookd_deliveries", "gauge", "Deliveries in the database by target and status.");
    std::map<DeliveryStatus, int64_t> depth;
    for (const auto& [key, n] : db.deliveries) {
        w.sample("webhookd_deliveries",
                 fmt::format("target=\"{}\",status=\"{}\"", labelValue(key.first), toString(key.second)),
                 static_cast<double>(n));
        depth[key.second] += n;
    }
    w.family("webhookd_queue_depth", "gauge", "Deliveries in the database by status, all targets.");
    for (DeliveryStatus status : status_set::kAll)
        w.sample("webhookd_queue_depth", fmt::format("status=\"{}\"", toString(status)),
                 static_cast<double>(depth[status]));
    w.family("webhookd_oldest_due_age_seconds", "gauge",
             "How long the longest-waiting due delivery of an enabled target has been due (0 when none).");
    w.sample("webhookd_oldest_due_age_seconds", "",
             db.oldestDueAt ? static_cast<double>(std::max<int64_t>(0, nowMs - *db.oldestDueAt)) / 1000.0 : 0.0);

    w.family("webhookd_target_enabled", "gauge", "1 when the target is enabled.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_enabled", fmt::format("target=\"{}\"", labelValue(t.id)), t.enabled ? 1 : 0);
    w.family("webhookd_target_paused", "gauge", "1 while the target's circuit breaker is open.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_paused", fmt::format("target=\"{}\"", labelValue(t.id)), t.paused ? 1 : 0);
    w.family("webhookd_target_consecutive_failures", "gauge", "Failed attempts in a row, per target.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_consecutive_failures", fmt::format("target=\"{}\"", labelValue(t.id)),
                 t.consecutiveFailures);

    w.family("webhookd_target_rate_current", "gauge",
             "The rate adaptive throttling holds the target at, per second (only while throttled).");
    for (const auto& t : db.targets)
        if (t.rateCurrent)
            w.sample("webhookd_target_rate_current", fmt::format("target=\"{}\"", labelValue(t.id)), *t.rateCurrent);
    w.family("webhookd_target_rate_per_second", "gauge",
             "The rate the target is sent at: throttled or configured (absent when unlimited).");
    for (const auto& t : db.targets)
        if (t.rate)
            w.sample("webhookd_target_rate_per_second", fmt::format("target=\"{}\"", labelValue(t.id)), *t.rate);

    if (src.worker)
        workerFamilies(w, *src.worker);
    if (src.api)
        apiFamilies(w, *src.api);
    return std::move(w.out);
}

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
    const Worker* worker; // null without delivery; must outlive the StatusServer (see status_server.h)
    std::unique_ptr<http::Server> http;
    int64_t createdAt = SystemClock::instance().nowMs(); // the loop's first turn counts from here

    // /healthz and /metrics share one snapshot; /stats (a scan of every
    // delivery and attempt) has its own connection and cache, so it never
    // holds up the other two.
    CachedRead<MonitorSnapshot> snapshots;
    CachedRead<Stats> stats_;

    Impl(StatusServerOptions o, const Worker* w)
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

    // Only with a worker (create() routes it then).
    void healthz(http::Response& res)
    {
        using nlohmann::json;
        const int64_t now = SystemClock::instance().nowMs();
        const WorkerCounters& c = worker->metrics().counters;
        const int64_t tickAge = now - std::max(c.lastTickMs.load(), createdAt);
        const bool loopOk = tickAge <= opt.stallMs;
        std::string error;
        const auto snap = readSnapshot(now, error);
        const auto window = worker->metrics().recent(now);
        const double rate =
            window.attempts == 0 ? 1.0 : static_cast<double>(window.successes) / static_cast<double>(window.attempts);
        const bool rateOk = window.attempts < kMinAttemptsForRate || rate >= opt.healthyRate;
        const bool healthy = loopOk && snap.has_value() && rateOk;

        json body;
        body["status"] = healthy ? "healthy" : "degraded";
        body["worker"] = worker->id();
        body["checks"]["loop"] = {{"ok", loopOk}, {"last_tick_age_ms", tickAge}, {"limit_ms", opt.stallMs}};
        body["checks"]["database"] = {{"ok", snap.has_value()}};
        if (!snap)
            body["checks"]["database"]["error"] = error;
        body["checks"]["success_rate"] = {{"ok", rateOk},
                                          {"rate", rate},
                                          {"attempts", window.attempts},
                                          {"successes", window.successes},
                                          {"window_ms", worker->metrics().healthWindowMs()},
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
    // Without a worker: the API's connection loop turns.
    void livez(http::Response& res)
    {
        if (!worker) {
            const bool ok = !opt.apiAccepting || opt.apiAccepting();
            nlohmann::json body = {{"status", ok ? "ok" : "stalled"}, {"api", {{"ok", ok}}}};
            res.set(ok ? 200 : 503, body.dump() + "\n", "application/json");
            return;
        }
        const int64_t now = SystemClock::instance().nowMs();
        const int64_t tickAge = now - std::max(worker->metrics().counters.lastTickMs.load(), createdAt);
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
        const Sources sources{worker ? &worker->metrics() : nullptr, opt.apiMetrics,
                              Database::isServerLocator(opt.database) ? "postgres" : "sqlite"};
        res.set(200, prometheusText(sources, *snap, now), "text/plain; version=0.0.4; charset=utf-8");
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

Result<std::unique_ptr<StatusServer>> StatusServer::create(StatusServerOptions options, const Worker* worker)
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
    if (worker)
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
