#include "ratelimit/aimd.h"

#include <algorithm>

namespace webhookd {

bool isThrottleSignal(int statusCode)
{
    return statusCode == 429 || statusCode == 502 || statusCode == 503 || statusCode == 504;
}

bool atFloor(const AimdState& state, std::optional<double> minRate, const AimdPolicy& policy)
{
    return state.current && *state.current <= minRate.value_or(policy.defaultMinRate);
}

AimdChange nextRate(const AimdState& before, const AimdInput& in, int64_t nowMs, const AimdPolicy& policy)
{
    AimdChange c;
    c.after = before;
    const double floor = in.minRate.value_or(policy.defaultMinRate);
    auto since = [&](const std::optional<int64_t>& at) {
        return at ? nowMs - *at : policy.intervalMs; // never: as if an interval ago
    };
    if (in.signalStatus != 0) {
        if (before.signalAt && since(before.signalAt) < policy.intervalMs && since(before.signalAt) >= 0)
            return c; // one cut per interval, however many attempts said so
        // What it was really sent at, not a guess: a target sent one request
        // a second is not cut from its configured 40/s.
        double from = before.current ? *before.current : in.observedRate;
        if (in.ceiling && (from <= 0 || from > *in.ceiling))
            from = *in.ceiling;
        c.after.current = std::max(floor, from / 2);
        c.after.adjustedAt = c.after.signalAt = nowMs;
        c.changed = c.cut = true;
        return c;
    }
    if (!in.succeeded || !before.current)
        return c;
    if (!in.ceiling && since(before.signalAt) >= policy.quietMs) {
        c.after.current.reset(); // quiet for long enough: unlimited again
        c.after.adjustedAt = nowMs;
        c.changed = true;
        return c;
    }
    const int64_t elapsed = since(before.adjustedAt);
    if (elapsed < policy.intervalMs && elapsed >= 0)
        return c;
    // The step per interval that passed (one for a clock that went back):
    // a slow rate climbs back in time, not only per success it earns.
    const int64_t intervals = elapsed < 0 ? 1 : elapsed / policy.intervalMs;
    const double next = *before.current + in.step.value_or(policy.defaultStep) * static_cast<double>(intervals);
    if (in.ceiling && next >= *in.ceiling)
        c.after.current.reset(); // back at the configured rate
    else
        c.after.current = next;
    c.after.adjustedAt = nowMs;
    c.changed = true;
    return c;
}

std::optional<double> effectiveRate(std::optional<double> current, std::optional<double> ceiling)
{
    if (current && ceiling)
        return std::min(*current, *ceiling);
    return current ? current : ceiling;
}

} // namespace webhookd
