// webhookctl: create the database, manage targets, record events, inspect
// deliveries, work the dead-letter queue, print statistics, sign and verify.

#include <cctype>
#include <cstdlib>
#include <iostream>

#include "context.h"

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
        options.busyTimeoutMs = static_cast<int>(durationMs(busyTimeout));
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

CLI::Validator durationValidator()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            auto ms = parseDuration(text);
            return ms ? std::string() : ms.error().message();
        },
        "DURATION", "duration");
}

int64_t durationMs(const std::string& text) { return parseDuration(text).value_or(0); }

std::string usageSentence(std::string message)
{
    while (!message.empty() && (message.back() == '\n' || message.back() == '.' || message.back() == ' '))
        message.pop_back();
    for (auto& c : message)
        if (c == '\n')
            c = ' ';
    if (!message.empty())
        message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
    return message + " (see 'webhookctl --help').";
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
                std::cout << nlohmann::json{{"path", ctx.dbPath}, {"schema_version", version}}.dump() << '\n';
            else
                std::cout << "database " << ctx.dbPath << " is ready (schema version " << version << ")\n";
            return kOk;
        };
    });
}

} // namespace webhookd::cli

int main(int argc, char** argv)
{
    using namespace webhookd::cli;
    Context ctx;
    const char* envDb = std::getenv("WEBHOOKD_DB");
    ctx.dbPath = envDb && *envDb ? envDb : "./webhooks.db";

    CLI::App app("webhookctl: manage a webhookd database: targets, events, deliveries, dead letters, statistics,\n"
                 "and Standard Webhooks signatures. Exit codes: 0 success, 1 failure, 2 usage error.",
                 "webhookctl");
    app.set_help_all_flag("--help-all", "Show help for every command");
    app.require_subcommand(1);
    app.fallthrough(); // --db and --json may come anywhere on the line
    app.add_option("--db", ctx.dbPath, "Database file (default $WEBHOOKD_DB, else ./webhooks.db)");
    app.add_flag("--json", ctx.json, "Print records as JSON for scripts");
    app.add_option("--busy-timeout", ctx.busyTimeout, "How long to wait for a locked database")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--synchronous", ctx.synchronous,
                   "full: an acknowledged event survives a power cut; normal: faster, may lose the last ones")
        ->check(CLI::IsMember({"full", "normal"}))
        ->capture_default_str();
    app.add_option("--max-payload", ctx.maxPayloadBytes, "Largest accepted event payload, in bytes")
        ->capture_default_str()
        ->check(CLI::Range(size_t{1}, size_t{64} * 1024 * 1024));

    addInitCommand(app, ctx);
    addTargetCommands(app, ctx);
    addSendCommand(app, ctx);
    addDeliveryCommands(app, ctx);
    addDlqCommands(app, ctx);
    addStatsCommand(app, ctx);
    addPurgeCommand(app, ctx);
    addSecretCommands(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "webhookctl: " << usageSentence(e.what()) << '\n';
        return kUsage;
    }
    try {
        return ctx.action ? ctx.action() : kOk;
    } catch (const std::exception& e) {
        std::cerr << "webhookctl: unexpected failure: " << e.what() << '\n';
        return kFailure;
    }
}
