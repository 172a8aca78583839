#include "delivery/http_pool.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <stdexcept>

namespace webhookd {

struct HttpPool::Lane {
    std::unique_ptr<HttpClient> client; // driven by this lane's thread only
    std::thread thread;
    std::mutex inboxMutex;
    std::vector<HttpRequest> inbox;   // handed over, not yet started (under inboxMutex)
    std::vector<HttpRequest> pending; // started by the worker's thread, not yet handed over
    std::atomic<size_t> load{0};      // handed over or pending, not yet finished
};

Result<std::unique_ptr<HttpPool>> HttpPool::create(const HttpOptions& options, const Clock& clock, int threads)
{
    if (threads < 1 || threads > 256)
        return fail(Error::invalid("the delivery threads must be between 1 and 256"));
    std::unique_ptr<HttpPool> pool(new HttpPool());
    pool->ready_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (pool->ready_.get() < 0)
        return fail(Error::internal("could not create an eventfd for the delivery threads"));
    for (int i = 0; i < threads; ++i) {
        auto client = HttpClient::create(options, clock);
        if (!client)
            return fail(client.error());
        auto lane = std::make_unique<Lane>();
        lane->client = std::move(*client);
        pool->lanes_.push_back(std::move(lane));
    }
    for (auto& lane : pool->lanes_)
        lane->thread = std::thread([p = pool.get(), l = lane.get()] { p->run(*l); });
    return pool;
}

HttpPool::~HttpPool() { stop(); }

void HttpPool::stop()
{
    if (stopping_.exchange(true))
        return;
    for (auto& lane : lanes_)
        lane->client->wakeup();
    for (auto& lane : lanes_)
        if (lane->thread.joinable())
            lane->thread.join();
}

void HttpPool::wakeup()
{
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(ready_.get(), &one, sizeof one);
}

void HttpPool::start(HttpRequest request)
{
    Lane* best = lanes_.front().get();
    for (auto& lane : lanes_)
        if (lane->load.load(std::memory_order_relaxed) < best->load.load(std::memory_order_relaxed))
            best = lane.get();
    best->load.fetch_add(1, std::memory_order_relaxed);
    best->pending.push_back(std::move(request));
}

// A delivery thread: starts what it was handed, drives its transfers, and
// hands back what finished, one batch per turn.
void HttpPool::run(Lane& lane)
{
    std::vector<HttpRequest> fresh;
    std::vector<HttpResult> finished;
    try {
        while (!stopping_.load()) {
            {
                std::lock_guard lock(lane.inboxMutex);
                fresh.swap(lane.inbox);
            }
            for (auto& r : fresh)
                lane.client->start(std::move(r));
            fresh.clear();
            lane.client->poll(1000, finished);
            if (finished.empty())
                continue;
            lane.load.fetch_sub(finished.size(), std::memory_order_relaxed);
            {
                std::lock_guard lock(doneMutex_);
                for (auto& f : finished)
                    done_.push_back(std::move(f));
            }
            finished.clear();
            wakeup();
        }
    } catch (const std::exception& e) {
        std::lock_guard lock(doneMutex_);
        failure_ = e.what();
        wakeup();
    }
}

void HttpPool::poll(int timeoutMs, std::vector<HttpResult>& done)
{
    for (auto& lane : lanes_) {
        if (lane->pending.empty())
            continue;
        {
            std::lock_guard lock(lane->inboxMutex);
            for (auto& r : lane->pending)
                lane->inbox.push_back(std::move(r));
        }
        lane->pending.clear();
        lane->client->wakeup();
    }
    auto take = [&] {
        std::lock_guard lock(doneMutex_);
        if (!failure_.empty())
            throw std::runtime_error(failure_);
        for (auto& r : done_)
            done.push_back(std::move(r));
        done_.clear();
    };
    const size_t before = done.size();
    take();
    if (done.size() > before || timeoutMs <= 0)
        return;
    pollfd p{ready_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) > 0) {
        uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(ready_.get(), &count, sizeof count);
    }
    take();
}

std::vector<uint64_t> HttpPool::abortAll()
{
    stop();
    std::vector<uint64_t> tags;
    for (auto& lane : lanes_) {
        for (const auto& r : lane->pending)
            tags.push_back(r.tag);
        for (const auto& r : lane->inbox)
            tags.push_back(r.tag);
        lane->pending.clear();
        lane->inbox.clear();
        for (uint64_t tag : lane->client->abortAll())
            tags.push_back(tag);
    }
    // Finished after the last poll(): not recorded, so sent again, like a
    // transfer cut off.
    for (const auto& r : done_)
        tags.push_back(r.tag);
    done_.clear();
    return tags;
}

} // namespace webhookd
