#include "worker/reports.h"

#include "core/duration.h"
#include "core/log.h"
#include "core/validate.h"
#include "storage/queue.h"
#include "worker/worker.h"

namespace webhookd {

void logStarted(const WorkerOptions& opt)
{
    Log::info("webhookd started",
              {{"worker", opt.workerId},
               {"db", redactLocator(opt.database)},
               {"concurrency", opt.concurrency},
               {"threads", opt.threads},
               {"poll_interval", formatDuration(opt.pollIntervalMs)},
               {"default_timeout", formatDuration(opt.defaultTimeoutMs)},
               {"lease", formatDuration(opt.leaseMs)},
               {"user_agent", opt.userAgent},
               {"private_networks", opt.allowPrivateNetworks ? "allowed" : "blocked"},
               {"allowed_networks", opt.allowedNetworks.size()},
               {"denied_networks", opt.deniedNetworks.size()},
               {"https_only", opt.httpsOnly},
               {"ca_bundle", opt.caBundle.empty() ? "system" : opt.caBundle},
               {"max_response_bytes", opt.maxResponseBytes},
               {"retry_after_cap", formatDuration(opt.retryAfterCapMs)},
               {"shutdown_grace", formatDuration(opt.shutdownGraceMs)},
               {"breaker",
                opt.breaker.failures > 0 ? std::to_string(opt.breaker.failures) + " failures, " +
                        formatDuration(opt.breaker.cooldownMs) + " cool-down"
                                         : "off"},
               {"retention", opt.retentionMs > 0 ? formatDuration(opt.retentionMs) : "off"},
               {"log_payloads", opt.logPayloads},
               {"attempt_heads", opt.allAttemptHeads ? "all" : "failures"},
               {"drain", opt.drain}});
}

void logProgress(const WorkerCounters& counters, size_t inFlight)
{
    Log::info("progress",
              {{"attempts", counters.attempts.load()},
               {"delivered", counters.delivered.load()}, // not a status: a count
               {"retried", counters.retried.load()},
               {"dead_lettered", counters.deadLettered.load()},
               {"in_flight", inFlight}});
}

void logStopped(const std::string& workerId, const WorkerCounters& counters)
{
    Log::info("webhookd stopped",
              {{"worker", workerId},
               {"attempts", counters.attempts.load()},
               {"delivered", counters.delivered.load()}, // not a status: a count
               {"dead_lettered", counters.deadLettered.load()}});
}

void reportTargetEvents(const std::vector<TargetEvent>& events, WorkerCounters& counters, int64_t breakerCooldownMs)
{
    for (const auto& e : events) {
        switch (e.kind) {
        case TargetEvent::Kind::Paused:
            ++counters.breakerTrips;
            Log::warn("target paused by the circuit breaker",
                      {{"target", e.targetId}, {"reason", e.reason}, {"probe_in", formatDuration(breakerCooldownMs)}});
            break;
        case TargetEvent::Kind::Resumed:
            ++counters.breakerResumes;
            Log::info("target resumed", {{"target", e.targetId}, {"reason", e.reason}});
            break;
        case TargetEvent::Kind::Disabled:
            ++counters.targetsGone;
            Log::warn("target disabled", {{"target", e.targetId}, {"reason", e.reason}});
            break;
        case TargetEvent::Kind::Throttled:
            ++counters.throttleCuts;
            Log::warn("target throttled", {{"target", e.targetId}, {"reason", e.reason}});
            break;
        case TargetEvent::Kind::Unreadable:
            Log::error("target disabled: its row cannot be read; fix it, then run 'webhookctl target enable'",
                       {{"target", e.targetId}, {"reason", e.reason}});
            break;
        }
    }
}

} // namespace webhookd
