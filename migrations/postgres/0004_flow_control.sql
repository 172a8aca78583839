-- webhookd schema, version 4, for PostgreSQL (see ../0004_flow_control.sql).
ALTER TABLE targets ADD COLUMN max_in_flight bigint CHECK (max_in_flight IS NULL OR max_in_flight BETWEEN 1 AND 10000);
ALTER TABLE targets ADD COLUMN min_rate double precision CHECK (min_rate IS NULL OR min_rate > 0);
ALTER TABLE targets ADD COLUMN rate_step double precision CHECK (rate_step IS NULL OR rate_step > 0);
ALTER TABLE targets ADD COLUMN rate_current double precision CHECK (rate_current IS NULL OR rate_current > 0);
ALTER TABLE targets ADD COLUMN rate_adjusted_at bigint;
ALTER TABLE targets ADD COLUMN rate_signal_at bigint;
ALTER TABLE targets ADD COLUMN rate_signal text;
ALTER TABLE targets ADD COLUMN retry_schedule text
    CHECK (retry_schedule IS NULL OR json_typeof(retry_schedule::json) = 'array');
ALTER TABLE targets ADD COLUMN older_secrets text NOT NULL DEFAULT '[]'
    CHECK (json_typeof(older_secrets::json) = 'array');
ALTER TABLE deliveries ADD COLUMN throttle_deferrals bigint NOT NULL DEFAULT 0 CHECK (throttle_deferrals >= 0);
CREATE INDEX deliveries_in_flight ON deliveries (target_id) WHERE status = 'in_progress';
