#pragma once

// The one fixture of the end-to-end tests: a database file with the real
// webhookctl and webhookd binaries pointed at it, and checks of its rows.
// Include doctest first; failed steps REQUIRE, so they end the test case.
//
// Rows are read and hand-edited through sqlInt, sqlText, sqlRows and
// sqlExec, so that the tests do not depend on how the backend is reached.
// A test that exercises SQLite itself (a held write lock, the WAL, file
// modes) opens its own SQLite::Database and says so in a comment.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "storage/database.h"
#include "support/helpers.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace webhookd::test {

// Retry settings that keep a test's wall time small.
inline const std::vector<std::string> kFastRetry = {"--initial-delay", "50ms", "--max-delay", "200ms"};

struct FixtureOptions {
    // webhookd runs with --allow-private-networks (the address guard off), so
    // it may deliver to the receiver on loopback. The security tests turn the
    // guard on and pass the flag per run where they need it.
    bool allowPrivateNetworks = true;
    // The database file; by default webhooks.db in the fixture's own
    // temporary folder. The caller owns the folder of a path given here.
    std::optional<std::string> dbPath = {};
    // Runs `webhookctl init` on construction.
    bool init = true;
    // Then makes the exponential formula (5 attempts within 15 s) the store's
    // default retry policy, as the tests that wait on retries and dead
    // letters were written for; false keeps the day-long default.
    bool exponentialRetries = true;
    // Flags given to every webhookd the fixture starts, before the start's own.
    std::vector<std::string> workerFlags = {};
    // webhookd's --poll-interval, unless the flags of a start give one.
    std::string pollInterval = "100ms";
    // Flags added to every addTarget before its own, e.g. kFastRetry.
    std::vector<std::string> targetDefaults = {};
    // How long drain() lets webhookd --drain run before it is killed and the
    // test fails (a hang guard; sanitizer builds are slow).
    std::chrono::milliseconds drainLimit = 60s;
};

class Fixture {
public:
    explicit Fixture(FixtureOptions options = {});

    // The store's locator: a file path, or a PostgreSQL URL when the run's
    // backend is PostgreSQL (support/postgres.h).
    const std::string& db() const { return db_; }
    bool isPostgres() const { return Database::isServerLocator(db_); }
    // A temporary folder for the test's own files, removed with the fixture.
    const TempDir& dir() const { return dir_; }

    // webhookctl --db DB args…: any exit code.
    RunResult ctl(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const;
    // As ctl, REQUIREs exit 0; returns stdout.
    std::string ctlOk(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const;
    // As ctlOk with --json appended; REQUIREs that stdout is JSON.
    nlohmann::json ctlJson(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const;

    // target add ID --url URL, with options.targetDefaults and extra.
    void addTarget(const std::string& id, const std::string& url, std::vector<std::string> extra = {}) const;
    // Sends one event to one target; returns its delivery id.
    int64_t send(const std::string& target, const std::string& type = "test.event", const std::string& data = "{}",
                 std::vector<std::string> extra = {}) const;
    // webhookctl send args…; REQUIREs exit 0 and that every line of stdout is
    // a delivery id, and returns them.
    std::vector<int64_t> sendIds(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const;
    // Sends count events to one target in one NDJSON batch; returns the delivery ids.
    std::vector<int64_t> sendBatch(const std::string& target, int count, const std::string& type = "bulk.event") const;
    // delivery show ID --json.
    nlohmann::json show(int64_t deliveryId) const;

    // Starts webhookd on this file with JSON logs, the options' guard setting,
    // poll interval and workerFlags, then extra (webhookd refuses a repeated flag).
    Process startWorker(std::vector<std::string> extra = {}) const;
    // Runs webhookd --drain to completion, killed after limit (default
    // options.drainLimit); REQUIREs exit 0 and returns its stderr.
    std::string drain(std::vector<std::string> extra = {},
                      std::optional<std::chrono::milliseconds> limit = std::nullopt) const;

    // The first column of the first row of query (0 or "" for NULL).
    int64_t sqlInt(const std::string& query) const;
    std::string sqlText(const std::string& query) const;
    // Every row of query, each column as text ("" for NULL).
    std::vector<std::vector<std::string>> sqlRows(const std::string& query) const;
    // Runs statements (several, separated by ';', in one connection) for the
    // tests' deliberate hand-edits; throws when one fails.
    void sqlExec(const std::string& statements) const;
    // SELECT count(*) FROM from, e.g. count("deliveries WHERE priority = 5").
    int64_t count(const std::string& from) const;
    int64_t countStatus(const std::string& status) const;
    // Every row of every table, as text: equal snapshots mean nothing changed.
    std::string snapshot() const;

    // A raw read-only SQLite connection, for SQLite-specific checks only.
    SQLite::Database sql() const;

private:
    FixtureOptions options_;
    TempDir dir_;
    std::string db_;
};

} // namespace webhookd::test
