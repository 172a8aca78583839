#pragma once

// Shared by the libFuzzer targets: the input as text, and a splitter that
// turns one input into several fields (separated by newlines).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace webhookd::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// The first n - 1 newline-separated fields, and the rest (newlines included)
// as the last; missing fields are empty.
inline std::vector<std::string> fields(std::string_view in, size_t n)
{
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < n; ++i) {
        const size_t nl = in.find('\n');
        out.emplace_back(in.substr(0, nl));
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    }
    out.emplace_back(in);
    return out;
}

// Whether every number in JSON text is one a double holds (no exponent, no
// run of 16 digits or more), so nlohmann's parser, which converts numbers,
// must accept what RFC 8259 accepts. (RFC 8259 allows 1e400 and integers of
// any length; webhookd keeps them as written.)
inline bool numbersFitDouble(std::string_view in)
{
    size_t run = 0;
    for (char c : in) {
        if (c == 'e' || c == 'E')
            return false;
        run = (c >= '0' && c <= '9') ? run + 1 : 0;
        if (run >= 16)
            return false;
    }
    return true;
}

} // namespace webhookd::fuzz
