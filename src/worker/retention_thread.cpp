#include "worker/retention_thread.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/duration.h"
#include "core/log.h"
#include "storage/database.h"
#include "storage/retention.h"
#include "worker/worker.h"

namespace webhookd {

namespace {

// How often --retention looks for rows to delete: a quarter of the retention
// time, between these bounds.
constexpr int64_t kRetentionMinIntervalMs = 1000;
constexpr int64_t kRetentionMaxIntervalMs = 300'000;

} // namespace

RetentionThread::RetentionThread(const WorkerOptions& opt, const Clock& clock)
    : opt_(opt),
      clock_(clock)
{
    thread_ = std::thread([this] { loop(); });
}

RetentionThread::~RetentionThread()
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void RetentionThread::loop()
{
    const int64_t interval = std::clamp(opt_.retentionMs / 4, kRetentionMinIntervalMs, kRetentionMaxIntervalMs);
    std::optional<Database> db;
    while (!stop_) {
        if (!db) {
            OpenOptions open;
            open.busyTimeoutMs = opt_.busyTimeoutMs;
            open.durability = Durability::Normal;
            auto d = Database::open(opt_.database, open);
            if (d)
                db.emplace(std::move(*d));
            else
                Log::error("retention: cannot open the database", {{"error", d.error().message()}});
        }
        if (db)
            purge(*db);
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(interval), [this] { return stop_.load(); });
    }
}

void RetentionThread::purge(Database& db)
{
    PurgeOptions p;
    p.completedBeforeMs = clock_.nowMs() - opt_.retentionMs;
    p.batchSize = 500;
    p.stop = &stop_; // a stopping worker waits for one batch at most
    auto r = purgeTerminal(db, p);
    if (!r)
        Log::error("retention: purge failed; it continues next time", {{"error", r.error().message()}});
    else if (r->deliveries > 0)
        Log::info("retention: deleted finished deliveries",
                  {{"deliveries", r->deliveries},
                   {"attempts", r->attempts},
                   {"events", r->events},
                   {"pages_freed", r->pagesFreed},
                   {"older_than", formatDuration(opt_.retentionMs)}});
}

} // namespace webhookd
