#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace webhookd {

enum class LogLevel { Debug, Info, Warn, Error, Off };
enum class LogFormat { Text, Json };

// A log field's value, typed by what the caller passes: text, a whole
// number, a number with a fraction, or a yes/no. JSON logs write numbers and
// booleans as JSON numbers and booleans, text as strings, so a count is 7
// and an id passed as text ("007") stays "007": the type is the caller's
// decision, never guessed from the characters.
class LogValue {
public:
    LogValue(std::string text)
        : v_(std::move(text))
    { }
    LogValue(std::string_view text)
        : v_(std::string(text))
    { }
    LogValue(const char* text)
        : v_(std::string(text))
    { }
    LogValue(bool yes)
        : v_(yes)
    { }
    LogValue(double x)
        : v_(x)
    { }
    template <std::signed_integral T>
    requires(!std::same_as<T, char>) LogValue(T n)
        : v_(static_cast<int64_t>(n))
    { }
    template <std::unsigned_integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogValue(T n)
        : v_(static_cast<uint64_t>(n))
    { }

    // As the text format writes it: the text, digits, or true/false.
    std::string text() const;
    // As JSON: a string, a number (null for NaN and infinities) or true/false.
    void appendJson(std::string& out) const;
    bool isText() const { return std::holds_alternative<std::string>(v_); }

private:
    std::variant<std::string, int64_t, uint64_t, double, bool> v_;
};

// One line per significant event on stderr, as text or JSON, with key=value
// fields. Process-wide; any thread may log. Messages and fields must never
// carry secrets: callers pass ids, codes and counts, not headers or keys.
class Log {
public:
    using Fields = std::vector<std::pair<std::string_view, LogValue>>;

    static void configure(LogLevel level, LogFormat format);
    static bool enabled(LogLevel level);
    static void write(LogLevel level, std::string_view message, const Fields& fields = {});

    static void debug(std::string_view m, const Fields& f = {}) { write(LogLevel::Debug, m, f); }
    static void info(std::string_view m, const Fields& f = {}) { write(LogLevel::Info, m, f); }
    static void warn(std::string_view m, const Fields& f = {}) { write(LogLevel::Warn, m, f); }
    static void error(std::string_view m, const Fields& f = {}) { write(LogLevel::Error, m, f); }

    // The line write() prints (without its newline), with `time` as its
    // time: for tests of the format.
    static std::string format(LogFormat format, LogLevel level, std::string_view time, std::string_view message,
                              const Fields& fields);
};

// Parses "debug", "info", "warn", "error", "off"; false for anything else.
bool parseLogLevel(std::string_view text, LogLevel& out);

} // namespace webhookd
