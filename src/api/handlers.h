#pragma once

// The API's operations, one free function per route of apiRoutes() (the
// table in server.cpp), each in its resource's file. Each answers through
// c.res or throws Problem.

namespace webhookd::api {

struct Call;

// events.cpp
void createEvent(Call& c);
void createEventBatch(Call& c);
void listEventsRoute(Call& c);
void getEventRoute(Call& c);

// targets.cpp
void listTargetsRoute(Call& c);
void createTarget(Call& c);
void getTargetRoute(Call& c);
void updateTargetRoute(Call& c);
void deleteTarget(Call& c);
void setEnabled(Call& c, bool enabled);
void rotateSecretRoute(Call& c);
void sendTestEvent(Call& c);
void getDefaults(Call& c);
void setDefaults(Call& c);

// deliveries.cpp (deliveries and dead letters)
void listDeliveriesRoute(Call& c);
void getDeliveryRoute(Call& c);
void resend(Call& c);
void listDeadLettersRoute(Call& c);
void retryDeadLettersRoute(Call& c);
void releaseDeadLetterRoute(Call& c);
void purgeDeadLetters(Call& c);

// stats.cpp
void stats(Call& c);
void timeseriesRoute(Call& c);
// Whether this process can reach its store, nothing about receivers.
void health(Call& c);

// keys.cpp
void listKeys(Call& c);
void createKey(Call& c);
void getKeySelf(Call& c);
void revokeKey(Call& c);
void createPortalSessionRoute(Call& c);
void revokePortalSessionsRoute(Call& c);

} // namespace webhookd::api
