#include "api/auth.h"

#include <algorithm>
#include <cctype>

#include "api/call.h"
#include "api/context.h"
#include "core/log.h"
#include "signing/signing.h"
#include "storage/api_keys.h"

namespace webhookd::api {

std::optional<ApiKey> KeyCache::find(const std::string& digest, int64_t now)
{
    std::lock_guard lock(mutex_);
    auto it = keys_.find(digest);
    if (it == keys_.end() || now - it->second.second >= kFreshMs ||
        (it->second.first.expiresAt && *it->second.first.expiresAt <= now))
        return std::nullopt;
    return it->second.first;
}

void KeyCache::put(const std::string& digest, const ApiKey& key, int64_t now)
{
    std::lock_guard lock(mutex_);
    if (keys_.size() > 10'000)
        keys_.clear(); // a flood of distinct valid tokens: start over rather than grow
    keys_[digest] = {key, now};
}

void KeyCache::forget(const std::string& id)
{
    std::lock_guard lock(mutex_);
    for (auto it = keys_.begin(); it != keys_.end();)
        it = it->second.first.id == id ? keys_.erase(it) : std::next(it);
}

void KeyCache::clear()
{
    std::lock_guard lock(mutex_);
    keys_.clear();
}

ApiKey authenticate(Call& c, std::string_view scope)
{
    ApiContext& ctx = c.ctx;
    auto auth = c.req.header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!auth || auth->size() <= kBearer.size() ||
        !std::equal(kBearer.begin(), kBearer.end(), auth->begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        throw Problem{401, "", "an API key is needed: Authorization: Bearer whk_…"};
    const std::string_view token = std::string_view(*auth).substr(kBearer.size());
    const std::string digest = sha256({token});
    const int64_t now = ctx.clock.nowMs();
    Result<ApiKey> k = fail(Error::invalid(""));
    if (auto cached = ctx.keys.find(digest, now))
        k = std::move(*cached);
    else if ((k = authenticateApiKey(c.db(), token, ctx.clock)))
        ctx.keys.put(digest, *k, now);
    if (!k) {
        if (!k.error().is(Error::Kind::Invalid))
            throw fromError(k.error());
        if (auto leftOut = ctx.refusals.admit(now))
            Log::info("api key refused",
                      {{"reason", k.error().message()}, {"remote", c.req.remoteAddr}, {"left_out", *leftOut}});
        throw Problem{401, "", k.error().message()};
    }
    // A portal session's operations are a fixed list (server.cpp, Who),
    // rotating its endpoints' secrets among them: no scope grants that.
    if (scope != "*" && !k->portal && !grants(k->scopes, scope))
        throw Problem{403, "", "this API key lacks the '" + std::string(scope) + "' scope"};
    return std::move(*k);
}

} // namespace webhookd::api
