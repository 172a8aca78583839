#pragma once

// Group commit for the API's POST /events: HTTP threads hand their event to
// a bounded queue and wait; one writer thread records whatever is waiting
// (up to 256 events) in one FULL-durability transaction, a savepoint per
// event (storage sendEach), and answers each. While it commits, the next
// group gathers, so under load groups grow and commits are shared; alone, an
// event waits for no one. A 202 therefore means on disk.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "model/event.h"
#include "storage/database.h"

namespace webhookd {

class IngestBatcher {
public:
    // Opens the writer's own connection now (its errors are the store's).
    // queueLimit: events waiting at most; more are refused as Busy.
    static Result<std::unique_ptr<IngestBatcher>> create(const std::string& locator, const OpenOptions& open,
                                                         const Clock& clock, Limits limits, size_t queueLimit = 4096);
    ~IngestBatcher(); // records what is queued, then stops
    IngestBatcher(const IngestBatcher&) = delete;
    IngestBatcher& operator=(const IngestBatcher&) = delete;

    // Any thread. The event's own outcome once committed (as sendEvent gives
    // it), or Busy at once when the queue is full.
    std::future<Result<SendResult>> submit(EventInput event);

private:
    IngestBatcher(Database db, const Clock& clock, Limits limits, size_t queueLimit);
    void run();

    struct Item {
        EventInput event;
        std::promise<Result<SendResult>> done;
    };
    Database db_;
    const Clock& clock_; // must outlive the batcher
    Limits limits_;
    size_t queueLimit_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    int64_t events_ = 0, commits_ = 0;           // the writer's, for its last log line
    std::chrono::steady_clock::duration busy_{}; // in sendEach, commits included
    std::thread writer_;
};

} // namespace webhookd
