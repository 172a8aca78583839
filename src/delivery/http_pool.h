#pragma once

// Deliveries on every core: N HttpClients, each on a thread of its own with
// its own libcurl multi handle and epoll set, behind HttpClient's interface.
// The worker's thread (the storage side: claims, decisions, the one writer
// of a SQLite file) hands requests over and takes results back in batches;
// nothing that decides what to send or what an answer means runs on the
// delivery threads, so fair share, caps, buckets, the breaker and AIMD stay
// decided in one place.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/unique_fd.h"
#include "delivery/http_client.h"

namespace webhookd {

class HttpPool {
public:
    // threads from 1 to 256. The clock must outlive the pool.
    static Result<std::unique_ptr<HttpPool>> create(const HttpOptions& options, const Clock& clock, int threads);
    ~HttpPool(); // stops the threads; transfers in flight are abandoned
    HttpPool(const HttpPool&) = delete;
    HttpPool& operator=(const HttpPool&) = delete;

    // Starts a transfer on the thread with the fewest in flight; its result
    // comes out of poll(). The worker's thread only.
    void start(HttpRequest request);

    // Hands the requests started since the last call to their threads, then
    // waits up to timeoutMs for results (less when one arrives or wakeup()
    // is called) and appends every result ready to done. The worker's thread
    // only. Throws std::runtime_error when a delivery thread's client failed
    // as a whole (HttpClient::poll's contract).
    void poll(int timeoutMs, std::vector<HttpResult>& done);

    // Interrupts a poll() in progress. Any thread; async-signal-safe.
    void wakeup();

    // Stops the threads and returns the tags of every transfer not returned
    // by poll(). The pool sends nothing after.
    std::vector<uint64_t> abortAll();

private:
    struct Lane;
    HttpPool() = default;
    void run(Lane& lane);
    void stop();

    std::vector<std::unique_ptr<Lane>> lanes_;
    UniqueFd ready_; // eventfd: results arrived, or wakeup()
    std::mutex doneMutex_;
    std::vector<HttpResult> done_; // results not yet taken by poll()
    std::string failure_;          // a delivery thread's client failed (under doneMutex_)
    std::atomic<bool> stopping_{false};
};

} // namespace webhookd
