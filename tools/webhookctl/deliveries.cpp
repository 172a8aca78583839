#include "context.h"

#include <iostream>

#include <fmt/format.h>

#include "core/duration.h"
#include "storage/deliveries.h"
#include "storage/redrive.h"
#include "storage/retention.h"

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
            statusOpt = cmd->add_option("--status", status, std::string(allStatusNames()));
        targetOpt = cmd->add_option("--target", target, "Only this target's deliveries");
        typeOpt = cmd->add_option("--type", type, "Only this event type");
        sinceOpt = cmd->add_option("--since", since, "Only deliveries created within this long ago")
                       ->check(durationValidator());
        cmd->add_option("--limit", limit, "At most this many rows, newest first")
            ->capture_default_str()
            ->check(CLI::Range(1, 1'000'000));
    }

    Result<DeliveryFilter> filter(const Clock& clock) const
    {
        DeliveryFilter f;
        if (statusOpt && statusOpt->count()) {
            f.status = parseDeliveryStatus(status);
            if (!f.status)
                return fail(Error::invalid("'" + status + "' is not a status; use " + std::string(allStatusNames())));
        }
        if (targetOpt->count())
            f.targetId = target;
        if (typeOpt->count())
            f.type = type;
        if (sinceOpt->count())
            f.createdSince = clock.nowMs() - durationMs(since);
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
        std::vector<std::string> row = {std::to_string(d.id),
                                        d.type,
                                        d.targetId,
                                        std::string(toString(d.status)),
                                        std::to_string(d.attemptCount),
                                        orDash(d.lastStatusCode),
                                        isoTime(d.createdAt)};
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
        std::cout << deliveryWithAttemptsJson(d).dump() << '\n';
        return kOk;
    }
    auto row = [](const char* k, const std::string& v) {
        std::cout << k << std::string(16 - std::string(k).size(), ' ') << v << '\n';
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
        std::cout << nlohmann::json{{countName, requeued.size()}, {"deliveries", list}}.dump() << '\n';
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

std::string plural(size_t n, const char* one, const char* many)
{
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

void addDeliveryCommands(CLI::App& app, Context& ctx)
{
    auto* delivery = app.add_subcommand("delivery", "Inspect deliveries and their attempts, and resend finished ones");
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
            auto filter = lf->filter(ctx.clock());
            if (!filter)
                return report(filter.error());
            return printList(ctx, listDeliveries(**db, *filter), false);
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
                                 "resent " + plural(r->size(), "delivery", "deliveries") +
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
            auto filter = lf->filter(ctx.clock());
            if (!filter)
                return report(filter.error());
            return printList(ctx, listDeadLetters(**db, *filter), true);
        };
    });

    struct RetryFlags {
        std::vector<int64_t> ids;
        bool all = false;
        std::string target, type, since;
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
    rf->sinceOpt =
        retry->add_option("--since", rf->since, "With --all: only those moved to the queue within this long ago")
            ->check(durationValidator())
            ->needs(allOpt);
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
            ProgressLine line;
            const auto options = redriveProgress(line, "retried");
            Result<std::vector<Requeued>> r;
            if (rf->all) {
                DeadLetterSelection sel;
                if (rf->targetOpt->count())
                    sel.targetId = rf->target;
                if (rf->typeOpt->count())
                    sel.type = rf->type;
                if (rf->sinceOpt->count())
                    sel.movedSince = ctx.clock().nowMs() - durationMs(rf->since);
                r = retryAllDeadLetters(**db, sel, ctx.clock(), options);
            } else {
                r = retryDeadLetters(**db, rf->ids, ctx.clock(), options);
            }
            line.done();
            if (!r)
                return report(r.error());
            return printRequeued(ctx, *r, "retried",
                                 "returned " + plural(r->size(), "dead letter", "dead letters") + " to pending");
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
                std::cout << nlohmann::json{{"purged", r->deliveries}}.dump() << '\n';
            else
                std::cout << "purged " << plural(static_cast<size_t>(r->deliveries), "dead letter", "dead letters")
                          << '\n';
            return kOk;
        };
    });
}

} // namespace webhookd::cli
