#include "context.h"

#include <unistd.h>

#include <cctype>
#include <iostream>

#include "core/duration.h"

namespace webhookd::cli {

void printTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i)
        width[i] = header[i].size();
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size())
                out += std::string(width[i] - cells[i].size() + 2, ' ');
        }
        std::cout << out << '\n';
    };
    line(header);
    for (const auto& row : rows)
        line(row);
}

ProgressLine::ProgressLine() : tty_(isatty(STDERR_FILENO) != 0) {}

ProgressLine::~ProgressLine() { done(); }

void ProgressLine::show(const std::string& text)
{
    if (!tty_)
        return;
    // Clears the rest of the line: the new text may be shorter.
    std::cerr << '\r' << text << "\x1b[K" << std::flush;
    shown_ = true;
}

void ProgressLine::done()
{
    if (shown_)
        std::cerr << '\n' << std::flush;
    shown_ = false;
}

std::string orDash(const std::optional<std::string>& s) { return s && !s->empty() ? *s : "-"; }
std::string orDash(const std::optional<int>& n) { return n ? std::to_string(*n) : "-"; }
std::string timeText(std::optional<int64_t> epochMs) { return epochMs ? isoTime(*epochMs) : "-"; }

std::string maskSecret(const std::string& secret)
{
    return secret.rfind("whsec_", 0) == 0 ? "whsec_********" : "********";
}

bool isSensitiveHeader(std::string_view name)
{
    std::string lower;
    for (char c : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::string_view word : {"auth", "cookie", "token", "secret", "key", "password", "signature"})
        if (lower.find(word) != std::string::npos)
            return true;
    return false;
}

std::string shownHeaderValue(std::string_view name, const std::string& value, bool showSecret)
{
    return showSecret || !isSensitiveHeader(name) ? value : "********";
}

std::string shownUrl(const std::string& url, bool showSecret) { return showSecret ? url : redactUrl(url); }

nlohmann::json deliveryJson(const Delivery& d)
{
    using nlohmann::json;
    json j = {
        {"id", d.id},
        {"event_id", d.eventId},
        {"event_uid", d.eventUid},
        {"type", d.type},
        {"target_id", d.targetId},
        {"status", d.status},
        {"priority", d.priority},
        {"attempt_count", d.attemptCount},
        {"next_attempt_at", d.nextAttemptAt},
        {"last_status_code", d.lastStatusCode ? json(*d.lastStatusCode) : json(nullptr)},
        {"last_error", d.lastError ? json(*d.lastError) : json(nullptr)},
        {"created_at", d.createdAt},
        {"updated_at", d.updatedAt},
        {"completed_at", d.completedAt ? json(*d.completedAt) : json(nullptr)},
    };
    if (d.deadLetterReason)
        j["dead_letter_reason"] = *d.deadLetterReason;
    return j;
}

nlohmann::json targetJson(const Target& t, bool showSecret)
{
    using nlohmann::json;
    json headers = json::object();
    for (const auto& [k, v] : t.headers)
        headers[k] = shownHeaderValue(k, v, showSecret);
    json j = {
        {"id", t.id},
        {"name", t.name},
        {"url", shownUrl(t.url, showSecret)},
        {"secret", showSecret ? t.secret : maskSecret(t.secret)},
        {"previous_secret_expires_at", t.previousSecretExpiresAt ? json(*t.previousSecretExpiresAt) : json(nullptr)},
        {"enabled", t.enabled},
        {"disabled_reason", t.disabledReason ? json(*t.disabledReason) : json(nullptr)},
        {"consecutive_failures", t.consecutiveFailures},
        {"paused_until", t.pausedUntil ? json(*t.pausedUntil) : json(nullptr)},
        {"paused_at", t.pausedAt ? json(*t.pausedAt) : json(nullptr)},
        {"paused_reason", t.pausedReason ? json(*t.pausedReason) : json(nullptr)},
        {"event_filters", t.eventFilters},
        {"headers", headers},
        {"timeout_ms", t.timeoutMs ? json(*t.timeoutMs) : json(nullptr)},
        {"max_attempts", t.retry.maxAttempts},
        {"initial_delay_ms", t.retry.initialDelayMs},
        {"max_delay_ms", t.retry.maxDelayMs},
        {"backoff_multiplier", t.retry.multiplier},
        {"jitter_factor", t.retry.jitter},
        {"rate_per_second", t.ratePerSecond ? json(*t.ratePerSecond) : json(nullptr)},
        {"burst", t.burst ? json(*t.burst) : json(nullptr)},
        {"rate_limit_enabled", t.rateLimitEnabled},
        {"metadata", t.metadata},
        {"signature_scheme", std::string(signatureSchemeName(t.signatureScheme))},
        {"ca_bundle", t.caBundle ? json(*t.caBundle) : json(nullptr)},
        {"created_at", t.createdAt},
        {"updated_at", t.updatedAt},
    };
    if (showSecret && t.previousSecret)
        j["previous_secret"] = *t.previousSecret;
    return j;
}

} // namespace webhookd::cli
