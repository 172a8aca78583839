#include "storage/redrive.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "model/redrive_rules.h"
#include "storage/sql/connection.h"
#include "storage/sql/ordering.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

struct Statements {
    explicit Statements(sql::Connection& sql)
        : status(sql, sql::Q::DeliveryStatus),
          requeue(sql, sql::Q::DeliveryRequeue),
          retried(sql, sql::Q::DeadLetterRetried),
          ordering(sql)
    { }

    std::optional<DeliveryStatus> statusOf(int64_t id)
    {
        status.reset();
        status.bind(1, id);
        std::optional<DeliveryStatus> out;
        if (status.executeStep())
            out = parseDeliveryStatus(status.getColumn(0).getText());
        status.reset();
        return out;
    }

    sql::Statement status, requeue, retried;
    detail::RequeueStatements ordering;
};

// Requeues those of ids whose status still allows it, inside the caller's
// transaction; appends them to out.
void requeueLocked(Statements& st, Redrive t, const int64_t* first, const int64_t* last, int64_t now,
                   std::vector<Requeued>& out)
{
    for (const int64_t* it = first; it != last; ++it) {
        const auto status = st.statusOf(*it);
        if (!status || !mayRedrive(t, *status))
            continue;
        st.requeue.reset();
        st.requeue.bind(1, now);
        st.requeue.bind(2, *it);
        st.requeue.exec();
        st.retried.reset();
        st.retried.bind(1, now);
        st.retried.bind(2, *it);
        st.retried.exec();
        // An ordered delivery goes back at the head of its group: next, or
        // now when nothing of the group is ahead of it.
        detail::afterRequeued(st.ordering, *it);
        out.push_back({*it, *status});
    }
}

Result<std::vector<Requeued>> requeueIds(Database& db, const std::vector<int64_t>& given, Redrive t, const Clock& clock,
                                         const RedriveOptions& o)
{
    if (given.empty())
        return fail(Error::invalid("no delivery ids were given"));
    if (o.batchSize < 1)
        return fail(Error::invalid("the batch size must be at least 1"));
    std::vector<int64_t> ids;
    std::set<int64_t> seen;
    for (int64_t id : given)
        if (seen.insert(id).second)
            ids.push_back(id);
    return detail::guarded(
        t == Redrive::DeadLetters ? "retry dead letters" : "resend deliveries", [&]() -> Result<std::vector<Requeued>> {
            Statements st(detail::sql(db));
            const int64_t now = clock.nowMs();
            const size_t batch = static_cast<size_t>(o.batchSize);
            std::vector<Requeued> out;
            for (size_t start = 0; start < ids.size(); start += batch) {
                const size_t end = std::min(ids.size(), start + batch);
                sql::Transaction tx(detail::sql(db), true);
                if (start == 0) {
                    // All or nothing: every id is checked before the first change.
                    for (int64_t id : ids) {
                        const auto status = st.statusOf(id);
                        if (!status)
                            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
                        if (!mayRedrive(t, *status))
                            return fail(redriveRefused(t, id, *status));
                    }
                }
                requeueLocked(st, t, ids.data() + start, ids.data() + end, now, out);
                tx.commit();
                if (o.progress)
                    o.progress(static_cast<int64_t>(end), static_cast<int64_t>(ids.size()));
            }
            return out;
        });
}

} // namespace

Result<std::vector<Requeued>> retryDeadLetters(Database& db, const std::vector<int64_t>& ids, const Clock& clock,
                                               const RedriveOptions& options)
{
    return requeueIds(db, ids, Redrive::DeadLetters, clock, options);
}

Result<std::vector<Requeued>> resendDeliveries(Database& db, const std::vector<int64_t>& ids, const Clock& clock,
                                               const RedriveOptions& options)
{
    return requeueIds(db, ids, Redrive::Finished, clock, options);
}

Result<std::vector<Requeued>> retryAllDeadLetters(Database& db, const DeadLetterSelection& sel, const Clock& clock,
                                                  const RedriveOptions& o)
{
    if (o.batchSize < 1)
        return fail(Error::invalid("the batch size must be at least 1"));
    return detail::guarded("retry dead letters", [&]() -> Result<std::vector<Requeued>> {
        auto& sql = detail::sql(db);
        if (auto known = detail::knownTarget(sql, sel.targetId); !known)
            return fail(known.error());
        // Driven by dead_letters, which is far smaller than deliveries.
        // The same text in both dialects; the parameters as each spells them.
        auto selection = [&](sql::Composer& q, bool count) {
            q << (count ? "SELECT count(*)" : "SELECT dl.delivery_id")
              << " FROM dead_letters dl JOIN deliveries d ON d.id = dl.delivery_id";
            if (sel.type)
                q << " JOIN events e ON e.id = d.event_id";
            q << " WHERE d.status = " << detail::sqlName(DeliveryStatus::DeadLetter);
            if (!count) // the first parameter: rebound for each batch
                q << " AND dl.delivery_id > " << sql::value(int64_t{0});
            detail::typeCondition(q, "e.type", sel.type);
            if (sel.targetId)
                q << " AND d.target_id = " << sql::value(*sel.targetId);
            detail::appCondition(q, "d.target_id", sel.appId);
            if (sel.movedSince)
                q << " AND dl.moved_at >= " << sql::value(*sel.movedSince);
            if (!count)
                q << " ORDER BY dl.delivery_id LIMIT " << sql::value(o.batchSize);
            return q.statement();
        };
        sql::Composer counting(sql), listing(sql);
        sql::Statement count = selection(counting, true);
        count.executeStep();
        const int64_t total = count.getColumn(0).getInt64();
        count.reset();
        sql::Statement next = selection(listing, false);

        Statements st(sql);
        const int64_t now = clock.nowMs();
        std::vector<Requeued> out;
        std::vector<int64_t> ids;
        int64_t after = 0;
        for (;;) {
            ids.clear();
            next.reset();
            next.bind(1, after);
            while (next.executeStep())
                ids.push_back(next.getColumn(0).getInt64());
            next.reset(); // a statement left open would pin a stale snapshot (see storage/queue.cpp)
            if (ids.empty())
                break;
            sql::Transaction tx(sql, true);
            requeueLocked(st, Redrive::DeadLetters, ids.data(), ids.data() + ids.size(), now, out);
            tx.commit();
            after = ids.back();
            if (o.progress)
                o.progress(static_cast<int64_t>(out.size()), std::max(total, static_cast<int64_t>(out.size())));
        }
        return out;
    });
}

Status releaseDeadLetter(Database& db, int64_t id, const Clock& clock)
{
    return detail::guarded("release the dead letter", [&]() -> Status {
        auto& sql = detail::sql(db);
        sql::Transaction tx(sql, true);
        Statements st(sql);
        const auto status = st.statusOf(id);
        if (!status)
            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
        if (*status != DeliveryStatus::DeadLetter)
            return fail(Error::conflict("delivery " + std::to_string(id) + " is " + std::string(toString(*status)) +
                                        ", not a dead letter"));
        if (!detail::releaseGroup(sql, id, clock.nowMs()))
            return fail(Error::conflict("delivery " + std::to_string(id) +
                                        " does not hold an ordering group back (only a dead letter of a target with"
                                        " --ordering-dead-letter block does, until released or retried)"));
        tx.commit();
        return {};
    });
}

} // namespace webhookd
