#pragma once

// The circuit breaker as a pure state machine: what a batch of finished
// attempts does to one target's breaker. Storage loads the state, calls
// nextBreakerState and writes back what changed.

#include <cstdint>
#include <optional>
#include <string>

namespace webhookd {

// After `failures` failed attempts in a row a target is paused for
// `cooldownMs`; then one probe delivery is claimed, and its success resumes
// the target while a failure pauses it again. failures = 0: off.
struct BreakerPolicy {
    int failures = 20;
    int64_t cooldownMs = 60'000;
};

// One target's breaker as stored. pausedUntil 0: closed.
struct BreakerState {
    int consecutiveFailures = 0;
    int64_t pausedUntil = 0;
    bool enabled = true;
};

// What one attempt says about its endpoint. Only failures that say it is
// unhealthy (5xx, 408, timeouts, network errors) move the breaker; a 429
// (Throttled) feeds adaptive throttling and moves the breaker only once the
// throttle is at its floor; a 422 for one bad payload, a blocked address, a
// bad URL or a secret that cannot sign is the delivery's problem, not the
// endpoint's.
enum class EndpointSignal { Healthy, Unhealthy, Throttled, Neutral };

struct Outcome;
EndpointSignal endpointSignal(const Outcome& outcome);

// One target's finished attempts of a batch, in the order they finished.
struct AttemptRun {
    int tailFailures = 0;                // unhealthy failures since the last success in the batch
    int tailWithThrottles = 0;           // the same with 429s counted (once the throttle is at its floor)
    bool succeeded = false;              // one of them delivered
    std::optional<int64_t> goneDelivery; // the first that answered 410 Gone
    int throttleStatus = 0;              // the last 429, 502, 503 or 504 among them

    void add(EndpointSignal signal, int statusCode, int64_t deliveryId);
};

struct BreakerTransition {
    BreakerState after;
    bool changed = false;       // after differs from before
    bool opened = false;        // closed before, open after
    bool resumed = false;       // open before, closed after
    std::string pausedReason;   // when opened
    std::string disabledReason; // when a 410 Gone disabled the target
};

// The new state after a run. The breaker opens (or a failed probe pushes the
// next probe out) once the failures in a row reach the policy's count; a
// success closes it; a 410 Gone disables the target whatever the policy.
BreakerTransition nextBreakerState(const BreakerState& before, const AttemptRun& run, const BreakerPolicy& policy,
                                   int64_t nowMs);

} // namespace webhookd
