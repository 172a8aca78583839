#include "storage/copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/utf8.h"
#include "signing/signing.h"
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
    {"settings", "name"},
};

int64_t countRows(sql::Connection& c, const std::string& table)
{
    return sql::queryInt64(c, "SELECT count(*) FROM " + table);
}

// One value as the content digest sees it: what the stores mean, not how
// each spells its type (SQLite's integer 1 and PostgreSQL's true, a
// REAL column's integer-valued 3 and a float8 3, a BLOB and a bytea).
std::string digestValue(char kind, const std::string& value)
{
    return (kind == 'n' ? std::string("N") : "V" + std::to_string(value.size()) + ":" + value);
}

std::string valueOf(sql::Statement& rows, int i, char kind)
{
    auto c = rows.getColumn(i);
    switch (kind) {
    case 'n': return {};
    case 'i': return std::to_string(c.getInt64());
    case 'r': return fmt::format("{}", c.getDouble());
    case 'b': return c.getBlob();
    default: return std::string(c.getText());
    }
}

// A running SHA-256 over a table's rows, in their order.
struct Digest {
    std::string value;
    void add(const std::string& row) { value = sha256({value, row}); }
};

// columns: the source's, in its order (the stores may order them differently).
std::string digestOf(sql::Connection& c, const char* table, const std::string& columns, const char* order)
{
    sql::Statement rows(c, "SELECT " + columns + " FROM " + table + " ORDER BY " + order);
    Digest d;
    while (rows.executeStep()) {
        std::string row;
        for (int i = 0; i < rows.getColumnCount(); ++i) {
            const char kind = rows.getColumnKind(i);
            row += digestValue(kind, valueOf(rows, i, kind));
        }
        d.add(row);
    }
    return d.value;
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
        // A webhookd still delivering from the source would go on claiming
        // there after the copy: what it sends then is sent again from the copy.
        sql::Statement live(src, sql::Q::CopyLiveLeases);
        if (live.executeStep() && live.getColumn(0).getInt64() > 0)
            return fail(Error::conflict(
                "the source " + from.path() + " has " + std::to_string(live.getColumn(0).getInt64()) +
                " deliveries leased to a running webhookd (" + live.getColumn(1).getString() +
                "); stop every webhookd that uses it first (one that was killed lets its leases end within --lease)"));
        live.reset();
        for (const char* t : {"targets", "events", "api_keys"})
            if (const int64_t n = countRows(dst, t); n > 0)
                return fail(Error::invalid("the destination " + to.path() + " is not empty (its " + t + " has " +
                                           std::to_string(n) + " rows); migrate-store copies into an empty store"));
        std::vector<CopiedTable> out;
        sql::Transaction read(src, false); // one snapshot of the source
        sql::Transaction write(dst, true);
        // The store's settings are the source's: a default set on the empty
        // destination (webhookctl defaults set before the copy) gives way.
        dst.exec("DELETE FROM settings");
        struct Written {
            std::string columns, digest;
        };
        std::vector<Written> written; // each table's, as written
        for (const auto& [table, order] : kTables) {
            sql::Statement rows(src, std::string("SELECT * FROM ") + table + " ORDER BY " + order);
            std::unique_ptr<sql::Statement> insert;
            CopiedTable copied{table, 0, 0};
            std::string names;
            Digest digest;
            while (rows.executeStep()) {
                const int n = rows.getColumnCount();
                if (!insert) {
                    std::string marks;
                    for (int i = 0; i < n; ++i) {
                        names += (i ? ", " : "") + rows.getColumnName(i);
                        marks += (i ? ", " : "") + dst.placeholder(i + 1);
                    }
                    insert = std::make_unique<sql::Statement>(
                        dst, std::string("INSERT INTO ") + table + " (" + names + ") VALUES (" + marks + ")");
                }
                insert->reset();
                std::string row;
                for (int i = 0; i < n; ++i) {
                    auto c = rows.getColumn(i);
                    const char kind = rows.getColumnKind(i);
                    std::string value = valueOf(rows, i, kind);
                    switch (kind) {
                    case 'n': insert->bind(i + 1); break;
                    case 'i': insert->bind(i + 1, c.getInt64()); break;
                    case 'r': insert->bind(i + 1, c.getDouble()); break;
                    case 'b': insert->bind(i + 1, value.data(), value.size()); break;
                    default: {
                        // As the stores write text now (a response excerpt
                        // with U+0000 from an older SQLite store): counted,
                        // and reported.
                        std::string kept = utf8::storable(value);
                        if (kept != value) {
                            ++copied.changed;
                            value = std::move(kept);
                        }
                        insert->bind(i + 1, value);
                        break;
                    }
                    }
                    row += digestValue(kind, value);
                }
                digest.add(row);
                insert->exec();
                if (++copied.rows % 10'000 == 0 && progress)
                    progress(table, copied.rows);
            }
            if (progress)
                progress(table, copied.rows);
            out.push_back(copied);
            written.push_back({names, digest.value});
        }
        // New rows continue after the copied ids.
        detailImpl(to).idsCopied();
        write.commit();
        // Read back, every value: the copy holds what was written (the
        // source's content, but for the values counted as changed).
        for (size_t i = 0; i < out.size(); ++i) {
            if (const int64_t n = countRows(dst, out[i].table); n != out[i].rows)
                return fail(Error::storage("the copy of " + out[i].table + " has " + std::to_string(n) +
                                           " rows, the source " + std::to_string(out[i].rows)));
            if (out[i].rows > 0 &&
                digestOf(dst, kTables[i].first, written[i].columns, kTables[i].second) != written[i].digest)
                return fail(Error::storage("the copy of " + out[i].table +
                                           " does not hold what was written (its content digest differs)"));
        }
        return out;
    });
}

Status backupStore(Database& db, const std::string& path)
{
    if (Database::isServerLocator(db.path()))
        return fail(Error::invalid("webhookctl backup copies a SQLite store; back up a PostgreSQL store with pg_dump "
                                   "(docs/operations.md, \"Backup and restore\")"));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(errno == EEXIST
                        ? Error::invalid("the backup file " + path + " already exists; name a new one")
                        : Error::storage("cannot create the backup file " + path + ": " + std::strerror(errno)));
    ::close(fd);
    auto done = detail::guarded("back up the store", [&]() -> Status {
        sql::Statement q(detail::sql(db), "VACUUM INTO ?1"); // into the empty file made above
        q.bind(1, path);
        q.exec();
        return {};
    });
    if (!done)
        ::unlink(path.c_str());
    return done;
}

} // namespace webhookd
