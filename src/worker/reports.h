#pragma once

// What the worker tells its log and its counters, apart from single
// attempts: the settings it started with, progress, the targets it changed,
// the totals it stopped with. The worker's thread only.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace webhookd {

struct TargetEvent;
struct WorkerCounters;
struct WorkerOptions;

void logStarted(const WorkerOptions& opt);
void logProgress(const WorkerCounters& counters, size_t inFlight);
void logStopped(const std::string& workerId, const WorkerCounters& counters);

// Counts and logs each change the claim or the recording made to a target
// (breakerCooldownMs: how long a paused target waits for its probe).
void reportTargetEvents(const std::vector<TargetEvent>& events, WorkerCounters& counters, int64_t breakerCooldownMs);

} // namespace webhookd
