#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace webhookd::test {

// A child process with stdout and stderr captured into strings by a background
// thread, so the child never blocks on a full pipe. Failures to start throw
// std::runtime_error (a test set-up problem, not a result). One thread at a
// time may use an instance. Move-only; the destructor SIGKILLs and reaps a
// child that is still running and never throws.
class Process {
public:
    // argv[0] is looked up in PATH. extraEnv is added to (or overrides) this
    // process's environment. Without stdinText the child reads /dev/null;
    // with it, the text is written from a background thread, then stdin closed.
    static Process start(std::vector<std::string> argv, std::map<std::string, std::string> extraEnv = {},
                         std::optional<std::string> stdinText = {});

    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    pid_t pid() const;
    // Sends a signal; does nothing once the child has been reaped.
    void kill(int signal);
    // Blocks until the child exits and its output is collected; returns the exit
    // code, or 128 + signal if a signal ended it. Later calls return the same.
    int wait();
    // As wait(), but gives up after timeout and returns nullopt.
    std::optional<int> waitFor(std::chrono::milliseconds timeout);
    bool running();

    // Everything captured so far.
    std::string stdoutText() const;
    std::string stderrText() const;
    // The next complete stdout line not yet returned by readLine, without its
    // newline. Throws std::runtime_error (quoting stderr) when no line arrives
    // within timeout or stdout ends first.
    std::string readLine(std::chrono::milliseconds timeout);

private:
    struct State;
    explicit Process(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

struct RunResult {
    int exitCode;
    std::string out;
    std::string err;
};

// Starts argv, waits for it to exit and returns what it printed.
RunResult run(std::vector<std::string> argv, std::optional<std::string> stdinText = {},
              std::map<std::string, std::string> extraEnv = {});

// A GET over loopback; throws std::runtime_error when nothing answers.
struct HttpReply {
    int status = 0;
    std::string body;
    std::string contentType;
};
HttpReply httpGet(const std::string& host, int port, const std::string& path);

// The path in environment variable envName (meson sets WEBHOOKD_BIN_WEBHOOKCTL,
// WEBHOOKD_BIN_WEBHOOKD and WEBHOOKD_BIN_RECEIVER); throws std::runtime_error
// if it is unset.
std::string binary(const char* envName);

// A running tools/receiver on a free loopback port, started with extraArgs plus
// "--port 0 --quiet". The constructor throws std::runtime_error if it does not
// come up. Move-only; the destructor stops it.
class Receiver {
public:
    explicit Receiver(std::vector<std::string> extraArgs = {});
    Receiver(Receiver&&) noexcept = default;
    Receiver& operator=(Receiver&&) noexcept = default;
    ~Receiver();

    int port() const { return port_; }
    // "http://127.0.0.1:PORT" + path; path should start with "/".
    std::string url(const std::string& path = "/") const;

    // The introspection endpoints; each throws std::runtime_error if the
    // receiver does not answer 200 with JSON.
    nlohmann::json requests() const; // GET /_requests: every request, oldest first
    nlohmann::json stats() const;    // GET /_stats
    void reset();                    // POST /_reset: forget requests and script positions

    // SIGTERM, then wait; returns the exit code (0 for a clean stop), or -1 if
    // it was already stopped.
    int stop();
    Process& process() { return process_; }

private:
    Process process_;
    int port_ = 0;
    bool stopped_ = false;
};

} // namespace webhookd::test
