#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace webhookd {

// Event-type patterns: an exact type ("cost.alert") or one with '*' wildcards,
// each matching any run of characters, dots included ("optimization.*", "*").
bool matchPattern(std::string_view pattern, std::string_view type);

// A target with no patterns receives every event.
bool matchesAny(const std::vector<std::string>& patterns, std::string_view type);

// Patterns use the event-type alphabet plus '*'.
Status validatePattern(std::string_view pattern);

} // namespace webhookd
