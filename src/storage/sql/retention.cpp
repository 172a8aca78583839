#include "storage/retention.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

// Pages given back per incremental_vacuum transaction: 4 MiB at SQLite's
// default page size, a few milliseconds of writing.
constexpr int kVacuumStepPages = 1024;

std::string statusCondition(PurgeStatuses s)
{
    switch (s) {
    case PurgeStatuses::Delivered: return "status = " + detail::sqlName(DeliveryStatus::Delivered);
    case PurgeStatuses::DeadLetter: return "status = " + detail::sqlName(DeliveryStatus::DeadLetter);
    case PurgeStatuses::Both: break;
    }
    return detail::statusIn(status_set::kFinished);
}

// SQLite's page counters. PostgreSQL has no free-list to give back (its
// autovacuum reuses space in place): its size is reported in 8 KiB pages
// and the rest as nothing.
int64_t pragma(sql::Connection& sql, const char* name)
{
    if (detail::postgres(sql))
        return std::string_view(name) == "page_count"
            ? sql::queryInt64(sql, "SELECT pg_database_size(current_database()) / 8192")
            : 0;
    return sql::queryInt64(sql, std::string("PRAGMA ") + name);
}

// PRAGMA auto_vacuum answers from the file header as this connection last
// read it; a read first brings that up to date (another connection may have
// vacuumed the file since).
int64_t autoVacuumMode(sql::Connection& sql)
{
    if (detail::postgres(sql))
        return 0;
    sql::queryInt64(sql, "SELECT count(*) FROM sqlite_schema");
    return pragma(sql, "auto_vacuum");
}

bool stopped(const PurgeOptions& o) { return o.stop && o.stop->load(); }

// Gives free pages back in steps of their own short transactions, so a worker
// on the same file waits at most one step. Counts them in r.pagesFreed.
void incrementalVacuum(sql::Connection& sql, const PurgeOptions& o, PurgeResult& r, const PurgeProgress& progress)
{
    if (!r.incremental)
        return;
    const int64_t before = pragma(sql, "page_count");
    int64_t pages = before;
    while (!stopped(o) && pragma(sql, "freelist_count") > 0) {
        sql::Transaction tx(sql, true);
        sql.exec("PRAGMA incremental_vacuum(" + std::to_string(kVacuumStepPages) + ")");
        tx.commit();
        const int64_t after = pragma(sql, "page_count");
        if (after >= pages)
            break; // nothing given back: never spin beside writers that free pages as fast
        pages = after;
        r.pagesFreed = before - pages;
        if (progress)
            progress(r);
    }
    // Copies the shrunken database back from the WAL and truncates the file
    // now, if no reader is in the way; otherwise a later checkpoint does.
    if (r.pagesFreed > 0)
        sql.exec("PRAGMA wal_checkpoint(PASSIVE)");
}

} // namespace

Result<PurgeResult> purgeTerminal(Database& db, const PurgeOptions& o, const PurgeProgress& progress)
{
    if (o.batchSize < 1)
        return fail(Error::invalid("the batch size must be at least 1"));
    return detail::guarded("purge finished deliveries", [&]() -> Result<PurgeResult> {
        auto& sql = detail::sql(db);
        const std::string cond = statusCondition(o.statuses);
        // Walks deliveries in id order from the cursor: there is no index on
        // completed_at (one would cost every delivery write), and the walk
        // reads each row once per purge, outside the write lock.
        sql::Statement candidates(
            sql, "SELECT id FROM deliveries WHERE id > ?1 AND " + cond + " AND completed_at < ?2 ORDER BY id LIMIT ?3");
        // Checked again inside the transaction: a row may have been resent
        // since the candidates were read.
        sql::Statement check(sql,
                             "SELECT event_id FROM deliveries WHERE id = ?1 AND " + cond + " AND completed_at < ?2");
        sql::Statement attempts(sql, "DELETE FROM attempts WHERE delivery_id = ?");
        sql::Statement deadLetter(sql, "DELETE FROM dead_letters WHERE delivery_id = ?");
        sql::Statement delivery(sql, "DELETE FROM deliveries WHERE id = ?");

        PurgeResult r;
        r.lastId = o.startAfterId;
        r.incremental = autoVacuumMode(sql) == 2; // SQLite's INCREMENTAL
        std::vector<int64_t> ids, events;
        for (;;) {
            if (stopped(o) || (o.maxBatches > 0 && r.batches >= o.maxBatches))
                return r;
            ids.clear();
            candidates.reset();
            candidates.bind(1, r.lastId);
            candidates.bind(2, o.completedBeforeMs);
            candidates.bind(3, o.batchSize);
            while (candidates.executeStep())
                ids.push_back(candidates.getColumn(0).getInt64());
            candidates.reset(); // a statement left open would pin a stale snapshot (see storage/queue.cpp)
            if (ids.empty())
                break;

            events.clear();
            const auto lockedAt = std::chrono::steady_clock::now();
            sql::Transaction tx(sql, true);
            PurgeResult batch;
            for (int64_t id : ids) {
                check.reset();
                check.bind(1, id);
                check.bind(2, o.completedBeforeMs);
                if (!check.executeStep())
                    continue;
                events.push_back(check.getColumn(0).getInt64());
                check.reset();
                attempts.reset();
                attempts.bind(1, id);
                batch.attempts += attempts.exec();
                deadLetter.reset();
                deadLetter.bind(1, id);
                deadLetter.exec();
                delivery.reset();
                delivery.bind(1, id);
                batch.deliveries += delivery.exec();
            }
            check.reset();
            batch.events = detail::deleteOrphanEvents(sql, events);
            tx.commit();

            r.deliveries += batch.deliveries;
            r.attempts += batch.attempts;
            r.events += batch.events;
            r.lastId = ids.back();
            ++r.batches;
            if (progress)
                progress(r);
            if (ids.size() < static_cast<size_t>(o.batchSize))
                break;
            // Leave the lock free as long as the batch held it. Writers
            // waiting in SQLite's busy handler poll with sleeps of up to
            // 100 ms; back-to-back batches with a gap of a read between
            // them starved webhookd for the whole purge.
            const auto held = std::chrono::steady_clock::now() - lockedAt;
            std::this_thread::sleep_for(std::clamp<std::chrono::steady_clock::duration>(
                held, std::chrono::milliseconds(2), std::chrono::milliseconds(50)));
        }
        // The per-minute rollup outlives what it counts by kStatsKeptMs, so
        // the charts of the last two weeks stay whole after a short purge.
        sql::Statement stats(sql,
                             "DELETE FROM stats_minutely WHERE (minute, target_id) IN (SELECT minute, target_id"
                             " FROM stats_minutely WHERE minute < ?1 ORDER BY minute LIMIT 5000)");
        for (int n = 1; n > 0 && !stopped(o);) {
            stats.reset();
            stats.bind(1, saturatingAdd(o.completedBeforeMs, -kStatsKeptMs));
            sql::Transaction tx(sql, true);
            n = stats.exec();
            tx.commit();
            r.statsRows += n;
        }
        r.finished = true;
        if (o.incrementalVacuum)
            incrementalVacuum(sql, o, r, progress);
        return r;
    });
}

Result<VacuumResult> vacuumDatabase(Database& db)
{
    return detail::guarded("vacuum the database", [&]() -> Result<VacuumResult> {
        auto& sql = detail::sql(db);
        VacuumResult r;
        r.pagesBefore = pragma(sql, "page_count");
        if (detail::postgres(sql)) {
            sql.exec("VACUUM (ANALYZE)");
            r.pagesAfter = pragma(sql, "page_count");
            return r;
        }
        if (autoVacuumMode(sql) == 0) { // NONE
            // Takes effect with the VACUUM that follows (it works in WAL mode too).
            sql.exec("PRAGMA auto_vacuum = INCREMENTAL");
            r.switchedToIncremental = true;
        }
        sql.exec("VACUUM");
        sql.exec("PRAGMA wal_checkpoint(PASSIVE)");
        r.pagesAfter = pragma(sql, "page_count");
        return r;
    });
}

} // namespace webhookd
