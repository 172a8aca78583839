// webhookctl: create the database, manage targets, record events, inspect
// deliveries, work the dead-letter queue, print statistics, sign and verify.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "context.h"

#include "apps/common/env.h"
#include "apps/common/usage.h"

#include "core/duration.h"
#include "storage/database.h"

namespace webhookd::cli {

Limits Context::limits() const
{
    Limits l;
    l.maxPayloadBytes = maxPayloadBytes;
    return l;
}

Result<Database*> Context::db(bool create)
{
    if (!db_) {
        OpenOptions options;
        options.create = create;
        options.busyTimeoutMs = static_cast<int>(std::min(durationMs(busyTimeout), kMaxBusyTimeoutMs));
        options.durability = synchronous == "normal" ? Durability::Normal : Durability::Full;
        auto opened = Database::open(dbPath, options);
        if (!opened)
            return fail(opened.error());
        db_.emplace(std::move(*opened));
    }
    return &*db_;
}

int report(const Error& error)
{
    std::string message = error.message();
    if (!message.empty() && message.back() != '.')
        message += '.';
    std::cerr << "webhookctl: " << message << '\n';
    return kFailure;
}

int reportInput(const Error& error)
{
    report(error);
    // What was given breaks a rule: a usage error, like a bad flag.
    return error.is(Error::Kind::Invalid) ? kUsage : kFailure;
}

int64_t durationMs(const std::string& text) { return parseDuration(text).value_or(0); }

int64_t Context::timeArg(const std::string& text) const { return parseTimeOrAgo(text, clock().nowMs()).value_or(0); }

int usageError(const std::string& sentence, const CLI::App* command)
{
    std::string path = "webhookctl";
    std::vector<std::string> names;
    for (const CLI::App* a = command; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
        names.push_back(a->get_name());
    for (auto it = names.rbegin(); it != names.rend(); ++it)
        path += " " + *it;
    std::cerr << "webhookctl: " << sentence << " (see '" << path << " --help').\n";
    return kUsage;
}

Result<std::string> readSecret(const std::string& given, const std::string& file, const char* what)
{
    std::string text;
    if (!file.empty()) {
        std::ifstream in(file, std::ios::binary);
        if (!in)
            return fail(Error::notFound(std::string("could not read the ") + what + " file " + file));
        text.resize(4097);
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<size_t>(in.gcount()));
    } else if (given == "-") {
        text.resize(4097);
        std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<size_t>(std::cin.gcount()));
    } else {
        return given;
    }
    if (text.size() > 4096)
        return fail(Error::invalid(std::string("the ") + what + " is longer than 4096 bytes"));
    // A file or a pipe ends with a newline that is not part of the secret.
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    if (text.empty())
        return fail(Error::invalid(std::string("the ") + what + " is empty"));
    return text;
}

void addInitCommand(CLI::App& app, Context& ctx)
{
    auto* cmd = app.add_subcommand("init", "Create the database, or bring an existing one up to the current schema");
    cmd->callback([&ctx] {
        ctx.action = [&ctx] {
            auto db = ctx.db(true);
            if (!db)
                return report(db.error());
            const int version = (*db)->schemaVersion();
            if (ctx.json)
                printJson(nlohmann::json{{"path", redactLocator(ctx.dbPath)}, {"schema_version", version}});
            else
                std::cout << "database " << redactLocator(ctx.dbPath) << " is ready (schema version " << version
                          << ")\n";
            return kOk;
        };
    });
}

} // namespace webhookd::cli

int main(int argc, char** argv)
{
    using namespace webhookd::cli;
    Context ctx;
    ctx.dbPath = "./webhooks.db";

    CLI::App app("webhookctl: manage a webhookd database: targets, events, deliveries, dead letters, statistics,\n"
                 "and Standard Webhooks signatures. Exit codes: 0 success, 1 failure, 2 usage error.",
                 "webhookctl");
    setUp(app, "webhookctl");
    app.set_help_all_flag("--help-all", "Show help for every command");
    app.require_subcommand(1);
    app.fallthrough(); // --db and --json may come anywhere on the line
    app.add_option("--db", ctx.dbPath,
                   "Database: a file, sqlite:FILE or postgres://USER@HOST/DB (default ./webhooks.db)");
    app.add_flag("--json", ctx.json, "Print records as JSON for scripts");
    auto* busy =
        app.add_option("--busy-timeout", ctx.busyTimeout, "How long to wait for a locked database (at most 24h)")
            ->check(duration())
            ->capture_default_str();
    app.add_option("--synchronous", ctx.synchronous,
                   "full: an acknowledged event survives a power cut; normal: faster, may lose the last ones")
        ->check(oneOf({"full", "normal"}))
        ->capture_default_str();
    app.add_option("--max-payload", ctx.maxPayloadBytes, "Largest accepted event payload, in bytes")
        ->capture_default_str()
        ->check(integer(1, int64_t{64} * 1024 * 1024));

    addInitCommand(app, ctx);
    addTargetCommands(app, ctx);
    addDefaultsCommands(app, ctx);
    addSendCommand(app, ctx);
    addDeliveryCommands(app, ctx);
    addDlqCommands(app, ctx);
    addStatsCommand(app, ctx);
    addPurgeCommand(app, ctx);
    addMigrateStoreCommand(app, ctx);
    addBackupCommand(app, ctx);
    addSecretCommands(app, ctx);
    addApiKeyCommands(app, ctx);
    addPortalCommands(app, ctx);

    // The options above (not the commands') have WEBHOOKD_* twins:
    // WEBHOOKD_DB, WEBHOOKD_JSON, WEBHOOKD_BUSY_TIMEOUT, WEBHOOKD_SYNCHRONOUS,
    // WEBHOOKD_MAX_PAYLOAD.
    EnvTwins env(app, "WEBHOOKD_");
    int exitCode = 0;
    if (!parse(app, argc, argv, "webhookctl", exitCode, &env))
        return exitCode;
    if (durationMs(ctx.busyTimeout) > webhookd::kMaxBusyTimeoutMs)
        return usageError(env.origin(busy) + " must be at most 24h", &app);
    try {
        return ctx.action ? ctx.action() : kOk;
    } catch (const std::exception& e) {
        std::cerr << "webhookctl: unexpected failure: " << e.what() << '\n';
        return kFailure;
    }
}
