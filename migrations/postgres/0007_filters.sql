-- webhookd schema, version 7, for PostgreSQL (see ../0007_filters.sql).
ALTER TABLE targets ADD COLUMN payload_filter text
    CHECK (payload_filter IS NULL OR json_typeof(payload_filter::json) = 'object');
