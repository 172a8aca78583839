#include "context.h"

#include <iostream>

#include "apps/common/usage.h"
#include "core/duration.h"
#include "core/text.h"
#include "records/json.h"
#include "storage/api_keys.h"

namespace webhookd::cli {

namespace {

std::string scopesText(const ApiKey& k)
{
    std::string out;
    for (const auto& s : k.scopes)
        out += (out.empty() ? "" : ",") + s;
    return out;
}

} // namespace

void addApiKeyCommands(CLI::App& app, Context& ctx)
{
    auto* keys = app.add_subcommand("api-key", "Keys for the HTTP API (webhookd --api-listen)");
    keys->require_subcommand(1);

    struct CreateFlags {
        std::string name, expires;
        std::vector<std::string> scopes;
        CLI::Option* expiresOpt = nullptr;
    };
    auto cf = std::make_shared<CreateFlags>();
    auto* create = keys->add_subcommand("create", "Create a key; prints its token once, as the last line");
    create->add_option("NAME", cf->name, "A name for people (who holds the key)")->required();
    create->add_option("--scope", cf->scopes, "events:write, read, manage or admin (repeatable)")
        ->required()
        ->check(oneOf({"events:write", "read", "manage", "admin"}));
    cf->expiresOpt =
        create->add_option("--expires", cf->expires, "Stop accepting it after this long, e.g. 90d")->check(duration());
    create->callback([&ctx, cf] {
        ctx.action = [&ctx, cf]() -> int {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            std::optional<int64_t> expires;
            if (cf->expiresOpt->count() > 0)
                expires = durationMs(cf->expires);
            auto made = createApiKey(**db, cf->name, cf->scopes, expires, ctx.clock());
            if (!made)
                return reportInput(made.error());
            if (ctx.json) {
                auto j = apiKeyJson(made->key);
                j["token"] = made->token;
                printJson(j);
                return kOk;
            }
            std::cerr << "webhookctl: created API key " << made->key.id << " (" << scopesText(made->key)
                      << "); the token below is shown only now\n";
            std::cout << made->token << '\n';
            return kOk;
        };
    });

    auto* list = keys->add_subcommand("list", "List keys (never their tokens)");
    list->callback([&ctx] {
        ctx.action = [&ctx]() -> int {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto all = listApiKeys(**db);
            if (!all)
                return report(all.error());
            if (ctx.json) {
                nlohmann::json out = nlohmann::json::array();
                for (const auto& k : *all)
                    out.push_back(apiKeyJson(k));
                printJson(out);
                return kOk;
            }
            std::vector<std::vector<std::string>> rows;
            const int64_t now = ctx.clock().nowMs();
            for (const auto& k : *all) {
                std::string state = "active";
                if (k.revokedAt)
                    state = "revoked " + isoTime(*k.revokedAt);
                else if (k.expiresAt && *k.expiresAt <= now)
                    state = "expired " + isoTime(*k.expiresAt);
                else if (k.expiresAt)
                    state = "expires " + isoTime(*k.expiresAt);
                rows.push_back({k.id, k.name, scopesText(k), isoTime(k.createdAt),
                                k.lastUsedAt ? isoTime(*k.lastUsedAt) : "never", state});
            }
            printTable({"ID", "NAME", "SCOPES", "CREATED", "LAST USED", "STATE"}, rows);
            return kOk;
        };
    });

    auto id = std::make_shared<std::string>();
    auto* revoke = keys->add_subcommand("revoke", "Stop accepting a key at once (it stays listed)");
    revoke->add_option("ID", *id, "The key's id (key_…)")->required();
    revoke->callback([&ctx, id] {
        ctx.action = [&ctx, id]() -> int {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto k = revokeApiKey(**db, *id, ctx.clock());
            if (!k)
                return report(k.error());
            if (ctx.json)
                printJson(apiKeyJson(*k));
            else
                std::cout << "revoked " << k->id << '\n';
            return kOk;
        };
    });
}

} // namespace webhookd::cli
