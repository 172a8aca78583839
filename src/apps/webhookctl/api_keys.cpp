#include "context.h"

#include <cstdlib>
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
    if (k.portal)
        return "portal";
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
        std::string name, expires, app;
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
    create->add_option("--app", cf->app,
                       "Bind it to one application: it sees and acts only inside it, and cannot manage keys");
    create->callback([&ctx, cf] {
        ctx.action = [&ctx, cf]() -> int {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            std::optional<int64_t> expires;
            if (cf->expiresOpt->count() > 0)
                expires = durationMs(cf->expires);
            auto made = createApiKey(**db, cf->name, cf->scopes, expires, ctx.clock(),
                                     cf->app.empty() ? std::nullopt : std::optional(cf->app));
            if (!made)
                return reportInput(made.error());
            if (ctx.json) {
                auto j = apiKeyJson(made->key);
                j["token"] = made->token;
                printJson(j);
                return kOk;
            }
            std::cerr << "webhookctl: created API key " << made->key.id << " (" << scopesText(made->key)
                      << (made->key.appId ? ", application " + *made->key.appId : std::string()) << ")"
                      << "; the token below is shown only now\n";
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
                rows.push_back({k.id, k.name, scopesText(k), k.appId.value_or("-"), isoTime(k.createdAt),
                                k.lastUsedAt ? isoTime(*k.lastUsedAt) : "never", state});
            }
            printTable({"ID", "NAME", "SCOPES", "APP", "CREATED", "LAST USED", "STATE"}, rows);
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

void addPortalCommands(CLI::App& app, Context& ctx)
{
    struct Flags {
        std::string app, ttl = "1h", url;
        bool revoke = false;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand(
        "portal-link", "Print a portal URL for one application: its customer sees and manages only that application");
    cmd->add_option("--app", f->app, "The application (tenant) the portal shows")->required();
    cmd->add_option("--ttl", f->ttl, "How long the link works, at most 7d")->check(duration())->capture_default_str();
    cmd->add_option(
        "--url", f->url,
        "Where people reach webhookd's API, e.g. https://hooks.example.com (default: $WEBHOOKD_PUBLIC_URL)");
    cmd->add_flag("--revoke", f->revoke, "Instead: end every portal session of the application now");
    cmd->callback([&ctx, f, cmd] {
        ctx.action = [&ctx, f, cmd]() -> int {
            std::string base = f->url;
            if (base.empty())
                if (const char* env = std::getenv("WEBHOOKD_PUBLIC_URL"))
                    base = env;
            if (!f->revoke && base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0)
                return usageError("portal-link needs the address people reach the API at: --url "
                                  "https://hooks.example.com (or WEBHOOKD_PUBLIC_URL)",
                                  cmd);
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            if (f->revoke) {
                auto n = revokePortalSessions(**db, f->app, ctx.clock());
                if (!n)
                    return reportInput(n.error());
                if (ctx.json)
                    printJson({{"app_id", f->app}, {"revoked", *n}});
                else
                    std::cout << "revoked " << *n << " portal session" << (*n == 1 ? "" : "s") << " of " << f->app
                              << '\n';
                return kOk;
            }
            auto made = createPortalSession(**db, f->app, durationMs(f->ttl), ctx.clock());
            if (!made)
                return reportInput(made.error());
            const std::string url = portalUrl(base, made->token);
            if (ctx.json) {
                printJson(portalSessionJson(made->key, made->token, url));
                return kOk;
            }
            std::cerr << "webhookctl: portal session " << made->key.id << " for " << f->app << ", until "
                      << isoTime(*made->key.expiresAt) << "; the link below is shown only now\n";
            std::cout << url << '\n';
            return kOk;
        };
    });
}

} // namespace webhookd::cli
