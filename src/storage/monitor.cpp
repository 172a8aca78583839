#include "storage/monitor.h"

#include <algorithm>
#include <limits>

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
        // Counted while streaming rather than with GROUP BY: SQLite would sort
        // every row first, in memory (temp_store), so a scrape's memory would
        // grow with the table.
        SQLite::Statement rows(db.sql(), "SELECT target_id, status FROM deliveries");
        std::pair<std::string, std::string> key;
        int64_t* count = nullptr;
        while (rows.executeStep()) {
            const char* target = rows.getColumn(0).getText();
            const char* status = rows.getColumn(1).getText();
            if (count == nullptr || key.first != target || key.second != status) {
                key = {target, status};
                count = &m.deliveries[key];
            }
            ++*count;
        }

        // As the claim walks: one seek per priority level (see queue_sql.h).
        SQLite::Statement level(db.sql(), "SELECT priority FROM deliveries WHERE"
                                          " (status = 'pending' OR status = 'failed' OR status = 'rate_limited')"
                                          " AND priority < ?1 ORDER BY priority DESC LIMIT 1");
        SQLite::Statement first(db.sql(), "SELECT d.next_attempt_at FROM deliveries d CROSS JOIN targets t"
                                          " ON t.id = d.target_id WHERE"
                                          " (d.status = 'pending' OR d.status = 'failed' OR d.status = 'rate_limited')"
                                          " AND d.priority = ?1 AND d.next_attempt_at <= ?2 AND t.enabled = 1"
                                          " ORDER BY d.priority DESC, d.next_attempt_at LIMIT 1");
        int64_t below = std::numeric_limits<int64_t>::max();
        for (;;) {
            level.reset();
            level.bind(1, below);
            if (!level.executeStep())
                break;
            below = level.getColumn(0).getInt64();
            first.reset();
            first.bind(1, below);
            first.bind(2, now);
            if (first.executeStep()) {
                const int64_t at = first.getColumn(0).getInt64();
                m.oldestDueAt = m.oldestDueAt ? std::min(*m.oldestDueAt, at) : at;
            }
        }

        SQLite::Statement targets(db.sql(), "SELECT id, enabled, paused_until IS NOT NULL, consecutive_failures"
                                            " FROM targets ORDER BY id");
        while (targets.executeStep())
            m.targets.push_back({targets.getColumn(0).getString(), targets.getColumn(1).getInt() != 0,
                                 targets.getColumn(2).getInt() != 0, targets.getColumn(3).getInt()});
        read.commit();
        return m;
    });
}

} // namespace webhookd
