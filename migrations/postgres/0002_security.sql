-- webhookd schema, version 2, for PostgreSQL (see ../0002_security.sql).
ALTER TABLE targets ADD COLUMN signature_scheme text NOT NULL DEFAULT 'standard'
    CHECK (signature_scheme IN ('standard', 'github'));
ALTER TABLE targets ADD COLUMN ca_bundle text CHECK (ca_bundle IS NULL OR ca_bundle <> '');
