#include "core/ids.h"

#include <stdexcept>
#include <sys/random.h>

namespace webhookd {

void randomBytes(void* buf, size_t len)
{
    auto* p = static_cast<unsigned char*>(buf);
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0)
            throw std::runtime_error("the operating system refused to supply random bytes");
        p += n;
        len -= static_cast<size_t>(n);
    }
}

std::string newMessageUid(int64_t nowMs)
{
    static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char bytes[16];
    auto ms = static_cast<uint64_t>(nowMs);
    for (int i = 5; i >= 0; --i) {
        bytes[i] = static_cast<unsigned char>(ms & 0xff);
        ms >>= 8;
    }
    randomBytes(bytes + 6, 10);
    // 128 bits -> 26 base32 digits (130 bits, top two are zero).
    std::string out = "msg_";
    out.reserve(30);
    // Big-endian bit stream, 5 bits per digit, most significant first.
    char digits[26];
    for (int i = 0; i < 26; ++i) {
        const int bit = 130 - 5 * (i + 1); // position of the digit's lowest bit
        unsigned value = 0;
        for (int b = 4; b >= 0; --b) {
            const int pos = bit + b; // counted from the least significant end
            unsigned set = 0;
            if (pos < 128)
                set = (bytes[15 - pos / 8] >> (pos % 8)) & 1u;
            value = (value << 1) | set;
        }
        digits[i] = kAlphabet[value];
    }
    out.append(digits, 26);
    return out;
}

namespace {

bool isSlugChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
        c == '-';
}

Status validateSlug(std::string_view text, size_t maxLen, const char* what)
{
    if (text.empty())
        return fail(Error::invalid(std::string(what) + " must not be empty"));
    if (text.size() > maxLen)
        return fail(Error::invalid(std::string(what) + " is longer than " + std::to_string(maxLen) + " characters"));
    for (char c : text)
        if (!isSlugChar(c))
            return fail(Error::invalid(std::string(what) + " '" + std::string(text) +
                                       "' may only contain letters, digits, '_', '.' and '-'"));
    return {};
}

} // namespace

Status validateEventType(std::string_view type) { return validateSlug(type, 200, "event type"); }

Status validateTargetId(std::string_view id) { return validateSlug(id, 64, "target id"); }
Status validateAppId(std::string_view id) { return validateSlug(id, 64, "application id"); }

} // namespace webhookd
