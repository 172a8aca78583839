#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace webhookd {

enum class LogLevel { Debug, Info, Warn, Error, Off };
enum class LogFormat { Text, Json };

// One line per significant event on stderr, as text or JSON, with key=value
// fields. Process-wide; any thread may log. Messages and fields must never
// carry secrets: callers pass ids, codes and counts, not headers or keys.
class Log {
public:
    using Fields = std::vector<std::pair<std::string_view, std::string>>;

    static void configure(LogLevel level, LogFormat format);
    static bool enabled(LogLevel level);
    static void write(LogLevel level, std::string_view message, const Fields& fields = {});

    static void debug(std::string_view m, const Fields& f = {}) { write(LogLevel::Debug, m, f); }
    static void info(std::string_view m, const Fields& f = {}) { write(LogLevel::Info, m, f); }
    static void warn(std::string_view m, const Fields& f = {}) { write(LogLevel::Warn, m, f); }
    static void error(std::string_view m, const Fields& f = {}) { write(LogLevel::Error, m, f); }
};

// Parses "debug", "info", "warn", "error", "off"; false for anything else.
bool parseLogLevel(std::string_view text, LogLevel& out);

} // namespace webhookd
