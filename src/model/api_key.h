#pragma once

// API keys (DESIGN.md "HTTP API"): what a key may do, as a pure rule. The
// token is whk_<id>_<secret>; only the secret's SHA-256 is stored.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace webhookd {

// events:write: POST /events only (producers). read: every GET but secrets.
// manage: targets, dead letters, resends (and read). admin: everything.
inline constexpr std::string_view kScopes[] = {"events:write", "read", "manage", "admin"};

struct ApiKey {
    std::string id; // key_ + 12 base62 characters
    std::string name;
    std::vector<std::string> scopes;
    // Bound to one application (tenant): it sees and acts only inside it.
    // None: an operator key.
    std::optional<std::string> appId;
    // A portal session (POST /apps/{app}/portal-sessions): always bound to
    // an application, short-lived, and allowed only the operations a
    // customer's portal needs (read, resend, its endpoints), whatever its
    // scopes say.
    bool portal = false;
    int64_t createdAt = 0;
    std::optional<int64_t> expiresAt;
    std::optional<int64_t> revokedAt;
    std::optional<int64_t> lastUsedAt;
};

// Invalid, naming the scope, for one not in kScopes; Invalid for none.
Status validateScopes(const std::vector<std::string>& scopes);

// Whether a key holding `held` may do what needs `scope`: admin grants
// everything, manage grants read too.
bool grants(const std::vector<std::string>& held, std::string_view scope);

// The dashboard in tenant mode for a portal session: base (the API's
// address people reach, http(s)://host[:port]) and the token in the
// fragment, which browsers never send to a server or put in its logs.
std::string portalUrl(std::string_view base, std::string_view token);

// The token's parts, or nullopt when it is not whk_<id>_<secret>.
struct TokenParts {
    std::string id;
    std::string secret;
};
std::optional<TokenParts> splitToken(std::string_view token);

} // namespace webhookd
