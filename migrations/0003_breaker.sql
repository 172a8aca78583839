-- webhookd schema, version 3: the circuit breaker and why a target stopped.

-- Failed attempts in a row; a delivered attempt resets it. The worker pauses
-- the target when it reaches --breaker-failures.
ALTER TABLE targets ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0);
-- Set while the breaker is open: until this time none of the target's
-- deliveries is claimed; after it, one probe is, and its success resumes the
-- target (paused_until back to NULL).
ALTER TABLE targets ADD COLUMN paused_until INTEGER;
ALTER TABLE targets ADD COLUMN paused_at INTEGER;
ALTER TABLE targets ADD COLUMN paused_reason TEXT;
-- Why the worker disabled the target (a 410 Gone); NULL when a person did,
-- or when it is enabled.
ALTER TABLE targets ADD COLUMN disabled_reason TEXT;
