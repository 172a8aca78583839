// One NDJSON line of `webhookctl send --batch`.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/validate.h"
#include "fuzz_input.h"
#include "records/batch_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    auto e = webhookd::parseBatchLine(in);
    if (!e)
        return 0;
    // An accepted line yields a payload that is JSON on its own, taken byte
    // for byte from the line (or the default {} when the line has no data),
    // which a full parser reads too (where its numbers fit a double).
    if (!webhookd::validatePayload(e->payload))
        std::abort();
    if (e->payload != "{}" && in.find(e->payload) == std::string_view::npos)
        std::abort();
    if (webhookd::fuzz::numbersFitDouble(e->payload) && !nlohmann::json::accept(e->payload))
        std::abort();
    return 0;
}
