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

// A dead letter that holds its ordering group back stays until it is
// released or retried: deleting it would leave the group waiting for ever.
std::string statusCondition(PurgeStatuses s)
{
    switch (s) {
    case PurgeStatuses::Delivered: return "status = " + detail::sqlName(DeliveryStatus::Delivered);
    case PurgeStatuses::DeadLetter:
        return "status = " + detail::sqlName(DeliveryStatus::DeadLetter) + " AND ordering_blocking = 0";
    case PurgeStatuses::Both: break;
    }
    return detail::statusIn(status_set::kFinished) + " AND ordering_blocking = 0";
}

bool stopped(const PurgeOptions& o) { return o.stop && o.stop->load(); }

// Gives free pages back in steps of their own short transactions, so a worker
// on the same file waits at most one step. Counts them in r.pagesFreed.
void incrementalVacuum(Database::Impl& store, const PurgeOptions& o, PurgeResult& r, const PurgeProgress& progress)
{
    if (!r.incremental)
        return;
    const int64_t before = store.pageCount();
    int64_t pages = before;
    while (!stopped(o) && store.freePages() > 0) {
        store.giveBackPages(kVacuumStepPages);
        const int64_t after = store.pageCount();
        if (after >= pages)
            break; // nothing given back: never spin beside writers that free pages as fast
        pages = after;
        r.pagesFreed = before - pages;
        if (progress)
            progress(r);
    }
    // Copies the shrunken database back from the log and truncates the file
    // now, if no reader is in the way; otherwise a later checkpoint does.
    if (r.pagesFreed > 0)
        store.checkpoint();
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
        // Parameters: 1 the cursor, 2 completed before, (3 the application,)
        // then the batch size.
        sql::Composer listing(sql);
        listing << "SELECT id FROM deliveries WHERE id > " << sql::value(0) << " AND " << cond << " AND completed_at < "
                << sql::value(0);
        detail::appCondition(listing, "target_id", o.appId);
        listing << " ORDER BY id LIMIT " << sql::value(0);
        const int limitAt = o.appId ? 4 : 3;
        sql::Statement candidates = listing.statement();
        // Checked again inside the transaction: a row may have been resent
        // since the candidates were read.
        sql::Composer checking(sql);
        checking << "SELECT event_id FROM deliveries WHERE id = " << sql::value(0) << " AND " << cond
                 << " AND completed_at < " << sql::value(0);
        detail::appCondition(checking, "target_id", o.appId);
        sql::Statement check = checking.statement();
        sql::Statement attempts(sql, sql::Q::PurgeAttempts);
        sql::Statement deadLetter(sql, sql::Q::PurgeDeadLetter);
        sql::Statement delivery(sql, sql::Q::PurgeDelivery);

        PurgeResult r;
        r.lastId = o.startAfterId;
        Database::Impl& store = detailImpl(db);
        r.incremental = store.givesBackPages();
        r.reusedInPlace = store.reusesSpaceInPlace();
        std::vector<int64_t> ids, events;
        for (;;) {
            if (stopped(o) || (o.maxBatches > 0 && r.batches >= o.maxBatches))
                return r;
            ids.clear();
            candidates.reset();
            candidates.bind(1, r.lastId);
            candidates.bind(2, o.completedBeforeMs);
            candidates.bind(limitAt, o.batchSize);
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
        sql::Statement stats(sql, sql::Q::PurgeStats);
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
            incrementalVacuum(store, o, r, progress);
        return r;
    });
}

Result<VacuumResult> vacuumDatabase(Database& db)
{
    return detail::guarded("vacuum the database", [&]() -> Result<VacuumResult> { return detailImpl(db).vacuum(); });
}

} // namespace webhookd
