#include "storage/deliveries.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "storage/database.h"
#include "storage/rows.h"
#include "storage/sql_error.h"

namespace webhookd {

bool isDeliveryStatus(std::string_view s)
{
    return s == "pending" || s == "in_progress" || s == "delivered" || s == "failed" || s == "rate_limited" ||
           s == "dead_letter";
}

namespace {

Result<std::vector<Delivery>> queryDeliveries(Database& db, const DeliveryFilter& f, bool deadLettersOnly)
{
    if (f.status && !isDeliveryStatus(*f.status))
        return fail(Error::invalid("'" + *f.status +
                                   "' is not a status; use pending, in_progress, delivered, failed, rate_limited or dead_letter"));
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    std::string sql = std::string("SELECT ") + detail::kDeliveryColumns +
                      ", dl.reason FROM deliveries d JOIN events e ON e.id = d.event_id"
                      " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE 1";
    if (deadLettersOnly)
        sql += " AND d.status = 'dead_letter'";
    if (f.status)
        sql += " AND d.status = :status";
    if (f.targetId)
        sql += " AND d.target_id = :target";
    if (f.type)
        sql += " AND e.type = :type";
    if (f.createdSince)
        sql += " AND d.created_at >= :since";
    sql += " ORDER BY d.id DESC LIMIT :limit";
    return detail::guarded("list deliveries", [&]() -> Result<std::vector<Delivery>> {
        SQLite::Statement q(db.sql(), sql);
        if (f.status) q.bind(":status", *f.status);
        if (f.targetId) q.bind(":target", *f.targetId);
        if (f.type) q.bind(":type", *f.type);
        if (f.createdSince) q.bind(":since", *f.createdSince);
        q.bind(":limit", f.limit);
        std::vector<Delivery> out;
        while (q.executeStep()) {
            out.push_back(detail::readDelivery(q));
            // A retried dead letter keeps its dead_letters row (retried_at set)
            // but is no longer in the queue, so it has no reason to show.
            if (!q.getColumn(14).isNull() && out.back().status == "dead_letter")
                out.back().deadLetterReason = q.getColumn(14).getString();
        }
        return out;
    });
}

void refreshBudget(SQLite::Database& sql, int64_t id, int64_t now)
{
    SQLite::Statement up(sql, "UPDATE deliveries SET status = 'pending', retry_base = attempt_count,"
                              " next_attempt_at = ?1, updated_at = ?1, completed_at = NULL, lease_owner = NULL,"
                              " lease_expires_at = NULL WHERE id = ?2");
    up.bind(1, now);
    up.bind(2, id);
    up.exec();
    SQLite::Statement dl(sql, "UPDATE dead_letters SET retried_at = ?1 WHERE delivery_id = ?2");
    dl.bind(1, now);
    dl.bind(2, id);
    dl.exec();
}

} // namespace

Result<Delivery> getDelivery(Database& db, int64_t id)
{
    return detail::guarded("read the delivery", [&]() -> Result<Delivery> {
        SQLite::Statement q(db.sql(), std::string("SELECT ") + detail::kDeliveryColumns +
                                          ", dl.reason FROM deliveries d JOIN events e ON e.id = d.event_id"
                                          " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE d.id = ?");
        q.bind(1, id);
        if (!q.executeStep())
            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
        Delivery d = detail::readDelivery(q);
        if (!q.getColumn(14).isNull() && d.status == "dead_letter")
            d.deadLetterReason = q.getColumn(14).getString();
        SQLite::Statement a(db.sql(), "SELECT number, started_at, duration_ms, status_code, error_type, error_message,"
                                      " retry_after_ms, response_excerpt FROM attempts WHERE delivery_id = ?"
                                      " ORDER BY number");
        a.bind(1, id);
        while (a.executeStep()) {
            Attempt at;
            at.number = a.getColumn(0).getInt();
            at.startedAt = a.getColumn(1).getInt64();
            at.durationMs = a.getColumn(2).getInt64();
            if (!a.getColumn(3).isNull()) at.statusCode = a.getColumn(3).getInt();
            if (!a.getColumn(4).isNull()) at.errorType = a.getColumn(4).getString();
            if (!a.getColumn(5).isNull()) at.errorMessage = a.getColumn(5).getString();
            if (!a.getColumn(6).isNull()) at.retryAfterMs = a.getColumn(6).getInt64();
            if (!a.getColumn(7).isNull()) at.responseExcerpt = a.getColumn(7).getString();
            d.attempts.push_back(std::move(at));
        }
        return d;
    });
}

Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& filter)
{
    return queryDeliveries(db, filter, false);
}

Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& filter)
{
    return queryDeliveries(db, filter, true);
}

Result<int64_t> retryDeadLetters(Database& db, const std::vector<int64_t>& ids, const Clock& clock)
{
    if (ids.empty())
        return fail(Error::invalid("no delivery ids were given"));
    return detail::guarded("retry dead letters", [&]() -> Result<int64_t> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement status(db.sql(), "SELECT status FROM deliveries WHERE id = ?");
        const int64_t now = clock.nowMs();
        int64_t moved = 0;
        for (int64_t id : ids) {
            status.reset();
            status.bind(1, id);
            if (!status.executeStep())
                return fail(Error::notFound("there is no delivery " + std::to_string(id)));
            if (status.getColumn(0).getString() != "dead_letter")
                return fail(Error::invalid("delivery " + std::to_string(id) + " is not in the dead-letter queue (it is " +
                                           status.getColumn(0).getString() + ")"));
            refreshBudget(db.sql(), id, now);
            ++moved;
        }
        tx.commit();
        return moved;
    });
}

Result<int64_t> retryAllDeadLetters(Database& db, const std::optional<std::string>& targetId, const Clock& clock)
{
    return detail::guarded("retry dead letters", [&]() -> Result<int64_t> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        if (targetId) {
            SQLite::Statement t(db.sql(), "SELECT 1 FROM targets WHERE id = ?");
            t.bind(1, *targetId);
            if (!t.executeStep())
                return fail(Error::notFound("there is no target '" + *targetId + "'"));
        }
        const int64_t now = clock.nowMs();
        SQLite::Statement dl(db.sql(), "UPDATE dead_letters SET retried_at = ?1 WHERE delivery_id IN"
                                       " (SELECT id FROM deliveries WHERE status = 'dead_letter'"
                                       " AND (?2 IS NULL OR target_id = ?2))");
        dl.bind(1, now);
        if (targetId) dl.bind(2, *targetId); else dl.bind(2);
        dl.exec();
        SQLite::Statement up(db.sql(), "UPDATE deliveries SET status = 'pending', retry_base = attempt_count,"
                                       " next_attempt_at = ?1, updated_at = ?1, completed_at = NULL"
                                       " WHERE status = 'dead_letter' AND (?2 IS NULL OR target_id = ?2)");
        up.bind(1, now);
        if (targetId) up.bind(2, *targetId); else up.bind(2);
        const int64_t moved = up.exec();
        tx.commit();
        return moved;
    });
}

Result<int64_t> purgeDeadLetters(Database& db, int64_t movedBeforeMs)
{
    return detail::guarded("purge dead letters", [&]() -> Result<int64_t> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement del(db.sql(), "DELETE FROM deliveries WHERE status = 'dead_letter' AND id IN"
                                        " (SELECT delivery_id FROM dead_letters WHERE moved_at < ?)"
                                        " RETURNING event_id");
        del.bind(1, movedBeforeMs);
        const int64_t n = detail::deleteDeliveriesAndOrphans(db.sql(), del);
        tx.commit();
        return n;
    });
}

} // namespace webhookd
