#include "storage/api_keys.h"

#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/ids.h"
#include "core/validate.h"
#include "signing/signing.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

// The columns of the ApiKey… statements (statements.h), in order.
ApiKey readKey(sql::Statement& q)
{
    ApiKey k;
    k.id = q.getColumn(0).getString();
    k.name = q.getColumn(1).getString();
    const auto scopes = nlohmann::json::parse(q.getColumn(2).getString(), nullptr, false);
    if (scopes.is_array())
        for (const auto& s : scopes)
            if (s.is_string())
                k.scopes.push_back(s.get<std::string>());
    k.createdAt = q.getColumn(3).getInt64();
    k.expiresAt = detail::optionalColumn<int64_t>(q, 4);
    k.revokedAt = detail::optionalColumn<int64_t>(q, 5);
    k.lastUsedAt = detail::optionalColumn<int64_t>(q, 6);
    k.appId = detail::optionalColumn<std::string>(q, 7);
    k.portal = q.getColumn(8).getString() == "portal";
    return k;
}

std::string base62(size_t n)
{
    static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string raw = randomToken(n * 2); // plenty of random characters to draw from
    std::string out;
    for (unsigned char c : raw) {
        if (out.size() == n)
            break;
        out += kAlphabet[c % 62];
    }
    return out;
}

constexpr int64_t kLastUsedEveryMs = 60'000;

// Writes a new key (or portal session) and gives its token, shown once.
Result<NewApiKey> insertKey(Database& db, ApiKey key, std::optional<int64_t> expiresInMs, const Clock& clock)
{
    NewApiKey out;
    out.key = std::move(key);
    out.key.id = "key_" + base62(12);
    out.key.createdAt = clock.nowMs();
    if (expiresInMs)
        out.key.expiresAt = out.key.createdAt + *expiresInMs;
    const std::string secret = randomToken(32);
    out.token = "whk_" + out.key.id + "_" + secret;
    const std::string digest = sha256({secret});
    auto saved = detail::guarded("create the API key", [&]() -> Status {
        sql::Statement q(detail::sql(db), sql::Q::ApiKeyInsert);
        q.bind(1, out.key.id);
        q.bind(2, out.key.name);
        q.bind(3, digest.data(), static_cast<int>(digest.size()));
        q.bind(4, nlohmann::json(out.key.scopes).dump());
        q.bind(5, out.key.createdAt);
        detail::bindOptional(q, 6, out.key.expiresAt);
        detail::bindOptional(q, 7, out.key.appId);
        q.bind(8, std::string(out.key.portal ? "portal" : "key"));
        q.exec();
        return {};
    });
    if (!saved)
        return fail(saved.error());
    return out;
}

} // namespace

Result<NewApiKey> createApiKey(Database& db, const std::string& name, const std::vector<std::string>& scopes,
                               std::optional<int64_t> expiresInMs, const Clock& clock,
                               const std::optional<std::string>& appId)
{
    if (auto s = validateText(name, "the key name", 200); !s)
        return fail(s.error());
    if (auto s = validateScopes(scopes); !s)
        return fail(s.error());
    if (appId)
        if (auto s = validateAppId(*appId); !s)
            return fail(s.error());
    if (expiresInMs && (*expiresInMs <= 0 || *expiresInMs > kMaxDurationMs))
        return fail(Error::invalid("a key's lifetime must be above 0 and at most 10 years (3650d)"));
    ApiKey k;
    k.name = name;
    k.scopes = scopes;
    k.appId = appId;
    return insertKey(db, std::move(k), expiresInMs, clock);
}

Result<NewApiKey> createPortalSession(Database& db, const std::string& appId, int64_t ttlMs, const Clock& clock)
{
    if (auto s = validateAppId(appId); !s)
        return fail(s.error());
    if (ttlMs <= 0 || ttlMs > kMaxPortalTtlMs)
        return fail(Error::invalid("a portal session lasts more than 0 and at most 7 days (7d)"));
    ApiKey k;
    k.name = "portal session";
    k.scopes = {"read", "manage"};
    k.appId = appId;
    k.portal = true;
    return insertKey(db, std::move(k), ttlMs, clock);
}

Result<int64_t> revokePortalSessions(Database& db, const std::string& appId, const Clock& clock)
{
    if (auto s = validateAppId(appId); !s)
        return fail(s.error());
    return detail::guarded("revoke the portal sessions", [&]() -> Result<int64_t> {
        sql::Statement u(detail::sql(db), sql::Q::PortalSessionsRevoke);
        u.bind(1, appId);
        u.bind(2, clock.nowMs());
        return static_cast<int64_t>(u.exec());
    });
}

Result<std::vector<ApiKey>> listApiKeys(Database& db)
{
    return detail::guarded("list API keys", [&]() -> Result<std::vector<ApiKey>> {
        sql::Statement q(detail::sql(db), sql::Q::ApiKeyList);
        std::vector<ApiKey> out;
        while (q.executeStep())
            out.push_back(readKey(q));
        return out;
    });
}

Result<ApiKey> revokeApiKey(Database& db, const std::string& id, const Clock& clock)
{
    return detail::guarded("revoke the API key", [&]() -> Result<ApiKey> {
        sql::Transaction tx(detail::sql(db), true);
        sql::Statement u(detail::sql(db), sql::Q::ApiKeyRevoke);
        u.bind(1, id);
        u.bind(2, clock.nowMs());
        if (u.exec() == 0)
            return fail(Error::notFound("there is no API key '" + id + "'"));
        sql::Statement q(detail::sql(db), sql::Q::ApiKeyById);
        q.bind(1, id);
        q.executeStep();
        ApiKey k = readKey(q);
        q.reset();
        tx.commit();
        return k;
    });
}

Result<ApiKey> authenticateApiKey(Database& db, std::string_view token, const Clock& clock)
{
    auto parts = splitToken(token);
    if (!parts)
        return fail(Error::invalid("the API key is not a webhookd key (whk_…)"));
    const int64_t now = clock.nowMs();
    return detail::guarded("check the API key", [&]() -> Result<ApiKey> {
        sql::Statement q(detail::sql(db), sql::Q::ApiKeyWithSecret);
        q.bind(1, parts->id);
        // An unknown id is compared against a digest all the same, so a
        // wrong id and a wrong secret take the same time.
        std::string stored(32, '\0');
        std::optional<ApiKey> key;
        if (q.executeStep()) {
            key = readKey(q);
            stored = q.getColumn(9).getString();
        }
        q.reset();
        const bool match = constantTimeEquals(sha256({parts->secret}), stored);
        if (!key || !match)
            return fail(Error::invalid("the API key is not known"));
        if (key->revokedAt)
            return fail(Error::invalid("the API key was revoked"));
        if (key->expiresAt && *key->expiresAt <= now)
            return fail(Error::invalid("the API key has expired"));
        if (!key->lastUsedAt || now - *key->lastUsedAt >= kLastUsedEveryMs) {
            sql::Statement u(detail::sql(db), sql::Q::ApiKeyUsed);
            u.bind(1, key->id);
            u.bind(2, now);
            try {
                u.exec();
                key->lastUsedAt = now;
            } catch (const sql::Error&) {
                // A note only: a busy or read-only store still lets the key in.
            }
        }
        return *key;
    });
}

} // namespace webhookd
