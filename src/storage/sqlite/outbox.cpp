#include "storage/sqlite/outbox.h"

#include <SQLiteCpp/Database.h>
#include <sqlite3.h>

#include "model/event_rules.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sqlite/driver.h"

namespace webhookd {

Result<SendResult> sendInTransaction(SQLite::Database& connection, const EventInput& event, const Clock& clock,
                                     const Limits& limits)
{
    if (auto s = validateEvent(event, limits); !s)
        return fail(s.error());
    if (sqlite3_get_autocommit(connection.getHandle()) != 0)
        return fail(Error::invalid("sendInTransaction needs a transaction open on the connection"));
    sqlite::Connection borrowed(connection);
    return detail::guarded("record the event", [&]() -> Result<SendResult> {
        if (sql::queryInt64(borrowed, "PRAGMA user_version") < 1)
            return fail(Error::invalid("the database was not created by webhookd; run 'webhookctl init' on it"));
        // A savepoint, so a failure halfway leaves the caller's transaction as it was.
        sql::Savepoint savepoint(borrowed, "webhookd_send");
        auto r = detail::writeEventOnce(borrowed, event, clock.nowMs());
        if (r)
            savepoint.release();
        return r;
    });
}

} // namespace webhookd
