#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace webhookd {

// Parses "250ms", "30s", "5m", "2h", "7d" (one integer and one unit) into
// milliseconds. Invalid: empty text, no unit, an unknown unit, a negative or
// fractional number, or a value that overflows.
Result<int64_t> parseDuration(std::string_view text);

// The shortest exact spelling: 90000 -> "90s", 1500 -> "1500ms", 0 -> "0ms".
std::string formatDuration(int64_t ms);

// ISO-8601 UTC with milliseconds: 1614265330123 -> "2021-02-25T15:02:10.123Z".
std::string isoTime(int64_t epochMs);

} // namespace webhookd
