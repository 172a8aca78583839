#include "storage/monitor.h"

#include <set>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "storage/database.h"
#include "storage/sql_error.h"

namespace webhookd {

Result<MonitorSnapshot> monitorSnapshot(Database& db, int64_t now)
{
    return detail::guarded("read the queue's state", [&]() -> Result<MonitorSnapshot> {
        MonitorSnapshot m;
        SQLite::Transaction read(db.sql(), SQLite::TransactionBehavior::DEFERRED);
        SQLite::Statement targets(db.sql(), "SELECT id, enabled, paused_until IS NOT NULL, consecutive_failures"
                                            " FROM targets ORDER BY id");
        std::set<std::string, std::less<>> enabled;
        while (targets.executeStep()) {
            m.targets.push_back({targets.getColumn(0).getString(), targets.getColumn(1).getInt() != 0,
                                 targets.getColumn(2).getInt() != 0, targets.getColumn(3).getInt()});
            if (m.targets.back().enabled)
                enabled.insert(m.targets.back().id);
        }

        // One pass, counting while streaming rather than with GROUP BY (SQLite
        // would sort every row first, in memory, so a scrape's memory would
        // grow with the table); the oldest due row is found on the way.
        SQLite::Statement rows(db.sql(), "SELECT target_id, status, next_attempt_at FROM deliveries");
        std::pair<std::string, std::string> key;
        int64_t* count = nullptr;
        bool keyClaimable = false, keyEnabled = false;
        while (rows.executeStep()) {
            const char* target = rows.getColumn(0).getText();
            const char* status = rows.getColumn(1).getText();
            if (count == nullptr || key.first != target || key.second != status) {
                key = {target, status};
                count = &m.deliveries[key];
                keyClaimable = key.second == "pending" || key.second == "failed" || key.second == "rate_limited";
                keyEnabled = enabled.count(key.first) > 0;
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
