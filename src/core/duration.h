#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/error.h"

namespace webhookd {

// The longest duration accepted anywhere (DESIGN.md, Bounds on every input):
// ten years. Anything longer is a usage error, never a wrap-around.
constexpr int64_t kMaxDurationMs = 3650LL * 86'400'000;

// Parses "250ms", "30s", "5m", "2h", "7d", "2w" and sums of them written
// together, largest unit first ("1h30m", "2d12h"), into milliseconds.
// Invalid: empty text, a number without a unit, an unknown unit, a sign or
// fraction, a unit repeated or out of order, or more than kMaxDurationMs.
Result<int64_t> parseDuration(std::string_view text);

// The shortest exact spelling: 90000 -> "90s", 5400000 -> "90m",
// 1500 -> "1500ms", 0 -> "0ms".
std::string formatDuration(int64_t ms);

// A span as people read it: its two largest units, rounded down, spaced
// ("3 d 3 h", "2 m 30 s", "15 s", "250 ms", "0 s").
std::string describeSpan(int64_t ms);

// ISO-8601 UTC with milliseconds: 1614265330123 -> "2021-02-25T15:02:10.123Z".
std::string isoTime(int64_t epochMs);

// An absolute time as people write it: ISO-8601 / RFC 3339 in UTC or with an
// offset ("2026-12-01T08:00:00Z", "2026-12-01T08:00Z", "2026-12-01T09:00+01:00",
// fractions of a second allowed), or a date alone ("2026-12-01", midnight UTC).
// Epoch milliseconds, or Invalid.
Result<int64_t> parseIsoTime(std::string_view text);

// A point in time given either way: a duration means that long before nowMs
// ("7d"), anything else is read as an ISO-8601 time. Invalid, naming both
// forms, when it is neither.
Result<int64_t> parseTimeOrAgo(std::string_view text, int64_t nowMs);

// a + b, held at the int64 range instead of overflowing: time arithmetic in
// the worker saturates (a lease or retry "ten years from now" stays in the
// future).
constexpr int64_t saturatingAdd(int64_t a, int64_t b)
{
    int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out))
        return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    return out;
}

} // namespace webhookd
