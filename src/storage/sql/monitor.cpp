#include "storage/monitor.h"

#include <set>

#include "ratelimit/aimd.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

Result<MonitorSnapshot> monitorSnapshot(Database& db, int64_t now)
{
    return detail::guarded("read the queue's state", [&]() -> Result<MonitorSnapshot> {
        MonitorSnapshot m;
        sql::Transaction read(detail::sql(db), false);
        sql::Statement targets(detail::sql(db), sql::Q::MonitorTargets);
        std::set<std::string, std::less<>> enabled;
        while (targets.executeStep()) {
            m.targets.push_back(
                {targets.getColumn(0).getString(), targets.getColumn(1).getInt() != 0,
                 targets.getColumn(2).getInt() != 0, targets.getColumn(3).getInt(),
                 effectiveRate(detail::optionalColumn<double>(targets, 5), detail::optionalColumn<double>(targets, 4)),
                 detail::optionalColumn<double>(targets, 5), targets.getColumn(6).getInt()});
            if (m.targets.back().enabled)
                enabled.insert(m.targets.back().id);
        }

        // One pass, counting while streaming rather than with GROUP BY (SQLite
        // would sort every row first, in memory, so a scrape's memory would
        // grow with the table); the oldest due row is found on the way.
        sql::Statement rows(detail::sql(db), sql::Q::MonitorDeliveries);
        std::string keyTarget, keyStatus;
        int64_t* count = nullptr;
        bool keyClaimable = false, keyEnabled = false;
        while (rows.executeStep()) {
            const std::string_view target = rows.getColumn(0).getText();
            const std::string_view status = rows.getColumn(1).getText();
            if (count == nullptr || keyTarget != target || keyStatus != status) {
                keyTarget = target;
                keyStatus = status;
                // The schema's CHECK admits only the enum's names.
                const DeliveryStatus s = parseDeliveryStatus(keyStatus).value_or(DeliveryStatus::Pending);
                count = &m.deliveries[{keyTarget, s}];
                keyClaimable = isClaimable(s);
                keyEnabled = enabled.count(keyTarget) > 0;
            }
            ++*count;
            if (keyClaimable && keyEnabled) {
                const int64_t at = rows.getColumn(2).getInt64();
                if (at <= now && (!m.oldestDueAt || at < *m.oldestDueAt))
                    m.oldestDueAt = at;
            }
        }
        read.commit();
        return m;
    });
}

} // namespace webhookd
