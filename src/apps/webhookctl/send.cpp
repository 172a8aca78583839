#include "context.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/common/usage.h"
#include "core/text.h"
#include "records/batch_line.h"
#include "storage/events.h"

namespace webhookd::cli {

namespace {

struct SendFlags {
    std::string type, data = "{}", idempotencyKey, batch, app, orderingKey;
    int priority = 0;
    std::vector<std::string> targets;
    CLI::Option* keyOpt = nullptr;
    CLI::Option* appOpt = nullptr;
    CLI::Option* orderingKeyOpt = nullptr;
    CLI::Option* batchOpt = nullptr;
    CLI::Option* dataOpt = nullptr;
    CLI::App* cmd = nullptr;
};

struct FileCloser {
    void operator()(FILE* f) const noexcept
    {
        if (f != nullptr && f != stdin)
            std::fclose(f);
    }
};
using File = std::unique_ptr<FILE, FileCloser>;

Result<File> openSource(const std::string& source, const char* what)
{
    if (source == "-")
        return File(stdin);
    File f(std::fopen(source.c_str(), "rb"));
    if (!f)
        return fail(Error::notFound(std::string("could not read the ") + what + " file " + source));
    return f;
}

// NDJSON lines, one at a time, each at most maxBytes: the whole batch is
// never held in memory.
class LineReader {
public:
    LineReader(FILE* f, size_t maxBytes)
        : f_(f),
          max_(maxBytes)
    { }

    // The next line without its newline (and a CR before it); nullopt at the
    // end; Invalid for a line over the limit.
    Result<std::optional<std::string_view>> next()
    {
        line_.clear();
        for (;;) {
            if (pos_ == len_) {
                len_ = std::fread(buf_, 1, sizeof buf_, f_);
                pos_ = 0;
                if (len_ == 0) {
                    if (std::ferror(f_))
                        return fail(Error::storage("could not read the batch"));
                    if (line_.empty() && atEnd_)
                        return std::optional<std::string_view>();
                    atEnd_ = true;
                    if (line_.empty())
                        return std::optional<std::string_view>();
                    ++number_;
                    return std::optional<std::string_view>(trimmed());
                }
            }
            const char* start = buf_ + pos_;
            const void* nl = std::memchr(start, '\n', len_ - pos_);
            const size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : len_ - pos_;
            if (line_.size() + take > max_)
                return fail(Error::invalid("line " + std::to_string(number_ + 1) + " is longer than " +
                                           std::to_string(max_) + " bytes"));
            line_.append(start, take);
            pos_ += take;
            if (nl) {
                ++pos_;
                ++number_;
                return std::optional<std::string_view>(trimmed());
            }
        }
    }

    size_t number() const { return number_; }

private:
    std::string_view trimmed() const
    {
        std::string_view v(line_);
        while (!v.empty() && (v.back() == '\r' || v.back() == ' ' || v.back() == '\t'))
            v.remove_suffix(1);
        return v;
    }

    FILE* f_;
    size_t max_;
    char buf_[64 * 1024];
    size_t pos_ = 0, len_ = 0, number_ = 0;
    bool atEnd_ = false;
    std::string line_;
};

void printResult(const Context& ctx, const SendResult& r, FILE* out)
{
    if (ctx.json) {
        const std::string line =
            sendResultJson(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        std::fwrite(line.data(), 1, line.size(), out);
        return;
    }
    for (int64_t id : r.deliveryIds)
        std::fprintf(out, "%lld\n", static_cast<long long>(id));
}

int sendOne(Context& ctx, const SendFlags& f)
{
    if (f.type.empty())
        return usageError("send needs an event TYPE (or --batch)", f.cmd);
    EventInput e;
    e.type = f.type;
    e.priority = f.priority;
    e.targets = f.targets;
    if (f.keyOpt->count() > 0)
        e.idempotencyKey = f.idempotencyKey;
    if (f.appOpt->count() > 0)
        e.appId = f.app;
    if (f.orderingKeyOpt->count() > 0)
        e.orderingKey = f.orderingKey;
    auto text = payloadArgument(f.data, ctx.limits().maxPayloadBytes);
    if (!text)
        return reportInput(text.error());
    e.payload = std::move(*text);
    auto db = ctx.db();
    if (!db)
        return report(db.error());
    auto r = sendEvent(**db, e, ctx.clock(), ctx.limits());
    if (!r)
        return reportInput(r.error());
    if (r->duplicate)
        std::cerr << "webhookctl: idempotency key seen before; these are the deliveries of event " << r->uid << ".\n";
    else if (r->deliveryIds.empty())
        std::cerr << "webhookctl: event " << r->uid << " matched no target; it is stored without deliveries.\n";
    printResult(ctx, *r, stdout);
    return kOk;
}

int sendBatchFile(Context& ctx, const SendFlags& f)
{
    if (!f.type.empty() || f.dataOpt->count() > 0 || !f.targets.empty() || f.keyOpt->count() > 0 ||
        f.orderingKeyOpt->count() > 0)
        return usageError("with --batch, give type, data, targets and keys on each line, not as arguments", f.cmd);
    auto in = openSource(f.batch.empty() ? "-" : f.batch, "batch");
    if (!in)
        return report(in.error());
    const bool tty = isatty(STDERR_FILENO) != 0;
    // A pipe is copied to a temporary file first: the batch is recorded in
    // one transaction, and a slow producer must not hold the write lock
    // (and so webhookd) while it writes.
    File copy;
    FILE* source = in->get();
    struct stat st { };
    if (::fstat(fileno(source), &st) == 0 && !S_ISREG(st.st_mode)) {
        copy.reset(std::tmpfile());
        if (!copy)
            return report(Error::storage("could not create a temporary file for the batch"));
        char buf[64 * 1024];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, source)) > 0;)
            if (std::fwrite(buf, 1, n, copy.get()) != n)
                return report(Error::storage("could not copy the batch to a temporary file (is the disk full?)"));
        if (std::ferror(source))
            return report(Error::storage("could not read the batch"));
        std::rewind(copy.get());
        source = copy.get();
    }
    auto db = ctx.db();
    if (!db)
        return report(db.error());
    // A line carries its payload and a few fields around it.
    LineReader lines(source, ctx.limits().maxPayloadBytes + 64 * 1024);
    size_t lastLine = 0;
    EventSource next = [&]() -> Result<std::optional<EventInput>> {
        for (;;) {
            auto line = lines.next();
            if (!line)
                return fail(line.error());
            if (!*line)
                return std::optional<EventInput>();
            lastLine = lines.number();
            if ((*line)->find_first_not_of(" \t") == std::string_view::npos)
                continue;
            auto e = parseBatchLine(**line);
            if (!e)
                return fail(Error::invalid("line " + std::to_string(lastLine) + ": " + e.error().message()));
            return std::optional<EventInput>(std::move(*e));
        }
    };
    // Results wait in a temporary file until the commit: printed ids are
    // ids that exist, and memory stays flat however long the batch.
    File spool(std::tmpfile());
    if (!spool)
        return report(Error::storage("could not create a temporary file for the results"));
    size_t deliveries = 0, unmatched = 0, duplicates = 0;
    ResultSink sink = [&](const SendResult& r) {
        printResult(ctx, r, spool.get());
        deliveries += r.deliveryIds.size();
        unmatched += r.deliveryIds.empty() && !r.duplicate;
        duplicates += r.duplicate;
    };
    Progress progress;
    if (tty)
        progress = [](size_t done, size_t) {
            std::cerr << "\rrecorded " << withThousands(static_cast<int64_t>(done)) << " events" << std::flush;
        };
    auto r = sendStream(**db, next, sink, ctx.clock(), ctx.limits(), progress);
    if (tty)
        std::cerr << '\n';
    if (!r) {
        // sendStream names the event by position; people need the line.
        std::string msg = r.error().message();
        if (msg.rfind("event ", 0) == 0)
            msg = "line " + std::to_string(lastLine) + msg.substr(msg.find(':'));
        return reportInput(Error(r.error().kind(), msg + "; nothing was recorded"));
    }
    if (*r == 0)
        return reportInput(Error::invalid("the batch holds no events"));
    std::rewind(spool.get());
    char buf[64 * 1024];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, spool.get())) > 0;)
        std::fwrite(buf, 1, n, stdout);
    if (tty || unmatched > 0 || duplicates > 0)
        std::cerr << "webhookctl: recorded " << plural(static_cast<int64_t>(*r), "event", "events") << ", "
                  << plural(static_cast<int64_t>(deliveries), "delivery", "deliveries")
                  << (unmatched ? ", " + withThousands(static_cast<int64_t>(unmatched)) + " matched no target" : "")
                  << (duplicates ? ", " +
                              plural(static_cast<int64_t>(duplicates), "repeated idempotency key",
                                     "repeated idempotency keys")
                                 : "")
                  << ".\n";
    return kOk;
}

} // namespace

namespace {

// Reads a payload, never more than the limit allows (one byte more tells
// that it is over): /dev/zero or a huge file costs nothing.
Result<std::string> readPayload(const std::string& source, size_t maxBytes)
{
    auto f = openSource(source, "payload");
    if (!f)
        return fail(f.error());
    std::string text(maxBytes + 1, '\0');
    size_t got = 0;
    while (got < text.size()) {
        const size_t n = std::fread(text.data() + got, 1, text.size() - got, f->get());
        if (n == 0)
            break;
        got += n;
    }
    if (std::ferror(f->get()))
        return fail(Error::storage("could not read the payload from " + source));
    if (got > maxBytes)
        return fail(
            Error::invalid("the payload is over the limit of " + std::to_string(maxBytes) + " bytes (--max-payload)"));
    text.resize(got);
    return text;
}

} // namespace

Result<std::string> payloadArgument(const std::string& arg, size_t maxBytes)
{
    if (arg == "-" || (!arg.empty() && arg[0] == '@'))
        return readPayload(arg == "-" ? "-" : arg.substr(1), maxBytes);
    return arg;
}

void addSendCommand(CLI::App& app, Context& ctx)
{
    auto f = std::make_shared<SendFlags>();
    auto* cmd = app.add_subcommand("send", "Record an event; prints one delivery id per line");
    f->cmd = cmd;
    cmd->add_option("TYPE", f->type, "Event type, e.g. cost.alert");
    f->dataOpt = cmd->add_option("--data", f->data, "Payload: JSON text, @FILE, or - for standard input (default {})");
    cmd->add_option("--priority", f->priority, "Higher is sent first (-1000..1000, default 0)")
        ->check(integer(-1000, 1000));
    cmd->add_option("--target", f->targets, "Send only to this target (repeatable); skips filters");
    f->keyOpt = cmd->add_option("--idempotency-key", f->idempotencyKey,
                                "A repeated key prints the original delivery ids instead of recording again (the "
                                "same key with a different event is an error)");
    f->appOpt = cmd->add_option("--app", f->app, "Fan out only to the targets of this application (tenant)");
    f->orderingKeyOpt = cmd->add_option("--ordering-key", f->orderingKey,
                                        "Targets with --ordering key deliver events of one key one at a time, in "
                                        "order (1 to 256 bytes)");
    f->batchOpt =
        cmd->add_option("--batch", f->batch, "Record NDJSON events from FILE or - (standard input), all or none")
            ->expected(0, 1);
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f] { return f->batchOpt->count() > 0 ? sendBatchFile(ctx, *f) : sendOne(ctx, *f); };
    });
}

} // namespace webhookd::cli
