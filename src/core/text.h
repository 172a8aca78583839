#pragma once

// Small text helpers for what people read: suggestions for typos, counts
// with thousands separators, plurals. Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webhookd {

// Levenshtein's distance between two short texts (insertions, deletions
// and substitutions of bytes).
size_t editDistance(std::string_view a, std::string_view b);

// The value of one hexadecimal digit (either case), or -1 for another character.
int hexDigit(char c);

// The candidate closest to word by edit distance, when it is close enough
// to be the one meant (at most a third of its length, and 2, away).
std::optional<std::string> closestMatch(std::string_view word, const std::vector<std::string>& candidates);

// 6010 -> "6,010".
std::string withThousands(int64_t n);

// "1 delivery", "3 deliveries".
std::string plural(int64_t n, std::string_view one, std::string_view many);

} // namespace webhookd
