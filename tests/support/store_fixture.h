#pragma once

// The one fixture of the in-process storage tests (storage, queue, schema): a
// fresh database made with the storage API in a temporary folder, a fake
// clock, and a second, plain SQLite connection to the same file for looking
// at (and tampering with) rows behind the library's back. Include doctest
// first; failed steps REQUIRE.

#include <cstdint>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "core/clock.h"
#include "model/event.h"
#include "model/target.h"
#include "storage/database.h"
#include "support/temp_dir.h"

namespace webhookd::test {

// Opens the database at path, creating it if missing; fails the test if it cannot.
Database openNew(const std::string& path);

struct StoreOptions {
    // PRAGMA foreign_keys on the plain connection too, as the library's own
    // connections have it. Off by default, so tests may write rows the
    // library would refuse.
    bool rawForeignKeys = false;
};

// A target spec with event filters (and enabled or not), for addTarget.
TargetSpec filteredBy(std::vector<std::string> filters, bool enabled = true);

struct StoreFixture {
    TempDir dir;
    std::string path = dir.file("webhooks.db");
    FakeClock clock;
    Database db = openNew(path);
    SQLite::Database raw{path, SQLite::OPEN_READWRITE, 5000};

    explicit StoreFixture(StoreOptions options = {});

    // A target at http://127.0.0.1:9/ID (nothing listens there) unless spec has a URL.
    Target addTarget(const std::string& id, TargetSpec spec = {});
    // An event of type with payload {"n": 1} to targets (empty: fan out by the
    // targets' filters).
    SendResult send(const std::string& type, std::vector<std::string> targets = {}, int priority = 0);
    // One "thing.happened" event with payload {} to target; its delivery id.
    int64_t sendTo(const std::string& target, int priority = 0);

    // The first column of the first row of query, through raw.
    int64_t count(const std::string& query);
    // SELECT count(*) FROM table.
    int64_t rows(const std::string& table);
    std::string text(const std::string& query);
    // A delivery's status column; REQUIREs that the delivery exists.
    std::string status(int64_t deliveryId);
    void setStatus(int64_t deliveryId, const std::string& status);
    // What the worker does when it gives up, written directly in SQL: the
    // delivery dead-lettered at clock's now after `attempts` 500s.
    void deadLetter(int64_t deliveryId, const std::string& reason, int attempts = 3);
};

} // namespace webhookd::test
