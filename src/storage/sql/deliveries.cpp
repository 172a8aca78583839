#include "storage/deliveries.h"

#include <algorithm>
#include <set>

#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

// The filter's conditions over "deliveries d JOIN events e", composed after a head.
void conditions(sql::Composer& q, const DeliveryFilter& f, bool withKeyset)
{
    if (f.status)
        q << " AND d.status = " << sql::value(toString(*f.status));
    if (f.targetId)
        q << " AND d.target_id = " << sql::value(*f.targetId);
    detail::appCondition(q, "d.target_id", f.appId);
    detail::typeCondition(q, "e.type", f.type);
    if (f.createdSince)
        q << " AND d.created_at >= " << sql::value(*f.createdSince);
    if (f.createdUntil)
        q << " AND d.created_at < " << sql::value(*f.createdUntil);
    if (withKeyset && f.after)
        q << " AND (d.created_at, d.id) < (" << sql::value(f.after->first) << ", " << sql::value(f.after->second)
          << ")";
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

sql::Composer listDeliveriesSql(sql::Connection& c, const DeliveryFilter& f)
{
    sql::Composer q(c);
    q << sql::Q::DeliveryListHead;
    conditions(q, f, true);
    q << " ORDER BY d.created_at DESC, d.id DESC LIMIT " << sql::value(f.limit);
    return q;
}

sql::Composer listDeadLettersSql(sql::Connection& c, const DeliveryFilter& f)
{
    DeliveryFilter g = f;
    g.status.reset();
    sql::Composer q(c);
    q << sql::Q::DeadLetterListHead;
    conditions(q, g, false);
    if (f.after)
        q << " AND dl.delivery_id < " << sql::value(f.after->second);
    q << " ORDER BY dl.delivery_id DESC LIMIT " << sql::value(f.limit);
    return q;
}

} // namespace detail

Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& f)
{
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    return detail::guarded("list deliveries", [&]() -> Result<std::vector<Delivery>> {
        sql::Statement q = detail::listDeliveriesSql(detail::sql(db), f).statement();
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
        sql::Composer c(detail::sql(db));
        c << (f.type ? sql::Q::DeliveryCountByTypeHead : sql::Q::DeliveryCountHead);
        conditions(c, f, false);
        sql::Statement q = c.statement();
        q.executeStep();
        return q.getColumn(0).getInt64();
    });
}

Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& f)
{
    if (f.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    return detail::guarded("list dead letters", [&]() -> Result<std::vector<Delivery>> {
        sql::Statement q = detail::listDeadLettersSql(detail::sql(db), f).statement();
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
        sql::Composer c(detail::sql(db));
        c << (f.type ? sql::Q::DeadLetterCountByTypeHead : sql::Q::DeadLetterCountHead);
        conditions(c, g, false);
        sql::Statement q = c.statement();
        q.executeStep();
        return q.getColumn(0).getInt64();
    });
}

Result<std::optional<int64_t>> firstOutsideApp(Database& db, const std::vector<int64_t>& ids, const std::string& appId)
{
    constexpr size_t kChunk = 500; // ids a statement: far below either dialect's parameter limit
    return detail::guarded("check the deliveries' application", [&]() -> Result<std::optional<int64_t>> {
        for (size_t start = 0; start < ids.size(); start += kChunk) {
            const size_t end = std::min(ids.size(), start + kChunk);
            sql::Composer c(detail::sql(db));
            c << "SELECT d.id FROM deliveries d JOIN targets t ON t.id = d.target_id WHERE t.app_id = "
              << sql::value(appId) << " AND d.id IN (";
            for (size_t i = start; i < end; ++i)
                c << (i == start ? "" : ", ") << sql::value(ids[i]);
            c << ")";
            sql::Statement q = c.statement();
            std::set<int64_t> inside;
            while (q.executeStep())
                inside.insert(q.getColumn(0).getInt64());
            for (size_t i = start; i < end; ++i)
                if (!inside.count(ids[i]))
                    return std::optional<int64_t>(ids[i]);
        }
        return std::optional<int64_t>();
    });
}

Result<Delivery> getDelivery(Database& db, int64_t id)
{
    return detail::guarded("read the delivery", [&]() -> Result<Delivery> {
        sql::Statement q(detail::sql(db), sql::Q::DeliveryById);
        q.bind(1, id);
        if (!q.executeStep())
            return fail(Error::notFound("there is no delivery " + std::to_string(id)));
        Delivery d = detail::readDelivery(q);
        readReason(q, d);
        sql::Statement a(detail::sql(db), sql::Q::AttemptsOfDelivery);
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
            at.requestHead = detail::optionalColumn<std::string>(a, 8);
            at.responseHead = detail::optionalColumn<std::string>(a, 9);
            d.attempts.push_back(std::move(at));
        }
        sql::Statement o(detail::sql(db), sql::Q::OrderingOfDelivery);
        o.bind(1, id);
        if (o.executeStep() && !o.getColumn(1).isNull()) {
            const std::string target = o.getColumn(0).getString();
            d.orderingGroup = o.getColumn(1).getString();
            d.blocksGroup = o.getColumn(2).getInt() != 0 && d.status == DeliveryStatus::DeadLetter;
            o.reset();
            if (d.status == DeliveryStatus::Waiting) {
                sql::Statement head(detail::sql(db), sql::Q::OrderingHead);
                head.bind(1, target);
                head.bind(2, *d.orderingGroup);
                if (head.executeStep() && !head.getColumn(0).isNull())
                    d.waitingBehind = head.getColumn(0).getInt64();
            }
        }
        return d;
    });
}

} // namespace webhookd
