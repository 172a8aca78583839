-- webhookd schema, version 5, for PostgreSQL (see ../0005_api.sql).
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^key_.' AND length(id) <= 40),
    name          text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        text NOT NULL CHECK (json_typeof(scopes::json) = 'array'),
    created_at    bigint NOT NULL,
    expires_at    bigint,
    revoked_at    bigint,
    last_used_at  bigint
);
ALTER TABLE events ADD COLUMN idempotency_fingerprint bytea;
ALTER TABLE events ADD COLUMN app_id text;
CREATE INDEX events_by_created ON events (created_at, id);
ALTER TABLE targets ADD COLUMN app_id text
    CHECK (app_id IS NULL OR (length(app_id) BETWEEN 1 AND 64 AND app_id !~ '[^A-Za-z0-9_.-]'));
ALTER TABLE targets ADD COLUMN body_format text NOT NULL DEFAULT 'envelope'
    CHECK (body_format IN ('envelope', 'data'));
