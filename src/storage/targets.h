#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "model/target.h"

namespace webhookd {

class Database;

// Registers a target made by makeTarget (model/target_rules.h: without a
// secret in the spec, one is generated). Errors: Invalid (a rule broken, the
// message names it), Conflict (the id is taken).
Result<Target> addTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                         const Limits& limits = {});

// Changes the given fields. NotFound for an unknown id; Invalid as for add.
Result<Target> updateTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                            const Limits& limits = {});

Result<Target> getTarget(Database& db, const std::string& id);
Result<std::vector<Target>> listTargets(Database& db);

// Enables or disables by hand (setEnabledByHand); NotFound for an unknown id.
Result<Target> setTargetEnabled(Database& db, const std::string& id, bool enabled, const Clock& clock);

// Removes the target with its deliveries and their attempts; returns how many
// deliveries went with it. NotFound for an unknown id.
Result<int64_t> removeTarget(Database& db, const std::string& id);

struct Rotation {
    std::string secret;                       // the new one
    std::optional<int64_t> previousExpiresAt; // when the old one stops signing (none without an overlap)
};

// Makes newSecret (generated when empty) the signing secret; the old one keeps
// signing alongside it for overlapMs.
Result<Rotation> rotateSecret(Database& db, const std::string& id, std::optional<std::string> newSecret,
                              int64_t overlapMs, const Clock& clock);

} // namespace webhookd
