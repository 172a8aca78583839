// Durations and times: every `--timeout`, `--overlap`, `--since`, `--until`… flag.
#include <cstdlib>

#include "core/duration.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    if (auto ms = webhookd::parseDuration(in)) {
        // Never negative, never beyond the ten-year ceiling.
        if (*ms < 0 || *ms > webhookd::kMaxDurationMs)
            std::abort();
        // The shortest spelling reads back as the same value.
        auto again = webhookd::parseDuration(webhookd::formatDuration(*ms));
        if (!again || *again != *ms)
            std::abort();
        (void)webhookd::isoTime(*ms);
    }
    if (auto at = webhookd::parseIsoTime(in)) {
        // A parsed time prints as ISO-8601 and reads back as itself.
        auto again = webhookd::parseIsoTime(webhookd::isoTime(*at));
        if (!again || *again != *at)
            std::abort();
    }
    (void)webhookd::parseTimeOrAgo(in, 1'800'000'000'000);
    return 0;
}
