#include "storage/events.h"

#include <algorithm>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "model/delivery_status.h"
#include "model/event_rules.h"
#include "routing/patterns.h"
#include "routing/payload_filter.h"
#include "signing/signing.h"
#include "storage/sql/connection.h"
#include "storage/sql/ordering.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

struct RouteTarget {
    std::string id;
    bool enabled;
    std::vector<std::string> filters;
    std::optional<std::string> appId;
    std::optional<PayloadFilter> payloadFilter;
    Ordering ordering = Ordering::None;
};

// What an idempotency key is bound to: the same key with another request is
// refused rather than answered with the first one's ids.
std::string fingerprint(const EventInput& e)
{
    std::vector<std::string> targets = e.targets;
    std::sort(targets.begin(), targets.end());
    std::string joined;
    for (const auto& t : targets)
        joined += t + '\x1f';
    const std::string priority = std::to_string(e.priority);
    // An ordering key is counted only when given, so a request without one
    // keeps the fingerprint it had before ordering existed.
    const std::string key = e.orderingKey ? std::string("\0", 1) + *e.orderingKey : std::string();
    return sha256({e.type, std::string_view("\0", 1), e.payload, std::string_view("\0", 1), joined,
                   std::string_view("\0", 1), priority, std::string_view("\0", 1), e.appId.value_or(""), key});
}

// Inserts events and their deliveries on one connection, inside a transaction
// the caller owns. Statements are prepared once per writer; the routing table
// is read once, so a batch reads the targets a single time.
class EventWriter {
public:
    explicit EventWriter(sql::Connection& sql)
        : findKey_(sql, sql::Q::EventByKey),
          findDeliveries_(sql, sql::Q::EventDeliveries),
          // A key another session recorded since the lookup (PostgreSQL,
          // READ COMMITTED: the insert waits for that session's commit)
          // inserts nothing, and write() replays it.
          insertEvent_(sql, sql::Q::EventInsert),
          insertDelivery_(sql, sql::Q::DeliveryInsert),
          join_(sql),
          sql_(sql)
    {
        loadRoutes();
    }

    // Reads which targets exist, whether they are enabled, and their filters.
    void loadRoutes()
    {
        targets_.clear();
        index_.clear();
        sql::Statement q(sql_, sql::Q::RouteTargets);
        while (q.executeStep()) {
            RouteTarget t{q.getColumn(0).getString(), q.getColumn(1).getInt() != 0, {}, {}, {}, Ordering::None};
            t.ordering = parseOrdering(q.getColumn(5).getString()).value_or(Ordering::None);
            if (!q.getColumn(3).isNull())
                t.appId = q.getColumn(3).getString();
            if (!q.getColumn(4).isNull()) {
                auto f = PayloadFilter::parse(q.getColumn(4).getString());
                if (f)
                    t.payloadFilter = std::move(*f);
                else
                    t.enabled = false;
            }
            // Filters edited by hand into something unreadable: the target
            // gets no fan-out (the worker disables it) rather than failing
            // every send.
            const nlohmann::json filters = nlohmann::json::parse(q.getColumn(2).getString(), nullptr, false);
            if (!filters.is_array())
                t.enabled = false;
            else
                for (const auto& p : filters) {
                    if (p.is_string())
                        t.filters.push_back(p.get<std::string>());
                    else
                        t.enabled = false;
                }
            index_[t.id] = targets_.size();
            targets_.push_back(std::move(t));
        }
    }

    Result<SendResult> write(const EventInput& e, int64_t now)
    {
        SendResult out;
        std::string print;
        if (e.idempotencyKey) {
            print = fingerprint(e);
            if (auto earlier = replay(*e.idempotencyKey, e.appId, print))
                return std::move(*earlier);
        }

        std::vector<const RouteTarget*> chosen;
        if (!e.targets.empty()) {
            for (const auto& id : e.targets) {
                auto it = index_.find(id);
                // The same rule as fan-out's below, for targets named. Inside
                // an application, another one's target is as unknown as one
                // that does not exist: the answer must not tell them apart.
                if (it == index_.end() || (e.appId && targets_[it->second].appId != e.appId))
                    return fail(Error::notFound("there is no target '" + id + "'" +
                                                (e.appId ? " in the application '" + *e.appId + "'" : "")));
                const RouteTarget* t = &targets_[it->second];
                if (!e.appId && t->appId)
                    return fail(Error::invalid("the target '" + id +
                                               "' belongs to an application, and an event without app_id may name"
                                               " only targets of none"));
                if (std::find(chosen.begin(), chosen.end(), t) == chosen.end())
                    chosen.push_back(t);
            }
        } else {
            // Tenants stay apart: an application's event goes to its
            // targets only, one sent without an application to the targets
            // of none.
            // The payload is parsed once, and only for a target with a
            // payload filter that the rest lets through.
            std::optional<nlohmann::json> payload;
            for (const auto& t : targets_) {
                if (!t.enabled || !matchesAny(t.filters, e.type) || t.appId != e.appId)
                    continue;
                if (t.payloadFilter) {
                    if (!payload)
                        payload = nlohmann::json::parse(e.payload, nullptr, false);
                    if (!t.payloadFilter->matches(*payload))
                        continue;
                }
                chosen.push_back(&t);
            }
        }

        out.uid = newMessageUid(now);
        out.createdAt = now;
        insertEvent_.reset();
        insertEvent_.bind(1, out.uid);
        insertEvent_.bind(2, e.type);
        insertEvent_.bind(3, e.payload);
        insertEvent_.bind(4, e.priority);
        if (e.idempotencyKey)
            insertEvent_.bind(5, *e.idempotencyKey);
        else
            insertEvent_.bind(5);
        insertEvent_.bind(6, now);
        if (e.idempotencyKey)
            insertEvent_.bind(7, print.data(), static_cast<int>(print.size()));
        else
            insertEvent_.bind(7);
        if (e.appId)
            insertEvent_.bind(8, *e.appId);
        else
            insertEvent_.bind(8);
        detail::bindOptional(insertEvent_, 9, e.orderingKey);
        auto inserted = returnedId(insertEvent_);
        if (!inserted) { // the key's first use raced this one, and won
            if (auto earlier = replay(*e.idempotencyKey, e.appId, print))
                return std::move(*earlier);
            return fail(Error::busy("the idempotency key '" + *e.idempotencyKey +
                                    "' was being used by another request at the same time"));
        }
        out.eventId = *inserted;

        for (const RouteTarget* t : chosen) {
            // An ordered target's delivery joins its group, and waits when
            // one of the group is ahead of it.
            const auto group = detail::orderingGroupOf(t->ordering, e.orderingKey);
            const DeliveryStatus status = group ? detail::joinGroup(join_, t->id, *group) : DeliveryStatus::Pending;
            insertDelivery_.reset();
            insertDelivery_.bind(1, out.eventId);
            insertDelivery_.bind(2, t->id);
            insertDelivery_.bind(3, e.priority);
            insertDelivery_.bind(4, now);
            insertDelivery_.bind(5, now);
            insertDelivery_.bind(6, now);
            insertDelivery_.bind(7, std::string(toString(status)));
            detail::bindOptional(insertDelivery_, 8, group);
            out.deliveryIds.push_back(*returnedId(insertDelivery_));
            out.targetIds.push_back(t->id);
        }
        return out;
    }

private:
    // The event recorded before under this idempotency key in this
    // application (keys are per application), as a duplicate (the same
    // request again) or a Conflict (another request); nullopt when the key
    // is new there.
    std::optional<Result<SendResult>> replay(const std::string& key, const std::optional<std::string>& appId,
                                             const std::string& print)
    {
        SendResult out;
        findKey_.reset();
        findKey_.bind(1, key);
        findKey_.bind(2, appId.value_or(""));
        if (!findKey_.executeStep())
            return std::nullopt;
        out.eventId = findKey_.getColumn(0).getInt64();
        out.uid = findKey_.getColumn(1).getString();
        out.createdAt = findKey_.getColumn(3).getInt64();
        const auto stored = findKey_.getColumn(2);
        const bool same = stored.isNull() || stored.getString() == print; // none: sent before version 5
        findKey_.reset(); // a statement left mid-result would pin a read snapshot
        if (!same)
            return fail(Error::conflict("the idempotency key '" + key + "' was first used with a different event")
                            .withCode(Error::Code::IdempotencyKeyReused));
        out.duplicate = true;
        findDeliveries_.reset();
        findDeliveries_.bind(1, out.eventId);
        while (findDeliveries_.executeStep()) {
            out.deliveryIds.push_back(findDeliveries_.getColumn(0).getInt64());
            out.targetIds.push_back(findDeliveries_.getColumn(1).getString());
        }
        return out;
    }

    // The id an INSERT … RETURNING id gave back; nullopt when it inserted nothing.
    static std::optional<int64_t> returnedId(sql::Statement& insert)
    {
        std::optional<int64_t> id;
        if (insert.executeStep())
            id = insert.getColumn(0).getInt64();
        insert.reset();
        return id;
    }

    sql::Statement findKey_;
    sql::Statement findDeliveries_;
    sql::Statement insertEvent_;
    sql::Statement insertDelivery_;
    detail::JoinStatements join_;
    sql::Connection& sql_; // the connection the statements above belong to; must outlive the writer
    std::vector<RouteTarget> targets_;
    std::unordered_map<std::string, size_t> index_;
};

// The connection's writer, its statements prepared once. Its routing table is
// reread when another connection committed (data_version moved) or this one
// wrote to targets; call inside the transaction, so what it reads holds.
EventWriter& cachedWriter(Database& db)
{
    auto& slot = detail::cacheSlot(db, Database::Impl::Slot::EventWriter);
    struct Cached {
        EventWriter writer;
        int64_t dataVersion;
        uint64_t generation;
    };
    const int64_t version = detail::dataVersion(db);
    if (!slot) {
        slot = std::make_shared<Cached>(Cached{EventWriter(detail::sql(db)), version, detail::targetsGeneration(db)});
    } else {
        auto* c = static_cast<Cached*>(slot.get());
        if (c->dataVersion != version || c->generation != detail::targetsGeneration(db)) {
            c->writer.loadRoutes();
            c->dataVersion = version;
            c->generation = detail::targetsGeneration(db);
        }
    }
    return static_cast<Cached*>(slot.get())->writer;
}

} // namespace

Result<SendResult> sendEvent(Database& db, const EventInput& event, const Clock& clock, const Limits& limits)
{
    if (auto s = validateEvent(event, limits); !s)
        return fail(s.error());
    return detail::guarded("record the event", [&]() -> Result<SendResult> {
        sql::Transaction tx(detail::sql(db), true);
        auto r = cachedWriter(db).write(event, clock.nowMs());
        if (!r)
            return r;
        tx.commit();
        return r;
    });
}

Result<std::vector<SendResult>> sendBatch(Database& db, const std::vector<EventInput>& events, const Clock& clock,
                                          const Limits& limits, const Progress& progress)
{
    for (size_t i = 0; i < events.size(); ++i)
        if (auto s = validateEvent(events[i], limits); !s)
            return fail(s.error().prefixed("event " + std::to_string(i + 1) + ": "));
    return detail::guarded("record the batch", [&]() -> Result<std::vector<SendResult>> {
        sql::Transaction tx(detail::sql(db), true);
        EventWriter& writer = cachedWriter(db);
        std::vector<SendResult> out;
        out.reserve(events.size());
        const int64_t now = clock.nowMs();
        for (size_t i = 0; i < events.size(); ++i) {
            auto r = writer.write(events[i], now);
            if (!r)
                return fail(r.error().prefixed("event " + std::to_string(i + 1) + ": "));
            out.push_back(std::move(*r));
            if (progress && (i + 1) % 4096 == 0)
                progress(i + 1, events.size());
        }
        tx.commit();
        if (progress)
            progress(events.size(), events.size());
        return out;
    });
}

Result<size_t> sendStream(Database& db, const EventSource& next, const ResultSink& onRecorded, const Clock& clock,
                          const Limits& limits, const Progress& progress)
{
    return detail::guarded("record the batch", [&]() -> Result<size_t> {
        sql::Transaction tx(detail::sql(db), true);
        EventWriter& writer = cachedWriter(db);
        const int64_t now = clock.nowMs();
        size_t n = 0;
        for (;;) {
            auto e = next();
            if (!e)
                return fail(e.error());
            if (!*e)
                break;
            ++n;
            auto label = [n](const Error& err) { return err.prefixed("event " + std::to_string(n) + ": "); };
            if (auto s = validateEvent(**e, limits); !s)
                return fail(label(s.error()));
            auto r = writer.write(**e, now);
            if (!r)
                return fail(label(r.error()));
            if (onRecorded)
                onRecorded(*r);
            if (progress && n % 4096 == 0)
                progress(n, 0);
        }
        tx.commit();
        if (progress)
            progress(n, n);
        return n;
    });
}

Result<std::vector<Result<SendResult>>> sendEach(Database& db, const std::vector<EventInput>& events,
                                                 const Clock& clock, const Limits& limits)
{
    return detail::guarded("record the events", [&]() -> Result<std::vector<Result<SendResult>>> {
        std::vector<Result<SendResult>> out;
        out.reserve(events.size());
        sql::Connection& sql = detail::sql(db);
        sql::Transaction tx(sql, true);
        EventWriter& writer = cachedWriter(db);
        sql::Statement begin(sql, sql::Q::SavepointEach), release(sql, sql::Q::SavepointEachRelease),
            undo(sql, sql::Q::SavepointEachUndo);
        auto run = [](sql::Statement& q) {
            q.reset();
            q.exec();
        };
        const int64_t now = clock.nowMs();
        for (const auto& e : events) {
            if (auto s = validateEvent(e, limits); !s) {
                out.emplace_back(fail(s.error()));
                continue;
            }
            // A savepoint apiece: a failure halfway through one event (a
            // constraint, a full disk) takes back only its own rows, and the
            // others are committed.
            run(begin);
            Result<SendResult> r = fail(Error::internal("not recorded"));
            try {
                r = writer.write(e, now);
            } catch (const sql::Error& x) {
                r = fail(detail::mapSqlError(x, "record the event"));
            }
            if (!r)
                run(undo);
            run(release);
            out.push_back(std::move(r));
        }
        tx.commit();
        return out;
    });
}

namespace {

EventRecord readEvent(sql::Statement& q)
{
    EventRecord e;
    e.id = q.getColumn(0).getInt64();
    e.uid = q.getColumn(1).getString();
    e.type = q.getColumn(2).getString();
    e.priority = q.getColumn(3).getInt();
    e.createdAt = q.getColumn(4).getInt64();
    e.idempotencyKey = detail::optionalColumn<std::string>(q, 5);
    e.appId = detail::optionalColumn<std::string>(q, 6);
    e.orderingKey = detail::optionalColumn<std::string>(q, 7);
    return e;
}

} // namespace

Result<std::vector<EventRecord>> listEvents(Database& db, const EventFilter& filter)
{
    if (filter.limit < 1)
        return fail(Error::invalid("the limit must be at least 1"));
    return detail::guarded("list events", [&]() -> Result<std::vector<EventRecord>> {
        sql::Statement q = detail::listEventsSql(detail::sql(db), filter).statement();
        std::vector<EventRecord> out;
        while (q.executeStep())
            out.push_back(readEvent(q));
        return out;
    });
}

Result<EventRecord> getEvent(Database& db, const std::string& uid)
{
    return detail::guarded("read the event", [&]() -> Result<EventRecord> {
        sql::Statement q(detail::sql(db), sql::Q::EventByUid);
        q.bind(1, uid);
        if (!q.executeStep())
            return fail(Error::notFound("there is no event '" + uid + "'"));
        EventRecord e = readEvent(q);
        e.payload = q.getColumn(8).getString();
        sql::Statement d(detail::sql(db), sql::Q::DeliveriesOfEvent);
        d.bind(1, e.id);
        while (d.executeStep())
            e.deliveries.push_back(detail::readDelivery(d));
        return e;
    });
}

namespace detail {

sql::Composer listEventsSql(sql::Connection& c, const EventFilter& f)
{
    sql::Composer q(c);
    q << sql::Q::EventListHead;
    detail::typeCondition(q, "type", f.type);
    if (f.appId)
        q << " AND app_id = " << sql::value(*f.appId);
    if (f.idempotencyKey)
        q << " AND idempotency_key = " << sql::value(*f.idempotencyKey);
    if (f.createdSince)
        q << " AND created_at >= " << sql::value(*f.createdSince);
    if (f.createdUntil)
        q << " AND created_at < " << sql::value(*f.createdUntil);
    if (f.after)
        q << " AND (created_at, id) < (" << sql::value(f.after->first) << ", " << sql::value(f.after->second) << ")";
    q << " ORDER BY created_at DESC, id DESC LIMIT " << sql::value(f.limit);
    return q;
}

Result<SendResult> writeEventOnce(sql::Connection& connection, const EventInput& event, int64_t nowMs)
{
    EventWriter writer(connection);
    return writer.write(event, nowMs);
}

} // namespace detail

} // namespace webhookd
