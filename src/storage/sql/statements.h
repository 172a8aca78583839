#pragma once

// storage/ internals: every statement webhookd runs, by name. Each backend
// spells each one in its own dialect, beside its driver
// (storage/sqlite/statements.cpp, storage/postgres/statements.cpp): ?N or
// $N, SQLite's planner hints or PostgreSQL's row locks. Nothing rewrites SQL
// on its way to a server. A statement put together at run time (a
// listing's optional conditions, a table copied by its name) is composed by
// sql::Composer (driver.h) from parts of the catalog and conditions that
// read the same in both dialects, with placeholders as the connection
// spells them.

#include <cstddef>
#include <cstdint>
#include <string_view>

// X(name): one statement; the storage code runs it as sql::Q::name.
#define WEBHOOKD_STATEMENTS(X)                                                                                         \
    /* api_keys.cpp */                                                                                                 \
    X(ApiKeyInsert)                                                                                                    \
    X(ApiKeyList)                                                                                                      \
    X(ApiKeyRevoke) X(ApiKeyById) X(ApiKeyWithSecret) X(ApiKeyUsed) X(PortalSessionsRevoke) X(SettingGet)              \
        X(SettingPut) /* targets.cpp, rows.cpp */                                                                      \
        X(TargetById) X(TargetInsert) X(TargetUpdate) X(TargetExists) X(TargetList) X(TargetSetEnabled)                \
            X(TargetDeleteDeliveries) X(TargetDelete) X(TargetRotate) X(EventDeleteOrphan) /* events.cpp */            \
        X(EventByKey) X(EventDeliveries) X(EventInsert) X(DeliveryInsert) X(RouteTargets) X(SavepointEach)             \
            X(SavepointEachRelease) X(SavepointEachUndo) X(EventListHead) X(EventByUid)                                \
                X(DeliveriesOfEvent) /* deliveries.cpp */                                                              \
        X(DeliveryListHead) X(DeliveryCountHead) X(DeliveryCountByTypeHead) X(DeadLetterListHead)                      \
            X(DeadLetterCountHead) X(DeadLetterCountByTypeHead) X(DeliveryById)                                        \
                X(AttemptsOfDelivery)                                      /* redrive.cpp */                           \
        X(DeliveryStatus) X(DeliveryRequeue) X(DeadLetterRetried)          /* retention.cpp */                         \
        X(PurgeAttempts) X(PurgeDeadLetter) X(PurgeDelivery) X(PurgeStats) /* copy.cpp */                              \
        X(CopyLiveLeases)                                                  /* stats.cpp, monitor.cpp */                \
        X(StatsHead) X(StatsAttemptsHead) X(StatsAttemptsByTypeHead) X(StatsDueHead) X(StatsDueByTypeHead)             \
            X(StatsSeries) X(StatsSeriesOfTarget) X(StatsSeriesOfApp) X(Ping) X(MonitorTargets)                        \
                X(MonitorDeliveries) /* queue.cpp */                                                                   \
        X(QueueReclaim) X(QueueNextPriority) X(QueueDueAtPriority) X(QueueFirstAtPriority) X(QueueFirstLease)          \
            X(QueueFirstProbe) X(QueueLeaseMany) X(QueueDeferMany) X(QueueHoldBackMany) X(QueueInFlightOfTarget)       \
                X(QueueLeasedEvents) X(QueueTargets) X(QueueLockTarget) X(QueueSaveBucket) X(QueueFinishMany)          \
                    X(QueueAttemptMany) X(QueueDeadLetterMany) X(QueueTargetState) X(QueueSaveRate)                    \
                        X(QueueSaveBreaker) X(QueueProbe) X(RollupUpsert) X(QueueDisableUnreadable) X(QueueOrphan)     \
                            X(QueueReleaseMany) X(QueueOutstanding) X(QueueShiftForward)                               \
                                X(QueueShiftBack) /* ordering.cpp */                                                   \
        X(OrderingLock) X(OrderingBusy) X(OrderingLockMany) X(OrderingBlockMany) X(OrderingPromoteMany)                \
            X(OrderingOfDelivery) X(OrderingRequeued) X(OrderingRelease) X(OrderingReset) X(OrderingHead)

namespace webhookd::sql {

enum class Q : uint16_t {
#define WEBHOOKD_STATEMENT_ENUM(name) name,
    WEBHOOKD_STATEMENTS(WEBHOOKD_STATEMENT_ENUM)
#undef WEBHOOKD_STATEMENT_ENUM
};

inline constexpr size_t kStatementCount = 0
#define WEBHOOKD_STATEMENT_COUNT(name) +1
    WEBHOOKD_STATEMENTS(WEBHOOKD_STATEMENT_COUNT)
#undef WEBHOOKD_STATEMENT_COUNT
    ;

// "QueueFinish", for messages and tests.
std::string_view statementName(Q q);

} // namespace webhookd::sql
