#pragma once

// The delivery loop's state and steps (src/worker only). Worker::Impl is one
// object on the worker's thread; its steps live by concern: the loop, the
// wind-down and the store's health in worker.cpp; a claimed delivery's
// request, its outcome as a Completion and the recording in attempts.cpp.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "core/error.h"
#include "delivery/http_pool.h"
#include "storage/database.h"
#include "storage/queue.h"
#include "worker/in_flight.h"
#include "worker/metrics.h"
#include "worker/store_clock.h"
#include "worker/worker.h"

namespace webhookd {

struct Worker::Impl {
    WorkerOptions opt;
    StoreClock clock; // over the Clock given, which must outlive the Worker (see worker.h)
    Database db;
    Queue queue;
    std::unique_ptr<HttpPool> http; // the delivery threads
    WorkerMetrics metrics;
    WorkerCounters& counters = metrics.counters;
    std::atomic<bool> stopping{false};

    InFlight inflight;
    std::vector<Completion> unrecorded; // finished, not yet committed
    int64_t firstUnrecordedMono = 0;
    std::vector<HttpResult> done;

    int64_t nextClaimAt = 0;        // wall ms; claiming before then finds nothing
    bool claimOnCompletion = false; // the last claim held rows back: the next finished transfer claims
    uint64_t lastChangeToken = 0;
    int64_t storagePauseUntilMono = 0; // backing off after a storage failure
    int64_t storageFailures = 0;
    int64_t nextProgressMono = 0;
    int64_t attemptsAtProgress = 0; // counters.attempts when progress() last looked
    int64_t nextIdentityCheckMono = 0;
    std::optional<Error> fatal; // ends run() with this error

    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> unit{0.0, 1.0};

    // Clock changes. Stored times are wall-clock ms: after a jump back a retry
    // due in a second would wait an hour, after one forward every lease
    // (this worker's own too) would look expired. So a jump moves the stored
    // schedule by the jump (Queue::shiftSchedule), and with it the retry
    // times not yet recorded, and the next claim is looked for at once.
    int64_t wallOffset = 0; // nowMs - monotonicMs at the last tick
    bool wallOffsetKnown = false;

    Impl(WorkerOptions o, const Clock& c, Database d);

    // worker.cpp
    Status run();
    void shutdown();
    void storageFailed(const Error& e, const char* what);
    void storageRecovered();
    bool storagePaused() const;
    bool shouldRecord() const;
    bool wantsClaim(int64_t now) const;
    void detectClockJump(int64_t now);
    void progress();
    void checkStore();

    // attempts.cpp
    // Claims into the free slots and starts their requests; what finished
    // and is not yet recorded goes into the same transaction, so one commit
    // serves both.
    void claim(int64_t now);
    // Turns the finished transfers in `done` into Completions (unrecorded).
    void collect();
    // Commits unrecorded (storage trouble leaves it for the next try).
    void record();
    // After unrecorded was committed.
    void recorded();
};

} // namespace webhookd
