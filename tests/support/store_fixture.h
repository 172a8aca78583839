#pragma once

// The one fixture of the in-process storage tests (storage, queue, schema): a
// fresh store made with the storage API, a fake clock, and a second, plain
// connection to the same store (RawSql) for looking at (and tampering with)
// rows behind the library's back. A test file includes doctest first (with
// its DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN); failed steps REQUIRE.
//
// The store is a SQLite file in a temporary folder, or with
// WEBHOOKD_TEST_BACKEND=postgres (the "-pg" twins in tests/meson.build) a
// fresh database on the tests' own PostgreSQL server (support/postgres.h).
// The tests' SQL is written so that both read it; a test case that checks
// what only SQLite has is decorated with sqliteOnly() and says why.

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/clock.h"
#include "model/event.h"
#include "model/target.h"
#include "storage/database.h"
#include "support/faulty_connection.h"
#include "support/postgres.h"
#include "support/raw_sql.h"
#include "support/temp_dir.h"

namespace webhookd::test {

// Skips a test case on a PostgreSQL run: it checks something only SQLite
// has (a file, a PRAGMA, SQLite's planner). Say which in a comment.
inline doctest::skip sqliteOnly() { return doctest::skip(postgresBackend()); }
// What only the PostgreSQL twin checks (the server's own planner, say).
inline doctest::skip postgresOnly() { return doctest::skip(!postgresBackend()); }

// The locator of a new, empty store for this run's backend: the file name
// in dir (not created yet), or a fresh PostgreSQL database's URL.
std::string newLocator(const TempDir& dir, const std::string& name = "webhooks.db");

// Opens the store at locator, creating it if missing; fails the test if it cannot.
Database openNew(const std::string& locator, OpenOptions options = {});

struct StoreOptions {
    // SQLite: PRAGMA foreign_keys on the plain connection too, as the
    // library's own connections have it. Off by default, so tests may write
    // rows the library would refuse. (PostgreSQL always enforces them.)
    bool rawForeignKeys = false;
    // A FaultyConnection in front of db's connection (StoreFixture::faults).
    bool faults = false;
};

// A target spec with event filters (and enabled or not), for addTarget.
TargetSpec filteredBy(std::vector<std::string> filters, bool enabled = true);

struct StoreFixture {
    explicit StoreFixture(StoreOptions options = {});

    TempDir dir;
    std::string locator = newLocator(dir); // the file, or the PostgreSQL URL
    FakeClock clock;
    // With StoreOptions::faults, the fault injector in front of db's
    // connection (owned by db); null otherwise.
    FaultyConnection* faults = nullptr;
    Database db;
    RawSql raw;

    bool postgres() const { return raw.postgres(); }

    // A target at http://127.0.0.1:9/ID (nothing listens there) unless spec has a URL.
    Target addTarget(const std::string& id, TargetSpec spec = {});
    // An event of type with payload {"n": 1} to targets (empty: fan out by the
    // targets' filters).
    SendResult send(const std::string& type, std::vector<std::string> targets = {}, int priority = 0);
    // One "thing.happened" event with payload {} to target; its delivery id.
    int64_t sendTo(const std::string& target, int priority = 0);

    // The first column of the first row of query, through raw (NULL is 0,
    // a boolean 0 or 1).
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

// text as an SQL string literal, quotes doubled.
std::string quoted(const std::string& text);

} // namespace webhookd::test
