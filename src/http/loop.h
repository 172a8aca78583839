#pragma once

// The server's state (src/http only): its connections and Server::Impl. One
// object; its steps live by concern: a connection's reading, framing and
// writing in connection.cpp; accepting, epoll, deadlines and the handler
// pool in server.cpp.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "http/request_parser.h"
#include "http/server.h"
#include "http/wire.h"

namespace webhookd::http {

inline int64_t monotonicMs() { return SystemClock::instance().monotonicMs(); }

// One client connection. The loop thread owns it, except while Dispatched,
// when one pool thread does (it is then out of epoll, and the loop does not
// touch it until the pool hands it back).
struct Conn {
    int fd = -1;
    std::string peer;
    std::list<Conn>::iterator self; // where the server keeps it
    bool pending = false;           // a pipelined request waits in `in`
    enum class State { Head, Body, Dispatched, Writing } state = State::Head;
    std::string in;     // received and not yet framed
    size_t scanned = 0; // how much of `in` was searched for a head's end
    bool started = false;
    int64_t startedAt = 0;
    std::chrono::steady_clock::time_point began; // as startedAt, finer: for Exchange::seconds
    int64_t deadline = 0;
    uint32_t events = 0; // as registered with epoll; 0 when out of it
    int served = 0;

    RequestHead head;
    const Route* route = nullptr;
    const Route* pathRoute = nullptr; // when no route had the method (405): one with the path
    Fields params;
    std::string body;
    uint64_t bodyLeft = 0;
    size_t reserved = 0; // of the server's body budget
    ChunkedDecoder chunks;

    std::string out;
    size_t outSent = 0;
    bool closeAfter = false;
};

// Sends what it can of c.out without waiting; false when the connection failed.
bool sendSome(Conn& c);

struct Server::Impl {
    ServerOptions opt;
    Routes routes;
    int listenFd = -1;
    int epollFd = -1;
    int wakeFd = -1;
    int port = 0;
    bool started = false;
    std::atomic<bool> stopping{false};
    std::atomic<int64_t> lastTurn{0};
    std::thread loopThread;
    std::vector<std::thread> pool;

    // Loop thread only.
    std::list<Conn> conns;
    std::unordered_map<std::string, int> perPeer;
    std::vector<Conn*> pending; // connections whose `in` may hold a next request
    size_t bufferedBody = 0;
    int64_t listenPausedUntil = 0;
    bool listening = false;
    std::string refusedBusy; // the 503 sent to a connection over a cap

    // Shared with the pool.
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Conn*> queue; // complete requests for the pool
    std::vector<Conn*> done; // answered by the pool, for the loop
    bool poolStop = false;

    char listenTag = 0, wakeTag = 0; // epoll's data.ptr for the two fds that are not connections

    explicit Impl(ServerOptions o);
    ~Impl();

    // connection.cpp: answers made by the server itself, and one
    // connection's way from bytes to a dispatched request and back.
    Response errorResponse(int status, const std::string& detail) const;
    const Route* select(Conn& c, Response& error) const;
    void releaseBody(Conn& c);
    void answer(Conn& c, const Response& r, bool close);
    void refuse(Conn& c, int status, const std::string& detail) { answer(c, errorResponse(status, detail), true); }
    void startWrite(Conn& c);
    // After the first send of an answer: the rest waits for EPOLLOUT (and
    // ioTimeoutMs from now), or the answer is complete.
    void awaitWritten(Conn& c);
    void finishAnswer(Conn& c);
    void readable(Conn& c);
    void advance(Conn& c, bool eof = false);
    bool reserve(Conn& c, size_t bytes);
    void sendBestEffort(Conn& c, int status, const std::string& detail);
    // Tells opt.observer about an answer to c's request.
    void observe(const Conn& c, std::string_view method, int status, const Fields* logFields) const;

    // server.cpp: the loop and the pool.
    void watch(Conn& c, uint32_t events);
    void close(std::list<Conn>::iterator it);
    void closeConn(Conn& c) { close(c.self); }
    void acceptAll();
    void setListening(bool on);
    void dispatch(Conn& c);
    void collectDone();
    void sweep(int64_t now);
    void loop();
    void work();
    void serve(Conn& c);
};

} // namespace webhookd::http
