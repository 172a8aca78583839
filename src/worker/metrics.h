#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/outcome.h"
#include "model/delivery_status.h"

namespace webhookd {

// What a running worker has done so far. Counters only; the database holds
// the truth.
struct WorkerCounters {
    std::atomic<int64_t> attempts{0};
    std::atomic<int64_t> delivered{0};
    std::atomic<int64_t> retried{0};
    std::atomic<int64_t> deadLettered{0};
    std::atomic<int64_t> claimed{0};
    std::atomic<int64_t> inFlight{0};
    std::atomic<int64_t> lastTickMs{0};   // wall clock of the loop's last turn
    std::atomic<int64_t> breakerTrips{0}; // targets this worker paused
    std::atomic<int64_t> breakerResumes{0};
    std::atomic<int64_t> targetsGone{0};  // targets disabled on 410 Gone
    std::atomic<int64_t> throttleCuts{0}; // adaptive throttling halved a target's rate
    std::atomic<int64_t> storageFailures{0};
};

// The worker's in-memory view for /metrics and /healthz: attempt outcomes, a
// latency histogram and the success rate over a sliding window. Written by
// the worker's thread, read by the status server's; process-lifetime
// counters in Prometheus' sense (they restart at zero with the process).
class WorkerMetrics {
public:
    explicit WorkerMetrics(int64_t healthWindowMs = 300'000);

    WorkerCounters counters;

    // One finished attempt to target, and what it made of the delivery:
    // Delivered, Failed (a retry is scheduled) or DeadLetter; throttled: a
    // retry a 429 with Retry-After asked for, which did not use up the
    // attempt budget (retry.h, isFreeThrottle).
    void recordAttempt(const Outcome& outcome, std::string_view target, DeliveryStatus result, bool throttled,
                       int64_t nowMs);

    struct Window {
        int64_t attempts = 0;
        int64_t successes = 0;
    };
    // Attempts that finished in the last healthWindowMs.
    Window recent(int64_t nowMs) const;
    int64_t healthWindowMs() const { return windowMs_; }

    // Upper bounds, in seconds, of the latency histogram's buckets.
    static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    struct Histogram {
        std::array<int64_t, kBuckets.size()> buckets{}; // not cumulative
        int64_t count = 0;
        double sumSeconds = 0;
    };
    Histogram latency() const;

    // Attempts by result: "success", "http_3xx"/"http_4xx"/"http_5xx", or
    // the transport error's name ("timeout", "connect", "blocked_address"…).
    std::map<std::string, int64_t> attemptsByResult() const;
    static std::string resultLabel(const Outcome& outcome, bool success);

    // Attempts by (target, outcome): outcome is the delivery's status after
    // the attempt (delivered, failed, dead_letter) or "throttled".
    std::map<std::pair<std::string, std::string>, int64_t> attemptsByTarget() const;
    static std::string_view outcomeLabel(DeliveryStatus result, bool throttled);

private:
    static constexpr size_t kSlots = 60;
    struct Slot {
        int64_t index = -1;
        int64_t attempts = 0;
        int64_t successes = 0;
    };

    mutable std::mutex mutex_;
    int64_t windowMs_;
    int64_t slotMs_;
    std::array<Slot, kSlots> slots_{};
    Histogram latency_;
    std::map<std::string, int64_t> results_;
    std::map<std::pair<std::string, std::string>, int64_t> byTarget_;
};

} // namespace webhookd
