#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace webhookd::test {

namespace {

std::runtime_error systemError(const std::string& what)
{
    return std::runtime_error(what + ": " + std::strerror(errno));
}

void closeFd(int& fd)
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

// Every test program is a child subreaper: a descendant orphaned by its
// parent (a server a wrapper forked, say) is reparented to it rather than to
// init. At exit, a child still running that no Process owns is named on
// stderr, killed, and fails the program: a test that leaks a process fails.
std::mutex gOwnedMutex;
std::set<pid_t> gOwned; // children a live Process owns

void own(pid_t pid, bool owned)
{
    std::lock_guard lock(gOwnedMutex);
    if (owned)
        gOwned.insert(pid);
    else
        gOwned.erase(pid);
}

void killLeftovers()
{
    std::vector<std::pair<pid_t, std::string>> leaked;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream statFile(entry.path() / "stat");
        std::string stat;
        std::getline(statFile, stat);
        const size_t close = stat.rfind(')');
        if (close == std::string::npos)
            continue;
        char state = '?';
        long ppid = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2 || ppid != ::getpid())
            continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        if (state == 'Z') { // an orphan that already ended: reap it
            ::waitpid(pid, nullptr, WNOHANG);
            continue;
        }
        {
            std::lock_guard lock(gOwnedMutex);
            if (gOwned.count(pid) > 0)
                continue;
        }
        std::ifstream cmdFile(entry.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(cmdFile)), std::istreambuf_iterator<char>());
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        leaked.emplace_back(pid, cmd);
    }
    for (const auto& [pid, cmd] : leaked) {
        std::fprintf(stderr, "a test left process %d running: %s\n", static_cast<int>(pid), cmd.c_str());
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    if (!leaked.empty())
        std::_Exit(1);
}

[[maybe_unused]] const bool gSubreaper = [] {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::atexit(killLeftovers);
    return true;
}();

int decodeStatus(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

// Writes all of text to fd, then closes it. Runs on its own thread with SIGPIPE
// blocked, so a child that exits without reading cannot kill the test process;
// the SIGPIPE that is then pending for this thread is consumed before leaving.
void feedStdin(int fd, std::string text)
{
    sigset_t pipeSet;
    sigemptyset(&pipeSet);
    sigaddset(&pipeSet, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeSet, nullptr);
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    timespec zero{};
    while (sigtimedwait(&pipeSet, nullptr, &zero) > 0) { }
}

} // namespace

struct Process::State {
    pid_t pid = -1;
    int outFd = -1;
    int errFd = -1;
    int wakeRead = -1; // written to by the destructor to stop the reader early
    int wakeWrite = -1;
    std::thread reader;
    std::thread writer;

    mutable std::mutex mutex;
    std::condition_variable changed;
    std::string out;
    std::string err;
    size_t lineStart = 0; // where the next readLine begins in out
    bool outputEnded = false;
    std::optional<int> exitCode;

    void readOutput()
    {
        pollfd fds[3] = {{outFd, POLLIN, 0}, {errFd, POLLIN, 0}, {wakeRead, POLLIN, 0}};
        int open = 2;
        char buf[65536];
        while (open > 0) {
            if (::poll(fds, 3, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (fds[2].revents != 0)
                break;
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || fds[i].revents == 0)
                    continue;
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                    continue;
                std::lock_guard lock(mutex);
                if (n <= 0) {
                    fds[i].fd = -1; // poll ignores negative descriptors
                    --open;
                } else {
                    (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
                }
                changed.notify_all();
            }
        }
        std::lock_guard lock(mutex);
        outputEnded = true;
        changed.notify_all();
    }

    // Reaps without blocking; true once the exit code is known.
    bool reap()
    {
        if (exitCode)
            return true;
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            std::lock_guard lock(mutex);
            exitCode = decodeStatus(status);
        } else if (r < 0 && errno != EINTR) {
            std::lock_guard lock(mutex);
            exitCode = -1; // not our child any more; nothing left to wait for
        }
        return exitCode.has_value();
    }

    // After the child exits, its output may still sit in the pipes; give the
    // reader a moment to reach end of file. A grandchild holding the pipes open
    // must not hang the test, hence the bound.
    void awaitOutput()
    {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::seconds(5), [this] { return outputEnded; });
    }

    ~State()
    {
        if (pid > 0)
            own(pid, false);
        if (pid > 0 && !exitCode) {
            ::kill(pid, SIGKILL);
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
        }
        if (wakeWrite >= 0) {
            char c = 1;
            [[maybe_unused]] ssize_t n = ::write(wakeWrite, &c, 1);
        }
        if (reader.joinable())
            reader.join();
        if (writer.joinable())
            writer.join();
        closeFd(outFd);
        closeFd(errFd);
        closeFd(wakeRead);
        closeFd(wakeWrite);
    }
};

Process::Process(std::unique_ptr<State> state)
    : state_(std::move(state))
{ }
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

Process Process::start(std::vector<std::string> argv, std::map<std::string, std::string> extraEnv,
                       std::optional<std::string> stdinText)
{
    if (argv.empty())
        throw std::runtime_error("Process::start needs a program to run");

    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry(*e);
        size_t eq = entry.find('=');
        if (eq != std::string::npos)
            env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    for (auto& [name, value] : extraEnv)
        env[name] = value;
    std::vector<std::string> envEntries;
    for (auto& [name, value] : env)
        envEntries.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (std::string& entry : envEntries)
        envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (std::string& arg : argv)
        args.push_back(arg.data());
    args.push_back(nullptr);

    auto state = std::make_unique<State>();
    // All descriptors are close-on-exec; dup2 onto 0/1/2 clears the flag there.
    int outPipe[2], errPipe[2], wakePipe[2], inPipe[2] = {-1, -1};
    if (::pipe2(outPipe, O_CLOEXEC) != 0)
        throw systemError("pipe");
    state->outFd = outPipe[0];
    if (::pipe2(errPipe, O_CLOEXEC) != 0) {
        ::close(outPipe[1]);
        throw systemError("pipe");
    }
    state->errFd = errPipe[0];
    if (::pipe2(wakePipe, O_CLOEXEC) != 0 || (stdinText && ::pipe2(inPipe, O_CLOEXEC) != 0)) {
        ::close(outPipe[1]);
        ::close(errPipe[1]);
        throw systemError("pipe");
    }
    state->wakeRead = wakePipe[0];
    state->wakeWrite = wakePipe[1];

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdinText)
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0);
    else
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    int rc = posix_spawnp(&state->pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (stdinText)
        ::close(inPipe[0]);
    if (rc != 0) {
        state->pid = -1;
        if (stdinText)
            ::close(inPipe[1]);
        throw std::runtime_error("could not start " + argv[0] + ": " + std::strerror(rc));
    }

    own(state->pid, true);
    State* s = state.get();
    state->reader = std::thread([s] { s->readOutput(); });
    if (stdinText)
        state->writer = std::thread(feedStdin, inPipe[1], std::move(*stdinText));
    return Process(std::move(state));
}

pid_t Process::pid() const { return state_ ? state_->pid : -1; }

void Process::kill(int signal)
{
    if (state_ && !state_->reap())
        ::kill(state_->pid, signal);
}

int Process::wait()
{
    if (!state_)
        return -1;
    while (!state_->exitCode) {
        int status = 0;
        pid_t r = ::waitpid(state_->pid, &status, 0);
        std::lock_guard lock(state_->mutex);
        if (r == state_->pid)
            state_->exitCode = decodeStatus(status);
        else if (r < 0 && errno != EINTR)
            state_->exitCode = -1;
    }
    state_->awaitOutput();
    return *state_->exitCode;
}

std::optional<int> Process::waitFor(std::chrono::milliseconds timeout)
{
    if (!state_)
        return -1;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!state_->reap()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    state_->awaitOutput();
    return *state_->exitCode;
}

bool Process::running() { return state_ && !state_->reap(); }

std::string Process::stdoutText() const
{
    if (!state_)
        return {};
    std::lock_guard lock(state_->mutex);
    return state_->out;
}

std::string Process::stderrText() const
{
    if (!state_)
        return {};
    std::lock_guard lock(state_->mutex);
    return state_->err;
}

std::string Process::readLine(std::chrono::milliseconds timeout)
{
    if (!state_)
        throw std::runtime_error("readLine on a moved-from Process");
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    size_t newline = std::string::npos;
    bool found = s.changed.wait_for(lock, timeout, [&] {
        newline = s.out.find('\n', s.lineStart);
        return newline != std::string::npos || s.outputEnded;
    });
    if (!found || newline == std::string::npos)
        throw std::runtime_error(std::string(found ? "stdout ended" : "timed out") +
                                 " waiting for a line on stdout; stderr says: " + s.err);
    std::string line = s.out.substr(s.lineStart, newline - s.lineStart);
    s.lineStart = newline + 1;
    return line;
}

RunResult run(std::vector<std::string> argv, std::optional<std::string> stdinText,
              std::map<std::string, std::string> extraEnv)
{
    Process p = Process::start(std::move(argv), std::move(extraEnv), std::move(stdinText));
    int code = p.wait();
    return {code, p.stdoutText(), p.stderrText()};
}

std::string binary(const char* envName)
{
    const char* path = std::getenv(envName);
    if (path == nullptr || *path == '\0')
        throw std::runtime_error(std::string("environment variable ") + envName +
                                 " is not set; run the tests through meson test");
    return path;
}

Receiver::Receiver(std::vector<std::string> extraArgs)
    : process_([&] {
          std::vector<std::string> argv{binary("WEBHOOKD_BIN_RECEIVER")};
          argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
          argv.insert(argv.end(), {"--port", "0", "--quiet"});
          return Process::start(std::move(argv));
      }())
{
    const std::string prefix = "listening on ";
    std::string line = process_.readLine(std::chrono::seconds(10));
    size_t colon = line.rfind(':');
    if (line.rfind(prefix, 0) != 0 || colon == std::string::npos)
        throw std::runtime_error("the receiver printed \"" + line + "\" instead of \"listening on HOST:PORT\"");
    port_ = std::stoi(line.substr(colon + 1));
}

Receiver::~Receiver()
{
    try {
        stop();
    } catch (...) {
        // A destructor must not throw; Process cleans up after itself anyway.
    }
}

std::string Receiver::url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

namespace {

nlohmann::json fetchJson(int port, const char* method, const char* path)
{
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(10, 0);
    auto res = std::string(method) == "GET" ? client.Get(path) : client.Post(path);
    if (!res)
        throw std::runtime_error(std::string("the receiver did not answer ") + path + ": " +
                                 httplib::to_string(res.error()));
    if (res->status != 200)
        throw std::runtime_error(std::string("the receiver answered ") + path + " with " + std::to_string(res->status));
    return nlohmann::json::parse(res->body);
}

} // namespace

HttpReply httpGet(const std::string& host, int port, const std::string& path)
{
    httplib::Client client(host, port);
    client.set_read_timeout(10, 0);
    auto res = client.Get(path);
    if (!res)
        throw std::runtime_error("nothing answered GET " + path + " on port " + std::to_string(port) + ": " +
                                 httplib::to_string(res.error()));
    return {res->status, res->body, res->get_header_value("Content-Type")};
}

nlohmann::json Receiver::requests() const { return fetchJson(port_, "GET", "/_requests"); }

nlohmann::json Receiver::stats() const { return fetchJson(port_, "GET", "/_stats"); }

void Receiver::reset() { fetchJson(port_, "POST", "/_reset"); }

int Receiver::stop()
{
    if (stopped_)
        return -1;
    stopped_ = true;
    process_.kill(SIGTERM);
    return process_.wait();
}

} // namespace webhookd::test
