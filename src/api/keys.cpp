#include "api/handlers.h"

#include <algorithm>

#include "api/call.h"
#include "api/context.h"
#include "model/api_key.h"
#include "records/json.h"
#include "storage/api_keys.h"

namespace webhookd::api {

void listKeys(Call& c)
{
    auto all = must(listApiKeys(c.db()));
    std::sort(all.begin(), all.end(), [](const ApiKey& a, const ApiKey& b) { return a.id < b.id; });
    writeJson(c.res, 200, pageById(c, all, "k", apiKeyJson));
}

void createKey(Call& c)
{
    json j = bodyObject(c, {"name", "scopes", "expires_in", "app_id"});
    if (!j.contains("name") || !j["name"].is_string())
        throw Problem{422, "", "\"name\" must be a string"};
    std::vector<std::string> scopes;
    if (!j.contains("scopes") || !j["scopes"].is_array())
        throw Problem{422, "", "\"scopes\" must be an array of scopes"};
    for (const auto& s : j["scopes"]) {
        if (!s.is_string())
            throw Problem{422, "", "\"scopes\" must be an array of scopes"};
        scopes.push_back(s.get<std::string>());
    }
    const std::optional<int64_t> expires = durationField(j, "expires_in", "90d");
    std::optional<std::string> app;
    if (j.contains("app_id")) {
        if (!j["app_id"].is_string())
            throw Problem{422, "", "\"app_id\" must be a string"};
        app = j["app_id"].get<std::string>();
    }
    auto made = must(createApiKey(c.db(), j["name"].get<std::string>(), scopes, expires, c.ctx.clock, app));
    json out = apiKeyJson(made.key);
    out["token"] = made.token;
    writeJson(c.res, 201, out);
}

void getKeySelf(Call& c) { writeJson(c.res, 200, apiKeyJson(*c.key)); }

void createPortalSessionRoute(Call& c)
{
    const std::string app = *c.req.pathParam("app");
    json j = bodyObject(c, {"ttl"});
    const int64_t ttl = durationField(j, "ttl", "1h").value_or(kDefaultPortalTtlMs);
    if (ttl <= 0 || ttl > kMaxPortalTtlMs)
        throw Problem{422, "", "\"ttl\" must be a duration above 0 and at most 7d"};
    auto made = must(createPortalSession(c.db(), app, ttl, c.ctx.clock));
    writeJson(c.res, 201, portalSessionJson(made.key, made.token, portalUrl(c.ctx.publicUrl(), made.token)));
}

void revokePortalSessionsRoute(Call& c)
{
    const std::string app = *c.req.pathParam("app");
    const int64_t n = must(revokePortalSessions(c.db(), app, c.ctx.clock));
    c.ctx.keys.clear(); // sessions cached as authenticated must not outlive this answer
    writeJson(c.res, 200, {{"revoked", n}});
}

void revokeKey(Call& c)
{
    must(revokeApiKey(c.db(), pathId(c), c.ctx.clock));
    c.ctx.keys.forget(pathId(c));
    c.res.set(204, "", "application/json");
}

} // namespace webhookd::api
