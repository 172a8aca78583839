#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "model/delivery.h"
#include "model/target.h"
#include "records/json.h"
#include "storage/database.h"

namespace webhookd::cli {

// Exit codes of the command-line contract.
constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

// What every command shares: global options, the lazily opened database, and
// the action the parsed subcommand chose. One per process, on the main thread.
struct Context {
    std::string dbPath; // the store's locator: PATH, sqlite:PATH or postgres://…
    bool json = false;
    std::string busyTimeout = "5s";
    size_t maxPayloadBytes = 1024 * 1024;
    std::string synchronous = "full";
    std::function<int()> action;

    const Clock& clock() const { return SystemClock::instance(); }
    // Epoch ms of a --since/--until value cli::timeOrAgo() has checked.
    int64_t timeArg(const std::string& text) const;
    Limits limits() const;

    // Opens (and migrates) the database on first use.
    Result<Database*> db(bool create = false);

private:
    std::optional<Database> db_;
};

// Prints "webhookctl: <message>." on stderr and returns kFailure.
int report(const Error& error);

// The same for the errors of what the user gave (flags, a payload, a batch,
// a secret): kUsage when it breaks a rule (Invalid), kFailure otherwise
// (not found, a conflict, the store).
int reportInput(const Error& error);

// A usage error found after parsing: "webhookctl: <sentence> (see
// 'webhookctl <command> --help')." on stderr; returns kUsage.
int usageError(const std::string& sentence, const CLI::App* command);

// Milliseconds of a duration that cli::duration() has checked.
int64_t durationMs(const std::string& text);

// A secret given as --secret VALUE, --secret - (read from standard input) or
// --secret-file FILE (file wins when given): the secret stays out of the
// process list and the shell's history. A trailing newline is dropped; at
// most 4096 bytes. `what` names it in errors ("secret").
Result<std::string> readSecret(const std::string& given, const std::string& file, const char* what);

// Prints one JSON document on its own line. Text that is not UTF-8 (which
// validation keeps out, but a row edited by hand can hold) is printed with
// U+FFFD rather than failing the command.
void printJson(const nlohmann::json& j);

// Prints rows as aligned columns under a header line; control characters in
// cells are escaped (utf8::printable), so stored text cannot drive the terminal.
void printTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// A progress line on stderr, redrawn in place, for commands that work in
// batches; silent unless stderr is a terminal. done() ends the line (call it
// before printing the result or an error); the destructor calls it too.
class ProgressLine {
public:
    ProgressLine();
    ~ProgressLine();
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;
    bool enabled() const { return tty_; }
    void show(const std::string& text);
    void done();

private:
    bool tty_ = false;
    bool shown_ = false;
};

// A payload given as JSON text, @FILE, or - for standard input; never reads
// more than maxBytes (and one byte to tell that it is over).
Result<std::string> payloadArgument(const std::string& arg, size_t maxBytes);

// Text helpers for the human output.
std::string orDash(const std::optional<std::string>& s);
std::string orDash(const std::optional<int>& n);
std::string timeText(std::optional<int64_t> epochMs);
// Masking and the JSON of records are records/json.h's.

// Registration of each command group (one file each).
void addInitCommand(CLI::App& app, Context& ctx);
void addTargetCommands(CLI::App& app, Context& ctx);
void addDefaultsCommands(CLI::App& app, Context& ctx); // targets.cpp
void addSendCommand(CLI::App& app, Context& ctx);
void addDeliveryCommands(CLI::App& app, Context& ctx);
void addDlqCommands(CLI::App& app, Context& ctx);
void addStatsCommand(CLI::App& app, Context& ctx);
void addPurgeCommand(CLI::App& app, Context& ctx);
void addMigrateStoreCommand(CLI::App& app, Context& ctx);
void addBackupCommand(CLI::App& app, Context& ctx); // retention.cpp
void addSecretCommands(CLI::App& app, Context& ctx);
void addApiKeyCommands(CLI::App& app, Context& ctx);
void addPortalCommands(CLI::App& app, Context& ctx); // api_keys.cpp

} // namespace webhookd::cli
