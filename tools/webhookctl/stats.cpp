#include "context.h"

#include <iostream>

#include <fmt/format.h>

#include "storage/stats.h"

namespace webhookd::cli {

namespace {

nlohmann::json countsJson(const Counts& c)
{
    return {{"total", c.total}, {"delivered", c.delivered}, {"failed", c.failed}, {"dead_letter", c.deadLetter},
            {"pending", c.pending}};
}

std::vector<std::string> countsRow(const std::string& name, const Counts& c)
{
    const int64_t finished = c.delivered + c.deadLetter;
    return {name, std::to_string(c.total), std::to_string(c.delivered), std::to_string(c.failed),
            std::to_string(c.deadLetter), std::to_string(c.pending),
            finished ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(c.delivered) / static_cast<double>(finished)) : "-"};
}

} // namespace

void addStatsCommand(CLI::App& app, Context& ctx)
{
    auto since = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("stats", "Delivery statistics: totals, success rate, by event type and target");
    auto* sinceOpt = cmd->add_option("--since", *since, "Only deliveries created within this long ago")
                         ->check(durationValidator());
    cmd->callback([&ctx, since, sinceOpt] {
        ctx.action = [&ctx, since, sinceOpt] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            std::optional<int64_t> from;
            if (sinceOpt->count())
                from = ctx.clock().nowMs() - durationMs(*since);
            auto s = statistics(**db, from);
            if (!s)
                return report(s.error());
            if (ctx.json) {
                nlohmann::json byType = nlohmann::json::object(), byTarget = nlohmann::json::object();
                for (const auto& [k, c] : s->byEventType)
                    byType[k] = countsJson(c);
                for (const auto& [k, c] : s->byTarget)
                    byTarget[k] = countsJson(c);
                nlohmann::json j = {
                    {"total_deliveries", s->all.total},
                    {"successful_deliveries", s->all.delivered},
                    {"failed_deliveries", s->all.failed},
                    {"dead_letter_deliveries", s->all.deadLetter},
                    {"pending_deliveries", s->all.pending},
                    {"average_response_time_ms", s->averageResponseTimeMs},
                    {"success_rate", s->successRate},
                    {"by_event_type", byType},
                    {"by_target", byTarget},
                };
                std::cout << j.dump() << '\n';
                return kOk;
            }
            std::cout << fmt::format("deliveries {}  delivered {}  failed (retrying) {}  dead letter {}  pending {}\n",
                                     s->all.total, s->all.delivered, s->all.failed, s->all.deadLetter, s->all.pending);
            std::cout << fmt::format("success rate {:.1f}%  average response time {:.1f} ms\n\n",
                                     100.0 * s->successRate, s->averageResponseTimeMs);
            const std::vector<std::string> header = {"", "TOTAL", "DELIVERED", "FAILED", "DEAD", "PENDING", "SUCCESS"};
            std::vector<std::vector<std::string>> rows;
            for (const auto& [k, c] : s->byEventType)
                rows.push_back(countsRow(k, c));
            auto h = header;
            h[0] = "EVENT TYPE";
            printTable(h, rows);
            std::cout << '\n';
            rows.clear();
            for (const auto& [k, c] : s->byTarget)
                rows.push_back(countsRow(k, c));
            h[0] = "TARGET";
            printTable(h, rows);
            return kOk;
        };
    });
}

} // namespace webhookd::cli
