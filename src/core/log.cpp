#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

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

void Log::configure(LogLevel level, LogFormat format)
{
    gLevel = level;
    gFormat = format;
}

bool Log::enabled(LogLevel level) { return level != LogLevel::Off && level >= gLevel.load(); }

void Log::write(LogLevel level, std::string_view message, const Fields& fields)
{
    if (!enabled(level))
        return;
    std::string line;
    const std::string time = isoTime(SystemClock::instance().nowMs());
    if (gFormat == LogFormat::Json) {
        line = "{\"time\":\"" + time + "\",\"level\":\"" + levelName(level) + "\",\"msg\":";
        appendJsonString(line, message);
        for (const auto& [k, v] : fields) {
            line += ',';
            appendJsonString(line, k);
            line += ':';
            appendJsonString(line, v);
        }
        line += '}';
    } else {
        line = time + " " + levelName(level) + " " + std::string(message);
        for (const auto& [k, v] : fields) {
            line += ' ';
            line += k;
            line += '=';
            if (needsQuotes(v))
                appendJsonString(line, v);
            else
                line += v;
        }
    }
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
