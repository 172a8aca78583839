#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"

namespace webhookd {

namespace sql {
class Connection;
}

// How enqueue transactions reach the disk (see DESIGN.md, Durability). Full
// survives a power cut; Normal may lose the last commits in one, never
// corrupts. (A property of the store, not of SQLite: PostgreSQL's
// synchronous_commit on/off is the same choice.)
enum class Durability { Full, Normal };

// The longest wait for a locked store: a day (SQLite takes it as int ms).
constexpr int64_t kMaxBusyTimeoutMs = 86'400'000;

struct OpenOptions {
    bool create = false;      // create the store (a file with mode 0600) when missing
    bool migrate = true;      // apply pending migrations (needs a writable store)
    int busyTimeoutMs = 5000; // how long a locked store is waited for, 0 … kMaxBusyTimeoutMs
    Durability durability = Durability::Full;
    // PostgreSQL: LISTEN for other sessions' changes, for a connection that
    // reads them (Queue::changeToken, the worker's queue). A connection that
    // does not listen never reads notifications, so none pile up in it (libpq
    // keeps each until read); it cannot tell whether targets changed, so
    // what caches them (the event writer) reads them again every
    // transaction. SQLite ignores it (data_version serves both).
    bool notifications = false;
    // Tests only (tests/support/faulty_connection.h, a fault injector): once
    // the store is open and migrated, called with its connection; what it
    // returns stands in front of that connection for every later call of
    // the storage code and must forward to it. The Database owns both and
    // drops the wrapper first.
    std::function<std::unique_ptr<sql::Connection>(sql::Connection&)> wrapConnection;
};

// One connection to a webhookd store, named by a locator: a file path or
// "sqlite:PATH" (WAL, foreign keys on, the busy timeout set, the schema
// checked), or a PostgreSQL URL "postgres://…" / "postgresql://…" (libpq's
// syntax; the database must exist, webhookd creates its tables). Move-only;
// not thread-safe (one thread at a time).
class Database {
public:
    // Errors: NotFound when the file is missing and !create; Invalid when the
    // locator names no supported store, or it is not a webhookd database, or
    // was written by a newer webhookd; Busy when it stayed locked;
    // Unavailable when a PostgreSQL server cannot be reached (refused,
    // starting, shutting down); Storage otherwise. Every call on an open
    // Database may fail with Unavailable the same way; a statement outside a
    // transaction is tried once more on a new connection first. A file the process may not write opens read-only: reads
    // work, writes fail with ReadOnly.
    static Result<Database> open(const std::string& locator, const OpenOptions& options = {});

    // How many times, since the process started, a store it had reached (or
    // never reached) became unreachable: a failure that moves it begins an
    // outage, one that does not continues it; any success ends it. For
    // reporting an outage once, not once per failed call. Thread-safe.
    static uint64_t outages();

    Database(Database&&) noexcept;
    Database& operator=(Database&&) noexcept;
    ~Database();

    // The file of a SQLite store, or the URL of a PostgreSQL one without its
    // password (redactLocator), for messages.
    const std::string& path() const;
    static bool isServerLocator(const std::string& locator);
    bool readOnly() const;
    int schemaVersion() const;
    // The schema version this binary writes (the number of the last migration).
    static int latestSchemaVersion();

    // Applies pending migrations, each in its own transaction; a no-op when up
    // to date. Returns the number applied.
    Result<int> migrate();

    // Changes the synchronous level for this connection.
    Status setDurability(Durability durability);

    // Ok while the locator still names the store this connection opened
    // (always for PostgreSQL).
    // Storage error when the file was replaced or removed since (a backup
    // restored over it with mv): this connection then reads and writes a
    // file nobody else sees. Cheap (one stat); call it every few seconds.
    Status checkIdentity() const;

    // The clock of a store shared between hosts (PostgreSQL's server) minus
    // this host's monotonic clock (std::chrono::steady_clock), in ms,
    // measured at most every 10 s, so workers on hosts whose clocks
    // disagree, or jump, schedule on one clock; nullopt for a SQLite file,
    // whose clock is this host's.
    std::optional<int64_t> storeClockOffsetMs();

    struct Impl; // storage/ internals (storage/sql/connection.h)

private:
    explicit Database(std::unique_ptr<Impl> impl);
    friend Impl& detailImpl(Database& db);
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd
