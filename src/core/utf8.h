#pragma once

// UTF-8 as the project needs it: checking text fields, cutting excerpts at a
// character boundary, making stranger's bytes printable. Pure.

#include <cstddef>
#include <string>
#include <string_view>

namespace webhookd::utf8 {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
// above U+10FFFF.
bool valid(std::string_view text);

// The length of the longest prefix of at most maxBytes that ends on a
// character boundary (a character cut by the limit is left out whole).
size_t boundary(std::string_view text, size_t maxBytes);

// The text with every ill-formed sequence replaced by U+FFFD.
std::string sanitize(std::string_view text);

// sanitize, and U+0000 replaced by U+FFFD too: text that either store holds
// as it is (PostgreSQL's text cannot hold U+0000, and libpq would cut it
// there). For strangers' bytes kept to be shown, such as response excerpts.
std::string storable(std::string_view text);

// A control character: C0 (U+0000–U+001F), DEL, or C1 (U+0080–U+009F).
// allowTab lets HT through (header values may hold it).
bool hasControl(std::string_view text, bool allowTab = false);

// For a terminal: well-formed UTF-8 with control characters written as
// \xNN (C0, DEL) or \u{NN} (C1) and ill-formed bytes as \xNN. What a receiver or a hand-edited row holds cannot move
// the cursor or change colours.
std::string printable(std::string_view text);

} // namespace webhookd::utf8
