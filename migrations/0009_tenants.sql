-- webhookd schema, version 9: applications (tenants) as a boundary
-- (DESIGN.md "HTTP API", Tenants).

-- A key bound to one application sees and acts only inside it; NULL is an
-- operator key. kind 'portal' is a portal session: a short-lived bearer for
-- one application, made by POST /apps/{app}/portal-sessions or
-- `webhookctl portal-link`, never able to manage keys.
ALTER TABLE api_keys ADD COLUMN app_id TEXT
    CHECK (app_id IS NULL OR (length(app_id) BETWEEN 1 AND 64 AND app_id NOT GLOB '*[^A-Za-z0-9_.-]*'));
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'key'
    CHECK (kind IN ('key', 'portal') AND (kind = 'key' OR app_id IS NOT NULL));

-- Idempotency keys are per application: two tenants may both use
-- "order-42". An event of no application is in the scope ''.
DROP INDEX events_idempotency;
CREATE UNIQUE INDEX events_idempotency ON events (coalesce(app_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- An application's events, newest first (GET /events with an app key or
-- ?app_id=). Its targets are read from targets itself: a small table, and
-- an index there turned the planner away from the worker's own plans.
CREATE INDEX events_by_app ON events (app_id, created_at, id) WHERE app_id IS NOT NULL;
