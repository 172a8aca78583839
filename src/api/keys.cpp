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
    json j = bodyObject(c, {"name", "scopes", "expires_in"});
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
    auto made = must(createApiKey(c.db(), j["name"].get<std::string>(), scopes, expires, c.ctx.clock));
    json out = apiKeyJson(made.key);
    out["token"] = made.token;
    writeJson(c.res, 201, out);
}

void getKeySelf(Call& c) { writeJson(c.res, 200, apiKeyJson(*c.key)); }

void revokeKey(Call& c)
{
    must(revokeApiKey(c.db(), pathId(c), c.ctx.clock));
    c.ctx.keys.forget(pathId(c));
    c.res.set(204, "", "application/json");
}

} // namespace webhookd::api
