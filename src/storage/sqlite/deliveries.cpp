#include "storage/deliveries.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "storage/sqlite/connection.h"
#include "storage/sqlite/rows.h"
#include "storage/sqlite/sql_error.h"
#include "storage/sqlite/status_sql.h"

namespace webhookd {

namespace {

Result<std::vector<Delivery>> queryDeliveries(Database& db, const DeliveryFilter& f, bool deadLettersOnly)
{
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    std::string sql = std::string("SELECT ") + detail::kDeliveryColumns +
        ", dl.reason FROM deliveries d JOIN events e ON e.id = d.event_id"
        " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE 1";
    if (deadLettersOnly)
        sql += " AND d.status = " + detail::sqlName(DeliveryStatus::DeadLetter);
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
        SQLite::Statement q(detail::sql(db), sql);
        if (f.status)
            q.bind(":status", std::string(toString(*f.status)));
        if (f.targetId)
            q.bind(":target", *f.targetId);
        if (f.type)
            q.bind(":type", *f.type);
        if (f.createdSince)
            q.bind(":since", *f.createdSince);
        q.bind(":limit", f.limit);
        std::vector<Delivery> out;
        while (q.executeStep()) {
            out.push_back(detail::readDelivery(q));
            // A retried dead letter keeps its dead_letters row (retried_at set)
            // but is no longer in the queue, so it has no reason to show.
            if (!q.getColumn(14).isNull() && out.back().status == DeliveryStatus::DeadLetter)
                out.back().deadLetterReason = q.getColumn(14).getString();
        }
        return out;
    });
}

} // namespace

Result<Delivery> getDelivery(Database& db, int64_t id)
{
    return detail::guarded("read the delivery", [&]() -> Result<Delivery> {
        SQLite::Statement q(detail::sql(db),
                            std::string("SELECT ") + detail::kDeliveryColumns +
                                ", dl.reason FROM deliveries d JOIN events e ON e.id = d.event_id"
                                " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE d.id = ?");
        q.bind(1, id);
        if (!q.executeStep())
            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
        Delivery d = detail::readDelivery(q);
        if (!q.getColumn(14).isNull() && d.status == DeliveryStatus::DeadLetter)
            d.deadLetterReason = q.getColumn(14).getString();
        SQLite::Statement a(detail::sql(db),
                            "SELECT number, started_at, duration_ms, status_code, error_type, error_message,"
                            " retry_after_ms, response_excerpt FROM attempts WHERE delivery_id = ?"
                            " ORDER BY number");
        a.bind(1, id);
        while (a.executeStep()) {
            Attempt at;
            at.number = a.getColumn(0).getInt();
            at.startedAt = a.getColumn(1).getInt64();
            at.durationMs = a.getColumn(2).getInt64();
            if (!a.getColumn(3).isNull())
                at.statusCode = a.getColumn(3).getInt();
            if (!a.getColumn(4).isNull())
                at.errorType = a.getColumn(4).getString();
            if (!a.getColumn(5).isNull())
                at.errorMessage = a.getColumn(5).getString();
            if (!a.getColumn(6).isNull())
                at.retryAfterMs = a.getColumn(6).getInt64();
            if (!a.getColumn(7).isNull())
                at.responseExcerpt = a.getColumn(7).getString();
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

} // namespace webhookd
