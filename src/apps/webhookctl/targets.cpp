#include "context.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "apps/common/usage.h"
#include "core/duration.h"
#include "core/utf8.h"
#include "delivery/address_guard.h"
#include "model/target_rules.h"
#include "ratelimit/aimd.h"
#include "records/text_specs.h"
#include "routing/payload_filter.h"
#include "storage/settings.h"
#include "storage/targets.h"

namespace webhookd::cli {

namespace {

// The flags shared by `target add` and `target update`, as given.
struct TargetFlags {
    std::string id, url, name, secret, secretFile, events, timeout, initialDelay, maxDelay, scheme, caBundle,
        retrySchedule, app, body, filter, ordering, orderingDeadLetter;
    std::vector<std::string> headers, metadata;
    int maxAttempts = 0, burst = 0, maxInFlight = 0;
    double backoff = 0, jitter = 0, rate = 0, minRate = 0, rateStep = 0;
    bool noRateLimit = false, disabled = false, noFilter = false;
    std::map<std::string, CLI::Option*> opts;

    // The retry policy's flags, shared with `defaults set`.
    void addRetry(CLI::App* cmd)
    {
        opts["max-attempts"] = cmd->add_option("--max-attempts", maxAttempts,
                                               "Attempts before the dead-letter queue (default: the store's, "
                                               "webhookctl defaults show)")
                                   ->check(integer(1, 1000));
        opts["initial-delay"] = cmd->add_option("--initial-delay", initialDelay,
                                                "First retry delay of the exponential formula (default 1s; "
                                                "giving it chooses the formula)")
                                    ->check(duration());
        opts["max-delay"] = cmd->add_option("--max-delay", maxDelay,
                                            "Longest retry delay of the exponential formula (default 60s; "
                                            "giving it chooses the formula)")
                                ->check(duration());
        opts["backoff"] =
            cmd->add_option("--backoff", backoff, "Backoff multiplier, 1 to 100 (default 2)")->check(number(1, 100));
        opts["jitter"] = cmd->add_option("--jitter", jitter, "Jitter factor 0..1 (default 0.1)")->check(number(0, 1));
        opts["retry-schedule"] = cmd->add_option(
            "--retry-schedule", retrySchedule,
            "standard-webhooks (the default unless webhookctl defaults set says otherwise), svix, exponential (the "
            "formula: 5 attempts, --initial-delay 1s, --max-delay 60s, --backoff 2), or delays like 10s,1m,1h (sets "
            "--max-attempts to one more than the delays unless given)");
    }

    void add(CLI::App* cmd, bool adding)
    {
        cmd->add_option("ID", id, "Target id: letters, digits, '_', '.', '-'")->required();
        opts["url"] = cmd->add_option("--url", url, "Where deliveries are POSTed (http or https)");
        if (adding)
            opts["url"]->required();
        opts["name"] = cmd->add_option("--name", name, "A name for people");
        opts["secret"] = cmd->add_option("--secret", secret,
                                         "Signing secret (whsec_<base64> or any string; generated if omitted; - reads "
                                         "it from standard input)");
        opts["secret-file"] = cmd->add_option("--secret-file", secretFile, "Read the signing secret from this file")
                                  ->excludes(opts["secret"]);
        opts["events"] =
            cmd->add_option("--events", events, "Comma-separated event-type patterns, * wildcards (empty = all)");
        opts["filter"] = cmd->add_option("--filter", filter,
                                         "Payload filter: JSON, @FILE or -; only events whose data match get a "
                                         "delivery (README \"Payload filters\")");
        opts["no-filter"] =
            cmd->add_flag("--no-filter", noFilter, "Remove the payload filter")->excludes(opts["filter"]);
        opts["header"] =
            cmd->add_option("--header", headers, "Custom header NAME:VALUE (repeatable; replaces all on update)");
        opts["timeout"] = cmd->add_option("--timeout", timeout, "Request timeout, 1ms to 1h (default: the worker's)")
                              ->check(duration());
        addRetry(cmd);
        opts["rate"] =
            cmd->add_option("--rate", rate, "Requests per second; turns rate limiting on")->check(number(0, 1e6, true));
        opts["burst"] = cmd->add_option("--burst", burst, "Token-bucket size (default: the rate, at least 1)")
                            ->check(integer(1, 1'000'000));
        opts["no-rate-limit"] = cmd->add_flag("--no-rate-limit", noRateLimit, "Turn rate limiting off");
        opts["max-in-flight"] =
            cmd->add_option("--max-in-flight", maxInFlight,
                            "At most this many requests to the target at once, across every worker (0: no cap)")
                ->check(integer(0, 10'000));
        opts["min-rate"] = cmd->add_option("--min-rate", minRate,
                                           "The lowest rate adaptive throttling goes down to, per second (default 1)")
                               ->check(number(0, 1e6, true));
        opts["rate-step"] =
            cmd->add_option("--rate-step", rateStep,
                            "How much a throttled rate climbs back per second of successes, per second (default 1)")
                ->check(number(0, 1e6, true));
        opts["metadata"] = cmd->add_option("--metadata", metadata,
                                           "KEY=VALUE kept with the target (repeatable; replaces all on update)");
        opts["disabled"] = cmd->add_flag("--disabled", disabled, "Store the target disabled");
        opts["scheme"] = cmd->add_option("--scheme", scheme, "Signature scheme: standard (default) or github")
                             ->check(oneOf({"standard", "github"}));
        opts["ca-bundle"] = cmd->add_option("--ca-bundle", caBundle,
                                            "PEM file of CA certificates trusted for this target ('' clears it)");
        opts["app"] = cmd->add_option("--app", app,
                                      "The application (tenant) it belongs to: it then receives only events sent "
                                      "with this app id ('' clears it)");
        opts["ordering"] =
            cmd->add_option("--ordering", ordering,
                            "none (default), fifo (one delivery at a time, in order), or key (one at a time per "
                            "event's --ordering-key)")
                ->check(oneOf({"none", "fifo", "key"}));
        opts["ordering-dead-letter"] =
            cmd->add_option("--ordering-dead-letter", orderingDeadLetter,
                            "Under ordering, what a dead letter does to its group: skip (default: the rest go on) "
                            "or block (they wait for dlq release or dlq retry)")
                ->check(oneOf({"skip", "block"}));
        opts["body"] = cmd->add_option("--body", body,
                                       "What is POSTed: envelope ({id, type, timestamp, data}, the default) or data "
                                       "(the payload alone)")
                           ->check(oneOf({"envelope", "data"}));
    }

    bool anyGiven() const
    {
        return std::any_of(opts.begin(), opts.end(), [](const auto& o) { return o.second->count() > 0; });
    }

    bool given(const char* flag) const
    {
        auto it = opts.find(flag);
        return it != opts.end() && it->second->count() > 0;
    }

    Result<TargetSpec> spec() const
    {
        TargetSpec s;
        if (given("url"))
            s.url = url;
        if (given("name"))
            s.name = name;
        if (given("secret") || given("secret-file")) {
            auto read = readSecret(secret, secretFile, "secret");
            if (!read)
                return fail(read.error());
            if (auto strong = validateGivenSecret(*read); !strong)
                return fail(strong.error());
            s.secret = std::move(*read);
        }
        if (given("events"))
            s.eventFilters = parsePatternList(events);
        if (given("filter")) {
            auto text = payloadArgument(filter, 1 << 20); // the filter's own limit is checked below
            if (!text)
                return fail(text.error());
            auto f = PayloadFilter::parse(*text);
            if (!f)
                return fail(f.error());
            s.payloadFilter = f->text();
        }
        if (noFilter)
            s.payloadFilter = std::string();
        if (given("header")) {
            auto list = parseHeaderSpecs(headers);
            if (!list)
                return fail(list.error());
            s.headers = std::move(*list);
        }
        if (given("timeout")) {
            s.timeoutMs = durationMs(timeout);
            if (*s.timeoutMs < 1 || *s.timeoutMs > 3'600'000)
                return fail(Error::invalid("--timeout must be from 1ms to 1h"));
        }
        if (given("max-attempts"))
            s.maxAttempts = maxAttempts;
        if (given("initial-delay"))
            s.initialDelayMs = durationMs(initialDelay);
        if (given("max-delay"))
            s.maxDelayMs = durationMs(maxDelay);
        if (given("backoff"))
            s.backoffMultiplier = backoff;
        if (given("jitter"))
            s.jitterFactor = jitter;
        if (given("rate"))
            s.ratePerSecond = rate;
        if (given("burst"))
            s.burst = burst;
        if (noRateLimit)
            s.rateLimitEnabled = false;
        if (given("retry-schedule")) {
            auto schedule = parseRetrySchedule(retrySchedule);
            if (!schedule)
                return fail(schedule.error());
            s.retrySchedule = std::move(*schedule);
        }
        if (given("max-in-flight"))
            s.maxInFlight = maxInFlight;
        if (given("min-rate"))
            s.minRate = minRate;
        if (given("rate-step"))
            s.rateStep = rateStep;
        if (given("metadata")) {
            auto m = parseMetadata(metadata);
            if (!m)
                return fail(m.error());
            s.metadata = std::move(*m);
        }
        if (disabled)
            s.enabled = false;
        if (given("scheme"))
            s.signatureScheme = parseSignatureScheme(scheme);
        if (given("app"))
            s.appId = app;
        if (given("body"))
            s.bodyFormat = parseBodyFormat(body);
        if (given("ordering"))
            s.ordering = parseOrdering(ordering);
        if (given("ordering-dead-letter"))
            s.orderingDeadLetter = parseOrderingDeadLetter(orderingDeadLetter);
        if (given("ca-bundle")) {
            if (caBundle.empty()) {
                s.caBundle = std::string();
            } else {
                // webhookd may run elsewhere: store an absolute path, and
                // catch a typo now rather than at the first delivery.
                std::error_code ec;
                if (!std::filesystem::is_regular_file(caBundle, ec))
                    return fail(Error::invalid("the CA bundle " + caBundle + " is not a readable file"));
                s.caBundle = std::filesystem::absolute(caBundle, ec).lexically_normal().string();
            }
        }
        return s;
    }
};

std::string retryText(const Target& t)
{
    if (!t.retry.schedule.empty())
        return std::to_string(t.retry.maxAttempts) + "x " + retryScheduleName(t.retry.schedule);
    return std::to_string(t.retry.maxAttempts) + "x " + formatDuration(t.retry.initialDelayMs) + ".." +
        formatDuration(t.retry.maxDelayMs);
}

std::string rateText(const Target& t)
{
    const auto rate = effectiveRate(t.rateCurrent, configuredRate(t));
    if (!rate)
        return "-";
    return fmt::format("{:g}/s", *rate) + (t.rateCurrent ? " throttled" : "");
}

void printTarget(const Target& t, bool showSecret)
{
    auto row = [](const char* k, const std::string& v) {
        std::cout << k << std::string(20 - std::string(k).size(), ' ') << utf8::printable(v) << '\n';
    };
    row("id", t.id);
    row("name", t.name.empty() ? "-" : t.name);
    row("url", shownUrl(t.url, showSecret));
    row("enabled", t.enabled ? "yes" : t.disabledReason ? "no: " + *t.disabledReason : "no");
    if (t.pausedUntil)
        row("breaker",
            "open since " + isoTime(t.pausedAt.value_or(*t.pausedUntil)) + ", " + t.pausedReason.value_or("failing") +
                "; next probe at " + isoTime(*t.pausedUntil));
    else
        row("breaker", "closed, " + std::to_string(t.consecutiveFailures) + " failed attempts in a row");
    row("secret", showSecret ? t.secret : maskSecret(t.secret));
    if (t.previousSecretExpiresAt)
        row("previous secret",
            std::string(showSecret && t.previousSecret ? *t.previousSecret + " " : "") + "signs until " +
                isoTime(*t.previousSecretExpiresAt));
    for (const auto& o : t.olderSecrets)
        row("older secret", (showSecret ? o.secret + " " : std::string()) + "signs until " + isoTime(o.expiresAt));
    std::string filters;
    for (const auto& f : t.eventFilters)
        filters += (filters.empty() ? "" : ",") + f;
    row("events", filters.empty() ? "* (all)" : filters);
    row("filter", t.payloadFilter ? *t.payloadFilter : "none (every payload)");
    row("ordering",
        t.ordering == Ordering::None ? std::string("none")
                                     : std::string(orderingName(t.ordering)) + ", a dead letter " +
                (t.orderingDeadLetter == OrderingDeadLetter::Block ? "blocks its group (block)"
                                                                   : "lets its group go on (skip)"));
    for (const auto& [k, v] : t.headers)
        row("header", k + ": " + shownHeaderValue(k, v, showSecret));
    row("signature", std::string(signatureSchemeName(t.signatureScheme)));
    if (t.caBundle)
        row("CA bundle", *t.caBundle);
    if (t.appId)
        row("application", *t.appId);
    if (t.bodyFormat == BodyFormat::Data)
        row("body", "the payload alone (--body data)");
    row("timeout", t.timeoutMs ? formatDuration(*t.timeoutMs) : "worker default");
    row("retries", describeRetryPolicy(t.retry));
    const auto configured = configuredRate(t);
    row("rate limit",
        configured ? fmt::format("{:g}/s, burst {:g}", *configured, t.burst ? *t.burst : std::max(1.0, *configured))
                   : "off");
    std::string adaptive = t.rateCurrent ? fmt::format("throttled to {:g}/s", *t.rateCurrent) : "not throttled";
    if (t.rateSignalAt)
        adaptive += ", last cut " + isoTime(*t.rateSignalAt) + " by " + t.rateSignal.value_or("a signal");
    adaptive += fmt::format(" (floor {:g}/s, step {:g}/s)", t.minRate.value_or(AimdPolicy{}.defaultMinRate),
                            t.rateStep.value_or(AimdPolicy{}.defaultStep));
    row("adaptive rate", adaptive);
    row("in-flight cap", t.maxInFlight ? std::to_string(*t.maxInFlight) + " across all workers" : "none");
    for (const auto& [k, v] : t.metadata)
        row("metadata", k + "=" + v);
    row("created", isoTime(t.createdAt));
    row("updated", isoTime(t.updatedAt));
}

// Why webhookd, as it starts by default, would refuse to deliver to url: its
// host is written as a loopback or private address, or as localhost.
std::optional<std::string> guardHint(const std::string& url)
{
    std::string_view rest(url);
    rest.remove_prefix(std::min(rest.size(), rest.find("://") + 3));
    std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
    host = host.substr(host.rfind('@') == std::string_view::npos ? 0 : host.rfind('@') + 1);
    if (!host.empty() && host.front() == '[')
        host = host.substr(1, host.find(']') - 1);
    else
        host = host.substr(0, host.rfind(':'));
    const std::string h(host);
    if (h != "localhost" && AddressGuard().checkText(h) == std::nullopt)
        return std::nullopt;
    if (h != "localhost" && AddressGuard().checkText(h)->find("not an IP address") != std::string::npos)
        return std::nullopt;
    return "webhookd refuses " + h +
        " unless started with --allow-private-networks or --allow-network (it is not a public address)";
}

int showOne(Context& ctx, const Result<Target>& t, bool showSecret)
{
    if (!t)
        return report(t.error());
    if (ctx.json)
        printJson(targetJson(*t, showSecret));
    else
        printTarget(*t, showSecret);
    return kOk;
}

} // namespace

void addTargetCommands(CLI::App& app, Context& ctx)
{
    auto* target = app.add_subcommand("target", "Register and manage delivery targets");
    target->require_subcommand(1);

    auto addFlags = std::make_shared<TargetFlags>();
    auto* add = target->add_subcommand("add", "Register a target");
    addFlags->add(add, true);
    add->callback([&ctx, addFlags] {
        ctx.action = [&ctx, addFlags] {
            auto spec = addFlags->spec();
            if (!spec)
                return reportInput(spec.error());
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto t = addTarget(**db, addFlags->id, *spec, ctx.clock(), ctx.limits());
            if (!t)
                return reportInput(t.error());
            // A generated secret is shown once, here; a given one is not
            // echoed, nor are the URL's password and auth-like header values.
            const bool reveal = !addFlags->given("secret") && !addFlags->given("secret-file");
            if (ctx.json) {
                auto j = targetJson(*t, false);
                if (reveal)
                    j["secret"] = t->secret;
                printJson(j);
            } else {
                std::cout << "added target " << t->id << " -> " << shownUrl(t->url, false) << '\n';
                if (reveal)
                    std::cout << "secret: " << t->secret << "\n(shown once; store it where the receiver can read it)\n";
                if (auto why = guardHint(t->url))
                    std::cerr << "webhookctl: note: " << *why << '\n';
            }
            return kOk;
        };
    });

    auto updateFlags = std::make_shared<TargetFlags>();
    auto* update = target->add_subcommand("update", "Change a target's settings (only the flags given)");
    updateFlags->add(update, false);
    auto enable = std::make_shared<bool>(false);
    update->add_flag("--enabled", *enable, "Enable the target");
    update->callback([&ctx, updateFlags, enable] {
        ctx.action = [&ctx, updateFlags, enable] {
            auto spec = updateFlags->spec();
            if (!spec)
                return reportInput(spec.error());
            if (*enable)
                spec->enabled = true;
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto t = updateTarget(**db, updateFlags->id, *spec, ctx.clock(), ctx.limits());
            if (!t)
                return reportInput(t.error());
            if (ctx.json)
                printJson(targetJson(*t, false));
            else
                std::cout << "updated target " << t->id << '\n';
            return kOk;
        };
    });

    auto showSecret = std::make_shared<bool>(false);
    auto* list = target->add_subcommand("list", "List targets");
    list->add_flag("--show-secret", *showSecret, "Print secrets instead of masking them");
    auto listApp = std::make_shared<std::string>();
    list->add_option("--app", *listApp, "Only this application's targets");
    list->callback([&ctx, showSecret, listApp] {
        ctx.action = [&ctx, showSecret, listApp] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto targets = listTargets(**db);
            if (!targets)
                return report(targets.error());
            if (!listApp->empty())
                std::erase_if(*targets, [&](const Target& t) { return t.appId != *listApp; });
            if (ctx.json) {
                auto arr = nlohmann::json::array();
                for (const auto& t : *targets)
                    arr.push_back(targetJson(t, *showSecret));
                printJson(arr);
                return kOk;
            }
            std::vector<std::vector<std::string>> rows;
            for (const auto& t : *targets) {
                std::string filters;
                for (const auto& f : t.eventFilters)
                    filters += (filters.empty() ? "" : ",") + f;
                rows.push_back({t.id,
                                !t.enabled          ? "no"
                                    : t.pausedUntil ? "paused"
                                                    : "yes",
                                shownUrl(t.url, *showSecret), filters.empty() ? "*" : filters, retryText(t),
                                rateText(t), *showSecret ? t.secret : maskSecret(t.secret)});
            }
            printTable({"ID", "ENABLED", "URL", "EVENTS", "RETRY", "RATE", "SECRET"}, rows);
            return kOk;
        };
    });

    auto showId = std::make_shared<std::string>();
    auto showSecret2 = std::make_shared<bool>(false);
    auto* show = target->add_subcommand("show", "Show one target");
    show->add_option("ID", *showId, "Target id")->required();
    show->add_flag("--show-secret", *showSecret2, "Print the secret instead of masking it");
    show->callback([&ctx, showId, showSecret2] {
        ctx.action = [&ctx, showId, showSecret2] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            return showOne(ctx, getTarget(**db, *showId), *showSecret2);
        };
    });

    struct TestFilterFlags {
        std::string id, data;
    };
    auto tf = std::make_shared<TestFilterFlags>();
    auto* testFilter = target->add_subcommand(
        "test-filter", "Check a payload against a target's filter: prints match (exit 0) or no match and why (exit 1)");
    testFilter->add_option("ID", tf->id, "Target id")->required();
    testFilter->add_option("--data", tf->data, "The payload: JSON text, @FILE, or - for standard input")->required();
    testFilter->callback([&ctx, tf] {
        ctx.action = [&ctx, tf] {
            auto text = payloadArgument(tf->data, ctx.limits().maxPayloadBytes);
            if (!text)
                return reportInput(text.error());
            const auto payload = nlohmann::json::parse(*text, nullptr, false);
            if (payload.is_discarded())
                return reportInput(Error::invalid("the payload (--data) is not valid JSON"));
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto t = getTarget(**db, tf->id);
            if (!t)
                return report(t.error());
            std::optional<std::string> why;
            if (t->payloadFilter) {
                auto f = PayloadFilter::parse(*t->payloadFilter);
                if (!f)
                    return report(Error::invalid("the target's stored filter is not a filter: " + f.error().message()));
                why = f->whyNot(payload);
            }
            if (ctx.json)
                printJson({{"target_id", t->id}, {"match", !why}, {"reason", why ? nlohmann::json(*why) : nullptr}});
            else if (why)
                std::cout << "no match: " << utf8::printable(*why) << '\n';
            else
                std::cout << (t->payloadFilter ? "match\n" : "match (the target has no filter)\n");
            return why ? kFailure : kOk;
        };
    });

    for (bool on : {true, false}) {
        auto id = std::make_shared<std::string>();
        auto* cmd = target->add_subcommand(on ? "enable" : "disable",
                                           on ? "Enable a target: its deliveries are sent again"
                                              : "Disable a target: new events skip it, its deliveries wait");
        cmd->add_option("ID", *id, "Target id")->required();
        cmd->callback([&ctx, id, on] {
            ctx.action = [&ctx, id, on] {
                auto db = ctx.db();
                if (!db)
                    return report(db.error());
                auto t = setTargetEnabled(**db, *id, on, ctx.clock());
                if (!t)
                    return report(t.error());
                if (ctx.json)
                    printJson(targetJson(*t, false));
                else
                    std::cout << (on ? "enabled" : "disabled") << " target " << t->id << '\n';
                return kOk;
            };
        });
    }

    auto removeId = std::make_shared<std::string>();
    auto* remove = target->add_subcommand("remove", "Remove a target with its deliveries and their history");
    remove->add_option("ID", *removeId, "Target id")->required();
    remove->callback([&ctx, removeId] {
        ctx.action = [&ctx, removeId] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto n = removeTarget(**db, *removeId);
            if (!n)
                return report(n.error());
            if (ctx.json)
                printJson(nlohmann::json{{"id", *removeId}, {"deliveries_removed", *n}});
            else
                std::cout << "removed target " << *removeId << " and " << *n << " deliveries\n";
            return kOk;
        };
    });

    struct RotateFlags {
        std::string id, secret, secretFile, overlap = "24h";
        CLI::Option* secretOpt = nullptr;
        CLI::Option* secretFileOpt = nullptr;
    };
    auto rot = std::make_shared<RotateFlags>();
    auto* rotate = target->add_subcommand("rotate-secret",
                                          "Replace the signing secret; the old one keeps signing during the overlap");
    rotate->add_option("ID", rot->id, "Target id")->required();
    rot->secretOpt = rotate->add_option("--secret", rot->secret,
                                        "The new secret (generated and printed once if omitted; - reads it from "
                                        "standard input)");
    rot->secretFileOpt = rotate->add_option("--secret-file", rot->secretFile, "Read the new secret from this file")
                             ->excludes(rot->secretOpt);
    rotate->add_option("--overlap", rot->overlap, "How long the previous secret keeps signing")
        ->check(duration())
        ->capture_default_str();
    rotate->callback([&ctx, rot] {
        ctx.action = [&ctx, rot] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            std::optional<std::string> given;
            if (rot->secretOpt->count() > 0 || rot->secretFileOpt->count() > 0) {
                auto read = readSecret(rot->secret, rot->secretFile, "secret");
                if (!read)
                    return reportInput(read.error());
                if (auto strong = validateGivenSecret(*read); !strong)
                    return reportInput(strong.error());
                given = std::move(*read);
            }
            auto r = rotateSecret(**db, rot->id, given, durationMs(rot->overlap), ctx.clock());
            if (!r)
                return reportInput(r.error());
            if (ctx.json) {
                nlohmann::json j = {
                    {"id", rot->id},
                    {"previous_secret_expires_at",
                     r->previousExpiresAt ? nlohmann::json(*r->previousExpiresAt) : nlohmann::json(nullptr)}};
                if (!given)
                    j["secret"] = r->secret;
                printJson(j);
            } else {
                std::cout << "rotated the secret of " << rot->id;
                if (r->previousExpiresAt)
                    std::cout << "; the previous one signs until " << isoTime(*r->previousExpiresAt);
                std::cout << '\n';
                if (!given)
                    std::cout << "secret: " << r->secret << "\n(shown once)\n";
            }
            return kOk;
        };
    });
}

} // namespace webhookd::cli

namespace webhookd::cli {

void addDefaultsCommands(CLI::App& app, Context& ctx)
{
    auto* defaults =
        app.add_subcommand("defaults", "The store-wide defaults: the retry policy of targets that set none");
    defaults->require_subcommand(1);
    auto print = [&ctx](const RetryPolicy& r) {
        if (ctx.json)
            printJson({{"retry", retryPolicyJson(r)}});
        else
            std::cout << "retries             " << describeRetryPolicy(r) << '\n';
        return kOk;
    };
    defaults->add_subcommand("show", "Print the defaults new targets start from")->callback([&ctx, print] {
        ctx.action = [&ctx, print] {
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto r = getDefaultRetry(**db);
            return r ? print(*r) : report(r.error());
        };
    });
    auto flags = std::make_shared<TargetFlags>();
    auto* set = defaults->add_subcommand(
        "set",
        "Change the default retry policy; targets added afterwards without their own start from it (existing "
        "targets keep theirs)");
    flags->addRetry(set);
    set->callback([&ctx, flags, set, print] {
        ctx.action = [&ctx, flags, set, print] {
            auto spec = flags->spec();
            if (!spec)
                return reportInput(spec.error());
            if (!flags->anyGiven())
                return usageError("give at least one of --retry-schedule, --max-attempts, --initial-delay, "
                                  "--max-delay, --backoff, --jitter",
                                  set);
            auto db = ctx.db();
            if (!db)
                return report(db.error());
            auto r = setDefaultRetry(**db, *spec, ctx.clock());
            return r ? print(*r) : reportInput(r.error());
        };
    });
}

} // namespace webhookd::cli
