#pragma once

// The states of a delivery (DESIGN.md, Delivery states) and the named sets
// the rest of the code asks about. The only place their names are spelled,
// besides the migrations and SQL built from toString().

#include <array>
#include <optional>
#include <span>
#include <string_view>

namespace webhookd {

enum class DeliveryStatus {
    Pending,     // due at next_attempt_at, never attempted or requeued
    InProgress,  // leased by a worker, a request in flight
    Failed,      // the last attempt failed; a retry is scheduled
    RateLimited, // deferred for want of a token in the target's bucket
    Delivered,   // a 2xx answer: finished
    DeadLetter,  // given up on: finished; its dead_letters row says why
    Waiting,     // ordered: the delivery ahead of it in its group is not finished
};

// The name stored in deliveries.status and printed everywhere: "pending",
// "in_progress", "failed", "rate_limited", "delivered", "dead_letter", "waiting".
std::string_view toString(DeliveryStatus status);

// The status with that exact name; nullopt for anything else.
std::optional<DeliveryStatus> parseDeliveryStatus(std::string_view name);

namespace status_set {

// Every status, in the order listings show them.
inline constexpr std::array kAll = {DeliveryStatus::Pending,   DeliveryStatus::InProgress,
                                    DeliveryStatus::Failed,    DeliveryStatus::RateLimited,
                                    DeliveryStatus::Delivered, DeliveryStatus::DeadLetter,
                                    DeliveryStatus::Waiting};
// What a claim may take once due: the deliveries_due index covers exactly these.
inline constexpr std::array kClaimable = {DeliveryStatus::Pending, DeliveryStatus::Failed, DeliveryStatus::RateLimited};
// Not yet delivered or dead-lettered: the claimable ones and those in flight.
// Waiting is not among them: a waiting delivery goes on only after one of
// these in its group finishes (or a person releases a blocking dead letter),
// so when none is left, --drain is done.
inline constexpr std::array kUnfinished = {DeliveryStatus::Pending, DeliveryStatus::Failed, DeliveryStatus::RateLimited,
                                           DeliveryStatus::InProgress};
// Finished for good (until a person redrives them): what purge deletes and
// delivery resend takes.
inline constexpr std::array kFinished = {DeliveryStatus::Delivered, DeliveryStatus::DeadLetter};

} // namespace status_set

constexpr bool isIn(DeliveryStatus s, std::span<const DeliveryStatus> set)
{
    for (DeliveryStatus x : set)
        if (x == s)
            return true;
    return false;
}

constexpr bool isClaimable(DeliveryStatus s) { return isIn(s, status_set::kClaimable); }
constexpr bool isFinished(DeliveryStatus s) { return isIn(s, status_set::kFinished); }

// "pending, in_progress, … or dead_letter": every name, for messages.
std::string_view allStatusNames();

} // namespace webhookd
