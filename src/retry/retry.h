#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/outcome.h"

namespace webhookd {

// A target's retry configuration. Defaults are DESIGN.md's.
struct RetryPolicy {
    int maxAttempts = 5;
    int64_t initialDelayMs = 1000;
    int64_t maxDelayMs = 60'000;
    double multiplier = 2.0;
    double jitter = 0.1; // fraction, 0..1
};

// delay(n) = min(max, initial * multiplier^(n-1)) * (1 + jitter * (2u - 1)),
// never below 0. n is the number of the attempt that just failed (1-based);
// u is uniform in [0, 1) and supplied by the caller so tests are exact.
int64_t backoffDelay(const RetryPolicy& policy, int attempt, double u);

enum class Verdict { Delivered, Retry, DeadLetter };

// DESIGN.md's table: 2xx delivered; 408, 429, 5xx and transport failures
// retried; other codes (3xx, 4xx), a blocked address, a bad URL and a secret
// that cannot sign dead-lettered.
Verdict classify(const Outcome& outcome);

// Whether a Retry-After header counts for this status (429 and 503 only).
bool honoursRetryAfter(int statusCode);

// Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate),
// returned as milliseconds from nowMs (0 for a date in the past). nullopt for
// anything else.
std::optional<int64_t> parseRetryAfter(std::string_view value, int64_t nowMs);

// When the next attempt is due, from the jittered backoff and a Retry-After
// floor capped at capMs. Retry-After is never shortened by jitter.
int64_t nextAttemptDelay(const RetryPolicy& policy, int attempt, double u, std::optional<int64_t> retryAfterMs,
                         int64_t capMs);

} // namespace webhookd

namespace webhookd {

// What to do with a delivery after an attempt.
struct Decision {
    Verdict verdict = Verdict::Retry;
    int64_t nextAttemptAt = 0;    // for Retry
    std::string lastError;        // empty when delivered
    std::string deadLetterReason; // for DeadLetter
};

// Applies the table, the attempt budget and the backoff: attemptsUsed counts
// this attempt; a retryable failure with the budget spent is a dead letter.
Decision decide(const Outcome& outcome, const RetryPolicy& policy, int attemptsUsed, double u, int64_t nowMs,
                int64_t retryAfterCapMs);

} // namespace webhookd
