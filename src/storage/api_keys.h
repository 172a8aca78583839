#pragma once

// API keys in the store (DESIGN.md "HTTP API"): created and revoked by
// `webhookctl api-key` and POST/DELETE /api-keys, checked on every request.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "model/api_key.h"

namespace webhookd {

class Database;

struct NewApiKey {
    ApiKey key;
    std::string token; // whk_<id>_<secret>: shown once, never stored
};

// Invalid for a bad name, scope or application id, or an expiry not in the
// future. With appId the key is bound to that application.
Result<NewApiKey> createApiKey(Database& db, const std::string& name, const std::vector<std::string>& scopes,
                               std::optional<int64_t> expiresInMs, const Clock& clock,
                               const std::optional<std::string>& appId = std::nullopt);

// Portal sessions: keys of kind portal, bound to one application, read and
// manage scopes, expiring after ttl. The application need not have a target
// yet (a customer may create the first one in the portal).
inline constexpr int64_t kDefaultPortalTtlMs = 3'600'000;  // 1 h
inline constexpr int64_t kMaxPortalTtlMs = 7 * 86'400'000; // 7 d
// Invalid for a bad application id or a ttl not in (0, 7 d].
Result<NewApiKey> createPortalSession(Database& db, const std::string& appId, int64_t ttlMs, const Clock& clock);
// Revokes every portal session of the application that is not revoked yet;
// how many. Keys of the application (kind key) stay.
Result<int64_t> revokePortalSessions(Database& db, const std::string& appId, const Clock& clock);

// Every key, revoked ones too, oldest first.
Result<std::vector<ApiKey>> listApiKeys(Database& db);

// Marks it revoked (it stays listed). NotFound for an unknown id; revoking
// twice keeps the first time.
Result<ApiKey> revokeApiKey(Database& db, const std::string& id, const Clock& clock);

// The key a token belongs to, if it is valid now: its secret's SHA-256
// matches in constant time, it is not revoked and has not expired. Invalid
// (the message says which, never quoting the token) otherwise; Busy or
// Storage when the store cannot answer. Notes last_used_at at most once a
// minute.
Result<ApiKey> authenticateApiKey(Database& db, std::string_view token, const Clock& clock);

} // namespace webhookd
