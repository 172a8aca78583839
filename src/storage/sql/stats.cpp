#include "storage/stats.h"

#include <algorithm>

#include "core/clock.h"
#include "storage/sql/connection.h"
#include "storage/sql/rollup_sql.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

// The filter's conditions over "deliveries d" (and "events e" when a type
// is given), composed after a head.
void conditions(sql::Composer& q, const StatsFilter& f)
{
    if (f.createdSince)
        q << " AND d.created_at >= " << sql::value(*f.createdSince);
    if (f.createdUntil)
        q << " AND d.created_at < " << sql::value(*f.createdUntil);
    if (f.targetId)
        q << " AND d.target_id = " << sql::value(*f.targetId);
    detail::appCondition(q, "d.target_id", f.appId);
    detail::typeCondition(q, "e.type", f.type);
}

// Nearest rank: the smallest value with at least p % of the values at or
// below it, i.e. sorted[ceil(p / 100 * n) - 1].
int64_t nearestRank(const std::vector<int64_t>& sorted, int percent)
{
    const size_t n = sorted.size();
    size_t rank = (static_cast<size_t>(percent) * n + 99) / 100;
    return sorted[std::clamp<size_t>(rank, 1, n) - 1];
}

// Sorts the values once for all three percentiles (ORDER BY … LIMIT 1
// OFFSET k in SQL would sort them once per percentile).
Percentiles percentiles(std::vector<int64_t>& values)
{
    Percentiles p;
    if (values.empty())
        return p;
    std::sort(values.begin(), values.end());
    p.p50 = nearestRank(values, 50);
    p.p95 = nearestRank(values, 95);
    p.p99 = nearestRank(values, 99);
    return p;
}

} // namespace

Result<Stats> statistics(Database& db, const StatsFilter& filter, const Clock& clock)
{
    return detail::guarded("compute statistics", [&]() -> Result<Stats> {
        // One read transaction, so every figure describes the same moment.
        sql::Transaction read(detail::sql(db), false); // rolled back at the end: nothing to keep

        if (auto known = detail::knownTarget(detail::sql(db), filter.targetId); !known)
            return fail(known.error());
        Stats s;
        for (DeliveryStatus status : status_set::kAll)
            s.queueDepth[status] = 0;

        // Counted here rather than with GROUP BY: at 100k deliveries SQLite's
        // sorter took 3-4 times as long as this one pass, which also collects
        // the times to deliver.
        sql::Composer counting(detail::sql(db));
        counting << sql::Q::StatsHead;
        conditions(counting, filter);
        sql::Statement q = counting.statement();
        std::vector<int64_t> toDeliver;
        while (q.executeStep()) {
            const auto status = parseDeliveryStatus(q.getColumn(2).getText());
            if (!status)
                continue; // the schema's CHECK admits only the enum's names
            s.all.add(*status);
            s.byEventType[q.getColumn(0).getString()].add(*status);
            s.byTarget[q.getColumn(1).getString()].add(*status);
            s.queueDepth[*status] += 1;
            if (*status == DeliveryStatus::Delivered && !q.getColumn(3).isNull())
                toDeliver.push_back(q.getColumn(3).getInt64());
        }
        const int64_t finished = s.all.delivered + s.all.deadLetter;
        s.successRate = finished == 0 ? 0.0 : static_cast<double>(s.all.delivered) / static_cast<double>(finished);
        s.timeToDeliverMs = percentiles(toDeliver);

        sql::Composer timing(detail::sql(db));
        timing << (filter.type ? sql::Q::StatsAttemptsByTypeHead : sql::Q::StatsAttemptsHead);
        conditions(timing, filter);
        sql::Statement attempts = timing.statement();
        std::vector<int64_t> durations;
        int64_t answered = 0, answeredMs = 0;
        while (attempts.executeStep()) {
            const int64_t ms = attempts.getColumn(0).getInt64();
            durations.push_back(ms);
            if (attempts.getColumn(1).getInt() != 0) {
                ++answered;
                answeredMs += ms;
            }
        }
        if (answered > 0)
            s.averageResponseTimeMs = static_cast<double>(answeredMs) / static_cast<double>(answered);
        s.attemptLatencyMs = percentiles(durations);

        // The claimable states spelled as in the deliveries_due index, so the
        // scan stays inside that index (the backlog) instead of the whole table.
        const int64_t now = clock.nowMs();
        sql::Composer oldest(detail::sql(db));
        oldest << (filter.type ? sql::Q::StatsDueByTypeHead : sql::Q::StatsDueHead)
               << " AND d.next_attempt_at <= " << sql::value(now);
        conditions(oldest, filter);
        sql::Statement due = oldest.statement();
        if (due.executeStep() && !due.getColumn(0).isNull())
            s.oldestDueAgeMs = now - due.getColumn(0).getInt64();
        return s;
    });
}

Status validateTimeseriesStep(int64_t stepMs)
{
    if (stepMs < kMinuteMs || stepMs % kMinuteMs != 0 || stepMs > kMaxTimeseriesSteps * kMinuteMs)
        return fail(Error::invalid("the step must be a whole number of minutes, from 1m to 24h"));
    return {};
}

Result<std::vector<TimeseriesPoint>> timeseries(Database& db, const TimeseriesQuery& q)
{
    if (auto s = validateTimeseriesStep(q.stepMs); !s)
        return fail(s.error());
    // Any int64 may come in: the arithmetic is checked, so an extreme range
    // is refused instead of wrapping around into a wrong number of steps.
    const int64_t offset = ((q.since % q.stepMs) + q.stepMs) % q.stepMs; // 0 <= offset < step
    int64_t first = 0, span = 0;
    if (__builtin_sub_overflow(q.since, offset, &first))
        return fail(Error::invalid("the series starts before the earliest time there is"));
    if (q.until <= first)
        return fail(Error::invalid("the series must end after it starts"));
    if (__builtin_sub_overflow(q.until, first, &span) || span > kMaxTimeseriesSteps * q.stepMs)
        return fail(Error::invalid("the series would have more than 1,440 steps: choose a larger step or a "
                                   "shorter span"));
    const int64_t steps = (span + q.stepMs - 1) / q.stepMs;
    return detail::guarded("read the statistics series", [&]() -> Result<std::vector<TimeseriesPoint>> {
        auto& sql = detail::sql(db);
        if (auto known = detail::knownTarget(sql, q.targetId); !known)
            return fail(known.error());
        sql::Statement rows(sql,
                            q.targetId    ? sql::Q::StatsSeriesOfTarget
                                : q.appId ? sql::Q::StatsSeriesOfApp
                                          : sql::Q::StatsSeries);
        rows.bind(1, first);
        rows.bind(2, q.until);
        if (q.targetId)
            rows.bind(3, *q.targetId);
        else if (q.appId)
            rows.bind(3, *q.appId);
        std::vector<TimeseriesPoint> out(static_cast<size_t>(steps));
        for (int64_t i = 0; i < steps; ++i)
            out[static_cast<size_t>(i)].t = first + i * q.stepMs;
        while (rows.executeStep()) {
            // The query keeps minutes in [first, until), so the index is in
            // [0, steps); checked anyway, as a row outside must not write
            // outside the vector.
            int64_t since = 0;
            if (__builtin_sub_overflow(rows.getColumn(0).getInt64(), first, &since) || since < 0 ||
                since / q.stepMs >= steps)
                continue;
            out[static_cast<size_t>(since / q.stepMs)].counts += detail::readCounters(rows, 1);
        }
        return out;
    });
}

Status checkStoreAnswers(Database& db)
{
    return detail::guarded("ask the store", [&]() -> Status {
        sql::Statement q(detail::sql(db), sql::Q::Ping);
        if (!q.executeStep())
            return fail(Error::storage("the store answered SELECT 1 with no row"));
        // A SQLite connection answers SELECT 1 even after its file is gone.
        return db.checkIdentity();
    });
}

} // namespace webhookd
