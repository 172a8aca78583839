#pragma once

// Plain TCP to a server on loopback, for tests that must send what no HTTP
// client would (smuggling, slow and idle connections, broken framing).

#include <chrono>
#include <string>

namespace webhookd::test {

// A TCP connection to 127.0.0.1:port; -1 when it cannot connect.
int connectTo(int port);

// Sends all of bytes; false when the connection failed.
bool sendAll(int fd, const std::string& bytes);

// What the server sends until it closes fd, or until timeout passes (then
// `closed` is false).
struct Received {
    std::string bytes;
    bool closed = false;
};
Received readUntilClosed(int fd, std::chrono::milliseconds timeout);

// What arrives until `count` HTTP answers are in (read by their
// Content-Length), the server closes fd, or timeout passes.
Received readAnswers(int fd, int count, std::chrono::milliseconds timeout);

// Whether the server closed fd (a read returns 0 or an error) within timeout.
bool closedWithin(int fd, std::chrono::milliseconds timeout);

// How many "HTTP/1.1 " status lines bytes holds.
int answerCount(const std::string& bytes);

} // namespace webhookd::test
