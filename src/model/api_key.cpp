#include "model/api_key.h"

#include <algorithm>
#include <cctype>

namespace webhookd {

Status validateScopes(const std::vector<std::string>& scopes)
{
    if (scopes.empty())
        return fail(Error::invalid("an API key needs at least one scope (events:write, read, manage or admin)"));
    for (const auto& s : scopes)
        if (std::find(std::begin(kScopes), std::end(kScopes), s) == std::end(kScopes))
            return fail(Error::invalid("'" + s + "' is not a scope (events:write, read, manage or admin)"));
    return {};
}

bool grants(const std::vector<std::string>& held, std::string_view scope)
{
    auto has = [&](std::string_view s) { return std::find(held.begin(), held.end(), s) != held.end(); };
    return has("admin") || has(scope) || (scope == "read" && has("manage"));
}

std::string portalUrl(std::string_view base, std::string_view token)
{
    while (!base.empty() && base.back() == '/')
        base.remove_suffix(1);
    return std::string(base) + "/#portal=" + std::string(token);
}

std::optional<TokenParts> splitToken(std::string_view token)
{
    // whk_key_XXXXXXXXXXXX_SECRET: the id is key_ and base62, the secret base64url.
    constexpr std::string_view kPrefix = "whk_";
    if (token.substr(0, kPrefix.size()) != kPrefix)
        return std::nullopt;
    token.remove_prefix(kPrefix.size());
    if (token.substr(0, 4) != "key_")
        return std::nullopt;
    const size_t cut = token.find('_', 4);
    if (cut == std::string_view::npos || cut == 4 || cut + 1 >= token.size() || cut > 40 || token.size() > 200)
        return std::nullopt;
    for (char c : token.substr(4, cut - 4))
        if (!std::isalnum(static_cast<unsigned char>(c)))
            return std::nullopt;
    return TokenParts{std::string(token.substr(0, cut)), std::string(token.substr(cut + 1))};
}

} // namespace webhookd
