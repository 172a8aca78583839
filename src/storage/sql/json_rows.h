#pragma once

// storage/ internals: the rows of a set-based statement, as one parameter.
// A batch (the leases of a claim, the attempts of a completion) goes to the
// database as a JSON array of arrays, [[id, "status", …], …], which each
// dialect reads as a table: SQLite with json_each(?n) and `value ->> i`,
// PostgreSQL with jsonb_array_elements($n::jsonb) and `(value ->> i)::type`
// (jsonb: each row parsed once, not once more for every field read).
// One statement then writes the whole batch: one round trip on PostgreSQL
// instead of one per row, the same work for SQLite's engine.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/json_text.h"

namespace webhookd::detail {

class JsonRows {
public:
    // Appends one row of the given values, in the order the statement reads
    // them (an empty optional is JSON null, read as SQL NULL).
    template <typename... Values>
    void add(const Values&... values)
    {
        text_ += rows_++ == 0 ? "[" : ",[";
        bool first = true;
        ((write(first, values)), ...);
        text_ += ']';
    }
    size_t size() const { return rows_; }
    bool empty() const { return rows_ == 0; }
    // The array, for binding as text.
    std::string text() const { return "[" + text_ + "]"; }

private:
    template <typename T>
    void write(bool& first, const T& v)
    {
        if (!first)
            text_ += ',';
        first = false;
        value(v);
    }
    template <typename T>
    void value(const std::optional<T>& v)
    {
        if (v)
            value(*v);
        else
            text_ += "null";
    }
    void value(bool v) { text_ += v ? '1' : '0'; }
    template <typename T>
        requires std::is_integral_v<T>
    void value(T v)
    {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
        text_.append(buf, end);
    }
    void value(std::string_view v) { text_ += json_text::quote(v); }
    void value(const std::string& v) { value(std::string_view(v)); }
    void value(const char* v) { value(std::string_view(v)); }

    std::string text_;
    size_t rows_ = 0;
};

} // namespace webhookd::detail
