#include "context.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <unistd.h>

#include "records/batch_line.h"
#include "storage/events.h"

namespace webhookd::cli {

namespace {

struct SendFlags {
    std::string type, data = "{}", idempotencyKey, batch;
    int priority = 0;
    std::vector<std::string> targets;
    CLI::Option* keyOpt = nullptr;
    CLI::Option* batchOpt = nullptr;
    CLI::Option* dataOpt = nullptr;
};

Result<std::string> readSource(const std::string& source, const char* what)
{
    if (source == "-") {
        std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        return text;
    }
    std::ifstream in(source, std::ios::binary);
    if (!in)
        return fail(Error::notFound(std::string("could not read the ") + what + " file " + source));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void printResult(const Context& ctx, const SendResult& r)
{
    if (ctx.json) {
        std::cout << sendResultJson(r).dump() << '\n';
        return;
    }
    for (int64_t id : r.deliveryIds)
        std::cout << id << '\n';
}

int sendOne(Context& ctx, const SendFlags& f)
{
    if (f.type.empty()) {
        std::cerr << "webhookctl: send needs an event TYPE (or --batch).\n";
        return kUsage;
    }
    EventInput e;
    e.type = f.type;
    e.priority = f.priority;
    e.targets = f.targets;
    if (f.keyOpt->count() > 0)
        e.idempotencyKey = f.idempotencyKey;
    if (f.data == "-" || (!f.data.empty() && f.data[0] == '@')) {
        auto text = readSource(f.data == "-" ? "-" : f.data.substr(1), "payload");
        if (!text)
            return report(text.error());
        e.payload = *text;
    } else {
        e.payload = f.data;
    }
    auto db = ctx.db();
    if (!db)
        return report(db.error());
    auto r = sendEvent(**db, e, ctx.clock(), ctx.limits());
    if (!r)
        return report(r.error());
    if (r->duplicate)
        std::cerr << "webhookctl: idempotency key seen before; these are the deliveries of event " << r->uid << ".\n";
    else if (r->deliveryIds.empty())
        std::cerr << "webhookctl: event " << r->uid << " matched no target; it is stored without deliveries.\n";
    printResult(ctx, *r);
    return kOk;
}

int sendBatchFile(Context& ctx, const SendFlags& f)
{
    if (!f.type.empty() || f.dataOpt->count() > 0 || !f.targets.empty() || f.keyOpt->count() > 0) {
        std::cerr << "webhookctl: with --batch, give type, data, targets and keys on each line, not as arguments.\n";
        return kUsage;
    }
    auto text = readSource(f.batch.empty() ? "-" : f.batch, "batch");
    if (!text)
        return report(text.error());
    const bool tty = isatty(STDERR_FILENO) != 0;
    std::vector<EventInput> events;
    std::vector<size_t> lineOf;
    std::string_view all(*text);
    size_t lineNo = 0;
    while (!all.empty()) {
        size_t nl = all.find('\n');
        std::string_view line = all.substr(0, nl);
        all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
        ++lineNo;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos)
            continue;
        auto e = parseBatchLine(line);
        if (!e)
            return report(Error::invalid("line " + std::to_string(lineNo) + ": " + e.error().message() +
                                         "; nothing was recorded"));
        events.push_back(std::move(*e));
        lineOf.push_back(lineNo);
        if (tty && events.size() % 10000 == 0)
            std::cerr << "\rread " << events.size() << " events" << std::flush;
    }
    if (events.empty())
        return report(Error::invalid("the batch holds no events"));
    auto db = ctx.db();
    if (!db)
        return report(db.error());
    Progress progress;
    if (tty)
        progress = [](size_t done, size_t total) {
            std::cerr << "\rrecording " << done << "/" << total << " events" << std::flush;
        };
    auto r = sendBatch(**db, events, ctx.clock(), ctx.limits(), progress);
    if (tty)
        std::cerr << '\n';
    if (!r) {
        // sendBatch names the event by position; people need the line.
        std::string msg = r.error().message();
        if (msg.rfind("event ", 0) == 0) {
            size_t n = std::stoul(msg.substr(6));
            msg = "line " + std::to_string(lineOf[n - 1]) + msg.substr(msg.find(':'));
        }
        return report(Error(r.error().kind(), msg + "; nothing was recorded"));
    }
    size_t deliveries = 0, unmatched = 0, duplicates = 0;
    for (const auto& one : *r) {
        printResult(ctx, one);
        deliveries += one.deliveryIds.size();
        unmatched += one.deliveryIds.empty() && !one.duplicate;
        duplicates += one.duplicate;
    }
    if (tty || unmatched > 0 || duplicates > 0)
        std::cerr << "webhookctl: recorded " << r->size() << " events, " << deliveries << " deliveries"
                  << (unmatched ? ", " + std::to_string(unmatched) + " matched no target" : "")
                  << (duplicates ? ", " + std::to_string(duplicates) + " repeated idempotency keys" : "") << ".\n";
    return kOk;
}

} // namespace

void addSendCommand(CLI::App& app, Context& ctx)
{
    auto f = std::make_shared<SendFlags>();
    auto* cmd = app.add_subcommand("send", "Record an event; prints one delivery id per line");
    cmd->add_option("TYPE", f->type, "Event type, e.g. cost.alert");
    f->dataOpt = cmd->add_option("--data", f->data, "Payload: JSON text, @FILE, or - for standard input (default {})");
    cmd->add_option("--priority", f->priority, "Higher is sent first (-1000..1000, default 0)");
    cmd->add_option("--target", f->targets, "Send only to this target (repeatable); skips filters");
    f->keyOpt = cmd->add_option("--idempotency-key", f->idempotencyKey,
                                "A repeated key prints the original delivery ids instead of recording again");
    f->batchOpt =
        cmd->add_option("--batch", f->batch, "Record NDJSON events from FILE or - (standard input), all or none")
            ->expected(0, 1);
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f] { return f->batchOpt->count() > 0 ? sendBatchFile(ctx, *f) : sendOne(ctx, *f); };
    });
}

} // namespace webhookd::cli
