#pragma once

// The rules of targets: defaults, validation, which secrets sign, the token
// bucket a target's settings give. Pure: no SQL, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/validate.h"
#include "model/target.h"
#include "ratelimit/token_bucket.h"

namespace webhookd {

// Every rule a stored target must keep; Invalid naming the broken one.
Status validateTarget(const Target& target, const Limits& limits = {});

// Applies the fields the spec sets. Giving a rate turns rate limiting on
// unless the spec also says otherwise.
void applySpec(Target& target, const TargetSpec& spec);

// A new target from a spec: the defaults, then the spec, a generated secret
// when the spec has none, created and updated at nowMs, validated. Invalid
// without a URL or when a rule is broken.
Result<Target> makeTarget(const std::string& id, const TargetSpec& spec, int64_t nowMs, const Limits& limits = {});

// Enabling by hand closes the circuit breaker and forgets why the worker
// disabled the target; disabling by hand records no reason.
void setEnabledByHand(Target& target, bool enabled, int64_t nowMs);

// The secrets that sign at nowMs: the current one, then the previous one
// while its window lasts.
std::vector<std::string> signingSecrets(const Target& target, int64_t nowMs);

// The token bucket a target's rate limit gives, full at nowMs (a target
// starts with a full bucket); nullopt when the target is not rate-limited.
// The burst defaults to the rate, at least 1.
std::optional<TokenBucket> bucketFor(const Target& target, int64_t nowMs);

} // namespace webhookd
