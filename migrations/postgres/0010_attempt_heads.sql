-- webhookd schema, version 10, for PostgreSQL (see ../0010_attempt_heads.sql).
ALTER TABLE attempts ADD COLUMN request_head text;
ALTER TABLE attempts ADD COLUMN response_head text;
