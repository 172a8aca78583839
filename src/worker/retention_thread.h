#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace webhookd {

class Database;
struct WorkerOptions;

// --retention: deletes finished deliveries past the retention time on its own
// thread and connection, in small batches (purgeTerminal), so the delivery
// loop waits at most one batch for the write lock. Starts at construction;
// the destructor stops it within one batch. opt and clock must outlive it.
class RetentionThread {
public:
    RetentionThread(const WorkerOptions& opt, const Clock& clock);
    ~RetentionThread();
    RetentionThread(const RetentionThread&) = delete;
    RetentionThread& operator=(const RetentionThread&) = delete;

private:
    void loop();
    void purge(Database& db);

    const WorkerOptions& opt_; // the Worker's; the Worker outlives its retention thread
    const Clock& clock_;       // must outlive the thread, as it must the Worker
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace webhookd
