#include "worker/status_server.h"

#include <sys/socket.h>

#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/model.h"
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

Result<std::pair<std::string, int>> parseListenAddress(const std::string& text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        return fail(Error::invalid("--listen needs HOST:PORT, such as 127.0.0.1:9464, or off"));
    std::string host = text.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']')
            return fail(Error::invalid("--listen needs HOST:PORT, such as [::1]:9464"));
        host = host.substr(1, host.size() - 2);
    }
    const std::string port = text.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        return fail(Error::invalid("--listen has an invalid port '" + port + "'"));
    return std::pair{host, std::stoi(port)};
}

struct StatusServer::Impl {
    StatusServerOptions opt;
    const Worker& worker;
    httplib::Server http;
    std::thread thread;
    int port = 0;
    int64_t createdAt = SystemClock::instance().nowMs(); // the loop's first turn counts from here

    std::mutex mutex; // the connection and the snapshot
    std::optional<Database> db;
    std::optional<MonitorSnapshot> snapshot;
    int64_t snapshotAt = 0;
    std::string dbError;

    Impl(StatusServerOptions o, const Worker& w) : opt(std::move(o)), worker(w) {}

    // Opens the read connection if it is not open; false (and dbError) when
    // the file cannot be opened. Holds: mutex.
    bool connectLocked()
    {
        if (db)
            return true;
        OpenOptions open;
        open.busyTimeoutMs = 1000;
        auto d = Database::open(opt.dbPath, open);
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

    void healthz(httplib::Response& res)
    {
        using nlohmann::json;
        const int64_t now = SystemClock::instance().nowMs();
        const WorkerCounters& c = worker.metrics().counters;
        const int64_t tickAge = now - std::max(c.lastTickMs.load(), createdAt);
        const bool loopOk = tickAge <= opt.stallMs;
        const auto snap = readSnapshot(now);
        const auto window = worker.metrics().recent(now);
        const double rate = window.attempts == 0 ? 1.0
                                                 : static_cast<double>(window.successes) / static_cast<double>(window.attempts);
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
            for (const char* s : kDeliveryStatuses)
                depth[s] = 0;
            for (const auto& [key, n] : snap->deliveries)
                depth[key.second] = depth[key.second].get<int64_t>() + n;
            body["queue_depth"] = depth;
            body["oldest_due_age_ms"] = snap->oldestDueAt ? json(std::max<int64_t>(0, now - *snap->oldestDueAt)) : json(nullptr);
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
        res.status = healthy ? 200 : 503;
        res.set_content(body.dump() + "\n", "application/json");
    }

    void metrics(httplib::Response& res)
    {
        const int64_t now = SystemClock::instance().nowMs();
        auto snap = readSnapshot(now);
        if (!snap) {
            res.status = 503;
            res.set_content("the database does not answer\n", "text/plain");
            return;
        }
        res.set_content(prometheusText(worker.metrics(), *snap, now), "text/plain; version=0.0.4; charset=utf-8");
    }

    void stats(httplib::Response& res)
    {
        std::lock_guard lock(mutex);
        Result<Stats> s = fail(Error::storage(dbError));
        if (connectLocked())
            s = statistics(*db, StatsFilter{}, SystemClock::instance());
        if (!s) {
            res.status = 503;
            res.set_content(nlohmann::json{{"error", s.error().message()}}.dump() + "\n", "application/json");
            return;
        }
        res.set_content(statsJson(*s).dump() + "\n", "application/json");
    }
};

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusServer::~StatusServer() { stop(); }

Result<std::unique_ptr<StatusServer>> StatusServer::create(StatusServerOptions options, const Worker& worker)
{
    auto impl = std::make_unique<Impl>(std::move(options), worker);
    Impl* p = impl.get();
    p->http.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // httplib's default adds SO_REUSEPORT, with which a second webhookd on
    // this host would share the port and answer half the scrapes.
    p->http.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    p->http.set_read_timeout(5, 0);
    p->http.set_write_timeout(5, 0);
    p->http.Get("/healthz", [p](const httplib::Request&, httplib::Response& res) { p->healthz(res); });
    p->http.Get("/metrics", [p](const httplib::Request&, httplib::Response& res) { p->metrics(res); });
    p->http.Get("/stats", [p](const httplib::Request&, httplib::Response& res) { p->stats(res); });
    const std::string& host = p->opt.host;
    if (p->opt.port == 0) {
        p->port = p->http.bind_to_any_port(host);
        if (p->port <= 0)
            return fail(Error::network("cannot listen on " + host + ": " + std::strerror(errno)));
    } else {
        if (!p->http.bind_to_port(host, p->opt.port))
            return fail(Error::network("cannot listen on " + host + ":" + std::to_string(p->opt.port) + ": " +
                                           std::strerror(errno)));
        p->port = p->opt.port;
    }
    return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

void StatusServer::start()
{
    impl_->thread = std::thread([p = impl_.get()] { p->http.listen_after_bind(); });
}

void StatusServer::stop()
{
    if (!impl_)
        return;
    impl_->http.stop();
    if (impl_->thread.joinable())
        impl_->thread.join();
}

std::string StatusServer::address() const
{
    const std::string& h = impl_->opt.host;
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(impl_->port);
}

} // namespace webhookd
