-- webhookd schema, version 4: flow control per target.

-- The hard cap: never more than this many of the target's deliveries
-- in_progress at once, across every worker on the store. NULL: no cap.
ALTER TABLE targets ADD COLUMN max_in_flight INTEGER CHECK (max_in_flight IS NULL OR max_in_flight BETWEEN 1 AND 10000);
-- Adaptive throttling. rate_current: the rate the worker sends at after the
-- receiver said it is overloaded (429, 502, 503, 504); NULL: not throttled,
-- the configured rate (or none) applies. Halved at most once a second, down
-- to min_rate (NULL: 0.1/s); raised by rate_step (NULL: 1/s) at most once a
-- second while attempts succeed, until it reaches the configured rate (or,
-- without one, until a minute passes with no signal).
ALTER TABLE targets ADD COLUMN min_rate REAL CHECK (min_rate IS NULL OR min_rate > 0);
ALTER TABLE targets ADD COLUMN rate_step REAL CHECK (rate_step IS NULL OR rate_step > 0);
ALTER TABLE targets ADD COLUMN rate_current REAL CHECK (rate_current IS NULL OR rate_current > 0);
ALTER TABLE targets ADD COLUMN rate_adjusted_at INTEGER; -- last change of rate_current
ALTER TABLE targets ADD COLUMN rate_signal_at INTEGER;   -- last cut, and what caused it
ALTER TABLE targets ADD COLUMN rate_signal TEXT;
-- The retry schedule: NULL for the exponential backoff of the columns above,
-- or a JSON array of the delays in milliseconds before each retry (the
-- named schedules are stored as their delays).
ALTER TABLE targets ADD COLUMN retry_schedule TEXT
    CHECK (retry_schedule IS NULL OR (json_valid(retry_schedule) AND json_type(retry_schedule) = 'array'));
-- Secrets before previous_secret that still sign: a JSON array of
-- {"secret": …, "expires_at": ms}, newest first, at most 9 (with
-- previous_secret, 10 previous secrets).
ALTER TABLE targets ADD COLUMN older_secrets TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(older_secrets) AND json_type(older_secrets) = 'array');

-- Attempts answered 429 with Retry-After that did not use up the attempt
-- budget (retry_base moved with them); at most 20 per delivery.
ALTER TABLE deliveries ADD COLUMN throttle_deferrals INTEGER NOT NULL DEFAULT 0 CHECK (throttle_deferrals >= 0);

-- The cap counts a target's in-flight rows inside the claim: one short range
-- of this index per capped target.
CREATE INDEX deliveries_in_flight ON deliveries (target_id) WHERE status = 'in_progress';
