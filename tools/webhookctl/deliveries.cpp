#include "context.h"

#include <iostream>

#include "core/duration.h"
#include "storage/deliveries.h"

namespace webhookd::cli {

namespace {

struct ListFlags {
    std::string status, target, type, since;
    int limit = 100;
    CLI::Option* statusOpt = nullptr;
    CLI::Option* targetOpt = nullptr;
    CLI::Option* typeOpt = nullptr;
    CLI::Option* sinceOpt = nullptr;

    void add(CLI::App* cmd, bool withStatus)
    {
        if (withStatus)
            statusOpt = cmd->add_option("--status", status,
                                        "pending, in_progress, delivered, failed, rate_limited or dead_letter");
        targetOpt = cmd->add_option("--target", target, "Only this target's deliveries");
        typeOpt = cmd->add_option("--type", type, "Only this event type");
        sinceOpt = cmd->add_option("--since", since, "Only deliveries created within this long ago")
                       ->check(durationValidator());
        cmd->add_option("--limit", limit, "At most this many rows, newest first")->capture_default_str()
            ->check(CLI::Range(1, 1'000'000));
    }

    DeliveryFilter filter(const Clock& clock) const
    {
        DeliveryFilter f;
        if (statusOpt && statusOpt->count()) f.status = status;
        if (targetOpt->count()) f.targetId = target;
        if (typeOpt->count()) f.type = type;
        if (sinceOpt->count()) f.createdSince = clock.nowMs() - durationMs(since);
        f.limit = limit;
        return f;
    }
};

int printList(const Context& ctx, const Result<std::vector<Delivery>>& list, bool withReason)
{
    if (!list)
        return report(list.error());
    if (ctx.json) {
        auto arr = nlohmann::json::array();
        for (const auto& d : *list)
            arr.push_back(deliveryJson(d));
        std::cout << arr.dump() << '\n';
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : *list) {
        std::vector<std::string> row = {std::to_string(d.id), d.type, d.targetId, d.status,
                                        std::to_string(d.attemptCount), orDash(d.lastStatusCode), isoTime(d.createdAt)};
        row.push_back(withReason ? orDash(d.deadLetterReason) : orDash(d.lastError));
        rows.push_back(std::move(row));
    }
    printTable({"ID", "TYPE", "TARGET", "STATUS", "ATTEMPTS", "CODE", "CREATED", withReason ? "REASON" : "LAST ERROR"},
               rows);
    return kOk;
}

int showDelivery(const Context& ctx, const Delivery& d)
{
    if (ctx.json) {
        auto j = deliveryJson(d);
        auto attempts = nlohmann::json::array();
        for (const auto& a : d.attempts)
            attempts.push_back({
                {"number", a.number},
                {"started_at", a.startedAt},
                {"duration_ms", a.durationMs},
                {"status_code", a.statusCode ? nlohmann::json(*a.statusCode) : nlohmann::json(nullptr)},
                {"error_type", a.errorType ? nlohmann::json(*a.errorType) : nlohmann::json(nullptr)},
                {"error_message", a.errorMessage ? nlohmann::json(*a.errorMessage) : nlohmann::json(nullptr)},
                {"retry_after_ms", a.retryAfterMs ? nlohmann::json(*a.retryAfterMs) : nlohmann::json(nullptr)},
                {"response_excerpt", a.responseExcerpt},
            });
        j["attempts"] = attempts;
        std::cout << j.dump() << '\n';
        return kOk;
    }
    auto row = [](const char* k, const std::string& v) {
        std::cout << k << std::string(16 - std::string(k).size(), ' ') << v << '\n';
    };
    row("delivery", std::to_string(d.id));
    row("event", d.eventUid + " (" + d.type + ")");
    row("target", d.targetId);
    row("status", d.status);
    row("priority", std::to_string(d.priority));
    row("attempts", std::to_string(d.attemptCount));
    if (d.status == "pending" || d.status == "failed" || d.status == "rate_limited")
        row("next attempt", isoTime(d.nextAttemptAt));
    if (d.lastError)
        row("last error", *d.lastError);
    if (d.deadLetterReason)
        row("dead letter", *d.deadLetterReason);
    row("created", isoTime(d.createdAt));
    row("updated", isoTime(d.updatedAt));
    row("completed", timeText(d.completedAt));
    if (!d.attempts.empty()) {
        std::cout << '\n';
        std::vector<std::vector<std::string>> rows;
        for (const auto& a : d.attempts)
            rows.push_back({std::to_string(a.number), isoTime(a.startedAt), std::to_string(a.durationMs) + "ms",
                            orDash(a.statusCode), orDash(a.errorType), orDash(a.errorMessage)});
        printTable({"#", "STARTED", "DURATION", "CODE", "ERROR TYPE", "ERROR"}, rows);
    }
    return kOk;
}

} // namespace

void addDeliveryCommands(CLI::App& app, Context& ctx)
{
    auto* delivery = app.add_subcommand("delivery", "Inspect deliveries and their attempts");
    delivery->require_subcommand(1);

    auto showId = std::make_shared<int64_t>(0);
    auto* show = delivery->add_subcommand("show", "Show one delivery with every attempt");
    show->add_option("ID", *showId, "Delivery id")->required();
    show->callback([&ctx, showId] {
        ctx.action = [&ctx, showId] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto d = getDelivery(**db, *showId);
            if (!d)
                return report(d.error());
            return showDelivery(ctx, *d);
        };
    });

    auto lf = std::make_shared<ListFlags>();
    auto* list = delivery->add_subcommand("list", "List deliveries, newest first");
    lf->add(list, true);
    list->callback([&ctx, lf] {
        ctx.action = [&ctx, lf] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            return printList(ctx, listDeliveries(**db, lf->filter(ctx.clock())), false);
        };
    });
}

void addDlqCommands(CLI::App& app, Context& ctx)
{
    auto* dlq = app.add_subcommand("dlq", "Work the dead-letter queue");
    dlq->require_subcommand(1);

    auto lf = std::make_shared<ListFlags>();
    auto* list = dlq->add_subcommand("list", "List dead letters with the reason, newest first");
    lf->add(list, false);
    list->callback([&ctx, lf] {
        ctx.action = [&ctx, lf] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            return printList(ctx, listDeadLetters(**db, lf->filter(ctx.clock())), true);
        };
    });

    struct RetryFlags {
        std::vector<int64_t> ids;
        bool all = false;
        std::string target;
        CLI::Option* targetOpt = nullptr;
    };
    auto rf = std::make_shared<RetryFlags>();
    auto* retry = dlq->add_subcommand("retry", "Return dead letters to pending with a fresh attempt budget");
    auto* idsOpt = retry->add_option("ID", rf->ids, "Delivery ids");
    auto* allOpt = retry->add_flag("--all", rf->all, "Every dead letter (or every one of --target)");
    rf->targetOpt = retry->add_option("--target", rf->target, "With --all: only this target's")->needs(allOpt);
    idsOpt->excludes(allOpt);
    retry->callback([&ctx, rf] {
        ctx.action = [&ctx, rf] {
            if (rf->ids.empty() && !rf->all) {
                std::cerr << "webhookctl: dlq retry needs delivery ids or --all.\n";
                return kUsage;
            }
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            std::optional<std::string> target;
            if (rf->targetOpt->count())
                target = rf->target;
            auto n = rf->all ? retryAllDeadLetters(**db, target, ctx.clock())
                             : retryDeadLetters(**db, rf->ids, ctx.clock());
            if (!n)
                return report(n.error());
            if (ctx.json)
                std::cout << nlohmann::json{{"retried", *n}}.dump() << '\n';
            else
                std::cout << "returned " << *n << " dead letter" << (*n == 1 ? "" : "s") << " to pending\n";
            return kOk;
        };
    });

    auto olderThan = std::make_shared<std::string>();
    auto* purge = dlq->add_subcommand("purge", "Delete dead letters moved longer ago than --older-than");
    purge->add_option("--older-than", *olderThan, "Age, e.g. 7d")->required()->check(durationValidator());
    purge->callback([&ctx, olderThan] {
        ctx.action = [&ctx, olderThan] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto n = purgeDeadLetters(**db, ctx.clock().nowMs() - durationMs(*olderThan));
            if (!n)
                return report(n.error());
            if (ctx.json)
                std::cout << nlohmann::json{{"purged", *n}}.dump() << '\n';
            else
                std::cout << "purged " << *n << " dead letter" << (*n == 1 ? "" : "s") << '\n';
            return kOk;
        };
    });
}

} // namespace webhookd::cli
