#pragma once

// The transactional outbox for C++ applications that keep their own data in
// the webhookd SQLite file: an event recorded on the application's own
// connection commits or rolls back with the application's writes. The one
// public header of storage/ that names a SQLite type, by its nature.

#include <SQLiteCpp/Database.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "model/event.h"

namespace webhookd {

// Records the event on the caller's own connection, inside the transaction
// the caller has open (Invalid if none is), so the event commits or rolls
// back with the caller's own writes. The file must have been created by
// webhookd (Invalid otherwise). The connection must outlive the call only.
Result<SendResult> sendInTransaction(SQLite::Database& connection, const EventInput& event, const Clock& clock,
                                     const Limits& limits = {});

} // namespace webhookd
