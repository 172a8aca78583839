#include "api/request_metrics.h"

#include <algorithm>

namespace webhookd {

std::string_view RequestMetrics::methodLabel(std::string_view method)
{
    for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
        if (method == known)
            return known;
    return "other";
}

void RequestMetrics::record(std::string_view method, std::string_view route, int status, double seconds)
{
    const auto m = std::string(methodLabel(method));
    const auto r = std::string(routeLabel(route));
    const size_t bucket =
        static_cast<size_t>(std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
    std::lock_guard lock(mutex_);
    ++s_.requests[{m, r, std::clamp(status, 100, 599)}];
    Histogram& h = s_.durations[r];
    if (bucket < kBuckets.size())
        ++h.buckets[bucket];
    ++h.count;
    h.sumSeconds += seconds;
}

RequestMetrics::Snapshot RequestMetrics::snapshot() const
{
    std::lock_guard lock(mutex_);
    return s_;
}

} // namespace webhookd
