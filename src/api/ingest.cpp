#include "api/ingest.h"

#include <chrono>
#include <vector>

#include "core/duration.h"
#include "core/log.h"
#include "storage/events.h"

namespace webhookd {

namespace {

constexpr size_t kMaxGroup = 256;

} // namespace

Result<std::unique_ptr<IngestBatcher>> IngestBatcher::create(const std::string& locator, const OpenOptions& open,
                                                             const Clock& clock, Limits limits, size_t queueLimit)
{
    OpenOptions o = open;
    o.durability = Durability::Full;
    auto db = Database::open(locator, o);
    if (!db)
        return fail(db.error());
    return std::unique_ptr<IngestBatcher>(new IngestBatcher(std::move(*db), clock, limits, queueLimit));
}

IngestBatcher::IngestBatcher(Database db, const Clock& clock, Limits limits, size_t queueLimit)
    : db_(std::move(db)),
      clock_(clock),
      limits_(limits),
      queueLimit_(queueLimit)
{
    writer_ = std::thread([this] { run(); });
}

IngestBatcher::~IngestBatcher()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
    Log::info("ingest writer stopped",
              {{"events", events_},
               {"commits", commits_},
               {"busy", formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(busy_).count())}});
}

std::future<Result<SendResult>> IngestBatcher::submit(EventInput event)
{
    Item item{std::move(event), {}};
    auto future = item.done.get_future();
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= queueLimit_ || stopping_) {
            item.done.set_value(fail(Error::busy("the ingest queue is full")));
            return future;
        }
        queue_.push_back(std::move(item));
    }
    wake_.notify_one();
    return future;
}

void IngestBatcher::run()
{
    std::vector<Item> group;
    std::vector<EventInput> events;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty())
                return; // stopping, and everything queued was answered
            while (!queue_.empty() && group.size() < kMaxGroup) {
                group.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        events.clear();
        for (auto& item : group)
            events.push_back(std::move(item.event));
        const auto t0 = std::chrono::steady_clock::now();
        auto results = sendEach(db_, events, clock_, limits_);
        busy_ += std::chrono::steady_clock::now() - t0;
        events_ += static_cast<int64_t>(events.size());
        ++commits_;
        for (size_t i = 0; i < group.size(); ++i)
            group[i].done.set_value(results ? std::move((*results)[i]) : Result<SendResult>(fail(results.error())));
        group.clear();
    }
}

} // namespace webhookd
