#pragma once

// A strict, allocation-free reader of JSON text (RFC 8259) that keeps the
// producer's bytes: it validates, measures nesting and finds the exact span
// of each member of an object, so payloads are stored and sent byte for
// byte (numbers keep their digits, keys their order). Written here because
// the packaged parsers either reject numbers RFC 8259 allows (simdjson:
// integers wider than 64 bits, 1e400) or rewrite them (nlohmann's DOM), and
// none report where a value's text starts and ends. Pure; fuzzed by
// tests/fuzz/json_text_fuzzer.cpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace webhookd::json_text {

enum class Kind { Object, Array, String, Number, True, False, Null };

// Exactly one JSON value, with optional whitespace around it, nested at
// most maxDepth arrays and objects deep. Invalid otherwise: "not valid JSON:
// <what> at byte N", or, with Code::TooDeep, "nests arrays and objects
// deeper than N levels".
Status validate(std::string_view text, size_t maxDepth);

struct Member {
    std::string key; // unescaped
    Kind kind = Kind::Null;
    std::string_view raw; // the value exactly as written (a view into the text)
};

// The members of a text that is one JSON object, in order; every value
// validated as validate() does, with the object's own level counted. Invalid
// for anything else, and for a key given twice.
Result<std::vector<Member>> objectMembers(std::string_view text, size_t maxDepth);

// The elements of a text that is one JSON array, each as raw text.
Result<std::vector<std::pair<Kind, std::string_view>>> arrayElements(std::string_view text, size_t maxDepth);

// A string value's raw text ("…" with its escapes) as UTF-8; nullopt if raw
// is not a valid JSON string.
std::optional<std::string> stringValue(std::string_view raw);

// A number's raw text as an int64 when it is a whole number in range
// (no fraction, no exponent); nullopt otherwise.
std::optional<int64_t> integerValue(std::string_view raw);

// "…" with JSON escapes: for writing strings into JSON text by hand.
std::string quote(std::string_view text);

} // namespace webhookd::json_text
