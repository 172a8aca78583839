#include "storage/copy.h"

#include "storage/sql/connection.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

// In the order foreign keys need, each with the columns its rows are ordered by.
constexpr std::pair<const char*, const char*> kTables[] = {
    {"targets", "id"},
    {"events", "id"},
    {"deliveries", "id"},
    {"attempts", "id"},
    {"dead_letters", "delivery_id"},
    {"api_keys", "id"},
    {"stats_minutely", "minute, target_id"},
};

int64_t countRows(sql::Connection& c, const std::string& table)
{
    return sql::queryInt64(c, "SELECT count(*) FROM " + table);
}

} // namespace

Result<std::vector<CopiedTable>> copyStore(Database& from, Database& to, const CopyProgress& progress)
{
    if (from.schemaVersion() != Database::latestSchemaVersion())
        return fail(Error::invalid("the source " + from.path() + " has schema version " +
                                   std::to_string(from.schemaVersion()) + ", not this webhookd's " +
                                   std::to_string(Database::latestSchemaVersion()) +
                                   "; run 'webhookctl init' on it first"));
    return detail::guarded("copy the store", [&]() -> Result<std::vector<CopiedTable>> {
        auto& src = detail::sql(from);
        auto& dst = detail::sql(to);
        for (const char* t : {"targets", "events", "api_keys"})
            if (const int64_t n = countRows(dst, t); n > 0)
                return fail(Error::invalid("the destination " + to.path() + " is not empty (its " + t + " has " +
                                           std::to_string(n) + " rows); migrate-store copies into an empty store"));
        std::vector<CopiedTable> out;
        sql::Transaction read(src, false); // one snapshot of the source
        sql::Transaction write(dst, true);
        for (const auto& [table, order] : kTables) {
            sql::Statement rows(src, std::string("SELECT * FROM ") + table + " ORDER BY " + order);
            std::unique_ptr<sql::Statement> insert;
            CopiedTable copied{table, 0};
            while (rows.executeStep()) {
                const int n = rows.getColumnCount();
                if (!insert) {
                    std::string names, marks;
                    for (int i = 0; i < n; ++i) {
                        names += (i ? ", " : "") + rows.getColumnName(i);
                        marks += (i ? ", ?" : "?") + std::to_string(i + 1);
                    }
                    insert = std::make_unique<sql::Statement>(
                        dst, std::string("INSERT INTO ") + table + " (" + names + ") VALUES (" + marks + ")");
                }
                insert->reset();
                for (int i = 0; i < n; ++i) {
                    auto c = rows.getColumn(i);
                    switch (rows.getColumnKind(i)) {
                    case 'n': insert->bind(i + 1); break;
                    case 'i': insert->bind(i + 1, c.getInt64()); break;
                    case 'r': insert->bind(i + 1, c.getDouble()); break;
                    case 'b': {
                        const std::string b = c.getBlob();
                        insert->bind(i + 1, b.data(), b.size());
                        break;
                    }
                    default: insert->bind(i + 1, c.getText()); break;
                    }
                }
                insert->exec();
                if (++copied.rows % 10'000 == 0 && progress)
                    progress(table, copied.rows);
            }
            if (progress)
                progress(table, copied.rows);
            out.push_back(copied);
        }
        // New rows continue after the copied ids.
        if (detail::postgres(dst))
            for (const char* t : {"events", "deliveries", "attempts"})
                dst.exec(std::string("SELECT setval(pg_get_serial_sequence('") + t +
                         "', 'id'), coalesce(max(id), 0) + 1,"
                         " false) FROM " +
                         t);
        write.commit();
        for (const auto& c : out)
            if (const int64_t n = countRows(dst, c.table); n != c.rows)
                return fail(Error::storage("the copy of " + c.table + " has " + std::to_string(n) +
                                           " rows, the source " + std::to_string(c.rows)));
        return out;
    });
}

} // namespace webhookd
