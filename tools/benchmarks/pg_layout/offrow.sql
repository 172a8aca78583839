-- The same batch with the queue state off the deliveries row: the lease writes
-- only the narrow row; the finish writes the history row once (HOT when its
-- page has room: no index of deliveries covers what changes) and deletes the
-- narrow row (narrow_schema.sql's tables).
SELECT nextval('bseq') AS b \gset
BEGIN;
SELECT delivery_id FROM queue WHERE lease_owner IS NULL AND priority = 0 AND next_attempt_at <= 9999999999999 ORDER BY priority DESC, next_attempt_at LIMIT 72 FOR UPDATE SKIP LOCKED;
UPDATE queue SET lease_owner = 'w', lease_expires_at = 9999999999999 WHERE delivery_id BETWEEN :b * 64 + 1 AND :b * 64 + 64;
COMMIT;
BEGIN;
DELETE FROM queue WHERE delivery_id BETWEEN :b * 64 + 1 AND :b * 64 + 64 AND lease_owner = 'w';
UPDATE deliveries SET status = 'delivered', attempt_count = attempt_count + 1, last_status_code = 204, last_error = NULL, updated_at = 2, completed_at = 2 WHERE id BETWEEN :b * 64 + 1 AND :b * 64 + 64;
INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) SELECT g, 1, 1, 1, 204 FROM generate_series(:b * 64 + 1, :b * 64 + 64) g;
COMMIT;
