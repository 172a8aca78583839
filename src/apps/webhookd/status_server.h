#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"

namespace webhookd {

class RequestMetrics;
class Worker;

struct StatusServerOptions {
    std::string host = "127.0.0.1";
    int port = 9464;          // 0: any free port
    std::string database;     // the store's locator, opened read-only
    double healthyRate = 0.9; // /healthz degrades below this success rate
    int64_t stallMs = 30'000; // /healthz degrades when the loop has not turned for this long
    std::function<bool()> apiAccepting; // for /readyz, when this process serves the API
    // The API's request counts and durations for /metrics, when this
    // process serves the API; must outlive the StatusServer.
    const RequestMetrics* apiMetrics = nullptr;
};

// webhookd's status endpoint, on http::Server: GET /livez (the process and
// its delivery loop turn: for a liveness probe), /readyz (the store answers
// and, when this process serves it, the API accepts: for a readiness probe),
// /healthz ("delivery health": also degrades when receivers fail, so not for
// a liveness probe; 200 healthy or 503 degraded, JSON), /metrics (Prometheus
// text) and /stats (JSON). Every answer closes its connection (scrapers and
// probes reconnect anyway), so a client that keeps one open holds nothing.
// Serves from its own threads and its own read connection; never touches the
// worker's.
//
// Without a worker (webhookd --no-deliver: an API-only process) /livez
// follows the API's connection loop, /metrics has the store's gauges, the
// API's series and webhookd_build_info, and /healthz, which is about
// delivering, is not served (404).
class StatusServer {
public:
    // Binds now (so a port in use is reported at start), serves once
    // start()ed. worker: this process's delivery loop, or null when it
    // delivers nothing; it must outlive the StatusServer.
    static Result<std::unique_ptr<StatusServer>> create(StatusServerOptions options, const Worker* worker);
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    void start();
    void stop();
    std::string address() const; // host:port as bound

private:
    struct Impl;
    explicit StatusServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd
