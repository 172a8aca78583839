#include "storage/redrive.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "model/redrive_rules.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

struct Statements {
    explicit Statements(sql::Connection& sql)
        : status(sql, "SELECT status FROM deliveries WHERE id = ?"),
          requeue(sql,
                  "UPDATE deliveries SET status = " + detail::sqlName(DeliveryStatus::Pending) +
                      ", retry_base = attempt_count, next_attempt_at = ?1,"
                      " updated_at = ?1, completed_at = NULL, lease_owner = NULL, lease_expires_at = NULL"
                      " WHERE id = ?2"),
          // A dead letter's row has retried_at NULL (moving a delivery to the
          // queue again clears it); a delivered one keeps the time it was
          // retried before.
          retried(sql, "UPDATE dead_letters SET retried_at = ?1 WHERE delivery_id = ?2 AND retried_at IS NULL")
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
        std::string from = " FROM dead_letters dl JOIN deliveries d ON d.id = dl.delivery_id";
        std::string cond = " AND d.status = " + detail::sqlName(DeliveryStatus::DeadLetter);
        if (sel.type) {
            from += " JOIN events e ON e.id = d.event_id";
            cond += " AND e.type = :type";
        }
        if (sel.targetId)
            cond += " AND d.target_id = :target";
        if (sel.movedSince)
            cond += " AND dl.moved_at >= :since";
        auto bind = [&](sql::Statement& q) {
            if (sel.type)
                q.bind(":type", *sel.type);
            if (sel.targetId)
                q.bind(":target", *sel.targetId);
            if (sel.movedSince)
                q.bind(":since", *sel.movedSince);
        };
        sql::Statement count(sql, "SELECT count(*)" + from + " WHERE true" + cond);
        bind(count);
        count.executeStep();
        const int64_t total = count.getColumn(0).getInt64();
        count.reset();
        sql::Statement next(sql,
                            "SELECT dl.delivery_id" + from + " WHERE dl.delivery_id > :after" + cond +
                                " ORDER BY dl.delivery_id LIMIT :limit");
        bind(next);
        next.bind(":limit", o.batchSize);

        Statements st(sql);
        const int64_t now = clock.nowMs();
        std::vector<Requeued> out;
        std::vector<int64_t> ids;
        int64_t after = 0;
        for (;;) {
            ids.clear();
            next.reset();
            next.bind(":after", after);
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

} // namespace webhookd
