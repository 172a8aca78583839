#pragma once

#include <cstdint>

namespace webhookd {

// A token bucket as stored in a target's row: `rate` tokens per second up to
// `burst`, `tokens` as of `updatedAtMs`. Pure: the caller loads and saves it.
struct TokenBucket {
    double rate = 0;
    double burst = 1;
    double tokens = 1;
    int64_t updatedAtMs = 0;

    // A full bucket, as a target starts.
    static TokenBucket full(double rate, double burst, int64_t nowMs) { return {rate, burst, burst, nowMs}; }

    // Adds the tokens earned since updatedAtMs. A clock that went backwards
    // earns nothing and moves updatedAtMs back, so no token is lost or invented.
    void refill(int64_t nowMs);

    // Refills, then spends one token if there is one.
    bool tryTake(int64_t nowMs);

    // After a failed tryTake: milliseconds until the k-th further token exists
    // (k = 1 for the next one), so deferred requests can be spread out.
    int64_t msUntilToken(int k) const;
};

} // namespace webhookd
