#include "model/breaker.h"

#include <algorithm>

#include "core/duration.h"
#include "ratelimit/aimd.h"
#include "retry/retry.h"

namespace webhookd {

EndpointSignal endpointSignal(const Outcome& outcome)
{
    switch (classify(outcome)) {
    case Verdict::Delivered: return EndpointSignal::Healthy;
    case Verdict::Retry:
        return outcome.error == TransportError::None && outcome.statusCode == 429 ? EndpointSignal::Throttled
                                                                                  : EndpointSignal::Unhealthy;
    case Verdict::DeadLetter: break;
    }
    return EndpointSignal::Neutral;
}

void AttemptRun::add(EndpointSignal signal, int statusCode, int64_t deliveryId)
{
    if (signal == EndpointSignal::Healthy) {
        succeeded = true;
        tailFailures = tailWithThrottles = 0;
    } else if (signal == EndpointSignal::Unhealthy) {
        ++tailFailures;
        ++tailWithThrottles;
    } else if (signal == EndpointSignal::Throttled) {
        ++tailWithThrottles;
    }
    if (statusCode == 410 && !goneDelivery)
        goneDelivery = deliveryId;
    if (isThrottleSignal(statusCode))
        throttleStatus = statusCode;
}

BreakerTransition nextBreakerState(const BreakerState& before, const AttemptRun& run, const BreakerPolicy& policy,
                                   int64_t nowMs)
{
    BreakerTransition t;
    BreakerState& after = t.after;
    after.consecutiveFailures = run.succeeded ? run.tailFailures : before.consecutiveFailures + run.tailFailures;
    after.pausedUntil = before.pausedUntil;
    if (policy.failures > 0 && after.consecutiveFailures >= policy.failures) {
        // Opened, or a failed probe (or a straggler) pushes the next probe out.
        after.pausedUntil = std::max(before.pausedUntil, saturatingAdd(nowMs, policy.cooldownMs));
        t.pausedReason = std::to_string(after.consecutiveFailures) + " failed attempts in a row";
    } else if (run.succeeded) {
        after.pausedUntil = 0;
    }
    after.enabled = before.enabled && !run.goneDelivery;
    if (before.enabled && !after.enabled)
        t.disabledReason = "the receiver answered 410 Gone to delivery " + std::to_string(run.goneDelivery.value_or(0));
    t.opened = before.pausedUntil == 0 && after.pausedUntil != 0;
    t.resumed = before.pausedUntil != 0 && after.pausedUntil == 0;
    t.changed = after.consecutiveFailures != before.consecutiveFailures || after.pausedUntil != before.pausedUntil ||
        after.enabled != before.enabled;
    return t;
}

} // namespace webhookd
