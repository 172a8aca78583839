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

} // namespace webhookd::detail
