// One NDJSON line of `webhookctl send --batch`.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "records/batch_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    auto e = webhookd::parseBatchLine(webhookd::fuzz::text(data, size));
    // An accepted line yields a payload that is JSON again.
    if (e && !nlohmann::json::accept(e->payload))
        std::abort();
    return 0;
}
