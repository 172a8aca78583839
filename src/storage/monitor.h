#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "model/delivery_status.h"

namespace webhookd {

class Database;

// What /metrics and /healthz read from the database, in one read transaction.
struct MonitorSnapshot {
    std::map<std::pair<std::string, DeliveryStatus>, int64_t> deliveries; // (target, status) → rows
    // next_attempt_at of the longest-waiting claimable delivery that is due,
    // of an enabled target (paused ones included: they are waiting too).
    std::optional<int64_t> oldestDueAt;
    struct TargetState {
        std::string id;
        bool enabled = true;
        bool paused = false;
        int consecutiveFailures = 0;
        std::optional<double> rate;        // what it is sent at: throttled, configured or nullopt (unlimited)
        std::optional<double> rateCurrent; // adaptive throttling's rate, while throttled
        int maxInFlight = 0;               // 0: no cap
    };
    std::vector<TargetState> targets;
};

// Counts every delivery by target and status and finds the oldest due one, in
// one pass over the table in constant memory (callers cache the result).
Result<MonitorSnapshot> monitorSnapshot(Database& db, int64_t nowMs);

} // namespace webhookd
