#include "core/duration.h"

#include <charconv>
#include <ctime>
#include <limits>

namespace webhookd {

Result<int64_t> parseDuration(std::string_view text)
{
    const std::string shown(text);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data() || value < 0)
        return fail(Error::invalid(
            "'" + shown + "' is not a duration; use a whole number and a unit, like 250ms, 30s, 5m, 2h or 7d"));
    std::string_view unit(end, text.data() + text.size() - end);
    int64_t scale = 0;
    if (unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1000;
    else if (unit == "m")
        scale = 60'000;
    else if (unit == "h")
        scale = 3'600'000;
    else if (unit == "d")
        scale = 86'400'000;
    else
        return fail(Error::invalid(
            "'" + shown + "' is not a duration; use a whole number and a unit, like 250ms, 30s, 5m, 2h or 7d"));
    if (value > std::numeric_limits<int64_t>::max() / scale)
        return fail(Error::invalid("duration '" + shown + "' is too large"));
    return value * scale;
}

std::string formatDuration(int64_t ms)
{
    struct Unit {
        int64_t scale;
        const char* name;
    };
    static constexpr Unit units[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
    if (ms != 0)
        for (const auto& u : units)
            if (ms % u.scale == 0)
                return std::to_string(ms / u.scale) + u.name;
    return std::to_string(ms) + "ms";
}

std::string isoTime(int64_t epochMs)
{
    int64_t secs = epochMs / 1000;
    int64_t millis = epochMs % 1000;
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    return buf;
}

} // namespace webhookd
