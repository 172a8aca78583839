-- webhookd schema, version 9, for PostgreSQL (see ../0009_tenants.sql).
ALTER TABLE api_keys ADD COLUMN app_id text
    CHECK (app_id IS NULL OR (length(app_id) BETWEEN 1 AND 64 AND app_id !~ '[^A-Za-z0-9_.-]'));
ALTER TABLE api_keys ADD COLUMN kind text NOT NULL DEFAULT 'key'
    CHECK (kind IN ('key', 'portal') AND (kind = 'key' OR app_id IS NOT NULL));
DROP INDEX events_idempotency;
CREATE UNIQUE INDEX events_idempotency ON events (coalesce(app_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_by_app ON events (app_id, created_at, id) WHERE app_id IS NOT NULL;
