#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/rollup.h"
#include "model/stats.h"

namespace webhookd {

class Clock;
class Database;

// Which deliveries statistics() looks at; every field narrows, unset ones
// do not.
struct StatsFilter {
    std::optional<int64_t> createdSince; // created_at >= this (epoch ms)
    std::optional<int64_t> createdUntil; // created_at < this (epoch ms)
    std::optional<std::string> targetId;
    std::optional<std::string> type;  // the event type, exactly
    std::optional<std::string> appId; // only deliveries to this application's targets
};

// Statistics over the deliveries the filter selects, all read in one
// transaction: counts by status (and by event type and target), the average
// duration of the attempts that got a response, success rate = delivered /
// (delivered + dead_letter), nearest-rank percentiles of every attempt's
// duration and of completed_at - created_at of delivered ones, the count of
// each of the six statuses, and how long the longest-due claimable delivery
// (pending, failed or rate_limited, next_attempt_at <= now, of an enabled
// target) has been due. NotFound for an unknown filter.targetId.
Result<Stats> statistics(Database& db, const StatsFilter& filter, const Clock& clock);

// GET /stats/timeseries: attempts from the per-minute rollup, summed into
// steps of stepMs (a whole number of minutes) from `since` (floored to a
// step) to `until`, every step present (zeros where nothing happened).
struct TimeseriesQuery {
    int64_t since = 0, until = 0, stepMs = kMinuteMs;
    std::optional<std::string> targetId;
    std::optional<std::string> appId; // this application's targets together (when no targetId is given)
};
// Invalid for a step that is not 1 to 1,440 whole minutes, an end not after
// the start, or over 1,440 steps (any int64 bounds are safe: the arithmetic
// is checked); NotFound for an unknown target.
Result<std::vector<TimeseriesPoint>> timeseries(Database& db, const TimeseriesQuery& query);

constexpr int64_t kMaxTimeseriesSteps = 1440;
// The step's own rule, for callers that check a step before they query:
// Invalid unless 1 to 1,440 whole minutes.
Status validateTimeseriesStep(int64_t stepMs);

// GET /health: Ok when the store answers a trivial query and is still the
// one this connection opened (Database::checkIdentity); its error otherwise.
Status checkStoreAnswers(Database& db);

// Their JSON is records/json.h's statsJson and timeseriesJson.

} // namespace webhookd
