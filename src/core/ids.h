#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace webhookd {

// Fills buf with bytes from the OS CSPRNG (getrandom). Throws std::runtime_error
// only if the kernel refuses, which is a broken system, not an input error.
void randomBytes(void* buf, size_t len);

// A new event uid: "msg_" + 26 characters of Crockford base32 (48 bits of
// milliseconds, then 80 random bits), so uids sort by creation time.
std::string newMessageUid(int64_t nowMs);

// Event types: 1 to 200 characters of [A-Za-z0-9_.-].
Status validateEventType(std::string_view type);

// Target ids are user-chosen slugs: 1 to 64 characters of [A-Za-z0-9_.-].
Status validateTargetId(std::string_view id);
// The same rules for an application (tenant) id.
Status validateAppId(std::string_view id);

} // namespace webhookd
