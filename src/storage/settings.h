#pragma once

// Store-wide settings the operator sets once (table settings): the retry
// policy new targets get when they set none.

#include "core/clock.h"
#include "core/error.h"
#include "model/target.h"
#include "retry/retry.h"

namespace webhookd {

class Database;

// The store's default retry policy: the one set with setDefaultRetry, else
// defaultRetryPolicy(). Invalid when the stored value cannot be read (edited
// by hand), naming how to set it again.
Result<RetryPolicy> getDefaultRetry(Database& db);

// Changes the store's default by the spec's retry fields (the others are
// ignored; the caller refuses them) and returns the new one. Targets made
// afterwards without retry settings of their own start from it; existing
// targets keep theirs. Invalid as for a target's retry settings.
Result<RetryPolicy> setDefaultRetry(Database& db, const TargetSpec& spec, const Clock& clock);

} // namespace webhookd
