-- webhookd schema, version 1. Times are INTEGER milliseconds since the Unix
-- epoch (UTC); the views show them as ISO-8601 text.

CREATE TABLE targets (
    id                          TEXT PRIMARY KEY
                                CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^A-Za-z0-9_.-]*'),
    name                        TEXT NOT NULL DEFAULT '',
    url                         TEXT NOT NULL CHECK (url GLOB 'http://?*' OR url GLOB 'https://?*'),
    secret                      TEXT NOT NULL CHECK (secret <> ''),
    previous_secret             TEXT,
    previous_secret_expires_at  INTEGER,
    enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    event_filters               TEXT NOT NULL DEFAULT '[]'
                                CHECK (json_valid(event_filters) AND json_type(event_filters) = 'array'),
    headers                     TEXT NOT NULL DEFAULT '{}'
                                CHECK (json_valid(headers) AND json_type(headers) = 'object'),
    timeout_ms                  INTEGER CHECK (timeout_ms IS NULL OR timeout_ms > 0), -- NULL: the worker's default
    max_attempts                INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    initial_delay_ms            INTEGER NOT NULL DEFAULT 1000 CHECK (initial_delay_ms >= 0),
    max_delay_ms                INTEGER NOT NULL DEFAULT 60000 CHECK (max_delay_ms >= 0),
    backoff_multiplier          REAL NOT NULL DEFAULT 2.0 CHECK (backoff_multiplier >= 1.0),
    jitter_factor               REAL NOT NULL DEFAULT 0.1 CHECK (jitter_factor BETWEEN 0.0 AND 1.0),
    rate_per_second             REAL CHECK (rate_per_second IS NULL OR rate_per_second > 0),
    burst                       INTEGER CHECK (burst IS NULL OR burst >= 1),
    rate_limit_enabled          INTEGER NOT NULL DEFAULT 0 CHECK (rate_limit_enabled IN (0, 1)),
    bucket_tokens               REAL,    -- token-bucket state, spent inside the claim transaction
    bucket_updated_at           INTEGER,
    metadata                    TEXT NOT NULL DEFAULT '{}'
                                CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    uid              TEXT NOT NULL UNIQUE CHECK (uid GLOB 'msg_?*' AND instr(uid, '.') = 0),
    type             TEXT NOT NULL
                     CHECK (length(type) BETWEEN 1 AND 200 AND type NOT GLOB '*[^A-Za-z0-9_.-]*'),
    payload          TEXT NOT NULL CHECK (json_valid(payload)),
    priority         INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,            -- unique when set: see events_idempotency
    created_at       INTEGER NOT NULL
) STRICT;

-- Partial, so the many events without a key add no page to each commit.
CREATE UNIQUE INDEX events_idempotency ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY,
    event_id          INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    target_id         TEXT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    -- Spelled as ORs, not IN: SQLite builds an ephemeral table for an IN list
    -- on every row it checks, which tripled the cost of each status change.
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status = 'pending' OR status = 'in_progress' OR status = 'delivered'
                             OR status = 'failed' OR status = 'rate_limited' OR status = 'dead_letter'),
    priority          INTEGER NOT NULL DEFAULT 0,
    attempt_count     INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    retry_base        INTEGER NOT NULL DEFAULT 0, -- attempt_count when the budget was last refreshed (dlq retry)
    next_attempt_at   INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    UNIQUE (event_id, target_id)
) STRICT;

-- Serves the claim: columns and directions match its ORDER BY exactly, and the
-- claim seeks one priority at a time, so rows that are not yet due never make
-- it scan past them. The claim repeats this WHERE clause word for word.
CREATE INDEX deliveries_due ON deliveries (priority DESC, next_attempt_at)
    WHERE (status = 'pending' OR status = 'failed' OR status = 'rate_limited');
-- Serves the reclaim of expired leases.
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE status = 'in_progress';
CREATE INDEX deliveries_by_target ON deliveries (target_id, created_at);
CREATE INDEX deliveries_by_created ON deliveries (created_at);

CREATE TABLE attempts (
    id                INTEGER PRIMARY KEY,
    delivery_id       INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number            INTEGER NOT NULL CHECK (number >= 1),
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL CHECK (duration_ms >= 0),
    status_code       INTEGER,          -- NULL when no response arrived
    error_type        TEXT,
    error_message     TEXT,
    response_excerpt  TEXT,             -- the first 16 KiB of the body
    retry_after_ms    INTEGER,
    UNIQUE (delivery_id, number)
) STRICT;

CREATE TABLE dead_letters (
    delivery_id  INTEGER PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    moved_at     INTEGER NOT NULL,
    retried_at   INTEGER
) STRICT;

CREATE VIEW delivery_history AS
SELECT d.id                AS delivery_id,
       e.uid               AS event_uid,
       e.type              AS event_type,
       d.target_id         AS target_id,
       t.url               AS target_url,
       d.status            AS status,
       d.priority          AS priority,
       d.attempt_count     AS attempt_count,
       d.last_status_code  AS last_status_code,
       d.last_error        AS last_error,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.created_at / 1000.0, 'unixepoch')      AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.next_attempt_at / 1000.0, 'unixepoch') AS next_attempt_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.updated_at / 1000.0, 'unixepoch')      AS updated_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.completed_at / 1000.0, 'unixepoch')    AS completed_at
FROM deliveries d
JOIN events e ON e.id = d.event_id
JOIN targets t ON t.id = d.target_id;

CREATE VIEW attempt_log AS
SELECT a.id             AS attempt_id,
       a.delivery_id    AS delivery_id,
       a.number         AS number,
       d.target_id      AS target_id,
       e.type           AS event_type,
       e.uid            AS event_uid,
       strftime('%Y-%m-%dT%H:%M:%fZ', a.started_at / 1000.0, 'unixepoch') AS started_at,
       a.duration_ms    AS duration_ms,
       a.status_code    AS status_code,
       a.error_type     AS error_type,
       a.error_message  AS error_message
FROM attempts a
JOIN deliveries d ON d.id = a.delivery_id
JOIN events e ON e.id = d.event_id;
