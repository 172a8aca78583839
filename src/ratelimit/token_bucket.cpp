#include "ratelimit/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace webhookd {

void TokenBucket::refill(int64_t nowMs)
{
    if (nowMs < updatedAtMs) {
        updatedAtMs = nowMs;
        return;
    }
    tokens = std::min(burst, tokens + rate * static_cast<double>(nowMs - updatedAtMs) / 1000.0);
    updatedAtMs = nowMs;
}

bool TokenBucket::tryTake(int64_t nowMs)
{
    refill(nowMs);
    if (tokens >= 1.0) {
        tokens -= 1.0;
        return true;
    }
    return false;
}

int64_t TokenBucket::msUntilToken(int k) const
{
    if (rate <= 0)
        return 1000;
    double missing = static_cast<double>(k) - tokens;
    // At most a day: a rate edited by hand to a tiny number must not overflow.
    return static_cast<int64_t>(std::clamp(std::ceil(missing * 1000.0 / rate), 1.0, 86'400'000.0));
}

} // namespace webhookd
