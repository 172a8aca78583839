#include "storage/stats.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "storage/database.h"
#include "storage/sql_error.h"

namespace webhookd {

namespace {

void add(Counts& c, const std::string& status, int64_t n)
{
    c.total += n;
    if (status == "delivered")
        c.delivered += n;
    else if (status == "failed")
        c.failed += n;
    else if (status == "dead_letter")
        c.deadLetter += n;
    else
        c.pending += n;
}

} // namespace

Result<Stats> statistics(Database& db, std::optional<int64_t> createdSince)
{
    return detail::guarded("compute statistics", [&]() -> Result<Stats> {
        const int64_t since = createdSince.value_or(INT64_MIN);
        // One read transaction, so every figure describes the same moment.
        db.sql().exec("BEGIN");
        struct Rollback {
            SQLite::Database& sql;
            ~Rollback()
            {
                try {
                    sql.exec("ROLLBACK");
                } catch (...) { // nothing to undo in a read; never throw from a destructor
                }
            }
        } endRead{db.sql()};

        Stats s;
        SQLite::Statement q(db.sql(), "SELECT e.type, d.target_id, d.status, count(*) FROM deliveries d"
                                      " JOIN events e ON e.id = d.event_id WHERE d.created_at >= ?"
                                      " GROUP BY e.type, d.target_id, d.status");
        q.bind(1, since);
        while (q.executeStep()) {
            const std::string type = q.getColumn(0).getString();
            const std::string target = q.getColumn(1).getString();
            const std::string status = q.getColumn(2).getString();
            const int64_t n = q.getColumn(3).getInt64();
            add(s.all, status, n);
            add(s.byEventType[type], status, n);
            add(s.byTarget[target], status, n);
        }
        SQLite::Statement avg(db.sql(), "SELECT avg(a.duration_ms) FROM attempts a JOIN deliveries d"
                                        " ON d.id = a.delivery_id WHERE d.created_at >= ?"
                                        " AND a.status_code IS NOT NULL");
        avg.bind(1, since);
        if (avg.executeStep() && !avg.getColumn(0).isNull())
            s.averageResponseTimeMs = avg.getColumn(0).getDouble();
        const int64_t finished = s.all.delivered + s.all.deadLetter;
        s.successRate = finished == 0 ? 0.0 : static_cast<double>(s.all.delivered) / static_cast<double>(finished);
        return s;
    });
}

} // namespace webhookd
