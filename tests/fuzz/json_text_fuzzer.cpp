// The JSON scanner every payload and batch line goes through
// (core/json_text.h): it must agree with itself and never misreport spans.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/json_text.h"
#include "core/utf8.h"
#include "core/validate.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace webhookd;
    const auto in = fuzz::text(data, size);
    const bool valid = json_text::validate(in, 64).has_value();
    // What the scanner accepts, nlohmann (a full parser) reads as JSON too,
    // except numbers beyond a double's range, which RFC 8259 allows.
    if (valid && fuzz::numbersFitDouble(in) && !nlohmann::json::accept(in))
        std::abort();
    // And what nlohmann accepts, the scanner accepts (within its depth;
    // nlohmann stops reading at a NUL byte, so those inputs say nothing).
    if (!valid && in.find('\0') == std::string_view::npos && nlohmann::json::accept(in) && jsonDepth(in) <= 64)
        std::abort();
    if (valid && !utf8::valid(in))
        std::abort();
    if (auto members = json_text::objectMembers(in, 64)) {
        if (!valid)
            std::abort();
        for (const auto& m : *members) {
            // Every span lies inside the input and is valid JSON on its own.
            if (m.raw.data() < in.data() || m.raw.data() + m.raw.size() > in.data() + in.size())
                std::abort();
            if (!json_text::validate(m.raw, 64))
                std::abort();
            if (m.kind == json_text::Kind::String && !json_text::stringValue(m.raw))
                std::abort();
        }
    }
    if (auto s = json_text::stringValue(in)) {
        // Unescaped text is UTF-8, and quoting it gives JSON that reads back the same.
        if (!utf8::valid(*s))
            std::abort();
        auto back = json_text::stringValue(json_text::quote(*s));
        if (!back || *back != *s)
            std::abort();
    }
    return 0;
}
