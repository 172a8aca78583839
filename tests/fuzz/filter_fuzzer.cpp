// Payload filters: `target add --filter`, the API's `filter`. The first line
// is the filter, the rest a payload it is checked against.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "routing/payload_filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto parts = webhookd::fuzz::fields(webhookd::fuzz::text(data, size), 2);
    auto f = webhookd::PayloadFilter::parse(parts[0]);
    if (!f) {
        if (f.error().message().empty() || f.error().message().find('\n') != std::string::npos)
            std::abort(); // a refusal is one sentence
        return 0;
    }
    // What is accepted is stored as its compact text, and that text is the
    // same filter again.
    auto again = webhookd::PayloadFilter::parse(f->text());
    if (!again || again->text() != f->text())
        std::abort();
    const auto payload = nlohmann::json::parse(parts[1], nullptr, false, true);
    if (payload.is_discarded())
        return 0;
    // whyNot says why exactly when the filter does not match.
    if (f->matches(payload) == f->whyNot(payload).has_value())
        std::abort();
    return 0;
}
