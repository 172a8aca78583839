#pragma once

// The command-line manners webhookctl and webhookd share, on CLI11 (the
// only folder that includes it): validators whose complaints are whole
// sentences in the project's words, --version, and every parse error turned
// into one sentence with a "did you mean" for a mistyped command or option.
// Usage errors exit 2 (DESIGN.md, Command-line contract).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace webhookd::cli {

constexpr int kUsageExit = 2;

// The version both programs print for --version.
std::string_view version();

// A duration (core/duration.h: 250ms … 3650d, compounds like 1h30m).
CLI::Validator duration();
// A duration ago or an ISO-8601 time (core/duration.h parseTimeOrAgo).
CLI::Validator timeOrAgo();
// A whole number from lo to hi.
CLI::Validator integer(int64_t lo, int64_t hi);
// A number from lo to hi; above lo only when loExclusive.
CLI::Validator number(double lo, double hi, bool loExclusive = false);
// Exactly one of these words.
CLI::Validator oneOf(std::vector<std::string> words);

// --version and the help flags as both programs have them.
void setUp(CLI::App& app, std::string_view program);

// The parse error as one sentence, ending with where to look:
// "'tagret' is not a command; did you mean 'target'? (see 'webhookctl --help')".
std::string usageSentence(const CLI::App& root, const CLI::ParseError& error, std::string_view program);

class EnvTwins;

// Parses argv, then (with env) the environment twins of what argv left out;
// on --help or --version prints and returns 0 in exitCode; on a usage error,
// a bad environment value included, prints "<program>: <sentence>." to
// stderr and returns 2 in exitCode. Returns true when the program should go
// on.
bool parse(CLI::App& app, int argc, char** argv, std::string_view program, int& exitCode, EnvTwins* env = nullptr);

} // namespace webhookd::cli
