#pragma once

// Small helpers every kind of test shares: waiting, lines of output, files,
// failed Results, loopback ports, webhookd's log lines and "one clear
// sentence" on stderr. Functions that check (REQUIRE) need doctest included
// first by the test; the rest are plain.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace webhookd::test {

using namespace std::chrono_literals;

using Steady = std::chrono::steady_clock;

int64_t msSince(Steady::time_point since);

// The wall clock now, in milliseconds since the epoch (what webhookd stores).
int64_t wallClockMs();

// Polls until done() is true or the timeout passes; returns done()'s last answer.
bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = 20ms);

// The error message of a failed Result, empty for a good one.
template <typename R>
std::string why(const R& result)
{
    return result.has_value() ? std::string() : result.error().message();
}

// The non-empty lines of text, without their newlines.
std::vector<std::string> lines(const std::string& text);
// Every line of text, blank ones included; a final newline ends the last
// line rather than starting another.
std::vector<std::string> allLines(const std::string& text);

bool contains(const std::string& text, const std::string& part);

// The secret half of an API token, whk_key_ID_SECRET: after the third '_'
// (the id is base62; the secret is base64url and may hold '_' itself).
std::string tokenSecret(const std::string& token);
bool startsWith(const std::string& text, const std::string& prefix);

// The whole file (empty when it cannot be read), and a file replaced by text.
std::string readFile(const std::string& path);
void writeFile(const std::string& path, const std::string& text);

// Whether err, a program's stderr, is one clear sentence. Without a program
// name: exactly one non-empty line. With one: exactly "<program>: <text>.\n"
// and nothing else (no blank line either).
bool oneSentence(const std::string& err, const std::string& program = {});

// "webhookctl 'arg' …" with its exit code, stdout and stderr, for the message
// of a failed check.
std::string describe(const std::vector<std::string>& args, const RunResult& r);

// A port on loopback that nothing listens on: bound, read, then closed.
// REQUIREs that the socket calls work.
int unusedPort();

// The fields of the "webhookd stopped" line webhookd logs (JSON log format).
std::optional<nlohmann::json> stoppedLine(const std::string& stderrText);

// Every JSON log line of stderrText whose msg is message.
std::vector<nlohmann::json> logLines(const std::string& stderrText, const std::string& message);

// VmHWM (peak resident memory) of a process, in kB; -1 when unknown.
int64_t peakRssKb(pid_t pid);

// Whether the delivery loop of the webhookd whose status endpoint listens
// on port has turned once (its first claim is done): /metrics'
// webhookd_last_tick_timestamp_seconds is set.
bool firstClaimDone(int port);

// The port of the address a running webhookd logged under message (such as
// "status endpoint listening"); REQUIREs that it does within 10 s.
int loggedPort(Process& worker, const std::string& message);

} // namespace webhookd::test
