// Durations: every `--timeout`, `--overlap`, `--since`… flag.
#include <cstdlib>

#include "core/duration.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    auto ms = webhookd::parseDuration(webhookd::fuzz::text(data, size));
    if (!ms)
        return 0;
    if (*ms < 0)
        std::abort();
    // The shortest spelling reads back as the same value.
    auto again = webhookd::parseDuration(webhookd::formatDuration(*ms));
    if (!again || *again != *ms)
        std::abort();
    (void)webhookd::isoTime(*ms);
    return 0;
}
