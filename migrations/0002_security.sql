-- webhookd schema, version 2: per-target signature scheme and CA bundle.

-- standard: Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature);
-- github: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>.
ALTER TABLE targets ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'standard'
    CHECK (signature_scheme IN ('standard', 'github'));

-- A PEM file of CA certificates trusted for this target's TLS instead of the
-- worker's (--ca-bundle) or the system's. NULL: the worker's choice.
ALTER TABLE targets ADD COLUMN ca_bundle TEXT CHECK (ca_bundle IS NULL OR ca_bundle <> '');
