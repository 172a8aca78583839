#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace webhookd {

// A failure as a value, shaped like leveldb's Status: a kind that callers branch
// on, an optional machine code for the few cases a caller must tell apart
// within a kind, and a message that people read. Messages are one sentence,
// never contain secrets, and do not end with a period (callers may append
// context). Callers branch on the kind or the code, never on the message.
class Error {
public:
    enum class Kind {
        NotFound,    // the named thing does not exist
        Invalid,     // the input is malformed or breaks a rule; nothing was changed
        Conflict,    // the input is valid but clashes with what is stored
        Busy,        // the database stayed locked past the busy timeout
        ReadOnly,    // the database cannot be written
        Storage,     // any other database failure (disk full, I/O, corruption)
        Unavailable, // the store's server cannot be reached now (down, restarting, cut off): try again later
        Network,     // a transport failure
        Timeout,     // an operation ran out of time
        Signing,     // a signature did not verify
        Internal,    // a bug
    };

    // What sets one failure apart from others of its kind, where a caller
    // answers it differently; None for most.
    enum class Code {
        None,
        IdempotencyKeyReused, // Conflict: the key was first used with a different event
        TooDeep,              // Invalid: JSON text nests deeper than allowed
    };

    Error(Kind kind, std::string message)
        : kind_(kind),
          message_(std::move(message))
    { }

    static Error notFound(std::string m) { return {Kind::NotFound, std::move(m)}; }
    static Error invalid(std::string m) { return {Kind::Invalid, std::move(m)}; }
    static Error conflict(std::string m) { return {Kind::Conflict, std::move(m)}; }
    static Error busy(std::string m) { return {Kind::Busy, std::move(m)}; }
    static Error readOnly(std::string m) { return {Kind::ReadOnly, std::move(m)}; }
    static Error storage(std::string m) { return {Kind::Storage, std::move(m)}; }
    static Error unavailable(std::string m) { return {Kind::Unavailable, std::move(m)}; }
    static Error network(std::string m) { return {Kind::Network, std::move(m)}; }
    static Error timeout(std::string m) { return {Kind::Timeout, std::move(m)}; }
    static Error signing(std::string m) { return {Kind::Signing, std::move(m)}; }
    static Error internal(std::string m) { return {Kind::Internal, std::move(m)}; }

    // The same error with a code: Error::conflict("…").withCode(Code::…).
    Error withCode(Code c) &&
    {
        code_ = c;
        return std::move(*this);
    }

    // The same kind and code, with context before the message ("event 3: ").
    Error prefixed(std::string_view context) const
    {
        Error e = *this;
        e.message_.insert(0, context);
        return e;
    }

    Kind kind() const { return kind_; }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }
    bool is(Kind k) const { return kind_ == k; }
    bool is(Code c) const { return code_ == c; }

    // "kind: message", for logs.
    std::string toString() const;

private:
    Kind kind_;
    Code code_ = Code::None;
    std::string message_;
};

std::string_view kindName(Error::Kind kind);

template <typename T>
using Result = tl::expected<T, Error>;

// A Result that carries no value.
using Status = Result<void>;

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

} // namespace webhookd
