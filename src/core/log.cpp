#include "core/log.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <type_traits>

#include "core/clock.h"
#include "core/duration.h"

namespace webhookd {

namespace {

std::atomic<LogLevel> gLevel{LogLevel::Info};
std::atomic<LogFormat> gFormat{LogFormat::Text};
std::mutex gMutex;

const char* levelName(LogLevel l)
{
    switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
    case LogLevel::Off: return "off";
    }
    return "info";
}

void appendJsonString(std::string& out, std::string_view s)
{
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

bool needsQuotes(std::string_view s)
{
    if (s.empty())
        return true;
    for (unsigned char c : s)
        if (c <= ' ' || c == '"' || c == '=' || c == 0x7f)
            return true;
    return false;
}

} // namespace

std::string LogValue::text() const
{
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>)
                return v;
            else if constexpr (std::is_same_v<T, bool>)
                return v ? "true" : "false";
            else if constexpr (std::is_same_v<T, double>) {
                if (!std::isfinite(v))
                    return std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
                char buf[32];
                auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v); // shortest exact spelling
                return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
            } else
                return std::to_string(v);
        },
        v_);
}

void LogValue::appendJson(std::string& out) const
{
    if (const auto* s = std::get_if<std::string>(&v_))
        appendJsonString(out, *s);
    else if (const auto* d = std::get_if<double>(&v_); d && !std::isfinite(*d))
        out += "null"; // JSON has no NaN or infinity
    else
        out += text();
}

void Log::configure(LogLevel level, LogFormat format)
{
    gLevel = level;
    gFormat = format;
}

bool Log::enabled(LogLevel level) { return level != LogLevel::Off && level >= gLevel.load(); }

std::string Log::format(LogFormat format, LogLevel level, std::string_view time, std::string_view message,
                        const Fields& fields)
{
    std::string line;
    if (format == LogFormat::Json) {
        line = "{\"time\":\"" + std::string(time) + "\",\"level\":\"" + levelName(level) + "\",\"msg\":";
        appendJsonString(line, message);
        for (const auto& [k, v] : fields) {
            line += ',';
            appendJsonString(line, k);
            line += ':';
            v.appendJson(line);
        }
        line += '}';
    } else {
        line = std::string(time) + " " + levelName(level) + " " + std::string(message);
        for (const auto& [k, v] : fields) {
            line += ' ';
            line += k;
            line += '=';
            const std::string text = v.text();
            if (v.isText() && needsQuotes(text))
                appendJsonString(line, text);
            else
                line += text;
        }
    }
    return line;
}

void Log::write(LogLevel level, std::string_view message, const Fields& fields)
{
    if (!enabled(level))
        return;
    std::string line = format(gFormat, level, isoTime(SystemClock::instance().nowMs()), message, fields);
    line += '\n';
    std::lock_guard lock(gMutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

bool parseLogLevel(std::string_view text, LogLevel& out)
{
    static constexpr std::pair<std::string_view, LogLevel> kNames[] = {{"debug", LogLevel::Debug},
                                                                       {"info", LogLevel::Info},
                                                                       {"warn", LogLevel::Warn},
                                                                       {"error", LogLevel::Error},
                                                                       {"off", LogLevel::Off}};
    for (const auto& [name, level] : kNames)
        if (text == name) {
            out = level;
            return true;
        }
    return false;
}

} // namespace webhookd
