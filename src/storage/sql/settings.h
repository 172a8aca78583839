#pragma once

// storage/ internals: the store's settings read inside another transaction.

#include "core/error.h"
#include "retry/retry.h"
#include "storage/sql/driver.h"

namespace webhookd::detail {

// The default retry policy (storage/settings.h), on an open connection.
Result<RetryPolicy> loadDefaultRetry(sql::Connection& sql);

} // namespace webhookd::detail
