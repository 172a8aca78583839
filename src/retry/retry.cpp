#include "retry/retry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

#include "core/duration.h"

namespace webhookd {

namespace {

constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute;

// The Standard Webhooks operations guide's schedule and Svix's, as delays
// after the first attempt (which both send immediately).
const std::vector<int64_t> kStandardWebhooks = {5 * kSecond, 5 * kMinute, 30 * kMinute, 2 * kHour, 5 * kHour,
                                                10 * kHour,  14 * kHour,  20 * kHour,   24 * kHour};
const std::vector<int64_t> kSvix = {5 * kSecond, 5 * kMinute, 30 * kMinute, 2 * kHour,
                                    5 * kHour,   10 * kHour,  10 * kHour};

} // namespace

Result<std::vector<int64_t>> parseRetrySchedule(std::string_view text)
{
    if (text == "exponential")
        return std::vector<int64_t>{};
    if (text == "standard-webhooks")
        return kStandardWebhooks;
    if (text == "svix")
        return kSvix;
    std::vector<int64_t> out;
    size_t start = 0;
    for (;;) {
        const size_t comma = text.find(',', start);
        const auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        auto ms = parseDuration(item);
        if (!ms)
            return fail(Error::invalid("the retry schedule must be exponential, standard-webhooks, svix or a list of "
                                       "durations like 10s,1m,1h ('" +
                                       std::string(item) + "' is not a duration)"));
        out.push_back(*ms);
        if (out.size() > 100)
            return fail(Error::invalid("a retry schedule has at most 100 delays"));
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return out;
}

std::string retryScheduleName(const std::vector<int64_t>& schedule)
{
    if (schedule.empty())
        return "exponential";
    if (schedule == kStandardWebhooks)
        return "standard-webhooks";
    if (schedule == kSvix)
        return "svix";
    std::string out;
    for (int64_t ms : schedule)
        out += (out.empty() ? "" : ",") + formatDuration(ms);
    return out;
}

RetryPolicy defaultRetryPolicy()
{
    RetryPolicy p;
    p.schedule = kStandardWebhooks;
    p.maxAttempts = static_cast<int>(kStandardWebhooks.size()) + 1;
    return p;
}

int64_t retryWindowMs(const RetryPolicy& policy)
{
    int64_t total = 0;
    for (int n = 1; n < policy.maxAttempts && total < kMaxDurationMs; ++n)
        total = std::min(kMaxDurationMs, saturatingAdd(total, backoffDelay(policy, n, 0.5)));
    return total;
}

std::string describeRetryPolicy(const RetryPolicy& p)
{
    auto number = [](double x) {
        std::string s = std::to_string(x);
        s.erase(s.find_last_not_of('0') + 1);
        if (!s.empty() && s.back() == '.')
            s.pop_back();
        return s;
    };
    std::string out = std::to_string(p.maxAttempts) + (p.maxAttempts == 1 ? " attempt, " : " attempts, ");
    if (p.schedule.empty())
        out += "exponential from " + formatDuration(p.initialDelayMs) + " to " + formatDuration(p.maxDelayMs) + ", x" +
            number(p.multiplier);
    else
        out += "schedule " + retryScheduleName(p.schedule);
    return out + ", jitter " + number(p.jitter) + "; gives up after " + describeSpan(retryWindowMs(p));
}

bool isFreeThrottle(const Outcome& outcome, int throttleDeferrals)
{
    return outcome.error == TransportError::None && outcome.statusCode == 429 && outcome.retryAfterMs &&
        throttleDeferrals < kMaxThrottleDeferrals;
}

int64_t backoffDelay(const RetryPolicy& policy, int attempt, double u)
{
    const int n = std::max(attempt, 1);
    // Computed in double and capped before the cast: multiplier^n overflows int64 fast.
    double base;
    if (!policy.schedule.empty()) {
        base = static_cast<double>(policy.schedule[std::min<size_t>(n - 1, policy.schedule.size() - 1)]);
    } else {
        base = static_cast<double>(policy.initialDelayMs) * std::pow(policy.multiplier, n - 1);
        base = std::min(base, static_cast<double>(policy.maxDelayMs));
    }
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
                int64_t retryAfterCapMs, int throttleDeferrals)
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
    d.freeThrottle = isFreeThrottle(outcome, throttleDeferrals);
    if (d.freeThrottle)
        --attemptsUsed; // this attempt is not counted
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
