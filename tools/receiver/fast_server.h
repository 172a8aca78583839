#pragma once

#include <string>

namespace webhookd::receiver {

// A lean HTTP/1.1 sink for benchmarks (--engine fast): one epoll thread,
// keep-alive and pipelining, every POST answered with the same status. It
// still counts requests and distinct webhook-ids and serves GET /_stats and
// GET /_requests ({time_ms, webhook_id} per request), so the benchmark can
// check what arrived. No scripts, signatures or logs: use the default engine
// for those. Runs until SIGINT/SIGTERM; returns the process exit code.
int runFastServer(const std::string& host, int port, int status);

} // namespace webhookd::receiver
