#pragma once

// Delivery statistics as `stats` and /stats report them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "model/delivery_status.h"

namespace webhookd {

struct Counts {
    int64_t total = 0;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t deadLetter = 0;
    int64_t pending = 0; // pending + rate_limited + in_progress + waiting

    void add(DeliveryStatus status, int64_t n = 1);
};

// Nearest-rank percentiles of a set of milliseconds; nullopt when it is empty.
struct Percentiles {
    std::optional<int64_t> p50;
    std::optional<int64_t> p95;
    std::optional<int64_t> p99;
};

struct Stats {
    Counts all;
    double averageResponseTimeMs = 0;
    double successRate = 0; // delivered / (delivered + dead_letter); 0 when neither
    std::map<std::string, Counts> byEventType;
    std::map<std::string, Counts> byTarget;
    Percentiles attemptLatencyMs;                 // duration_ms of every attempt
    Percentiles timeToDeliverMs;                  // completed_at - created_at of delivered ones
    std::map<DeliveryStatus, int64_t> queueDepth; // every status, 0 included
    std::optional<int64_t> oldestDueAgeMs;        // now - next_attempt_at of the longest-due claimable one
};

} // namespace webhookd
