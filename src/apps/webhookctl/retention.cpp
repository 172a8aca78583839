#include "context.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "apps/common/usage.h"
#include "core/duration.h"
#include "storage/copy.h"
#include "storage/retention.h"

namespace webhookd::cli {

void addPurgeCommand(CLI::App& app, Context& ctx)
{
    struct Flags {
        std::string olderThan;
        std::string status;
        int batch = 1000;
        bool vacuum = false;
        CLI::Option* statusOpt = nullptr;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("purge",
                                   "Delete delivered and dead-lettered deliveries finished longer ago than "
                                   "--older-than, with their attempts and orphaned events");
    cmd->add_option("--older-than", f->olderThan, "Age of completion, e.g. 30d")->required()->check(duration());
    f->statusOpt = cmd->add_option("--status", f->status, "Only delivered, or only dead_letter (default both)")
                       ->check(oneOf({std::string(toString(DeliveryStatus::Delivered)),
                                      std::string(toString(DeliveryStatus::DeadLetter))}));
    cmd->add_option("--batch", f->batch, "Deliveries deleted per transaction")
        ->capture_default_str()
        ->check(integer(1, 100'000));
    cmd->add_flag("--vacuum", f->vacuum,
                  "Then rebuild the file (VACUUM), switching an old database to incremental auto-vacuum; "
                  "needs exclusive access: stop webhookd first");
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            PurgeOptions options;
            options.completedBeforeMs = ctx.clock().nowMs() - durationMs(f->olderThan);
            options.batchSize = f->batch;
            if (f->statusOpt->count())
                options.statuses = parseDeliveryStatus(f->status) == DeliveryStatus::Delivered
                    ? PurgeStatuses::Delivered
                    : PurgeStatuses::DeadLetter;
            ProgressLine line;
            PurgeProgress progress;
            if (line.enabled())
                progress = [&line](const PurgeResult& r) {
                    line.show(fmt::format("purged {} deliveries, {} attempts, {} events; {} pages given back",
                                          r.deliveries, r.attempts, r.events, r.pagesFreed));
                };
            auto r = purgeTerminal(**db, options, progress);
            line.done();
            if (!r)
                return report(r.error());
            std::optional<VacuumResult> vacuumed;
            if (f->vacuum) {
                line.show("vacuuming the database file");
                auto v = vacuumDatabase(**db);
                line.done();
                if (!v)
                    return report(Error(v.error().kind(),
                                        v.error().message() + " (the purge itself is done: " +
                                            std::to_string(r->deliveries) + " deliveries deleted)"));
                vacuumed = *v;
            }
            if (ctx.json) {
                nlohmann::json j = {{"deliveries", r->deliveries},  {"attempts", r->attempts},
                                    {"events", r->events},          {"completed_before", options.completedBeforeMs},
                                    {"pages_freed", r->pagesFreed}, {"incremental_vacuum", r->incremental}};
                if (vacuumed)
                    j["vacuum"] = {{"pages_before", vacuumed->pagesBefore},
                                   {"pages_after", vacuumed->pagesAfter},
                                   {"switched_to_incremental", vacuumed->switchedToIncremental}};
                printJson(j);
                return kOk;
            }
            std::cout << fmt::format("purged {} deliveries ({} attempts, {} events) completed before {}", r->deliveries,
                                     r->attempts, r->events, isoTime(options.completedBeforeMs));
            if (vacuumed)
                std::cout << fmt::format("; vacuumed the file from {} to {} pages{}\n", vacuumed->pagesBefore,
                                         vacuumed->pagesAfter,
                                         vacuumed->switchedToIncremental ? ", now with incremental auto-vacuum" : "");
            else if (r->incremental)
                std::cout << fmt::format("; {} free pages given back\n", r->pagesFreed);
            else if (r->reusedInPlace)
                std::cout << "; PostgreSQL's autovacuum reuses the space\n";
            else
                std::cout << "; the file keeps its size (it predates auto-vacuum: run purge --vacuum once while "
                             "webhookd is stopped)\n";
            return kOk;
        };
    });
}

void addMigrateStoreCommand(CLI::App& app, Context& ctx)
{
    struct Flags {
        std::string from, to;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("migrate-store",
                                   "Copy a whole store into an empty one, history included, e.g. from a SQLite file "
                                   "to PostgreSQL, and check the counts; stop webhookd first");
    cmd->add_option("--from", f->from, "The store copied: a file, sqlite:FILE or postgres://…")->required();
    cmd->add_option("--to", f->to, "The empty store written: postgres://… (its tables are created), or a new file")
        ->required();
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f] {
            OpenOptions in;
            in.migrate = false;
            in.busyTimeoutMs = static_cast<int>(durationMs(ctx.busyTimeout));
            auto from = Database::open(f->from, in);
            if (!from)
                return report(from.error());
            OpenOptions out = in;
            out.create = true;
            out.migrate = true;
            auto to = Database::open(f->to, out);
            if (!to)
                return report(to.error());
            ProgressLine line;
            CopyProgress progress;
            if (line.enabled())
                progress = [&line](const std::string& table, int64_t rows) {
                    line.show(fmt::format("copying {}: {} rows", table, rows));
                };
            auto copied = copyStore(*from, *to, progress);
            line.done();
            if (!copied)
                return report(copied.error());
            if (ctx.json) {
                nlohmann::json tables = nlohmann::json::object(), changed = nlohmann::json::object();
                for (const auto& c : *copied) {
                    tables[c.table] = c.rows;
                    if (c.changed > 0)
                        changed[c.table] = c.changed;
                }
                printJson({{"from", from->path()},
                           {"to", to->path()},
                           {"tables", tables},
                           {"changed_values", changed},
                           {"counts_checked", true},
                           {"contents_checked", true}});
                return kOk;
            }
            std::string summary, changed;
            for (const auto& c : *copied) {
                summary += (summary.empty() ? "" : ", ") + std::to_string(c.rows) + " " + c.table;
                if (c.changed > 0)
                    changed += (changed.empty() ? "" : ", ") + std::to_string(c.changed) + " in " + c.table;
            }
            std::cout << "copied " << summary << " from " << from->path() << " to " << to->path()
                      << "; the counts and contents match";
            if (!changed.empty())
                std::cout << "; text values with U+0000 or ill-formed UTF-8 written with U+FFFD instead: " << changed;
            std::cout << "\n";
            return kOk;
        };
    });
}

void addBackupCommand(CLI::App& app, Context& ctx)
{
    auto file = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("backup",
                                   "Write a consistent copy of a live SQLite store to a new file, while "
                                   "webhookd runs (PostgreSQL: use pg_dump)");
    cmd->add_option("FILE", *file, "The new file (mode 0600); restore by putting it in the store's place")->required();
    cmd->callback([&ctx, file] {
        ctx.action = [&ctx, file] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            namespace fs = std::filesystem;
            std::error_code ec;
            const auto total = fs::file_size((*db)->path(), ec);
            // The copy is one statement: the line follows the new file's size.
            ProgressLine line;
            std::mutex m;
            std::condition_variable cv;
            bool finished = false;
            std::thread watcher;
            if (line.enabled())
                watcher = std::thread([&] {
                    std::unique_lock lock(m);
                    while (!cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return finished; })) {
                        std::error_code e;
                        const auto written = fs::file_size(*file, e);
                        line.show(fmt::format("backing up: {:.1f} of about {:.1f} MiB", (e ? 0 : written) / 1048576.0,
                                              (ec ? 0 : total) / 1048576.0));
                    }
                });
            auto done = backupStore(**db, *file);
            {
                std::lock_guard lock(m);
                finished = true;
            }
            cv.notify_all();
            if (watcher.joinable())
                watcher.join();
            line.done();
            if (!done)
                return reportInput(done.error());
            const auto bytes = fs::file_size(*file, ec);
            if (ctx.json)
                printJson({{"from", (*db)->path()}, {"to", *file}, {"bytes", ec ? 0 : bytes}});
            else
                std::cout << "backed up " << (*db)->path() << " to " << *file << " ("
                          << fmt::format("{:.1f}", (ec ? 0 : bytes) / 1048576.0) << " MiB)\n";
            return kOk;
        };
    });
}

} // namespace webhookd::cli
