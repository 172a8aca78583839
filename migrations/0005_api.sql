-- webhookd schema, version 5: the HTTP API.

-- API keys. The token is whk_<id>_<secret>; only the SHA-256 of the secret is
-- kept, compared in constant time. scopes: a JSON array of events:write,
-- read, manage, admin. last_used_at is written at most once a minute.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY CHECK (id GLOB 'key_?*' AND length(id) <= 40),
    name          TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        TEXT NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    last_used_at  INTEGER
) STRICT;

-- Idempotency: the SHA-256 of what the key was first used with (type,
-- payload, targets, priority, app); a repeat with another request is refused.
-- Written only with a key.
ALTER TABLE events ADD COLUMN idempotency_fingerprint BLOB;
-- The application (tenant) the event was sent for: it went only to that
-- application's targets.
ALTER TABLE events ADD COLUMN app_id TEXT;
-- GET /events pages newest first by (created_at, id).
CREATE INDEX events_by_created ON events (created_at, id);

-- Tenants: a target of an application receives only that application's
-- events (and every event sent without one, as before).
ALTER TABLE targets ADD COLUMN app_id TEXT
    CHECK (app_id IS NULL OR (length(app_id) BETWEEN 1 AND 64 AND app_id NOT GLOB '*[^A-Za-z0-9_.-]*'));
-- envelope: {id, type, timestamp, data}; data: the payload alone, as Svix,
-- Convoy and Hook0 send it.
ALTER TABLE targets ADD COLUMN body_format TEXT NOT NULL DEFAULT 'envelope'
    CHECK (body_format IN ('envelope', 'data'));
