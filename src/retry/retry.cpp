#include "retry/retry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

#include "core/duration.h"

namespace webhookd {

int64_t backoffDelay(const RetryPolicy& policy, int attempt, double u)
{
    const int n = std::max(attempt, 1);
    // Computed in double and capped before the cast: multiplier^n overflows int64 fast.
    double base = static_cast<double>(policy.initialDelayMs) * std::pow(policy.multiplier, n - 1);
    base = std::min(base, static_cast<double>(policy.maxDelayMs));
    double factor = 1.0 + policy.jitter * (2.0 * u - 1.0);
    // Held below twice the longest duration: a row edited by hand can hold
    // any delay, and llround of a value beyond int64 is undefined.
    double delay = std::clamp(base * factor, 0.0, 2.0 * static_cast<double>(kMaxDurationMs));
    return static_cast<int64_t>(std::llround(delay));
}

Verdict classify(const Outcome& outcome)
{
    if (outcome.error == TransportError::BlockedAddress || outcome.error == TransportError::BadUrl ||
        outcome.error == TransportError::Signing)
        return Verdict::DeadLetter;
    if (outcome.error != TransportError::None || outcome.statusCode == 0)
        return Verdict::Retry;
    const int code = outcome.statusCode;
    if (code >= 200 && code < 300)
        return Verdict::Delivered;
    if (code == 408 || code == 429 || (code >= 500 && code < 600))
        return Verdict::Retry;
    return Verdict::DeadLetter;
}

bool honoursRetryAfter(int statusCode) { return statusCode == 429 || statusCode == 503; }

std::optional<int64_t> parseRetryAfter(std::string_view value, int64_t nowMs)
{
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' || value.back() == '\n'))
        value.remove_suffix(1);
    if (value.empty())
        return std::nullopt;
    if (value.front() >= '0' && value.front() <= '9') {
        int64_t secs = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
        if (ec == std::errc::result_out_of_range)
            return std::numeric_limits<int64_t>::max() / 2;
        if (ec != std::errc() || end != value.data() + value.size())
            return std::nullopt;
        if (secs > std::numeric_limits<int64_t>::max() / 2000)
            return std::numeric_limits<int64_t>::max() / 2;
        return secs * 1000;
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    std::string text(value);
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0')
        return std::nullopt;
    const int64_t at = static_cast<int64_t>(timegm(&tm)) * 1000;
    return std::max<int64_t>(0, at - nowMs);
}

int64_t nextAttemptDelay(const RetryPolicy& policy, int attempt, double u, std::optional<int64_t> retryAfterMs,
                         int64_t capMs)
{
    int64_t delay = backoffDelay(policy, attempt, u);
    if (retryAfterMs)
        delay = std::max(delay, std::min(*retryAfterMs, capMs));
    return delay;
}

} // namespace webhookd

namespace webhookd {

namespace {

std::string describe(const Outcome& o)
{
    if (o.error == TransportError::None)
        return "HTTP " + std::to_string(o.statusCode);
    std::string out(transportErrorName(o.error));
    if (!o.errorMessage.empty())
        out += ": " + o.errorMessage;
    return out;
}

} // namespace

Decision decide(const Outcome& outcome, const RetryPolicy& policy, int attemptsUsed, double u, int64_t nowMs,
                int64_t retryAfterCapMs)
{
    Decision d;
    d.verdict = classify(outcome);
    if (d.verdict == Verdict::Delivered)
        return d;
    d.lastError = describe(outcome);
    if (d.verdict == Verdict::DeadLetter) {
        d.deadLetterReason = outcome.error == TransportError::None ? d.lastError + " is not retryable" : d.lastError;
        return d;
    }
    if (attemptsUsed >= policy.maxAttempts) {
        d.verdict = Verdict::DeadLetter;
        d.deadLetterReason = "gave up after " + std::to_string(attemptsUsed) + " attempts; last: " + d.lastError;
        return d;
    }
    const auto retryAfter = honoursRetryAfter(outcome.statusCode) ? outcome.retryAfterMs : std::nullopt;
    d.nextAttemptAt = saturatingAdd(nowMs, nextAttemptDelay(policy, attemptsUsed, u, retryAfter, retryAfterCapMs));
    return d;
}

} // namespace webhookd
