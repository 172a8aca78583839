#pragma once

#include <string_view>

#include "core/error.h"
#include "model/event.h"

namespace webhookd {

// One line of `send --batch` NDJSON, and the body of the API's POST /events:
// {"type", "data", "priority", "targets", "idempotency_key", "app_id"}; "data" is kept byte for byte as written (its numbers,
// key order and spacing). Invalid, with a message naming the field, for
// anything else (a field given twice too). Takes outside input: fuzzed by
// tests/fuzz/batch_line_fuzzer.cpp.
Result<EventInput> parseBatchLine(std::string_view line);

} // namespace webhookd
