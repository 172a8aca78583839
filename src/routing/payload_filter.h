#pragma once

// Payload filters (DESIGN.md "Ordering and payload filters"): a condition on
// an event's payload that a target's deliveries need. Checked once per event
// at fan-out, in C++ on both backends, so SQLite and PostgreSQL agree.
//
//   {"all": [F…]} | {"any": [F…]} | {"not": F} | {"path": P, "op": OP, "value": V}
//
// P is "$" followed by steps: .name ([A-Za-z_][A-Za-z0-9_]*), ["any key"]
// (a JSON string) or [index]. OP: eq ne gt gte lt lte in nin exists contains
// prefix. A missing path makes ne and nin true, exists false true, and every
// other operator false; null is present. Types are strict; numbers compare by
// value however written (exactly, also past 2^53 within 64-bit integers);
// strings by bytes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace webhookd {

struct PayloadFilterLimits {
    size_t maxBytes = 16 * 1024; // the filter's JSON text
    int maxDepth = 8;            // nesting: a lone condition is 1
    int maxConditions = 64;      // conditions with a path
};

class PayloadFilter {
public:
    // Invalid, with one sentence, for text that is not JSON or not a filter
    // (an unknown operator, a bad path, a value of the wrong type, too deep,
    // too many conditions, too big).
    static Result<PayloadFilter> parse(std::string_view text, const PayloadFilterLimits& limits = {});
    static Result<PayloadFilter> fromJson(const nlohmann::json& filter, const PayloadFilterLimits& limits = {});

    bool matches(const nlohmann::json& payload) const;

    // nullopt when the payload matches; otherwise the first condition that
    // failed and what the payload holds there, in one line.
    std::optional<std::string> whyNot(const nlohmann::json& payload) const;

    // The filter as stored and shown: compact JSON, keys sorted.
    const std::string& text() const { return text_; }
    const nlohmann::json& asJson() const { return json_; }

    struct Node;

private:
    PayloadFilter() = default;
    std::shared_ptr<const Node> root_;
    nlohmann::json json_;
    std::string text_;
};

} // namespace webhookd
