#include "storage/sql/ordering.h"

#include "storage/sql/bind.h"
#include "storage/sql/json_rows.h"

namespace webhookd::detail {

namespace {

// Runs a statement that returns rows nobody reads (taking locks).
void run(sql::Statement& q)
{
    while (q.executeStep()) { }
    q.reset();
}

} // namespace

std::optional<std::string> orderingGroupOf(Ordering ordering, const std::optional<std::string>& orderingKey)
{
    switch (ordering) {
    case Ordering::Fifo: return std::string();
    case Ordering::Key: return orderingKey;
    case Ordering::None: break;
    }
    return std::nullopt;
}

JoinStatements::JoinStatements(sql::Connection& c)
    : lock(c, sql::Q::OrderingLock),
      busy(c, sql::Q::OrderingBusy)
{ }

DeliveryStatus joinGroup(JoinStatements& st, const std::string& targetId, const std::string& group)
{
    run(bindAll(st.lock, targetId, group));
    // A statement of its own, after the lock: under READ COMMITTED it sees
    // what the session that held the lock committed.
    return firstInt64(st.busy, targetId, group).value_or(0) != 0 ? DeliveryStatus::Waiting : DeliveryStatus::Pending;
}

FinishStatements::FinishStatements(sql::Connection& c)
    : lockMany(c, sql::Q::OrderingLockMany),
      blockMany(c, sql::Q::OrderingBlockMany),
      promoteMany(c, sql::Q::OrderingPromoteMany)
{ }

void afterFinished(FinishStatements& st, const std::vector<int64_t>& ids, int64_t now)
{
    if (ids.empty())
        return;
    JsonRows rows;
    for (int64_t id : ids)
        rows.add(id);
    const std::string text = rows.text();
    run(bindAll(st.lockMany, text));
    execWith(st.blockMany, text);
    execWith(st.promoteMany, now, text);
}

RequeueStatements::RequeueStatements(sql::Connection& c)
    : of(c, sql::Q::OrderingOfDelivery),
      lock(c, sql::Q::OrderingLock),
      requeued(c, sql::Q::OrderingRequeued)
{ }

void afterRequeued(RequeueStatements& st, int64_t id)
{
    bindAll(st.of, id);
    if (!st.of.executeStep() || st.of.getColumn(1).isNull()) {
        st.of.reset();
        return;
    }
    const std::string target = st.of.getColumn(0).getString(), group = st.of.getColumn(1).getString();
    st.of.reset();
    run(bindAll(st.lock, target, group));
    execWith(st.requeued, id);
}

bool releaseGroup(sql::Connection& c, int64_t id, int64_t now)
{
    JsonRows rows;
    rows.add(id);
    const std::string text = rows.text();
    sql::Statement lock(c, sql::Q::OrderingLockMany), release(c, sql::Q::OrderingRelease),
        promote(c, sql::Q::OrderingPromoteMany);
    run(bindAll(lock, text));
    if (execWith(release, id) == 0)
        return false;
    execWith(promote, now, text);
    return true;
}

void resetGroups(sql::Connection& c, const std::string& targetId, int64_t now)
{
    sql::Statement reset(c, sql::Q::OrderingReset);
    execWith(reset, targetId, now);
}

} // namespace webhookd::detail
