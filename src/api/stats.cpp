#include "api/handlers.h"

#include <algorithm>

#include "api/call.h"
#include "api/context.h"
#include "core/duration.h"
#include "core/log.h"
#include "records/json.h"
#include "storage/stats.h"

namespace webhookd::api {

void stats(Call& c)
{
    StatsFilter f;
    f.createdSince = timeOf(c, "since");
    f.createdUntil = timeOf(c, "until");
    f.targetId = textOf(c, "target_id");
    f.type = typeOf(c);
    f.appId = listingApp(c);
    mustSeeTarget(c, f.targetId);
    writeJson(c.res, 200, statsJson(must(statistics(c.db(), f, c.ctx.clock))));
}

void timeseriesRoute(Call& c)
{
    TimeseriesQuery q;
    q.until = timeOf(c, "until").value_or(c.ctx.clock.nowMs());
    q.since = timeOf(c, "since").value_or(std::max<int64_t>(0, q.until - 3'600'000));
    if (auto step = textOf(c, "step")) {
        auto d = parseDuration(*step);
        if (!d || !validateTimeseriesStep(*d))
            throw Problem{400, "", "step must be a whole number of minutes from 1m to 24h, such as 5m"};
        q.stepMs = *d;
    }
    q.targetId = textOf(c, "target_id");
    q.appId = listingApp(c);
    mustSeeTarget(c, q.targetId);
    writeJson(c.res, 200, timeseriesJson(must(timeseries(c.db(), q)), q.stepMs));
}

// A connection from the pool (not the request's) answers SELECT 1.
void health(Call& c)
{
    auto lease = c.ctx.pool.acquire();
    const Status answers = lease ? checkStoreAnswers(*lease->db) : Status(fail(lease.error()));
    if (!answers) {
        if (auto leftOut = c.ctx.unanswered.admit(c.ctx.clock.nowMs()))
            Log::warn("api health: the store does not answer",
                      {{"error", answers.error().toString()}, {"left_out", *leftOut}});
        throw Problem{503, "store_unavailable", "the store does not answer; try again in a second"};
    }
    writeJson(c.res, 200, {{"status", "ok"}});
}

} // namespace webhookd::api
