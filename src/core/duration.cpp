#include "core/duration.h"

#include <charconv>
#include <ctime>
#include <limits>

namespace webhookd {

namespace {

struct Unit {
    std::string_view name;
    int64_t scale;
};

// Largest first: a compound duration names them in this order.
constexpr Unit kUnits[] = {{"w", 7 * 86'400'000LL}, {"d", 86'400'000}, {"h", 3'600'000},
                           {"m", 60'000},           {"s", 1000},       {"ms", 1}};

Error notADuration(std::string_view text)
{
    return Error::invalid("'" + std::string(text) +
                          "' is not a duration; use a whole number and a unit, like 250ms, 30s, 5m, 2h, 7d or 1h30m");
}

} // namespace

Result<int64_t> parseDuration(std::string_view text)
{
    const std::string_view all = text;
    if (text.empty())
        return fail(notADuration(all));
    int64_t total = 0;
    size_t nextUnit = 0; // index into kUnits: each part must use a smaller unit than the one before
    while (!text.empty()) {
        int64_t value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::result_out_of_range)
            return fail(Error::invalid("the duration '" + std::string(all) + "' is longer than 10 years (3650d)"));
        if (ec != std::errc() || end == text.data() || value < 0 || text.front() == '+' || text.front() == '-')
            return fail(notADuration(all));
        text.remove_prefix(static_cast<size_t>(end - text.data()));
        size_t len = 0;
        while (len < text.size() && ((text[len] >= 'a' && text[len] <= 'z')))
            ++len;
        const std::string_view unit = text.substr(0, len);
        text.remove_prefix(len);
        size_t u = nextUnit;
        while (u < std::size(kUnits) && kUnits[u].name != unit)
            ++u;
        if (u == std::size(kUnits))
            return fail(notADuration(all));
        nextUnit = u + 1;
        if (value > kMaxDurationMs / kUnits[u].scale || total + value * kUnits[u].scale > kMaxDurationMs)
            return fail(Error::invalid("the duration '" + std::string(all) + "' is longer than 10 years (3650d)"));
        total += value * kUnits[u].scale;
    }
    return total;
}

std::string formatDuration(int64_t ms)
{
    // Weeks are left out: "14d" reads better than "2w".
    static constexpr Unit units[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}};
    if (ms != 0)
        for (const auto& u : units)
            if (ms % u.scale == 0)
                return std::to_string(ms / u.scale) + std::string(u.name);
    return std::to_string(ms) + "ms";
}

std::string describeSpan(int64_t ms)
{
    static constexpr Unit units[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}};
    if (ms <= 0)
        return "0 s";
    if (ms < 1000)
        return std::to_string(ms) + " ms";
    std::string out;
    int shown = 0;
    for (const auto& u : units) {
        const int64_t n = ms / u.scale;
        if (shown > 0 || n > 0) {
            if (n > 0)
                out += (out.empty() ? "" : " ") + std::to_string(n) + " " + std::string(u.name);
            if (++shown == 2)
                break;
        }
        ms -= n * u.scale;
    }
    return out;
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

Result<int64_t> parseIsoTime(std::string_view text)
{
    const std::string shown(text);
    auto bad = [&] {
        return fail(
            Error::invalid("'" + shown + "' is not a time; use ISO-8601 such as 2026-12-01T08:00:00Z or 2026-12-01"));
    };
    size_t i = 0;
    auto digits = [&](size_t n, int& out) {
        if (i + n > text.size())
            return false;
        int v = 0;
        for (size_t k = 0; k < n; ++k) {
            const char c = text[i + k];
            if (c < '0' || c > '9')
                return false;
            v = v * 10 + (c - '0');
        }
        out = v;
        i += n;
        return true;
    };
    auto expect = [&](char c) {
        if (i < text.size() && text[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day))
        return bad();
    int offsetMin = 0;
    if (i < text.size()) {
        if (!(expect('T') || expect('t') || expect(' ')))
            return bad();
        if (!digits(2, hour) || !expect(':') || !digits(2, minute))
            return bad();
        if (expect(':')) {
            if (!digits(2, second))
                return bad();
            if (expect('.') || expect(',')) {
                int scale = 100, any = 0;
                while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
                    millis += (text[i] - '0') * scale;
                    scale /= 10;
                    ++i;
                    ++any;
                }
                if (any == 0)
                    return bad();
            }
        }
        if (expect('Z') || expect('z')) {
        } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
            const int sign = text[i] == '-' ? -1 : 1;
            ++i;
            int oh = 0, om = 0;
            if (!digits(2, oh))
                return bad();
            expect(':');
            if (!digits(2, om) || oh > 23 || om > 59)
                return bad();
            offsetMin = sign * (oh * 60 + om);
        } else {
            return bad(); // a time without a zone would be guessed at; refused instead
        }
    }
    if (i != text.size() || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return bad();
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const time_t secs = timegm(&tm);
    // timegm normalises 31 February into March: refuse dates that moved.
    std::tm back{};
    gmtime_r(&secs, &back);
    if (back.tm_mday != day || back.tm_mon != month - 1)
        return bad();
    return static_cast<int64_t>(secs) * 1000 + millis - static_cast<int64_t>(offsetMin) * 60'000;
}

Result<int64_t> parseTimeOrAgo(std::string_view text, int64_t nowMs)
{
    if (auto d = parseDuration(text))
        return nowMs - *d;
    if (auto t = parseIsoTime(text))
        return *t;
    return fail(Error::invalid("'" + std::string(text) +
                               "' is neither a duration (7d, 1h30m) nor a time (2026-12-01T08:00:00Z)"));
}

} // namespace webhookd
