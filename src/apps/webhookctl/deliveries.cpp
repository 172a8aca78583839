#include "context.h"

#include <iostream>
#include <limits>

#include <fmt/format.h>

#include "apps/common/usage.h"
#include "core/duration.h"
#include "core/text.h"
#include "core/utf8.h"
#include "storage/deliveries.h"
#include "storage/redrive.h"
#include "storage/retention.h"

namespace webhookd::cli {

namespace {

struct ListFlags {
    std::string status, target, type, since, until, app;
    int limit = 100;
    int64_t before = 0;
    CLI::Option* statusOpt = nullptr;
    CLI::Option* targetOpt = nullptr;
    CLI::Option* typeOpt = nullptr;
    CLI::Option* sinceOpt = nullptr;
    CLI::Option* untilOpt = nullptr;
    CLI::Option* beforeOpt = nullptr;

    void add(CLI::App* cmd, bool withStatus)
    {
        if (withStatus) {
            std::vector<std::string> names;
            for (DeliveryStatus s : status_set::kAll)
                names.emplace_back(toString(s));
            statusOpt = cmd->add_option("--status", status, "Only this status: " + std::string(allStatusNames()))
                            ->check(oneOf(names));
        }
        targetOpt = cmd->add_option("--target", target, "Only this target's deliveries");
        typeOpt = cmd->add_option("--type", type, "Only this event type, or those a pattern ending in * matches");
        cmd->add_option("--app", app, "Only deliveries to this application's targets");
        sinceOpt =
            cmd->add_option("--since", since, "Only those created since: a duration ago (7d) or an ISO-8601 time")
                ->check(timeOrAgo());
        untilOpt = cmd->add_option("--until", until, "Only those created before: a duration ago or an ISO-8601 time")
                       ->check(timeOrAgo());
        beforeOpt = cmd->add_option("--before", before, "Only those listed after delivery ID (the next page)")
                        ->check(integer(1, std::numeric_limits<int64_t>::max()));
        cmd->add_option("--limit", limit, "At most this many rows, newest first")
            ->capture_default_str()
            ->check(integer(1, 1'000'000));
    }

    Result<DeliveryFilter> filter(Context& ctx, bool deadLetters) const
    {
        DeliveryFilter f;
        if (statusOpt && statusOpt->count())
            f.status = parseDeliveryStatus(status);
        if (targetOpt->count())
            f.targetId = target;
        if (typeOpt->count())
            f.type = type;
        if (!app.empty())
            f.appId = app;
        if (sinceOpt->count())
            f.createdSince = ctx.timeArg(since);
        if (untilOpt->count())
            f.createdUntil = ctx.timeArg(until);
        if (beforeOpt->count()) {
            if (deadLetters) {
                f.after = std::pair<int64_t, int64_t>{0, before};
            } else {
                auto db = ctx.db();
                if (!db)
                    return fail(db.error());
                auto d = getDelivery(**db, before);
                if (!d)
                    return fail(d.error());
                f.after = std::pair{d->createdAt, d->id};
            }
        }
        f.limit = limit;
        return f;
    }
};

// Prints the rows; when the limit cut the listing, says so on stderr with the
// total and how to see the next page.
int printList(Context& ctx, const DeliveryFilter& filter, const Result<std::vector<Delivery>>& list, bool deadLetters)
{
    if (!list)
        return report(list.error());
    if (ctx.json) {
        auto arr = nlohmann::json::array();
        for (const auto& d : *list)
            arr.push_back(deliveryJson(d));
        printJson(arr);
    } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& d : *list) {
            if (deadLetters)
                rows.push_back({std::to_string(d.id), d.type, d.targetId, std::to_string(d.attemptCount),
                                orDash(d.lastStatusCode), timeText(d.deadLetteredAt), orDash(d.deadLetterReason)});
            else
                rows.push_back({std::to_string(d.id), d.type, d.targetId, std::string(toString(d.status)),
                                std::to_string(d.attemptCount), orDash(d.lastStatusCode), isoTime(d.createdAt),
                                orDash(d.lastError)});
        }
        if (deadLetters)
            printTable({"ID", "TYPE", "TARGET", "ATTEMPTS", "CODE", "MOVED", "REASON"}, rows);
        else
            printTable({"ID", "TYPE", "TARGET", "STATUS", "ATTEMPTS", "CODE", "CREATED", "LAST ERROR"}, rows);
    }
    if (static_cast<int>(list->size()) == filter.limit && !list->empty()) {
        auto db = ctx.db();
        auto total = db ? (deadLetters ? countDeadLetters(**db, filter) : countDeliveries(**db, filter))
                        : Result<int64_t>(fail(db.error()));
        if (total && *total > filter.limit)
            std::cerr << "webhookctl: showing " << withThousands(static_cast<int64_t>(list->size())) << " of "
                      << withThousands(*total) << "; the next page: --before " << list->back().id << ".\n";
    }
    return kOk;
}

int showDelivery(const Context& ctx, const Delivery& d)
{
    if (ctx.json) {
        printJson(deliveryWithAttemptsJson(d));
        return kOk;
    }
    auto row = [](const char* k, const std::string& v) {
        std::cout << k << std::string(16 - std::string(k).size(), ' ') << utf8::printable(v) << '\n';
    };
    row("delivery", std::to_string(d.id));
    row("event", d.eventUid + " (" + d.type + ")");
    row("target", d.targetId);
    row("status", std::string(toString(d.status)));
    row("priority", std::to_string(d.priority));
    row("attempts", std::to_string(d.attemptCount));
    if (isClaimable(d.status))
        row("next attempt", isoTime(d.nextAttemptAt));
    if (d.lastError)
        row("last error", *d.lastError);
    if (d.deadLetterReason)
        row("dead letter", *d.deadLetterReason);
    if (d.orderingGroup) {
        const std::string group = d.orderingGroup->empty() ? "the target's (fifo)" : "key " + *d.orderingGroup;
        row("ordering", group);
        if (d.waitingBehind)
            row("waits behind",
                "delivery " + std::to_string(*d.waitingBehind) +
                    " (the next of its group goes when that one is delivered or dead-lettered)");
        else if (d.status == DeliveryStatus::Waiting)
            row("waits behind", "nothing now: it goes at the group's next change");
        if (d.blocksGroup)
            row("blocks", "its group, until `webhookctl dlq release " + std::to_string(d.id) + "` or dlq retry");
    }
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

// What a redrive changed: a count under countName and each delivery with
// the status it left, or a sentence.
int printRequeued(const Context& ctx, const std::vector<Requeued>& requeued, const char* countName,
                  const std::string& sentence)
{
    if (ctx.json) {
        auto list = nlohmann::json::array();
        for (const auto& r : requeued)
            list.push_back({{"id", r.id}, {"previous_status", toString(r.previousStatus)}});
        printJson(nlohmann::json{{countName, requeued.size()}, {"deliveries", list}});
    } else {
        std::cout << sentence << '\n';
    }
    return kOk;
}

RedriveOptions redriveProgress(ProgressLine& line, const char* verb)
{
    RedriveOptions o;
    if (line.enabled())
        o.progress = [&line, verb](int64_t done, int64_t total) {
            line.show(fmt::format("{} {}/{} deliveries", verb, done, total));
        };
    return o;
}

} // namespace

void addDeliveryCommands(CLI::App& app, Context& ctx)
{
    auto* delivery = app.add_subcommand("delivery", "Inspect deliveries and their attempts, and resend finished ones");
    delivery->require_subcommand(1);

    auto showId = std::make_shared<int64_t>(0);
    auto* show = delivery->add_subcommand("show", "Show one delivery with every attempt");
    show->add_option("ID", *showId, "Delivery id")->required()->check(integer(1, std::numeric_limits<int64_t>::max()));
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
            auto filter = lf->filter(ctx, false);
            if (!filter)
                return report(filter.error());
            return printList(ctx, *filter, listDeliveries(**db, *filter), false);
        };
    });

    auto resendIds = std::make_shared<std::vector<int64_t>>();
    auto* resend = delivery->add_subcommand(
        "resend", "Send delivered or dead-lettered deliveries again, as a new attempt series with a fresh budget");
    resend->add_option("ID", *resendIds, "Delivery ids")->required();
    resend->callback([&ctx, resendIds] {
        ctx.action = [&ctx, resendIds] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            ProgressLine line;
            auto r = resendDeliveries(**db, *resendIds, ctx.clock(), redriveProgress(line, "resent"));
            line.done();
            if (!r)
                return report(r.error());
            return printRequeued(ctx, *r, "resent",
                                 "resent " + plural(static_cast<int64_t>(r->size()), "delivery", "deliveries") +
                                     " (pending now, with a fresh attempt budget)");
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
            auto filter = lf->filter(ctx, true);
            if (!filter)
                return report(filter.error());
            return printList(ctx, *filter, listDeadLetters(**db, *filter), true);
        };
    });

    struct RetryFlags {
        std::vector<int64_t> ids;
        bool all = false;
        std::string target, type, since, app;
        CLI::Option* targetOpt = nullptr;
        CLI::Option* typeOpt = nullptr;
        CLI::Option* sinceOpt = nullptr;
    };
    auto rf = std::make_shared<RetryFlags>();
    auto* retry = dlq->add_subcommand("retry", "Return dead letters to pending with a fresh attempt budget");
    auto* idsOpt = retry->add_option("ID", rf->ids, "Delivery ids");
    auto* allOpt = retry->add_flag("--all", rf->all, "Every dead letter (or those --target, --type, --since select)");
    rf->targetOpt = retry->add_option("--target", rf->target, "With --all: only this target's")->needs(allOpt);
    rf->typeOpt = retry->add_option("--type", rf->type, "With --all: only this event type")->needs(allOpt);
    retry->add_option("--app", rf->app, "With --all: only this application's dead letters")->needs(allOpt);
    rf->sinceOpt =
        retry
            ->add_option("--since", rf->since,
                         "With --all: only those moved to the queue since (a duration ago or an ISO-8601 time)")
            ->check(timeOrAgo())
            ->needs(allOpt);
    idsOpt->excludes(allOpt);
    retry->callback([&ctx, rf, retryCmd = retry] {
        ctx.action = [&ctx, rf, retryCmd] {
            if (rf->ids.empty() && !rf->all)
                return usageError("dlq retry needs delivery ids or --all", retryCmd);
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            ProgressLine line;
            const auto options = redriveProgress(line, "retried");
            Result<std::vector<Requeued>> r;
            if (rf->all) {
                DeadLetterSelection sel;
                if (rf->targetOpt->count())
                    sel.targetId = rf->target;
                if (rf->typeOpt->count())
                    sel.type = rf->type;
                if (!rf->app.empty())
                    sel.appId = rf->app;
                if (rf->sinceOpt->count())
                    sel.movedSince = ctx.timeArg(rf->since);
                r = retryAllDeadLetters(**db, sel, ctx.clock(), options);
            } else {
                r = retryDeadLetters(**db, rf->ids, ctx.clock(), options);
            }
            line.done();
            if (!r)
                return report(r.error());
            return printRequeued(ctx, *r, "retried",
                                 "returned " + plural(static_cast<int64_t>(r->size()), "dead letter", "dead letters") +
                                     " to pending");
        };
    });

    auto releaseId = std::make_shared<int64_t>(0);
    auto* release = dlq->add_subcommand(
        "release", "Let the ordering group a dead letter holds back go on (the dead letter stays in the queue)");
    release->add_option("DELIVERY_ID", *releaseId, "The dead letter")->required();
    release->callback([&ctx, releaseId] {
        ctx.action = [&ctx, releaseId] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            if (auto r = releaseDeadLetter(**db, *releaseId, ctx.clock()); !r)
                return report(r.error());
            if (ctx.json)
                printJson({{"released", *releaseId}});
            else
                std::cout << "released the ordering group of dead letter " << *releaseId << '\n';
            return kOk;
        };
    });

    auto olderThan = std::make_shared<std::string>();
    auto* purge = dlq->add_subcommand("purge", "Delete dead letters moved longer ago than --older-than");
    purge->add_option("--older-than", *olderThan, "Age, e.g. 7d")->required()->check(duration());
    purge->callback([&ctx, olderThan] {
        ctx.action = [&ctx, olderThan] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            // A dead letter's completed_at is the moment it moved to the queue.
            PurgeOptions options;
            options.completedBeforeMs = ctx.clock().nowMs() - durationMs(*olderThan);
            options.statuses = PurgeStatuses::DeadLetter;
            ProgressLine line;
            PurgeProgress progress;
            if (line.enabled())
                progress = [&line](const PurgeResult& p) {
                    line.show(fmt::format("purged {} dead letters", p.deliveries));
                };
            auto r = purgeTerminal(**db, options, progress);
            line.done();
            if (!r)
                return report(r.error());
            if (ctx.json)
                printJson(nlohmann::json{{"purged", r->deliveries}});
            else
                std::cout << "purged " << plural(r->deliveries, "dead letter", "dead letters") << '\n';
            return kOk;
        };
    });
}

} // namespace webhookd::cli
