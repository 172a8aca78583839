#pragma once

// storage/ internals: the SQLite connection behind a Database, and what is
// kept per connection between calls. Nothing outside storage/ includes this.

#include <array>
#include <memory>
#include <string>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "storage/database.h"

namespace webhookd {

struct Database::Impl {
    // cache is declared after the connection: cached statements are
    // finalized before it closes.
    std::unique_ptr<SQLite::Database> db;
    // Objects kept per connection between calls, such as prepared statements
    // (shared_ptr<void> erases their types; nothing else holds them).
    enum class Slot { EventWriter, Count };
    std::array<std::shared_ptr<void>, static_cast<size_t>(Slot::Count)> cache;
    std::unique_ptr<SQLite::Statement> dataVersion; // prepared once: it runs on every claim and send
    // Bumped by every write to targets through this connection, whose own
    // commits do not move data_version.
    uint64_t targetsGeneration = 0;
    std::string path;
    bool readOnly = false;
    // The file as opened, to notice it being replaced (checkIdentity).
    uint64_t device = 0;
    uint64_t inode = 0;

    ~Impl();
};

Database::Impl& detailImpl(Database& db);

namespace detail {

// The connection; valid while the Database lives.
inline SQLite::Database& sql(Database& db) { return *detailImpl(db).db; }

inline std::shared_ptr<void>& cacheSlot(Database& db, Database::Impl::Slot slot)
{
    return detailImpl(db).cache[static_cast<size_t>(slot)];
}

inline uint64_t targetsGeneration(Database& db) { return detailImpl(db).targetsGeneration; }
inline void targetsChanged(Database& db) { ++detailImpl(db).targetsGeneration; }

// SQLite's data_version: changes when another connection commits. Cheap.
int64_t dataVersion(Database& db);

} // namespace detail

} // namespace webhookd
