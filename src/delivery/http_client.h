#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/outcome.h"
#include "delivery/address_guard.h"

namespace webhookd {

struct HttpRequest {
    uint64_t tag = 0; // the caller's handle, returned with the outcome
    std::string url;
    std::string body;
    std::vector<std::string> headers; // "Name: value" lines, already validated
    int64_t timeoutMs = 30'000;
    std::string caBundle; // PEM file trusted for TLS; empty: HttpOptions::caBundle
};

struct HttpOptions {
    AddressGuard guard;
    size_t excerptBytes = 16 * 1024;       // response bytes kept
    size_t maxResponseBytes = 1024 * 1024; // response bytes read before giving up
    long maxConnectionsPerHost = 0;        // 0: no limit
    bool httpsOnly = false;
    std::string caBundle; // PEM file trusted for TLS; empty: the system's
};

struct HttpResult {
    uint64_t tag = 0;
    Outcome outcome;
};

// Sends POSTs concurrently through one libcurl multi handle, reusing
// connections. Not thread-safe except wakeup(); one thread drives it.
class HttpClient {
public:
    // Internal error when libcurl or the system cannot give what the client
    // needs (initialisation, the multi handle, an epoll set, a pipe). The
    // clock must outlive the client.
    static Result<std::unique_ptr<HttpClient>> create(HttpOptions options, const Clock& clock);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Starts a transfer; its result comes out of poll(). Never throws: a
    // transfer libcurl refuses to set up fails at once, with error Other and
    // libcurl's reason, out of the next poll().
    void start(HttpRequest request);

    size_t inFlight() const;

    // Drives the transfers for up to timeoutMs (less when one finishes or
    // wakeup() is called) and appends finished ones to done. Throws
    // std::runtime_error only when epoll or libcurl's multi interface fails
    // as a whole (a broken system, not a bad request or receiver).
    void poll(int timeoutMs, std::vector<HttpResult>& done);

    // Interrupts a poll() in progress. Any thread; async-signal-safe.
    void wakeup();

    // Abandons every transfer in flight and returns their tags.
    std::vector<uint64_t> abortAll();

private:
    struct Impl;
    explicit HttpClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd
