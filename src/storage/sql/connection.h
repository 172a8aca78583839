#pragma once

// storage/ internals: the connection behind a Database, what each backend
// does its own way, and what is kept per connection between calls. Nothing
// outside storage/ includes this.

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "storage/database.h"
#include "storage/retention.h"
#include "storage/sql/driver.h"

namespace webhookd {

struct Database::Impl {
    virtual ~Impl();

    // What differs between the backends beyond their SQL.
    virtual int schemaVersion() = 0;
    virtual Result<int> migrate() = 0;
    virtual Status checkIdentity() const = 0;
    virtual void setDurability(Durability durability) = 0;
    // Moves when another connection has committed (SQLite's data_version;
    // PostgreSQL's notifications): a wake-up for the worker.
    virtual int64_t changeVersion() = 0;
    // Moves at least when another connection changed targets: when cached
    // targets and routes must be read again.
    virtual int64_t targetsVersion() = 0;
    // The store's clock minus this host's steady clock; nullopt for a file
    // on this host (Database::storeClockOffsetMs).
    virtual std::optional<int64_t> clockOffsetMs() { return std::nullopt; }
    std::optional<int64_t> lastClockOffsetMs; // kept by clockOffsetMs, for when the server cannot be asked

    // Whether other connections write while a transaction is open on this
    // one (PostgreSQL's row locks), rather than waiting for it to end
    // (SQLite's one writer at a time).
    virtual bool concurrentWriters() const = 0;

    // Maintenance that is not SQL, each backend its own way (retention.cpp,
    // copy.cpp). The store's size in pages (PostgreSQL: the database's size
    // in 8 KiB pages).
    virtual int64_t pageCount() = 0;
    // Whether free pages can be given back in short steps beside writers
    // (SQLite with auto_vacuum = INCREMENTAL), and how many wait.
    virtual bool givesBackPages() = 0;
    virtual int64_t freePages() = 0;
    // Gives back up to n free pages, in a transaction of its own.
    virtual void giveBackPages(int n) = 0;
    // Copies the write-ahead log back into the store now, if no reader is in the way.
    virtual void checkpoint() = 0;
    // Whether the store reuses freed space by itself (PostgreSQL's
    // autovacuum), so a purge has nothing to give back.
    virtual bool reusesSpaceInPlace() const = 0;
    // Rewrites the store compactly (purge --vacuum).
    virtual VacuumResult vacuum() = 0;
    // After rows were copied in with their own ids: new ids continue past them.
    virtual void idsCopied() = 0;

    // cache is declared after the connection: cached statements go first.
    std::unique_ptr<sql::Connection> conn;
    // OpenOptions::wrapConnection's, in front of conn for the storage code
    // (detail::sql); declared after it, so it goes first. Usually none.
    std::unique_ptr<sql::Connection> front;
    // Objects kept per connection between calls, such as prepared statements
    // (shared_ptr<void> erases their types; nothing else holds them).
    enum class Slot { EventWriter, Count };
    std::array<std::shared_ptr<void>, static_cast<size_t>(Slot::Count)> cache;
    // Bumped by every write to targets through this connection, whose own
    // commits do not move targetsVersion.
    uint64_t targetsGeneration = 0;
    std::string path; // the file, or the server's URL without its password, for messages
    bool readOnly = false;
};

Database::Impl& detailImpl(Database& db);

namespace detail {

// The connection the storage code runs on (the wrapper in front of it, if
// any); valid while the Database lives.
inline sql::Connection& sql(Database& db)
{
    auto& impl = detailImpl(db);
    return impl.front ? *impl.front : *impl.conn;
}

inline std::shared_ptr<void>& cacheSlot(Database& db, Database::Impl::Slot slot)
{
    return detailImpl(db).cache[static_cast<size_t>(slot)];
}

inline uint64_t targetsGeneration(Database& db) { return detailImpl(db).targetsGeneration; }
inline void targetsChanged(Database& db) { ++detailImpl(db).targetsGeneration; }

// Cheap: every claim and send asks.
inline int64_t dataVersion(Database& db) { return detailImpl(db).targetsVersion(); }

} // namespace detail

} // namespace webhookd
