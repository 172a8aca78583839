#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

#include "core/outcome.h"

namespace webhookd {

// A target's retry configuration. Defaults are DESIGN.md's.
struct RetryPolicy {
    int maxAttempts = 5;
    int64_t initialDelayMs = 1000;
    int64_t maxDelayMs = 60'000;
    double multiplier = 2.0;
    double jitter = 0.1; // fraction, 0..1
    // A fixed schedule instead of the formula: the delay before each retry
    // (the last repeats when maxAttempts asks for more). Empty: exponential.
    std::vector<int64_t> schedule;
};

// What a new target retries with when neither it nor the store says
// otherwise: the standard-webhooks schedule, ten attempts over about three
// days, so a receiver down through a deploy or a weekend loses nothing.
// RetryPolicy{} itself holds the `exponential` formula's numbers.
RetryPolicy defaultRetryPolicy();

// How long after the first attempt the last one is due, without jitter: when
// a delivery that keeps failing gives up (Retry-After and throttling aside).
// Held at kMaxDurationMs.
int64_t retryWindowMs(const RetryPolicy& policy);

// The policy in a line: "10 attempts, schedule standard-webhooks, jitter
// 0.1; gives up after 3 d 3 h".
std::string describeRetryPolicy(const RetryPolicy& policy);

// delay(n) = min(max, initial * multiplier^(n-1)) * (1 + jitter * (2u - 1)),
// never below 0, or schedule[n-1] * (1 + jitter * (2u - 1)) with a schedule.
// n is the number of the attempt that just failed (1-based); u is uniform in
// [0, 1) and supplied by the caller so tests are exact.
int64_t backoffDelay(const RetryPolicy& policy, int attempt, double u);

// A schedule by name or as a list: "exponential" (empty: the formula),
// "standard-webhooks" (5s 5m 30m 2h 5h 10h 14h 20h 24h after the first
// attempt), "svix" (5s 5m 30m 2h 5h 10h 10h), or durations separated by
// commas ("10s,1m,1h"), at most 100 of them.
Result<std::vector<int64_t>> parseRetrySchedule(std::string_view text);

// How a schedule is shown: its name when it is a named one, else the list.
std::string retryScheduleName(const std::vector<int64_t>& schedule);

// Whether a failed attempt is a throttle that does not use up the attempt
// budget: a 429 with Retry-After, while the delivery has had fewer than
// kMaxThrottleDeferrals of them.
inline constexpr int kMaxThrottleDeferrals = 20;
bool isFreeThrottle(const Outcome& outcome, int throttleDeferrals);

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
    bool freeThrottle = false;    // a retry that did not use up the budget (isFreeThrottle)
};

// Applies the table, the attempt budget and the backoff: attemptsUsed counts
// this attempt; a retryable failure with the budget spent is a dead letter,
// unless it is a free throttle (isFreeThrottle), which does not count.
Decision decide(const Outcome& outcome, const RetryPolicy& policy, int attemptsUsed, double u, int64_t nowMs,
                int64_t retryAfterCapMs, int throttleDeferrals = kMaxThrottleDeferrals);

} // namespace webhookd
