// Custom header specs: `webhookctl target add --header NAME:VALUE`.
#include <cstdlib>

#include "core/validate.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    const size_t colon = in.find(':');
    const auto name = in.substr(0, colon);
    auto value = colon == std::string_view::npos ? std::string_view() : in.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    if (webhookd::validateHeader(name, value)) {
        // Whatever passes can go on the wire as one header line.
        for (char c : value)
            if (c == '\r' || c == '\n' || c == '\0')
                std::abort();
        if (name.empty() || name.find_first_of(" :\r\n") != std::string_view::npos)
            std::abort();
    }
    return 0;
}
