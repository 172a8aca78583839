#include "context.h"

#include <iostream>

#include <fmt/format.h>

#include "apps/common/usage.h"
#include "storage/stats.h"

namespace webhookd::cli {

namespace {

std::vector<std::string> countsRow(const std::string& name, const Counts& c)
{
    const int64_t finished = c.delivered + c.deadLetter;
    return {name,
            std::to_string(c.total),
            std::to_string(c.delivered),
            std::to_string(c.failed),
            std::to_string(c.deadLetter),
            std::to_string(c.pending),
            finished ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(c.delivered) / static_cast<double>(finished))
                     : "-"};
}

std::string msText(const std::optional<int64_t>& ms) { return ms ? std::to_string(*ms) + " ms" : "-"; }

// A span for people: "850 ms", "12.5 s", "4m 10s", "3h 20m", "2d 5h".
std::string spanText(int64_t ms)
{
    if (ms < 1000)
        return std::to_string(ms) + " ms";
    if (ms < 60'000)
        return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
    const int64_t s = ms / 1000;
    if (s < 3600)
        return fmt::format("{}m {}s", s / 60, s % 60);
    if (s < 86'400)
        return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d {}h", s / 86'400, s % 86'400 / 3600);
}

void printText(const Stats& s)
{
    auto depth = [&](DeliveryStatus status) { return s.queueDepth.at(status); };
    std::cout << fmt::format("deliveries {}  delivered {}  failed (retrying) {}  dead letter {}  pending {}\n",
                             s.all.total, s.all.delivered, s.all.failed, s.all.deadLetter, s.all.pending);
    std::cout << fmt::format("success rate {:.1f}%  average response time {:.1f} ms\n", 100.0 * s.successRate,
                             s.averageResponseTimeMs);
    std::cout << fmt::format("attempt latency   p50 {}  p95 {}  p99 {}\n", msText(s.attemptLatencyMs.p50),
                             msText(s.attemptLatencyMs.p95), msText(s.attemptLatencyMs.p99));
    std::cout << fmt::format("time to deliver   p50 {}  p95 {}\n", msText(s.timeToDeliverMs.p50),
                             msText(s.timeToDeliverMs.p95));
    std::cout << fmt::format("queue             pending {}  in progress {}  failed {}  rate limited {}  delivered {}"
                             "  dead letter {}\n",
                             depth(DeliveryStatus::Pending), depth(DeliveryStatus::InProgress),
                             depth(DeliveryStatus::Failed), depth(DeliveryStatus::RateLimited),
                             depth(DeliveryStatus::Delivered), depth(DeliveryStatus::DeadLetter));
    std::cout << "oldest due        "
              << (s.oldestDueAgeMs ? "due for " + spanText(*s.oldestDueAgeMs) : std::string("nothing is due"))
              << "\n\n";
    const std::vector<std::string> header = {"", "TOTAL", "DELIVERED", "FAILED", "DEAD", "PENDING", "SUCCESS"};
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, c] : s.byEventType)
        rows.push_back(countsRow(k, c));
    auto h = header;
    h[0] = "EVENT TYPE";
    printTable(h, rows);
    std::cout << '\n';
    rows.clear();
    for (const auto& [k, c] : s.byTarget)
        rows.push_back(countsRow(k, c));
    h[0] = "TARGET";
    printTable(h, rows);
}

} // namespace

void addStatsCommand(CLI::App& app, Context& ctx)
{
    struct Flags {
        std::string since, until, target, type, app;
        CLI::Option* sinceOpt = nullptr;
        CLI::Option* untilOpt = nullptr;
        CLI::Option* targetOpt = nullptr;
        CLI::Option* typeOpt = nullptr;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("stats",
                                   "Delivery statistics: totals, success rate, latency percentiles, queue depth, "
                                   "by event type and target");
    f->sinceOpt =
        cmd->add_option("--since", f->since, "Only deliveries created since: a duration ago (7d) or an ISO-8601 time")
            ->check(timeOrAgo());
    f->untilOpt =
        cmd->add_option("--until", f->until, "Only deliveries created before: a duration ago or an ISO-8601 time")
            ->check(timeOrAgo());
    f->targetOpt = cmd->add_option("--target", f->target, "Only this target's deliveries");
    f->typeOpt = cmd->add_option("--type", f->type, "Only deliveries of this event type");
    cmd->add_option("--app", f->app, "Only deliveries to this application's targets");
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            StatsFilter filter;
            if (f->sinceOpt->count())
                filter.createdSince = ctx.timeArg(f->since);
            if (f->untilOpt->count())
                filter.createdUntil = ctx.timeArg(f->until);
            if (f->targetOpt->count())
                filter.targetId = f->target;
            if (f->typeOpt->count())
                filter.type = f->type;
            if (!f->app.empty())
                filter.appId = f->app;
            auto s = statistics(**db, filter, ctx.clock());
            if (!s)
                return report(s.error());
            if (ctx.json)
                printJson(statsJson(*s));
            else
                printText(*s);
            return kOk;
        };
    });
}

} // namespace webhookd::cli
