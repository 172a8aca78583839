#include "worker/metrics.h"

#include <algorithm>

#include "model/rollup.h"

namespace webhookd {

// /metrics and the stats_minutely rollup share their latency buckets.
static_assert([] {
    for (size_t i = 0; i < kLatencyBoundsMs.size(); ++i)
        if (static_cast<int64_t>(WorkerMetrics::kBuckets[i] * 1000 + 0.5) != kLatencyBoundsMs[i])
            return false;
    return WorkerMetrics::kBuckets.size() == kLatencyBoundsMs.size();
}());

WorkerMetrics::WorkerMetrics(int64_t healthWindowMs)
    : windowMs_(std::max<int64_t>(healthWindowMs, kSlots)),
      slotMs_(windowMs_ / static_cast<int64_t>(kSlots))
{ }

std::string WorkerMetrics::resultLabel(const Outcome& outcome, bool success)
{
    if (success)
        return "success";
    if (outcome.error != TransportError::None)
        return std::string(transportErrorName(outcome.error));
    if (outcome.statusCode >= 100 && outcome.statusCode <= 599)
        return "http_" + std::to_string(outcome.statusCode / 100) + "xx";
    return "network";
}

std::string_view WorkerMetrics::outcomeLabel(DeliveryStatus result, bool throttled)
{
    return throttled && result == DeliveryStatus::Failed ? "throttled" : toString(result);
}

void WorkerMetrics::recordAttempt(const Outcome& outcome, std::string_view target, DeliveryStatus result,
                                  bool throttled, int64_t nowMs)
{
    const bool success = result == DeliveryStatus::Delivered;
    const double seconds = static_cast<double>(outcome.durationMs) / 1000.0;
    const size_t bucket =
        static_cast<size_t>(std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
    std::string label = resultLabel(outcome, success);
    std::pair<std::string, std::string> key{std::string(target), std::string(outcomeLabel(result, throttled))};
    const int64_t index = nowMs / slotMs_;

    std::lock_guard lock(mutex_);
    if (bucket < kBuckets.size())
        ++latency_.buckets[bucket];
    ++latency_.count;
    latency_.sumSeconds += seconds;
    ++results_[std::move(label)];
    ++byTarget_[std::move(key)];
    Slot& slot = slots_[static_cast<size_t>(index) % kSlots];
    if (slot.index != index)
        slot = Slot{index, 0, 0};
    ++slot.attempts;
    slot.successes += success ? 1 : 0;
}

WorkerMetrics::Window WorkerMetrics::recent(int64_t nowMs) const
{
    const int64_t newest = nowMs / slotMs_;
    Window w;
    std::lock_guard lock(mutex_);
    for (const Slot& slot : slots_) {
        if (slot.index > newest - static_cast<int64_t>(kSlots) && slot.index <= newest) {
            w.attempts += slot.attempts;
            w.successes += slot.successes;
        }
    }
    return w;
}

WorkerMetrics::Histogram WorkerMetrics::latency() const
{
    std::lock_guard lock(mutex_);
    return latency_;
}

std::map<std::string, int64_t> WorkerMetrics::attemptsByResult() const
{
    std::lock_guard lock(mutex_);
    return results_;
}

std::map<std::pair<std::string, std::string>, int64_t> WorkerMetrics::attemptsByTarget() const
{
    std::lock_guard lock(mutex_);
    return byTarget_;
}

} // namespace webhookd
