-- webhookd schema, version 3, for PostgreSQL (see ../0003_breaker.sql).
ALTER TABLE targets ADD COLUMN consecutive_failures bigint NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0);
ALTER TABLE targets ADD COLUMN paused_until bigint;
ALTER TABLE targets ADD COLUMN paused_at bigint;
ALTER TABLE targets ADD COLUMN paused_reason text;
ALTER TABLE targets ADD COLUMN disabled_reason text;
