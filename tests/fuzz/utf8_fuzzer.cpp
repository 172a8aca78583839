// UTF-8 handling of what receivers send back (excerpts, curl's messages) and
// of what people type (names, metadata): core/utf8.h.
#include <cstdlib>

#include "core/utf8.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace webhookd;
    const auto in = fuzz::text(data, size);
    const std::string clean = utf8::sanitize(in);
    if (!utf8::valid(clean))
        std::abort();
    if (utf8::valid(in) && clean != in)
        std::abort();
    for (size_t max : {size_t{0}, size_t{1}, size_t{3}, size / 2, size}) {
        const size_t cut = utf8::boundary(clean, max);
        if (cut > max && cut > clean.size())
            std::abort();
        if (!utf8::valid(std::string_view(clean).substr(0, cut)))
            std::abort();
    }
    const std::string shown = utf8::printable(in);
    if (!utf8::valid(shown) || utf8::hasControl(shown))
        std::abort();
    return 0;
}
