#pragma once

// The per-minute rollup of attempts behind GET /stats/timeseries (table
// stats_minutely): counters a batch of completions adds to, and the
// percentiles a series reads back from the latency histogram.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "model/delivery_status.h"

namespace webhookd {

// Upper bounds of the latency buckets, in ms: those of /metrics
// (worker/metrics.h kBuckets), and one more for everything above.
inline constexpr std::array<int64_t, 12> kLatencyBoundsMs = {5,   10,   25,   50,   100,   250,
                                                             500, 1000, 2500, 5000, 10000, 30000};

struct MinuteCounts {
    int64_t attempts = 0;
    int64_t delivered = 0;
    int64_t retried = 0; // attempts that scheduled another
    int64_t deadLettered = 0;
    int64_t throttled = 0; // answered 429, 502, 503 or 504
    int64_t durationMsSum = 0;
    std::array<int64_t, kLatencyBoundsMs.size() + 1> latency{}; // not cumulative; the last: above 30 s

    // One finished attempt: its status after it, its answer's code (0:
    // none), how long it took.
    void add(DeliveryStatus after, int statusCode, int64_t durationMs);
    MinuteCounts& operator+=(const MinuteCounts& o);

    // Every counter in column order (stats_minutely: attempts …
    // duration_ms_sum, then the histogram), for code that walks them all.
    template <typename Self, typename F>
    static void forEach(Self& self, F f)
    {
        for (auto* v :
             {&self.attempts, &self.delivered, &self.retried, &self.deadLettered, &self.throttled, &self.durationMsSum})
            f(*v);
        for (auto& v : self.latency)
            f(v);
    }
};

// A percentile (0 < q < 1) of the attempts' durations, as Prometheus'
// histogram_quantile: linear within the bucket it falls in, the bucket's
// upper bound (30 s) beyond the last. nullopt without attempts.
std::optional<double> latencyQuantile(const MinuteCounts& c, double q);

// The column names of the histogram, in kLatencyBoundsMs order, then lat_inf.
const std::array<std::string, kLatencyBoundsMs.size() + 1>& latencyColumns();

inline constexpr int64_t kMinuteMs = 60'000;

// One step of a series (GET /stats/timeseries).
struct TimeseriesPoint {
    int64_t t = 0; // the step's start, epoch ms
    MinuteCounts counts;
};

} // namespace webhookd
