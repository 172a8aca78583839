#pragma once

// The stats_minutely rollup's SQL, shared by both backends' statements: the
// writer's (the completion transaction) and the reader's (stats.cpp).

#include <string>
#include <vector>

#include "model/rollup.h"
#include "storage/sql/driver.h"

namespace webhookd::detail {

// The counter columns, in MinuteCounts order: attempts … duration_ms_sum,
// then the latency histogram.
inline const std::vector<std::string>& rollupCounters()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n = {"attempts",  "delivered",      "retried", "dead_lettered", // not a status
                                      "throttled", "duration_ms_sum"};
        n.insert(n.end(), latencyColumns().begin(), latencyColumns().end());
        return n;
    }();
    return names;
}

// ", "-separated, each name passed through `shape` (e.g. "sum(%)").
template <typename F>
std::string eachCounter(F shape)
{
    std::string s;
    for (const auto& name : rollupCounters())
        s += (s.empty() ? "" : ", ") + shape(name);
    return s;
}

// Parameter 1 minute, 2 target_id, then the counters: added to the row's.
// The same in both dialects but for how a parameter is written.
inline std::string rollupUpsert(std::string (*parameter)(int))
{
    int n = 3;
    return "INSERT INTO stats_minutely (minute, target_id, " + eachCounter([](const std::string& c) { return c; }) +
        ") VALUES (" + parameter(1) + ", " + parameter(2) + ", " +
        eachCounter([&](const std::string&) { return parameter(n++); }) +
        ") ON CONFLICT (minute, target_id) DO UPDATE SET " +
        eachCounter([](const std::string& c) { return c + " = stats_minutely." + c + " + excluded." + c; });
}

inline void bindCounters(sql::Statement& q, int first, const MinuteCounts& c)
{
    int i = first;
    MinuteCounts::forEach(c, [&](int64_t v) { q.bind(i++, v); });
}

// Reads the counters from column `first` on (as rollupCounters lists them,
// or their sums).
inline MinuteCounts readCounters(sql::Statement& q, int first)
{
    MinuteCounts c;
    int i = first;
    MinuteCounts::forEach(c, [&](int64_t& v) { v = q.getColumn(i++).getInt64(); });
    return c;
}

} // namespace webhookd::detail
