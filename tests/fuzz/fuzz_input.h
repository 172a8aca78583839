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

} // namespace webhookd::fuzz
