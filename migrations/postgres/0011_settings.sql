-- webhookd schema, version 11, for PostgreSQL (see ../0011_settings.sql).
CREATE TABLE settings (
    name       text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at bigint NOT NULL
);
