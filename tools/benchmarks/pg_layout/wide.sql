-- One batch of 64 on webhookd's schema: claim (the due walk) and lease, then finish and attempts.
SELECT nextval('bseq') AS b \gset
BEGIN;
SELECT id FROM deliveries WHERE (status = 'pending' OR status = 'failed' OR status = 'rate_limited') AND priority = 0 AND next_attempt_at <= 9999999999999 ORDER BY priority DESC, next_attempt_at LIMIT 72 FOR UPDATE SKIP LOCKED;
UPDATE deliveries SET status = 'in_progress', lease_owner = 'w', lease_expires_at = 9999999999999, updated_at = 1 WHERE id BETWEEN :b * 64 + 1 AND :b * 64 + 64;
COMMIT;
BEGIN;
UPDATE deliveries SET status = 'delivered', attempt_count = attempt_count + 1, next_attempt_at = 0, last_status_code = 204, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = 2, completed_at = 2 WHERE id BETWEEN :b * 64 + 1 AND :b * 64 + 64 AND status = 'in_progress' AND lease_owner = 'w';
INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) SELECT g, 1, 1, 1, 204 FROM generate_series(:b * 64 + 1, :b * 64 + 64) g;
COMMIT;
