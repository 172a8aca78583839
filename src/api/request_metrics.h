#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace webhookd {

// What the HTTP API answered since the process started, for /metrics:
// requests by method, route pattern and status, and their durations per
// route. Labels are bounded: routes are the server's own patterns (a path
// that matched none is "other"), methods the standard ones (anything else
// is "other"), statuses three-digit codes. Any thread.
class RequestMetrics {
public:
    // Upper bounds, in seconds, of the duration histogram's buckets.
    static constexpr std::array<double, 14> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,    1,     2.5,  5,     10,   30};

    // route: the pattern that matched, empty when none did.
    void record(std::string_view method, std::string_view route, int status, double seconds);

    struct Histogram {
        std::array<int64_t, kBuckets.size()> buckets{}; // not cumulative; above the last: count only
        int64_t count = 0;
        double sumSeconds = 0;
    };
    struct Snapshot {
        std::map<std::tuple<std::string, std::string, int>, int64_t> requests; // (method, route, status)
        std::map<std::string, Histogram> durations;                            // by route
    };
    Snapshot snapshot() const;

    // The label values record() uses.
    static std::string_view methodLabel(std::string_view method);
    static std::string_view routeLabel(std::string_view route) { return route.empty() ? "other" : route; }

private:
    mutable std::mutex mutex_;
    Snapshot s_;
};

} // namespace webhookd
