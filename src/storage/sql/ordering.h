#pragma once

// storage/ internals: ordered delivery (DESIGN.md "Ordering and payload
// filters"). A group is a target's deliveries with one ordering_group ('' for
// fifo, the event's key for key). At most one of a group is unfinished
// (pending, in_progress, failed, rate_limited) or a blocking dead letter;
// the rest are 'waiting' and go in id order, one as the one ahead finishes.
// Every decision about a group runs under its lock (PostgreSQL: an advisory
// lock for the transaction; SQLite: the one writer), so sessions side by
// side decide a group in turn. The claim knows nothing of this: waiting rows
// are simply not in the claimable index.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/delivery_status.h"
#include "model/target.h"
#include "storage/sql/driver.h"

namespace webhookd::detail {

// The group a new delivery of an event joins at a target; nullopt:
// unordered (the target's ordering is none, or key and the event has none).
std::optional<std::string> orderingGroupOf(Ordering ordering, const std::optional<std::string>& orderingKey);

// The status a new delivery of the group starts in: waiting when anything
// of the group is ahead of it, pending otherwise. Takes the group's lock.
// The statements are the caller's (prepared once for a batch of events).
struct JoinStatements {
    explicit JoinStatements(sql::Connection& c);
    sql::Statement lock, busy;
};
DeliveryStatus joinGroup(JoinStatements& st, const std::string& targetId, const std::string& group);

// After deliveries finished (delivered or dead-lettered) in the caller's
// transaction: dead letters of targets that block hold their group, and
// every other group among them lets its next delivery go. ids: deliveries of
// ordered targets only (others need nothing). The statements are the
// caller's (a worker's queue prepares them once).
struct FinishStatements {
    explicit FinishStatements(sql::Connection& c);
    sql::Statement lockMany, blockMany, promoteMany;
};
void afterFinished(FinishStatements& st, const std::vector<int64_t>& ids, int64_t now);

// After a delivery was put back in the queue (dlq retry, resend): it waits
// when its group has one ahead of it; otherwise it is the group's next. The
// statements are the caller's (prepared once for a whole redrive).
struct RequeueStatements {
    explicit RequeueStatements(sql::Connection& c);
    sql::Statement of, lock, requeued;
};
void afterRequeued(RequeueStatements& st, int64_t id);

// Lets the group a blocking dead letter holds go on; the dead letter stays
// dead. False when id is not a dead letter that blocks its group.
bool releaseGroup(sql::Connection& c, int64_t id, int64_t now);

// The target's ordering changed: its waiting deliveries go, and none of its
// unfinished deliveries belongs to a group any more.
void resetGroups(sql::Connection& c, const std::string& targetId, int64_t now);

} // namespace webhookd::detail
