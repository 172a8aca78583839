#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "delivery/address_guard.h"
#include "storage/database.h"
#include "storage/queue.h"
#include "worker/metrics.h"

namespace webhookd {

struct WorkerOptions {
    std::string database = "./webhooks.db"; // the store's locator: PATH or sqlite:PATH
    int concurrency = 10;                   // transfers in flight at most
    int threads = 0;                        // delivery threads (each its own libcurl multi); 0: one per core
    int64_t pollIntervalMs = 1000;          // longest sleep when idle
    int64_t defaultTimeoutMs = 30'000;      // for targets without their own
    std::string userAgent = "webhookd/" WEBHOOKD_VERSION;
    int64_t leaseMs = 60'000;            // at least; see DESIGN.md
    int64_t leaseMarginMs = 15'000;      // a lease outlives its request's timeout by this
    int64_t retryAfterCapMs = 3'600'000; // Retry-After is honoured up to this
    int64_t shutdownGraceMs = 10'000;    // in-flight transfers get this long
    bool allowPrivateNetworks = false;
    std::vector<Cidr> allowedNetworks;
    std::vector<Cidr> deniedNetworks; // refused whatever else allows
    std::vector<Cidr> nat64Prefixes;  // /96 prefixes whose embedded IPv4 address is judged too
    bool httpsOnly = false;
    std::string caBundle;                  // PEM file trusted for TLS; empty: the system's
    size_t maxResponseBytes = 1024 * 1024; // response bytes read before an attempt fails as too_large
    bool drain = false;                    // exit once nothing is outstanding
    int busyTimeoutMs = 5000;
    std::string workerId;             // default: host:pid:random
    BreakerPolicy breaker;            // pause a target after this many failures in a row
    int64_t healthWindowMs = 300'000; // the success rate /healthz judges covers this long
    bool logPayloads = false;         // failures and dead letters log the event's payload
    // Every attempt keeps its request and answer heads (attempts.request_head,
    // response_head); false: only attempts that did not deliver, where people
    // debug (a delivered attempt keeps its status and excerpt). Keeping them
    // all costs about 9 % of SQLite's end-to-end rate (tools/bench, run 10).
    bool allAttemptHeads = false;
    int64_t retentionMs = 0; // delete finished deliveries older than this (0: keep all)
    // How often the "progress" line is logged while there is work (attempts
    // finished or transfers in flight since the last one); an idle worker
    // logs nothing. --drain on a terminal logs every second.
    int64_t progressIntervalMs = 10'000;
};

// The delivery loop: claims due deliveries, sends them through one libcurl
// multi handle, records every attempt and status change. A C++ program can run
// it in-process: create(), run() on a thread of its choosing, stop() from any
// other (or from a signal handler). The Clock must outlive the Worker.
class Worker {
public:
    static Result<std::unique_ptr<Worker>> create(WorkerOptions options, const Clock& clock = SystemClock::instance());
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs until stop() (then finishes or releases in-flight work within the
    // grace period) or, with drain, until nothing is outstanding. Storage
    // failures do not end it: claiming and recording back off and retry, and
    // the database keeps the truth meanwhile. Returns a Storage error (after
    // the same wind-down) when the database file was replaced or removed
    // under it: delivering on from a file nobody else sees would be silent
    // loss.
    Status run();

    // Asks run() to wind down. Thread-safe and async-signal-safe.
    void stop();

    const WorkerCounters& counters() const;
    const WorkerMetrics& metrics() const;
    const std::string& id() const;

private:
    struct Impl;
    explicit Worker(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd
