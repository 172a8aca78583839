#pragma once

// The rules of targets: defaults, validation, which secrets sign, the token
// bucket a target's settings give. Pure: no SQL, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/validate.h"
#include "model/target.h"
#include "ratelimit/token_bucket.h"

namespace webhookd {

// The rules of a retry policy; Invalid naming the broken one.
Status validateRetry(const RetryPolicy& retry);

// Every rule a stored target must keep; Invalid naming the broken one.
Status validateTarget(const Target& target, const Limits& limits = {});

// A signing secret set by hand (not generated) must carry at least 128 bits:
// "whsec_" and base64 of at least 16 bytes, or any other string of at least
// 24 characters. Invalid, in one sentence that does not quote the secret,
// otherwise. Stored secrets are not held to it: it applies where a person
// gives one (target add/update --secret, POST /targets, rotation).
Status validateGivenSecret(std::string_view secret);

// Applies the fields the spec sets. Giving a rate turns rate limiting on
// unless the spec also says otherwise.
void applySpec(Target& target, const TargetSpec& spec);

// A new target from a spec: the defaults (retry: the store's default
// policy), then the spec, a generated secret when the spec has none, created
// and updated at nowMs, validated. Invalid without a URL or when a rule is
// broken.
Result<Target> makeTarget(const std::string& id, const TargetSpec& spec, int64_t nowMs, const Limits& limits = {},
                          const RetryPolicy& retry = defaultRetryPolicy());

// A store's default retry policy changed by the spec's retry fields (the
// others must be unset), validated as a target's would be.
Result<RetryPolicy> changeRetryPolicy(const RetryPolicy& current, const TargetSpec& spec);

// Enabling by hand closes the circuit breaker and forgets why the worker
// disabled the target; disabling by hand records no reason.
void setEnabledByHand(Target& target, bool enabled, int64_t nowMs);

// The secrets rotations replaced that still sign at nowMs, newest first.
std::vector<PreviousSecret> rotatedSecrets(const Target& target, int64_t nowMs);

// The secrets that sign at nowMs: the current one, then each previous one
// while its own window lasts (newest first).
std::vector<std::string> signingSecrets(const Target& target, int64_t nowMs);

// The rate limit the target was given (nullopt: none, or turned off).
std::optional<double> configuredRate(const Target& target);

// The token bucket a target is sent through, full at nowMs (a target starts
// with a full bucket): its adaptive rate while throttled, else its rate
// limit; nullopt when neither applies. The burst defaults to the rate, at
// least 1; while throttled it is at most the throttled rate.
std::optional<TokenBucket> bucketFor(const Target& target, int64_t nowMs);

} // namespace webhookd
