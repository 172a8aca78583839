#pragma once

// storage/ internals: delivery statuses spelled in SQL, built from the
// enum's names so no status literal is written by hand.

#include <span>
#include <string>
#include <string_view>

#include "model/delivery_status.h"

namespace webhookd::detail {

// 'pending': the quoted name, for a SQL literal.
inline std::string sqlName(DeliveryStatus s) { return "'" + std::string(toString(s)) + "'"; }

// "(status = 'pending' OR status = 'failed' OR …)": ORs, not IN, because
// SQLite builds an ephemeral table for an IN list on every row it checks.
// For kClaimable it is word for word the deliveries_due index's WHERE, so
// the planner can use that index.
inline std::string statusIn(std::span<const DeliveryStatus> set, std::string_view column = "status")
{
    std::string out = "(";
    for (DeliveryStatus s : set) {
        if (out.size() > 1)
            out += " OR ";
        out += column;
        out += " = ";
        out += sqlName(s);
    }
    return out + ")";
}

// Ordered delivery: whether anything in the group (target, group: SQL
// expressions) keeps a delivery from going: one ahead of it in flight or
// due, or a dead letter that blocks the group; with waiting, also one
// waiting its turn (what a newcomer queues behind). One EXISTS per status,
// each an index seek on deliveries_ordering (target_id, ordering_group,
// status, ordering_blocking, id), never a walk over the group's history.
// except: an SQL expression of a delivery id not to count, or empty.
inline std::string groupBusy(std::string_view target, std::string_view group, bool waiting,
                             std::string_view except = {})
{
    std::string out = "(";
    auto has = [&](DeliveryStatus s, std::string_view more) {
        if (out.size() > 1)
            out += " OR ";
        out += "EXISTS (SELECT 1 FROM deliveries o WHERE o.target_id = ";
        out += target;
        out += " AND o.ordering_group = ";
        out += group;
        out += " AND o.status = " + sqlName(s);
        out += more;
        if (!except.empty()) {
            out += " AND o.id <> ";
            out += except;
        }
        out += ")";
    };
    for (DeliveryStatus s : status_set::kUnfinished)
        has(s, "");
    has(DeliveryStatus::DeadLetter, " AND o.ordering_blocking = 1");
    if (waiting)
        has(DeliveryStatus::Waiting, "");
    return out + ")";
}

} // namespace webhookd::detail
