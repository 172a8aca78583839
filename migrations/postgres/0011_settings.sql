-- webhookd schema, version 11, for PostgreSQL (see ../0011_settings.sql).
-- value is JSON kept as text, as SQLite keeps it: migrate-store copies it
-- byte for byte.
CREATE TABLE settings (
    name       text PRIMARY KEY,
    value      text NOT NULL CHECK (value::jsonb IS NOT NULL),
    updated_at bigint NOT NULL
);
