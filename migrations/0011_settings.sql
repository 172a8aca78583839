-- webhookd schema, version 11: store-wide settings the operator sets once.
-- name 'retry': the retry policy new targets get when they set none, as
-- JSON {max_attempts, initial_delay_ms, max_delay_ms, backoff_multiplier,
-- jitter_factor, retry_schedule} (a target's names; retry_schedule null for
-- the exponential formula). No row: the built-in default (standard-webhooks).
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at INTEGER NOT NULL
);
