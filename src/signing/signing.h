#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace webhookd {

// Throws std::runtime_error only if OpenSSL fails, which it cannot for valid memory.
std::string base64Encode(std::string_view bytes);
// Standard alphabet with padding; Invalid for anything else.
Result<std::string> base64Decode(std::string_view text);
std::string hexEncode(std::string_view bytes);
// RFC 4648 base64url without padding; decoding refuses the standard
// alphabet's + and / and any padding.
std::string base64UrlEncode(std::string_view bytes);
std::optional<std::string> base64UrlDecode(std::string_view text);

// Raw HMAC-SHA256 (32 bytes) of the concatenation of parts, without copying
// them. Every OpenSSL call is checked; a failure (no HMAC provider, out of
// memory) throws std::runtime_error: a broken system, never a bad input.
std::string hmacSha256(std::string_view key, std::initializer_list<std::string_view> parts);

// The key bytes of a secret: "whsec_<base64>" decodes; any other string is
// used as its raw bytes. Invalid for a whsec_ secret that is not base64 or empty.
Result<std::string> secretKey(std::string_view secret);

// Raw SHA-256 (32 bytes) of the concatenation of parts. Throws as hmacSha256.
std::string sha256(std::initializer_list<std::string_view> parts);

// `n` bytes from the OS CSPRNG, as unpadded base64url. Throws as generateSecret.
std::string randomToken(size_t n);

// 32 bytes from the OS CSPRNG: "whsec_" + base64, or 64 hex characters.
// Throws std::runtime_error if OpenSSL's generator fails.
std::string generateSecret(bool hex = false);

// Standard Webhooks: "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
std::string signStandard(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body);

// The webhook-signature header value for one or more keys (rotation window),
// space-separated.
std::string signatureHeader(const std::vector<std::string>& keys, std::string_view id, int64_t timestamp,
                            std::string_view body);

// How a target's deliveries are signed.
enum class SignatureScheme {
    Standard, // Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
    Github,   // X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
};

// "standard" or "github"; nullopt for anything else.
std::optional<SignatureScheme> parseSignatureScheme(std::string_view text);
std::string_view signatureSchemeName(SignatureScheme scheme);

// GitHub: "sha256=" + hex(HMAC-SHA256(secret, body)), keyed with the secret
// exactly as written (a whsec_ secret is not decoded), as GitHub does.
std::string signGithub(std::string_view secret, std::string_view body);

struct VerifyRequest {
    std::vector<std::string> secrets; // as given by the user (whsec_… or raw)
    std::string id;
    std::string timestamp;       // the webhook-timestamp header, Unix seconds
    std::string signatureHeader; // the webhook-signature header
    int64_t toleranceMs = 5 * 60 * 1000;
};

// Ok when any signature in the header matches any secret (compared in constant
// time) and the timestamp is within the tolerance of nowMs. Signing error
// otherwise, saying which check failed; Invalid for a malformed secret.
Status verifyStandard(const VerifyRequest& request, std::string_view body, int64_t nowMs);

// Ok when any "sha256=<hex>" value in signatureHeader (one, or several
// separated by spaces or commas) matches the body under any of the secrets,
// compared in constant time. Signing error otherwise; Invalid when no secret
// is given. Error messages never quote secrets.
Status verifyGithub(const std::vector<std::string>& secrets, std::string_view signatureHeader, std::string_view body);

// Equal length and equal bytes, in time independent of where they differ.
bool constantTimeEquals(std::string_view a, std::string_view b);

} // namespace webhookd
