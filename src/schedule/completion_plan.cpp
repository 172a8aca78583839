#include "schedule/completion_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/utf8.h"

namespace webhookd {

namespace {

template <typename T>
std::optional<T> unlessZero(T v)
{
    return v == T{} ? std::nullopt : std::optional<T>(v);
}

std::optional<std::string_view> unlessEmpty(std::string_view s)
{
    return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
}

} // namespace

CompletionPlan planCompletions(const std::vector<Completion>& completions, int64_t nowMs)
{
    CompletionPlan plan;
    plan.finishes.reserve(completions.size());
    plan.attempts.reserve(completions.size());
    for (const auto& c : completions) {
        const Outcome& o = c.outcome;
        const bool retrying = c.status == DeliveryStatus::Failed;
        plan.finishes.push_back({c.deliveryId, c.status, retrying ? c.nextAttemptAt : nowMs, unlessZero(o.statusCode),
                                 unlessEmpty(c.lastError), retrying ? std::nullopt : std::optional<int64_t>(nowMs),
                                 c.freeThrottle});
        AttemptRow a{c.deliveryId,
                     c.attemptNumber,
                     o.startedAtMs,
                     o.durationMs,
                     unlessZero(o.statusCode),
                     unlessEmpty(transportErrorName(o.error)),
                     unlessEmpty(o.errorMessage),
                     std::nullopt,
                     o.retryAfterMs,
                     std::nullopt,
                     std::nullopt};
        // The excerpt is already a rendering (ill-formed bytes became U+FFFD,
        // the end was cut), not the receiver's exact bytes; U+0000 becomes
        // U+FFFD as well, so both stores keep the same text (PostgreSQL's
        // text cannot hold U+0000).
        if (!o.responseExcerpt.empty())
            a.responseExcerpt = utf8::storable(o.responseExcerpt);
        if (!o.requestHead.empty())
            a.requestHead = utf8::storable(o.requestHead);
        if (!o.responseHead.empty())
            a.responseHead = utf8::storable(o.responseHead);
        plan.attempts.push_back(std::move(a));
        if (c.status == DeliveryStatus::DeadLetter)
            plan.deadLetters.push_back({c.deliveryId, c.deadLetterReason, nowMs});
    }
    return plan;
}

// One upsert per (minute, target): a batch seldom spans more than one minute.
std::vector<RollupRow> rollupOf(const std::vector<Completion>& completions, const std::vector<bool>& finished)
{
    std::map<std::pair<int64_t, std::string_view>, MinuteCounts> minutes;
    for (size_t i = 0; i < completions.size() && i < finished.size(); ++i) {
        if (!finished[i])
            continue;
        const Completion& c = completions[i];
        const Outcome& o = c.outcome;
        minutes[{o.startedAtMs - o.startedAtMs % kMinuteMs, c.targetId}].add(c.status, o.statusCode, o.durationMs);
    }
    std::vector<RollupRow> rows;
    rows.reserve(minutes.size());
    for (const auto& [key, counts] : minutes)
        rows.push_back({key.first, std::string(key.second), counts});
    return rows;
}

std::map<std::string, AttemptRun, std::less<>> attemptRuns(const std::vector<Completion>& completions)
{
    std::map<std::string, AttemptRun, std::less<>> runs;
    for (const auto& c : completions)
        if (!c.targetId.empty())
            runs[c.targetId].add(endpointSignal(c.outcome), c.outcome.statusCode, c.deliveryId);
    return runs;
}

constexpr int64_t kRateWindowMs = 1000;

void SendRates::Rate::roll(int64_t nowMs)
{
    const int64_t elapsed = nowMs - windowMs;
    if (elapsed >= 0 && elapsed < kRateWindowMs)
        return;
    previous = elapsed >= 0 && elapsed < 2 * kRateWindowMs ? current : 0; // a clock that went back forgets
    current = 0;
    windowMs = elapsed >= 0 && elapsed < 2 * kRateWindowMs ? windowMs + kRateWindowMs : nowMs;
}

void SendRates::sent(std::string_view targetId, int64_t nowMs)
{
    auto it = rates_.find(targetId);
    if (it == rates_.end())
        it = rates_.emplace(std::string(targetId), Rate{nowMs, 0, 0}).first;
    it->second.roll(nowMs);
    it->second.current += 1;
}

double SendRates::perSecond(std::string_view targetId, int64_t nowMs) const
{
    auto it = rates_.find(targetId);
    if (it == rates_.end())
        return 0;
    Rate r = it->second;
    r.roll(nowMs);
    const double inside = 1.0 - static_cast<double>(nowMs - r.windowMs) / static_cast<double>(kRateWindowMs);
    return r.current + r.previous * std::clamp(inside, 0.0, 1.0);
}

TargetUpdate planTargetUpdate(const std::string& targetId, const TargetHealth& before, const AttemptRun& run,
                              double sentPerSecond, int64_t nowMs, const BreakerPolicy& breaker, const AimdPolicy& aimd)
{
    TargetUpdate u;
    AimdInput in;
    in.ceiling = before.ceiling;
    in.minRate = before.minRate;
    in.step = before.step;
    in.signalStatus = run.throttleStatus;
    in.succeeded = run.succeeded;
    in.observedRate = sentPerSecond;
    const AimdChange rate = nextRate(before.rate, in, nowMs, aimd);
    if (rate.changed) {
        u.rate = RateSave{rate.after, std::nullopt};
        if (rate.cut)
            u.rate->signal = "HTTP " + std::to_string(run.throttleStatus);
        u.claimViewChanged = true; // the claim's buckets take their rate from it
        if (rate.cut)
            u.events.push_back(
                {TargetEvent::Kind::Throttled, targetId,
                 fmt::format("HTTP {} cut the rate to {:g}/s", run.throttleStatus, rate.after.current.value_or(0))});
    }

    if (breaker.failures <= 0 && !run.goneDelivery)
        return u;
    // 429s count for the breaker only once the throttle has nothing left to cut.
    AttemptRun counted = run;
    if (atFloor(before.rate, before.minRate, aimd))
        counted.tailFailures = run.tailWithThrottles;
    const BreakerTransition t = nextBreakerState(before.breaker, counted, breaker, nowMs);
    if (!t.changed)
        return u;
    BreakerSave& save = u.breaker.emplace();
    save.consecutiveFailures = t.after.consecutiveFailures;
    save.pausedUntil = unlessZero(t.after.pausedUntil);
    if (t.opened)
        save.pausedReason = t.pausedReason;
    save.enabled = t.after.enabled;
    if (!t.disabledReason.empty())
        save.disabledReason = t.disabledReason;
    if (t.opened)
        u.events.push_back({TargetEvent::Kind::Paused, targetId, t.pausedReason});
    if (t.resumed)
        u.events.push_back({TargetEvent::Kind::Resumed, targetId, "a delivery succeeded"});
    if (!t.disabledReason.empty())
        u.events.push_back({TargetEvent::Kind::Disabled, targetId, t.disabledReason});
    if (t.after.pausedUntil != before.breaker.pausedUntil || t.after.enabled != before.breaker.enabled)
        u.claimViewChanged = true; // the claim reads breaker state from it
    return u;
}

} // namespace webhookd
