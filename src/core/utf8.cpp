#include "core/utf8.h"

#include <cstdio>

namespace webhookd::utf8 {

namespace {

// The length of the well-formed sequence at text[i], 0 if there is none.
size_t sequenceAt(std::string_view text, size_t i)
{
    const auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const size_t left = text.size() - i;
    const unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    auto cont = [&](size_t k) { return k < left && (b(k) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF)
        return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2))
            return 0;
        if (c == 0xE0 && b(1) < 0xA0) // overlong
            return 0;
        if (c == 0xED && b(1) >= 0xA0) // surrogates
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3))
            return 0;
        if (c == 0xF0 && b(1) < 0x90) // overlong
            return 0;
        if (c == 0xF4 && b(1) >= 0x90) // above U+10FFFF
            return 0;
        return 4;
    }
    return 0;
}

} // namespace

bool valid(std::string_view text)
{
    for (size_t i = 0; i < text.size();) {
        const size_t n = sequenceAt(text, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t boundary(std::string_view text, size_t maxBytes)
{
    if (text.size() <= maxBytes)
        return text.size();
    size_t end = maxBytes;
    // Step back over continuation bytes to the start of the cut character.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end;
    return end;
}

std::string storable(std::string_view text)
{
    std::string out = valid(text) ? std::string(text) : sanitize(text);
    for (size_t at = out.find('\0'); at != std::string::npos; at = out.find('\0', at + 3))
        out.replace(at, 1, "\xEF\xBF\xBD");
    return out;
}

std::string sanitize(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const size_t n = sequenceAt(text, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

bool hasControl(std::string_view text, bool allowTab)
{
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c < 0x20 && !(allowTab && c == '\t')) || c == 0x7F)
            return true;
        // C1 controls are U+0080–U+009F: C2 80 … C2 9F.
        if (c == 0xC2 && i + 1 < text.size()) {
            const auto d = static_cast<unsigned char>(text[i + 1]);
            if (d >= 0x80 && d <= 0x9F)
                return true;
        }
    }
    return false;
}

std::string printable(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    char buf[16];
    for (size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        const size_t n = sequenceAt(text, i);
        if (n == 0 || c < 0x20 || c == 0x7F) {
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
            ++i;
        } else if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
            std::snprintf(buf, sizeof buf, "\\u{%02X}", static_cast<unsigned char>(text[i + 1]));
            out += buf;
            i += 2;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

} // namespace webhookd::utf8
