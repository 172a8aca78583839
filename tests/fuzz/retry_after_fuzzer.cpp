// Retry-After header values, as a receiver sends them.
#include <cstdlib>

#include "fuzz_input.h"
#include "retry/retry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    for (int64_t now : {int64_t{0}, int64_t{1'700'000'000'000}, int64_t{253'402'300'799'000}}) {
        auto ms = webhookd::parseRetryAfter(in, now);
        if (ms && *ms < 0)
            std::abort();
        if (ms) {
            webhookd::RetryPolicy policy;
            (void)webhookd::nextAttemptDelay(policy, 3, 0.5, ms, 3'600'000);
        }
    }
    return 0;
}
