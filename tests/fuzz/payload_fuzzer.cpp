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
        // What is accepted is within the depth limit, and a full parser reads
        // it too (where its numbers fit a double; RFC 8259 allows others).
        if (webhookd::jsonDepth(in) > limits.maxJsonDepth)
            std::abort();
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded() && webhookd::fuzz::numbersFitDouble(in))
            std::abort();
        if (!j.is_discarded())
            (void)j.dump();
    } else if (in.size() <= limits.maxPayloadBytes && in.find('\0') == std::string_view::npos &&
               nlohmann::json::accept(in) && webhookd::jsonDepth(in) <= limits.maxJsonDepth) {
        std::abort(); // refused what a full parser accepts (nlohmann stops at a NUL)
    }
    return 0;
}
