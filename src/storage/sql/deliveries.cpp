#include "storage/deliveries.h"

#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

// The filter's conditions over "deliveries d JOIN events e", and their binding.
std::string conditions(const DeliveryFilter& f, bool withKeyset)
{
    std::string sql;
    if (f.status)
        sql += " AND d.status = :status";
    if (f.targetId)
        sql += " AND d.target_id = :target";
    if (f.type)
        sql += " AND e.type = :type";
    if (f.createdSince)
        sql += " AND d.created_at >= :since";
    if (f.createdUntil)
        sql += " AND d.created_at < :until";
    if (withKeyset && f.after)
        sql += " AND (d.created_at, d.id) < (:afterAt, :afterId)";
    return sql;
}

void bind(sql::Statement& q, const DeliveryFilter& f, bool withKeyset)
{
    if (f.status)
        q.bind(":status", std::string(toString(*f.status)));
    if (f.targetId)
        q.bind(":target", *f.targetId);
    if (f.type)
        q.bind(":type", *f.type);
    if (f.createdSince)
        q.bind(":since", *f.createdSince);
    if (f.createdUntil)
        q.bind(":until", *f.createdUntil);
    if (withKeyset && f.after) {
        q.bind(":afterAt", f.after->first);
        q.bind(":afterId", f.after->second);
    }
}

void readReason(sql::Statement& q, Delivery& d)
{
    // A retried dead letter keeps its dead_letters row (retried_at set) but
    // is no longer in the queue, so it has no reason to show.
    if (!q.getColumn(14).isNull() && d.status == DeliveryStatus::DeadLetter) {
        d.deadLetterReason = q.getColumn(14).getString();
        d.deadLetteredAt = q.getColumn(15).getInt64();
    }
}

} // namespace

namespace detail {

std::string listDeliveriesSql(const DeliveryFilter& f)
{
    return std::string("SELECT ") + kDeliveryColumns +
        ", dl.reason, dl.moved_at FROM deliveries d JOIN events e ON e.id = d.event_id"
        " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE true" +
        conditions(f, true) + " ORDER BY d.created_at DESC, d.id DESC LIMIT :limit";
}

std::string listDeadLettersSql(const DeliveryFilter& f)
{
    DeliveryFilter g = f;
    g.status.reset();
    g.after.reset();
    // CROSS JOIN keeps dead_letters the outer loop, walked backwards by its
    // key: the planner, without statistics for a small or empty
    // dead_letters, would otherwise walk deliveries (millions of rows).
    return std::string("SELECT ") + kDeliveryColumns +
        ", dl.reason, dl.moved_at FROM dead_letters dl CROSS JOIN deliveries d ON d.id = dl.delivery_id"
        " JOIN events e ON e.id = d.event_id WHERE dl.retried_at IS NULL AND d.status = " +
        sqlName(DeliveryStatus::DeadLetter) + conditions(g, false) + (f.after ? " AND dl.delivery_id < :afterId" : "") +
        " ORDER BY dl.delivery_id DESC LIMIT :limit";
}

} // namespace detail

Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& f)
{
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    return detail::guarded("list deliveries", [&]() -> Result<std::vector<Delivery>> {
        sql::Statement q(detail::sql(db), detail::listDeliveriesSql(f));
        bind(q, f, true);
        q.bind(":limit", f.limit);
        std::vector<Delivery> out;
        while (q.executeStep()) {
            out.push_back(detail::readDelivery(q));
            readReason(q, out.back());
        }
        return out;
    });
}

Result<int64_t> countDeliveries(Database& db, const DeliveryFilter& f)
{
    return detail::guarded("count deliveries", [&]() -> Result<int64_t> {
        sql::Statement q(detail::sql(db),
                         std::string("SELECT count(*) FROM deliveries d") +
                             (f.type ? " JOIN events e ON e.id = d.event_id" : "") + " WHERE true" +
                             conditions(f, false));
        bind(q, f, false);
        q.executeStep();
        return q.getColumn(0).getInt64();
    });
}

Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& f)
{
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    return detail::guarded("list dead letters", [&]() -> Result<std::vector<Delivery>> {
        sql::Statement q(detail::sql(db), detail::listDeadLettersSql(f));
        DeliveryFilter g = f;
        g.status.reset();
        bind(q, g, false);
        if (f.after)
            q.bind(":afterId", f.after->second);
        q.bind(":limit", f.limit);
        std::vector<Delivery> out;
        while (q.executeStep()) {
            out.push_back(detail::readDelivery(q));
            readReason(q, out.back());
        }
        return out;
    });
}

Result<int64_t> countDeadLetters(Database& db, const DeliveryFilter& f)
{
    return detail::guarded("count dead letters", [&]() -> Result<int64_t> {
        DeliveryFilter g = f;
        g.status.reset();
        sql::Statement q(detail::sql(db),
                         std::string("SELECT count(*) FROM dead_letters dl JOIN deliveries d"
                                     " ON d.id = dl.delivery_id") +
                             (f.type ? " JOIN events e ON e.id = d.event_id" : "") +
                             " WHERE dl.retried_at IS NULL AND d.status = " +
                             detail::sqlName(DeliveryStatus::DeadLetter) + conditions(g, false));
        bind(q, g, false);
        q.executeStep();
        return q.getColumn(0).getInt64();
    });
}

Result<Delivery> getDelivery(Database& db, int64_t id)
{
    return detail::guarded("read the delivery", [&]() -> Result<Delivery> {
        sql::Statement q(detail::sql(db),
                         std::string("SELECT ") + detail::kDeliveryColumns +
                             ", dl.reason, dl.moved_at FROM deliveries d JOIN events e"
                             " ON e.id = d.event_id LEFT JOIN dead_letters dl ON dl.delivery_id = d.id"
                             " WHERE d.id = ?");
        q.bind(1, id);
        if (!q.executeStep())
            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
        Delivery d = detail::readDelivery(q);
        readReason(q, d);
        sql::Statement a(detail::sql(db),
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

} // namespace webhookd
