#include "model/rollup.h"

namespace webhookd {

void MinuteCounts::add(DeliveryStatus after, int statusCode, int64_t durationMs)
{
    ++attempts;
    delivered += after == DeliveryStatus::Delivered;
    retried += after == DeliveryStatus::Failed;
    deadLettered += after == DeliveryStatus::DeadLetter;
    throttled += statusCode == 429 || statusCode == 502 || statusCode == 503 || statusCode == 504;
    durationMsSum += durationMs;
    size_t b = 0;
    while (b < kLatencyBoundsMs.size() && durationMs > kLatencyBoundsMs[b])
        ++b;
    ++latency[b];
}

MinuteCounts& MinuteCounts::operator+=(const MinuteCounts& o)
{
    attempts += o.attempts;
    delivered += o.delivered;
    retried += o.retried;
    deadLettered += o.deadLettered;
    throttled += o.throttled;
    durationMsSum += o.durationMsSum;
    for (size_t i = 0; i < latency.size(); ++i)
        latency[i] += o.latency[i];
    return *this;
}

std::optional<double> latencyQuantile(const MinuteCounts& c, double q)
{
    int64_t total = 0;
    for (int64_t n : c.latency)
        total += n;
    if (total == 0)
        return std::nullopt;
    const double rank = q * static_cast<double>(total);
    double below = 0;
    for (size_t b = 0; b < kLatencyBoundsMs.size(); ++b) {
        const double n = static_cast<double>(c.latency[b]);
        if (n > 0 && below + n >= rank) {
            const double lower = b == 0 ? 0.0 : static_cast<double>(kLatencyBoundsMs[b - 1]);
            const double upper = static_cast<double>(kLatencyBoundsMs[b]);
            return lower + (upper - lower) * (rank - below) / n;
        }
        below += n;
    }
    return static_cast<double>(kLatencyBoundsMs.back());
}

const std::array<std::string, kLatencyBoundsMs.size() + 1>& latencyColumns()
{
    static const std::array<std::string, kLatencyBoundsMs.size() + 1> names = {
        "lat_le_5ms", "lat_le_10ms",   "lat_le_25ms", "lat_le_50ms", "lat_le_100ms", "lat_le_250ms", "lat_le_500ms",
        "lat_le_1s",  "lat_le_2500ms", "lat_le_5s",   "lat_le_10s",  "lat_le_30s",   "lat_inf"};
    return names;
}

} // namespace webhookd
