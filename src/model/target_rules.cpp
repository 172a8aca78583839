#include "model/target_rules.h"

#include <algorithm>

#include "core/duration.h"
#include "core/ids.h"
#include "ratelimit/aimd.h"
#include "routing/patterns.h"
#include "routing/payload_filter.h"
#include "signing/signing.h"

namespace webhookd {

Status validateRetry(const RetryPolicy& r)
{
    if (r.maxAttempts < 1 || r.maxAttempts > 1000)
        return fail(Error::invalid("max attempts must be between 1 and 1000"));
    if (r.initialDelayMs < 0 || r.maxDelayMs < 0)
        return fail(Error::invalid("retry delays must not be negative"));
    if (r.initialDelayMs > kMaxDurationMs || r.maxDelayMs > kMaxDurationMs)
        return fail(Error::invalid("retry delays must be at most 10 years (3650d)"));
    if (r.maxDelayMs < r.initialDelayMs)
        return fail(Error::invalid("the maximum retry delay must not be below the initial delay"));
    if (!(r.multiplier >= 1.0 && r.multiplier <= 100.0))
        return fail(Error::invalid("the backoff multiplier must be between 1 and 100"));
    if (!(r.jitter >= 0.0 && r.jitter <= 1.0))
        return fail(Error::invalid("the jitter factor must be between 0 and 1"));
    if (r.schedule.size() > 100)
        return fail(Error::invalid("a retry schedule has at most 100 delays"));
    for (int64_t d : r.schedule)
        if (d < 0 || d > kMaxDurationMs)
            return fail(Error::invalid("retry delays must be from 0 to 10 years (3650d)"));
    return {};
}

Status validateTarget(const Target& t, const Limits& limits)
{
    if (auto s = validateTargetId(t.id); !s)
        return s;
    if (auto s = validateUrl(t.url); !s)
        return s;
    if (auto s = secretKey(t.secret); !s)
        return fail(s.error());
    if (t.name.size() > 200)
        return fail(Error::invalid("the target name is longer than 200 characters"));
    if (auto s = validateText(t.name, "the target name", 200); !s)
        return s;
    for (const auto& p : t.eventFilters)
        if (auto s = validatePattern(p); !s)
            return s;
    if (t.payloadFilter)
        if (auto f = PayloadFilter::parse(*t.payloadFilter); !f)
            return fail(f.error());
    if (t.headers.size() > limits.maxHeaders)
        return fail(
            Error::invalid("a target may have at most " + std::to_string(limits.maxHeaders) + " custom headers"));
    for (const auto& [k, v] : t.headers)
        if (auto s = validateHeader(k, v, limits); !s)
            return s;
    if (t.timeoutMs && (*t.timeoutMs < 1 || *t.timeoutMs > 3'600'000))
        return fail(Error::invalid("the timeout must be between 1ms and 1h"));
    if (auto s = validateRetry(t.retry); !s)
        return s;
    if (t.ratePerSecond && !(*t.ratePerSecond > 0.0 && *t.ratePerSecond <= 1e6))
        return fail(Error::invalid("the rate must be above 0 and at most 1000000 per second"));
    if (t.burst && (*t.burst < 1 || *t.burst > 1'000'000))
        return fail(Error::invalid("the burst must be between 1 and 1000000"));
    if (t.rateLimitEnabled && !t.ratePerSecond)
        return fail(Error::invalid("rate limiting needs a rate (--rate)"));
    if (t.maxInFlight && (*t.maxInFlight < 1 || *t.maxInFlight > 10'000))
        return fail(Error::invalid("the in-flight cap must be between 1 and 10000"));
    if (t.minRate && !(*t.minRate > 0.0 && *t.minRate <= 1e6))
        return fail(Error::invalid("the minimum rate must be above 0 and at most 1000000 per second"));
    if (t.minRate && t.ratePerSecond && *t.minRate > *t.ratePerSecond)
        return fail(Error::invalid("the minimum rate must not be above the rate"));
    if (t.rateStep && !(*t.rateStep > 0.0 && *t.rateStep <= 1e6))
        return fail(Error::invalid("the rate step must be above 0 and at most 1000000 per second"));
    if (t.metadata.size() > 64)
        return fail(Error::invalid("a target may have at most 64 metadata entries"));
    for (const auto& [k, v] : t.metadata) {
        if (k.empty())
            return fail(Error::invalid("metadata keys must not be empty"));
        if (auto s = validateText(k, "a metadata key", 256); !s)
            return s;
        if (auto s = validateText(v, "the metadata value of '" + k + "'", 4096); !s)
            return s;
    }
    if (t.caBundle) {
        if (t.caBundle->empty() || t.caBundle->size() > 4096)
            return fail(Error::invalid("the CA bundle path must be 1 to 4096 characters"));
        for (unsigned char c : *t.caBundle)
            if (c < 0x20 || c == 0x7f)
                return fail(Error::invalid("the CA bundle path must not contain control characters"));
    }
    if (t.appId)
        if (auto s = validateAppId(*t.appId); !s)
            return s;
    return {};
}

std::optional<BodyFormat> parseBodyFormat(std::string_view text)
{
    if (text == "envelope")
        return BodyFormat::Envelope;
    if (text == "data")
        return BodyFormat::Data;
    return std::nullopt;
}

std::string_view bodyFormatName(BodyFormat format) { return format == BodyFormat::Data ? "data" : "envelope"; }

std::optional<Ordering> parseOrdering(std::string_view text)
{
    for (Ordering o : {Ordering::None, Ordering::Fifo, Ordering::Key})
        if (orderingName(o) == text)
            return o;
    return std::nullopt;
}

std::string_view orderingName(Ordering ordering)
{
    switch (ordering) {
    case Ordering::Fifo: return "fifo";
    case Ordering::Key: return "key";
    case Ordering::None: break;
    }
    return "none";
}

std::optional<OrderingDeadLetter> parseOrderingDeadLetter(std::string_view text)
{
    if (text == "skip")
        return OrderingDeadLetter::Skip;
    if (text == "block")
        return OrderingDeadLetter::Block;
    return std::nullopt;
}

std::string_view orderingDeadLetterName(OrderingDeadLetter mode)
{
    return mode == OrderingDeadLetter::Block ? "block" : "skip";
}

Status validateGivenSecret(std::string_view secret)
{
    constexpr size_t kMinKeyBytes = 16; // 128 bits
    constexpr size_t kMinRawChars = 24;
    constexpr std::string_view kPrefix = "whsec_";
    const bool encoded = secret.substr(0, kPrefix.size()) == kPrefix;
    auto key = secretKey(secret);
    if (!key)
        return fail(key.error());
    if (encoded ? key->size() < kMinKeyBytes : secret.size() < kMinRawChars)
        return fail(
            Error::invalid("a secret given by hand must carry at least 128 bits: whsec_ and the base64 of "
                           "16 bytes or more, or at least 24 characters (webhookctl secret generate makes one)"));
    return {};
}

void applySpec(Target& t, const TargetSpec& s)
{
    if (s.name)
        t.name = *s.name;
    if (s.url)
        t.url = *s.url;
    if (s.secret)
        t.secret = *s.secret;
    if (s.eventFilters)
        t.eventFilters = *s.eventFilters;
    if (s.payloadFilter) {
        if (s.payloadFilter->empty())
            t.payloadFilter.reset();
        else
            t.payloadFilter = *s.payloadFilter;
    }
    if (s.headers)
        t.headers = *s.headers;
    if (s.timeoutMs)
        t.timeoutMs = *s.timeoutMs;
    if (s.retrySchedule) {
        // A schedule sets the attempts: the first and one per delay. The
        // formula by name (an empty schedule) brings back its own numbers.
        t.retry.schedule = *s.retrySchedule;
        if (t.retry.schedule.empty()) {
            const RetryPolicy formula;
            t.retry = formula;
        } else {
            t.retry.maxAttempts = static_cast<int>(t.retry.schedule.size()) + 1;
        }
    } else if (s.initialDelayMs || s.maxDelayMs || s.backoffMultiplier) {
        // The formula's own settings given on a target that follows a
        // schedule choose the formula (they would do nothing otherwise); the
        // rest of its policy, the attempts among them, stays.
        t.retry.schedule.clear();
    }
    if (s.maxAttempts)
        t.retry.maxAttempts = *s.maxAttempts;
    if (s.initialDelayMs)
        t.retry.initialDelayMs = *s.initialDelayMs;
    if (s.maxDelayMs)
        t.retry.maxDelayMs = *s.maxDelayMs;
    if (s.backoffMultiplier)
        t.retry.multiplier = *s.backoffMultiplier;
    if (s.jitterFactor)
        t.retry.jitter = *s.jitterFactor;
    if (s.maxInFlight) {
        if (*s.maxInFlight == 0)
            t.maxInFlight.reset();
        else
            t.maxInFlight = *s.maxInFlight;
    }
    if (s.minRate)
        t.minRate = *s.minRate;
    if (s.rateStep)
        t.rateStep = *s.rateStep;
    if (s.ratePerSecond) {
        t.ratePerSecond = *s.ratePerSecond;
        t.rateLimitEnabled = true; // giving a rate turns limiting on, unless the spec says otherwise below
    }
    if (s.burst)
        t.burst = *s.burst;
    if (s.rateLimitEnabled)
        t.rateLimitEnabled = *s.rateLimitEnabled;
    if (s.metadata)
        t.metadata = *s.metadata;
    if (s.enabled)
        t.enabled = *s.enabled;
    if (s.signatureScheme)
        t.signatureScheme = *s.signatureScheme;
    if (s.appId) {
        if (s.appId->empty())
            t.appId.reset();
        else
            t.appId = *s.appId;
    }
    if (s.bodyFormat)
        t.bodyFormat = *s.bodyFormat;
    if (s.ordering)
        t.ordering = *s.ordering;
    if (s.orderingDeadLetter)
        t.orderingDeadLetter = *s.orderingDeadLetter;
    if (s.caBundle) {
        if (s.caBundle->empty())
            t.caBundle.reset();
        else
            t.caBundle = *s.caBundle;
    }
}

Result<Target> makeTarget(const std::string& id, const TargetSpec& spec, int64_t nowMs, const Limits& limits,
                          const RetryPolicy& retry)
{
    Target t;
    t.id = id;
    t.retry = retry;
    applySpec(t, spec);
    if (!spec.url)
        return fail(Error::invalid("a target needs a URL (--url)"));
    if (!spec.secret)
        t.secret = generateSecret();
    t.createdAt = t.updatedAt = nowMs;
    if (auto s = validateTarget(t, limits); !s)
        return fail(s.error());
    return t;
}

Result<RetryPolicy> changeRetryPolicy(const RetryPolicy& current, const TargetSpec& spec)
{
    Target t;
    t.retry = current;
    applySpec(t, spec);
    if (auto s = validateRetry(t.retry); !s)
        return fail(s.error());
    return t.retry;
}

void setEnabledByHand(Target& t, bool enabled, int64_t nowMs)
{
    t.enabled = enabled;
    t.updatedAt = nowMs;
    t.disabledReason.reset();
    if (enabled) {
        t.consecutiveFailures = 0;
        t.pausedUntil.reset();
        t.pausedAt.reset();
        t.pausedReason.reset();
    }
}

std::vector<PreviousSecret> rotatedSecrets(const Target& target, int64_t nowMs)
{
    std::vector<PreviousSecret> out;
    if (target.previousSecret && target.previousSecretExpiresAt && nowMs < *target.previousSecretExpiresAt)
        out.push_back({*target.previousSecret, *target.previousSecretExpiresAt});
    for (const auto& p : target.olderSecrets)
        if (nowMs < p.expiresAt && p.secret != target.secret)
            out.push_back(p);
    return out;
}

std::vector<std::string> signingSecrets(const Target& target, int64_t nowMs)
{
    std::vector<std::string> out{target.secret};
    for (auto& p : rotatedSecrets(target, nowMs))
        out.push_back(std::move(p.secret));
    return out;
}

std::optional<double> configuredRate(const Target& t)
{
    return t.rateLimitEnabled && t.ratePerSecond ? t.ratePerSecond : std::nullopt;
}

std::optional<TokenBucket> bucketFor(const Target& t, int64_t nowMs)
{
    const auto rate = effectiveRate(t.rateCurrent, configuredRate(t));
    if (!rate)
        return std::nullopt;
    // A throttled rate also shrinks the burst, so a full bucket cannot
    // flood the receiver that asked for less.
    double burst = t.burst ? *t.burst : std::max(1.0, *rate);
    if (t.rateCurrent)
        burst = std::max(1.0, std::min(burst, *rate));
    return TokenBucket::full(*rate, burst, nowMs);
}

} // namespace webhookd
