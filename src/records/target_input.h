#pragma once

// A target's settings as JSON (the API's POST /targets and PATCH
// /targets/{id}): the snake_case names of targetJson, checked strictly.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/target.h"

namespace webhookd {

struct TargetInput {
    std::optional<std::string> id; // POST only
    TargetSpec spec;
};

// Invalid, naming the field, for an unknown or read-only field, a wrong
// type, or an id where none is allowed (withId false: PATCH) or none where
// one is needed (withId true: POST). A secret is taken on POST only, and
// must pass validateGivenSecret; on PATCH it is refused, pointing to
// rotation. Other values are checked later, by the storage call, with the
// same rules and sentences as the CLI's.
Result<TargetInput> parseTargetInput(const nlohmann::json& body, bool withId);

} // namespace webhookd
