#include "core/validate.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/json_text.h"
#include "core/utf8.h"

namespace webhookd {

std::string redactUrl(std::string_view url)
{
    size_t start = url.find("://");
    if (start == std::string_view::npos)
        return std::string(url);
    start += 3;
    std::string_view authority = url.substr(start);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    size_t at = authority.rfind('@');
    if (at == std::string_view::npos)
        return std::string(url);
    std::string_view userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    std::string kept = colon == std::string_view::npos ? std::string() : std::string(userinfo.substr(0, colon + 1));
    return std::string(url.substr(0, start)) + kept + "***" + std::string(url.substr(start + at));
}

namespace {

bool isSecretKey(std::string_view key) { return key == "password" || key == "sslpassword"; }

// The URL's query parameters named password or sslpassword, masked; the
// rest (and percent-encoding) left as written.
std::string redactQuery(std::string_view url)
{
    const size_t q = url.find('?');
    if (q == std::string_view::npos)
        return std::string(url);
    const size_t end = std::min(url.size(), url.find('#', q));
    std::string out(url.substr(0, q + 1));
    size_t at = q + 1;
    while (at <= end) {
        size_t amp = url.find('&', at);
        if (amp == std::string_view::npos || amp > end)
            amp = end;
        const std::string_view pair = url.substr(at, amp - at);
        const size_t eq = pair.find('=');
        if (eq != std::string_view::npos && isSecretKey(pair.substr(0, eq)))
            out += std::string(pair.substr(0, eq + 1)) + "***";
        else
            out += pair;
        if (amp < end)
            out += '&';
        at = amp + 1;
    }
    out += url.substr(end);
    return out;
}

// libpq's keyword/value form: keyword = value, the value bare or in single
// quotes with backslash escapes.
std::string redactConninfo(std::string_view s)
{
    std::string out;
    size_t i = 0;
    const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (i < s.size()) {
        if (space(s[i])) {
            out += s[i++];
            continue;
        }
        const size_t keyStart = i;
        while (i < s.size() && s[i] != '=' && !space(s[i]))
            ++i;
        const std::string_view key = s.substr(keyStart, i - keyStart);
        size_t j = i;
        while (j < s.size() && space(s[j]))
            ++j;
        if (j >= s.size() || s[j] != '=') { // not keyword/value after all
            out += s.substr(keyStart, i - keyStart);
            continue;
        }
        ++j;
        while (j < s.size() && space(s[j]))
            ++j;
        size_t valueEnd = j;
        if (valueEnd < s.size() && s[valueEnd] == '\'') {
            for (++valueEnd; valueEnd < s.size() && s[valueEnd] != '\''; ++valueEnd)
                if (s[valueEnd] == '\\')
                    ++valueEnd;
            valueEnd = std::min(s.size(), valueEnd + 1);
        } else {
            while (valueEnd < s.size() && !space(s[valueEnd]))
                ++valueEnd;
        }
        out += s.substr(keyStart, j - keyStart);
        out += isSecretKey(key) ? std::string("***") : std::string(s.substr(j, valueEnd - j));
        i = valueEnd;
    }
    return out;
}

} // namespace

std::string redactLocator(std::string_view locator)
{
    if (const size_t scheme = locator.find("://"); scheme != std::string_view::npos) {
        std::string_view rest = locator.substr(scheme + 3);
        rest = rest.substr(0, rest.find_first_of("/?#"));
        // A user name alone is no secret here (libpq takes the password
        // from ~/.pgpass or PGPASSWORD then): only user:password is masked.
        const size_t at = rest.rfind('@');
        const bool password = at != std::string_view::npos && rest.substr(0, at).find(':') != std::string_view::npos;
        return redactQuery(password ? redactUrl(locator) : std::string(locator));
    }
    // A file path holds no '=' after a space or at its start, so only a
    // keyword/value string is changed here.
    if (locator.find('=') == std::string_view::npos)
        return std::string(locator);
    return redactConninfo(locator);
}

Status validateUrl(std::string_view url)
{
    if (url.size() > 2048)
        return fail(Error::invalid("the URL is longer than 2048 characters"));
    for (unsigned char c : url)
        if (c <= 0x20 || c == 0x7f)
            return fail(Error::invalid("the URL must not contain spaces or control characters"));
    if (!utf8::valid(url) || utf8::hasControl(url))
        return fail(Error::invalid("the URL must be UTF-8 text without control characters"));
    size_t rest = 0;
    if (url.substr(0, 8) == "https://")
        rest = 8;
    else if (url.substr(0, 7) == "http://")
        rest = 7;
    else
        return fail(Error::invalid("the URL '" + redactUrl(url) + "' must start with http:// or https://"));
    std::string_view authority = url.substr(rest);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        authority = authority.substr(at + 1);
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        if (close == std::string_view::npos)
            return fail(Error::invalid("the URL '" + redactUrl(url) + "' has an unclosed IPv6 address"));
        host = host.substr(1, close - 1);
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        std::string_view port = host.substr(colon + 1);
        host = host.substr(0, colon);
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(std::string(port)) > 65535 || std::stoi(std::string(port)) == 0)
            return fail(Error::invalid("the URL '" + redactUrl(url) + "' has an invalid port"));
    }
    if (host.empty())
        return fail(Error::invalid("the URL '" + redactUrl(url) + "' has no host"));
    return {};
}

Status validateText(std::string_view text, std::string_view what, size_t maxBytes)
{
    if (text.size() > maxBytes)
        return fail(Error::invalid(std::string(what) + " is longer than " + std::to_string(maxBytes) + " bytes"));
    if (!utf8::valid(text) || utf8::hasControl(text))
        return fail(Error::invalid(std::string(what) + " must be UTF-8 text without control characters"));
    return {};
}

namespace {

bool isTokenChar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

} // namespace

Status validateHeader(std::string_view name, std::string_view value, const Limits& limits)
{
    if (name.empty())
        return fail(Error::invalid("a header name must not be empty"));
    for (char c : name)
        if (!isTokenChar(c))
            return fail(Error::invalid("the header name '" + std::string(name) +
                                       "' may only contain letters, digits and !#$%&'*+-.^_`|~"));
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    static constexpr std::string_view kReserved[] = {
        "content-type",       "content-length", "host", "transfer-encoding", "user-agent",
        "connection",         "expect",         "te",   "upgrade",           "x-hub-signature",
        "x-hub-signature-256"};
    if (std::find(std::begin(kReserved), std::end(kReserved), lower) != std::end(kReserved) ||
        lower.rfind("webhook-", 0) == 0)
        return fail(Error::invalid("the header '" + std::string(name) + "' is set by webhookd and cannot be replaced"));
    for (char c : value)
        if (c == '\r' || c == '\n' || c == '\0')
            return fail(Error::invalid("the value of header '" + std::string(name) +
                                       "' must not contain CR, LF or NUL characters"));
    if (!utf8::valid(value) || utf8::hasControl(value, true))
        return fail(Error::invalid("the value of header '" + std::string(name) +
                                   "' must be UTF-8 text without control characters"));
    if (name.size() + value.size() > limits.maxHeaderBytes)
        return fail(Error::invalid("the header '" + std::string(name) + "' is larger than " +
                                   std::to_string(limits.maxHeaderBytes) + " bytes"));
    return {};
}

Status validatePayload(std::string_view json, const Limits& limits)
{
    if (json.size() > limits.maxPayloadBytes)
        return fail(Error::invalid("the payload is " + std::to_string(json.size()) + " bytes, over the limit of " +
                                   std::to_string(limits.maxPayloadBytes) + " bytes"));
    if (auto s = json_text::validate(json, limits.maxJsonDepth); !s)
        return fail(Error::invalid("the payload " + std::string(s.error().is(Error::Code::TooDeep) ? "" : "is ") +
                                   s.error().message())
                        .withCode(s.error().code()));
    return {};
}

size_t jsonDepth(std::string_view json)
{
    size_t depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (char c : json) {
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

std::string maskUrlCredentials(std::string_view url)
{
    std::string out = redactUrl(url);
    const size_t start = out.find('?');
    if (start == std::string::npos)
        return out;
    const size_t end = std::min(out.find('#', start), out.size());
    std::string masked;
    for (size_t at = start + 1; at <= end;) {
        const size_t next = std::min(out.find('&', at), end);
        const std::string_view part = std::string_view(out).substr(at, next - at);
        const size_t eq = part.find('=');
        masked += (masked.empty() ? "" : "&") +
            (eq == std::string_view::npos ? std::string("***") : std::string(part.substr(0, eq + 1)) + "***");
        at = next + 1;
    }
    return out.substr(0, start + 1) + masked + out.substr(end);
}

bool isSensitiveHeader(std::string_view name)
{
    std::string lower;
    for (char c : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::string_view word : {"auth", "cookie", "token", "secret", "key", "password", "signature"})
        if (lower.find(word) != std::string::npos)
            return true;
    return false;
}

} // namespace webhookd
