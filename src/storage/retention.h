#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/error.h"

namespace webhookd {

class Database;

// Which finished deliveries a purge deletes.
enum class PurgeStatuses { Delivered, DeadLetter, Both };

struct PurgeOptions {
    int64_t completedBeforeMs = 0; // deletes deliveries with completed_at before this (epoch ms)
    PurgeStatuses statuses = PurgeStatuses::Both;
    int batchSize = 1000;                    // deliveries per transaction, at least 1
    int64_t startAfterId = 0;                // resume: only delivery ids above this
    int64_t maxBatches = 0;                  // return after this many batches (0: no limit)
    const std::atomic<bool>* stop = nullptr; // when set and true, returns before the next batch
    bool incrementalVacuum = true;           // then return free pages to the file system (auto_vacuum INCREMENTAL only)
    std::optional<std::string> appId;        // only deliveries to this application's targets
};

struct PurgeResult {
    int64_t deliveries = 0; // deleted, with their attempts and dead_letters rows
    int64_t attempts = 0;
    int64_t events = 0; // left with no delivery by the purge, so deleted too
    int64_t batches = 0;
    int64_t lastId = 0;         // the highest delivery id examined: pass it as startAfterId to resume
    bool finished = false;      // false when stop or maxBatches ended it early
    int64_t pagesFreed = 0;     // pages the incremental vacuum gave back
    bool incremental = false;   // the file has auto_vacuum = INCREMENTAL (else it keeps its size)
    bool reusedInPlace = false; // the store reuses freed space itself (PostgreSQL's autovacuum)
    int64_t statsRows = 0;      // stats_minutely rows deleted: those kStatsKeptMs older than the deliveries purged
};

// How much longer than the deliveries it counts the per-minute rollup is kept.
inline constexpr int64_t kStatsKeptMs = 14 * 86'400'000LL;

// Called after every batch and vacuum step with the totals so far.
using PurgeProgress = std::function<void(const PurgeResult& soFar)>;

// Deletes finished deliveries (delivered and/or dead_letter) whose completed_at
// is before the cutoff, with their attempts and dead_letters rows, then the
// events that no delivery refers to any more (events that never had a delivery
// stay). Works in batches, each its own short BEGIN IMMEDIATE transaction that
// deletes by primary key; candidates are found by a read outside it, walking
// deliveries in id order once, so a worker writing the same file waits at most
// one batch. Once every batch is done (not when stop or maxBatches ended it),
// on a database with auto_vacuum = INCREMENTAL, runs `PRAGMA
// incremental_vacuum` in short steps until no free page is left.
// Meant to run on a background thread with its own Database (any one thread
// per Database). Errors: Invalid for a bad batch size; Busy/Storage from a
// batch, whose predecessors stay committed (running again continues).
Result<PurgeResult> purgeTerminal(Database& db, const PurgeOptions& options, const PurgeProgress& progress = {});

struct VacuumResult {
    int64_t pagesBefore = 0;
    int64_t pagesAfter = 0;
    bool switchedToIncremental = false; // the file had auto_vacuum = NONE
};

// Rebuilds the whole file without free pages (VACUUM), switching a database
// made without auto-vacuum to INCREMENTAL on the way so that later purges give
// space back by themselves. Holds the write lock for the whole rebuild (every
// writer, webhookd included, waits or times out) and needs free disk space of
// about twice the database; run it while webhookd is stopped.
Result<VacuumResult> vacuumDatabase(Database& db);

} // namespace webhookd
