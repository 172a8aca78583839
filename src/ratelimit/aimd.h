#pragma once

// Adaptive throttling as a pure rule: additive increase, multiplicative
// decrease on the token-bucket rate, as TCP does with its window. Storage
// loads a target's state, calls nextRate with what a batch of finished
// attempts said, and writes back what changed.

#include <cstdint>
#include <optional>

namespace webhookd {

struct AimdPolicy {
    double defaultMinRate = 1.0; // per second, when the target sets none: a throttled target still gets one a second
    double defaultStep = 1.0;    // per second, when the target sets none
    int64_t intervalMs = 1000;   // at most one cut, and one step up, per interval
    int64_t quietMs = 60'000;    // without a configured rate: lifted after this long without a signal
};

// What a target's row holds. current nullopt: not throttled.
struct AimdState {
    std::optional<double> current;
    std::optional<int64_t> adjustedAt;
    std::optional<int64_t> signalAt;
};

// One target's attempts in a batch.
struct AimdInput {
    std::optional<double> ceiling; // the configured rate, when rate limiting is on
    std::optional<double> minRate; // the target's, or the policy's default
    std::optional<double> step;
    double observedRate = 0; // attempts per second this worker sent it over the last second: where a first cut starts
    int signalStatus = 0;    // a 429, 502, 503 or 504 among them (0: none)
    bool succeeded = false;  // one of them delivered
};

struct AimdChange {
    AimdState after;
    bool changed = false;
    bool cut = false; // the rate was halved
};

// Whether a status says the receiver is overloaded: 429, 502, 503, 504.
bool isThrottleSignal(int statusCode);

// Whether a throttled rate is down at its floor (nothing left to cut): from
// then on 429s count for the circuit breaker.
bool atFloor(const AimdState& state, std::optional<double> minRate, const AimdPolicy& policy = {});

// A signal halves the rate (the current one, else the rate it was measured
// to be sent at, never above the ceiling) down to the floor, unless it was
// cut less than an interval ago. Otherwise a success raises a throttled rate by the step for
// every interval since it last changed (at most once an interval); reaching
// the ceiling (or, without one, a quiet period) ends the throttling.
AimdChange nextRate(const AimdState& before, const AimdInput& in, int64_t nowMs, const AimdPolicy& policy = {});

// The rate a target is sent at: the throttled rate when there is one (never
// above the configured rate), else the configured rate; nullopt: unlimited.
std::optional<double> effectiveRate(std::optional<double> current, std::optional<double> ceiling);

} // namespace webhookd
