#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace webhookd {

// Why an HTTP attempt produced no usable response. Recorded as attempts.error_type.
enum class TransportError {
    None,           // a response arrived (any status code)
    Timeout,        // the target's timeout elapsed
    Connect,        // refused, reset, or unreachable
    Dns,            // the host name did not resolve
    Tls,            // handshake or certificate failure
    BlockedAddress, // the address guard refused the destination
    BadUrl,         // the URL could not be used (scheme, syntax)
    TooLarge,       // the response exceeded the read limit
    Signing,        // the target's secret could not sign, so nothing was sent
    Other,
};

std::string_view transportErrorName(TransportError e);

// What one attempt produced. An HTTP 500 is an outcome, not an error: retry/
// decides what it means.
struct Outcome {
    int statusCode = 0; // 0 when no response arrived
    TransportError error = TransportError::None;
    std::string errorMessage;
    std::optional<int64_t> retryAfterMs; // parsed Retry-After, relative to receipt
    std::string responseExcerpt;         // the first bytes of the body
    // The request line and headers as sent ("POST URL" then "Name: value"
    // lines; credentials in the URL and sensitive custom headers masked) and
    // the answer's status line and headers (at most 8 KiB): what the
    // dashboard shows per attempt.
    std::string requestHead;
    std::string responseHead;
    int64_t startedAtMs = 0;             // wall clock
    int64_t durationMs = 0;
};

} // namespace webhookd
