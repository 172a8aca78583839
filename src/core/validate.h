#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace webhookd {

// Limits on what users may store; DESIGN.md's defaults.
struct Limits {
    size_t maxPayloadBytes = 1024 * 1024;
    size_t maxHeaders = 32;
    size_t maxHeaderBytes = 8 * 1024; // name + value of one custom header
    size_t maxJsonDepth = 512;        // nested arrays and objects in a payload
};

// http:// or https:// followed by a host, well-formed UTF-8 without
// whitespace or control characters, at most 2048 bytes.
Status validateUrl(std::string_view url);

// A text field people set (a name, a metadata key or value, an idempotency
// key): well-formed UTF-8 without control characters, at most maxBytes.
// Invalid naming `what` otherwise ("the target name …").
Status validateText(std::string_view text, std::string_view what, size_t maxBytes);

// The URL with the password of its userinfo (or a userinfo without a colon,
// usually a token) replaced by "***": for listings, logs and error messages.
std::string redactUrl(std::string_view url);
// redactUrl, and every query value masked too (capability URLs carry
// credentials there: https://…/hook?token=…).
std::string maskUrlCredentials(std::string_view url);
// Header names like auth, cookie, token, secret, key, password or signature.
bool isSensitiveHeader(std::string_view name);

// A database locator as it may be shown in logs and messages: a file path
// as it is; a URL with the password of its userinfo ("postgres://u:***@h")
// and the value of a password or sslpassword query parameter
// ("?password=***") masked; a libpq keyword/value string with the value of
// its password and sslpassword keywords masked ("host=h password=*** dbname=d").
// Every message that names a store uses this (Database::path() does).
std::string redactLocator(std::string_view locator);

// A custom header: the name an RFC 9110 token, not one webhookd sets itself
// (content-type, content-length, host, transfer-encoding, user-agent,
// connection, webhook-*, x-hub-signature*), the value well-formed UTF-8
// without control characters other than tab. Messages never quote the value.
Status validateHeader(std::string_view name, std::string_view value, const Limits& limits = {});

// Valid JSON no larger than the limit and nested no deeper than maxJsonDepth
// (recursive parsers, nlohmann's dump() among them, would exhaust the stack).
Status validatePayload(std::string_view json, const Limits& limits = {});

// The deepest nesting of arrays and objects in JSON text, ignoring brackets
// inside strings; meaningful for valid JSON, never fails on invalid text.
size_t jsonDepth(std::string_view json);

} // namespace webhookd
