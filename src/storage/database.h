#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"

namespace SQLite {
class Database;
class Statement;
}

namespace webhookd {

// How enqueue transactions reach the disk (see DESIGN.md, Durability). Full
// survives a power cut; Normal may lose the last commits in one, never corrupts.
enum class Durability { Full, Normal };

struct OpenOptions {
    bool create = false;       // create the file (mode 0600) when missing
    bool migrate = true;       // apply pending migrations (needs a writable file)
    int busyTimeoutMs = 5000;  // how long a locked database is waited for
    Durability durability = Durability::Full;
};

// One connection to a webhookd database file: WAL, foreign keys on, the busy
// timeout set, the schema checked. Move-only; not thread-safe (one thread at a
// time), as SQLite connections are.
class Database {
public:
    // Errors: NotFound when the file is missing and !create; Invalid when it is
    // not a webhookd database or was written by a newer webhookd; Busy when it
    // stayed locked; Storage otherwise. A file the process may not write opens
    // read-only: reads work, writes fail with ReadOnly.
    static Result<Database> open(const std::string& path, const OpenOptions& options = {});

    Database(Database&&) noexcept;
    Database& operator=(Database&&) noexcept;
    ~Database();

    const std::string& path() const { return path_; }
    bool readOnly() const { return readOnly_; }
    int schemaVersion() const;
    // The schema version this binary writes (the number of the last migration).
    static int latestSchemaVersion();

    // Applies pending migrations, each in its own transaction; a no-op when up
    // to date. Returns the number applied.
    Result<int> migrate();

    // Changes the synchronous level for this connection.
    Status setDurability(Durability durability);

    // SQLite's data_version: changes when another connection commits. Cheap.
    int64_t dataVersion();

    // For storage/ only: the underlying connection.
    SQLite::Database& sql() { return *db_; }

    // For storage/ only: objects kept per connection between calls, such as
    // prepared statements (shared_ptr<void> erases their types; nothing else
    // holds them), and a counter bumped by every write to targets through
    // this connection, whose own commits do not move dataVersion().
    enum class Slot { EventWriter, Count };
    std::shared_ptr<void>& cacheSlot(Slot slot) { return cache_[static_cast<size_t>(slot)]; }
    uint64_t targetsGeneration() const { return targetsGeneration_; }
    void targetsChanged() { ++targetsGeneration_; }

private:
    Database(std::unique_ptr<SQLite::Database> db, std::string path, bool readOnly);

    // cache_ is declared after the connection: cached statements are
    // finalized before it closes.
    std::unique_ptr<SQLite::Database> db_;
    std::array<std::shared_ptr<void>, static_cast<size_t>(Slot::Count)> cache_;
    std::unique_ptr<SQLite::Statement> dataVersion_; // prepared once: it runs on every claim and send
    uint64_t targetsGeneration_ = 0;
    std::string path_;
    bool readOnly_ = false;
};

} // namespace webhookd
