// Event payloads: `webhookctl send --data`, and what the library accepts.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/validate.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    webhookd::Limits limits;
    limits.maxPayloadBytes = 64 * 1024;
    limits.maxJsonDepth = 64;
    const auto ok = webhookd::validatePayload(in, limits);
    if (ok) {
        // What is accepted must parse, and within the depth limit.
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded() || webhookd::jsonDepth(in) > limits.maxJsonDepth)
            std::abort();
        (void)j.dump();
    }
    return 0;
}
