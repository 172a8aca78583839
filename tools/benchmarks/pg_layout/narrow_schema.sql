-- The "narrow queue table" variant: due and leased rows in a table of their
-- own with the partial indexes; deliveries keeps the history, without them,
-- at fillfactor 80 so its updates can be HOT.
CREATE TABLE queue (delivery_id bigint PRIMARY KEY, target_id text NOT NULL, priority bigint NOT NULL,
                    next_attempt_at bigint NOT NULL, lease_owner text, lease_expires_at bigint);
INSERT INTO queue SELECT id, target_id, priority, next_attempt_at, NULL, NULL FROM deliveries WHERE status = 'pending';
CREATE INDEX queue_due ON queue (priority DESC, next_attempt_at) WHERE lease_owner IS NULL;
CREATE INDEX queue_leased ON queue (lease_expires_at) WHERE lease_owner IS NOT NULL;
CREATE INDEX queue_in_flight ON queue (target_id) WHERE lease_owner IS NOT NULL;
DROP INDEX deliveries_due;
DROP INDEX deliveries_in_flight;
DROP INDEX deliveries_leased;
ALTER TABLE deliveries SET (fillfactor = 80);
