#pragma once

// A delivery target as stored, and a change to one as given.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "retry/retry.h"
#include "signing/signing.h"

namespace webhookd {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A secret replaced by a rotation that still signs until expiresAt.
// What a delivery's body is: the envelope {id, type, timestamp, data}, or
// the payload alone (as Svix, Convoy and Hook0 send it).
enum class BodyFormat { Envelope, Data };
std::optional<BodyFormat> parseBodyFormat(std::string_view text);
std::string_view bodyFormatName(BodyFormat format);

// Ordered delivery (DESIGN.md "Ordering and payload filters"): none, the
// whole target one at a time (fifo), or one at a time per ordering key.
enum class Ordering { None, Fifo, Key };
std::optional<Ordering> parseOrdering(std::string_view text);
std::string_view orderingName(Ordering ordering);
// What a dead letter does to its ordering group: lets it go on, or holds it
// until `dlq release` or `dlq retry`.
enum class OrderingDeadLetter { Skip, Block };
std::optional<OrderingDeadLetter> parseOrderingDeadLetter(std::string_view text);
std::string_view orderingDeadLetterName(OrderingDeadLetter mode);

struct PreviousSecret {
    std::string secret;
    int64_t expiresAt = 0;
};

// At most this many previous secrets sign at once (previous_secret and
// older_secrets together).
inline constexpr size_t kMaxPreviousSecrets = 10;

struct Target {
    std::string id;
    std::string name;
    std::string url;
    std::string secret;
    std::optional<std::string> previousSecret;
    std::optional<int64_t> previousSecretExpiresAt;
    std::vector<PreviousSecret> olderSecrets; // before previousSecret, newest first
    bool enabled = true;
    std::vector<std::string> eventFilters; // empty: every event
    // A payload filter (routing/payload_filter.h) as compact JSON; nullopt:
    // every payload. Fan-out needs it and eventFilters to hold.
    std::optional<std::string> payloadFilter;
    HeaderList headers;
    std::optional<int64_t> timeoutMs; // nullopt: the worker's default
    RetryPolicy retry;
    std::optional<double> ratePerSecond;
    std::optional<int> burst;
    bool rateLimitEnabled = false;
    // Flow control (DESIGN.md "Flow control per target"). maxInFlight: the
    // hard cap across every worker. minRate and rateStep bound and pace
    // adaptive throttling (nullopt: the defaults, 1/s and 1/s).
    std::optional<int> maxInFlight;
    std::optional<double> minRate;
    std::optional<double> rateStep;
    std::map<std::string, std::string> metadata;
    SignatureScheme signatureScheme = SignatureScheme::Standard;
    std::optional<std::string> caBundle; // PEM file; nullopt: the worker's CA bundle
    // The application (tenant) it belongs to: fan-out gives it that
    // application's events only. nullopt: none (events sent without one).
    std::optional<std::string> appId;
    BodyFormat bodyFormat = BodyFormat::Envelope;
    Ordering ordering = Ordering::None;
    OrderingDeadLetter orderingDeadLetter = OrderingDeadLetter::Skip;
    // Written by the worker. The circuit breaker: failed attempts in a row,
    // and while it is open, until when no delivery is claimed (one probe
    // after that). disabledReason: why the worker disabled it (410 Gone).
    int consecutiveFailures = 0;
    std::optional<int64_t> pausedUntil;
    std::optional<int64_t> pausedAt;
    std::optional<std::string> pausedReason;
    std::optional<std::string> disabledReason;
    // Written by the worker: adaptive throttling. rateCurrent: the rate the
    // receiver's overload signals brought it down to (nullopt: not
    // throttled); when it last changed, and when and why it was last cut.
    std::optional<double> rateCurrent;
    std::optional<int64_t> rateAdjustedAt;
    std::optional<int64_t> rateSignalAt;
    std::optional<std::string> rateSignal;
    int64_t createdAt = 0;
    int64_t updatedAt = 0;
    // Set when the stored row could not be read whole (a column edited by
    // hand with SQL that the schema's CHECKs let through): what is wrong. The
    // worker delivers nothing to such a target; it disables it with this as
    // the reason, so the rest go on.
    std::optional<std::string> rowError;
};

// A target's settings as given to add or update: unset fields keep their
// current value (or the default, for add).
struct TargetSpec {
    std::optional<std::string> name;
    std::optional<std::string> url;
    std::optional<std::string> secret;
    std::optional<std::vector<std::string>> eventFilters;
    std::optional<std::string> payloadFilter; // an empty string clears it
    std::optional<HeaderList> headers;
    std::optional<int64_t> timeoutMs;
    std::optional<int> maxAttempts;
    std::optional<int64_t> initialDelayMs;
    std::optional<int64_t> maxDelayMs;
    std::optional<double> backoffMultiplier;
    std::optional<double> jitterFactor;
    std::optional<std::vector<int64_t>> retrySchedule; // empty: exponential backoff
    std::optional<double> ratePerSecond;
    std::optional<int> burst;
    std::optional<bool> rateLimitEnabled;
    std::optional<int> maxInFlight; // 0 clears the cap
    std::optional<double> minRate;
    std::optional<double> rateStep;
    std::optional<std::map<std::string, std::string>> metadata;
    std::optional<bool> enabled;
    std::optional<SignatureScheme> signatureScheme;
    std::optional<std::string> caBundle; // an empty string clears it
    std::optional<std::string> appId;    // an empty string clears it
    std::optional<BodyFormat> bodyFormat;
    std::optional<Ordering> ordering;
    std::optional<OrderingDeadLetter> orderingDeadLetter;
};

} // namespace webhookd
