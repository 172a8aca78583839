#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace webhookd {

class Database;

struct CopiedTable {
    std::string table;
    int64_t rows = 0;
    int64_t changed = 0; // text values written as utf8::storable made them (U+0000 → U+FFFD)
};

// Copies a whole store into an empty one, history included: every table
// webhookd has (targets, events, deliveries, attempts, dead_letters,
// api_keys, stats_minutely, settings; the destination's settings give way),
// row for row with their ids, read in one
// snapshot of the source and written in one transaction, so a failure
// leaves the destination empty. Text is written as both stores hold it
// (utf8::storable: U+0000 in an older SQLite store's response excerpts
// becomes U+FFFD); each table counts the values so changed. Then reads every
// table back and fails unless its rows and a digest of their content (each
// value, in id order) match what was written. Either store may be SQLite or PostgreSQL; the
// source must be at this webhookd's schema version.
// Errors: Invalid when the destination holds targets, events or keys
// already, or the source's schema is older or newer; Storage otherwise.
using CopyProgress = std::function<void(const std::string& table, int64_t rows)>;
Result<std::vector<CopiedTable>> copyStore(Database& from, Database& to, const CopyProgress& progress = {});

// A consistent copy of a live SQLite store in a new file (mode 0600, like
// the store: it holds secrets and keys), while workers go on: one read
// snapshot, written compacted (VACUUM INTO). Invalid for a PostgreSQL store
// (pg_dump is its tool) or when the file exists; Storage when it cannot be
// written (nothing is left behind then).
Status backupStore(Database& db, const std::string& path);

} // namespace webhookd
