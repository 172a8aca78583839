-- webhookd schema, version 8, for PostgreSQL (see ../0008_ordering.sql).
-- A group's changes take a transaction-scoped advisory lock on the group
-- (storage/sql/ordering.cpp), so sessions side by side decide in turn.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status = 'pending' OR status = 'in_progress' OR status = 'delivered'
           OR status = 'failed' OR status = 'rate_limited' OR status = 'dead_letter' OR status = 'waiting');
ALTER TABLE targets ADD COLUMN ordering text NOT NULL DEFAULT 'none'
    CHECK (ordering = 'none' OR ordering = 'fifo' OR ordering = 'key');
ALTER TABLE targets ADD COLUMN ordering_dead_letter text NOT NULL DEFAULT 'skip'
    CHECK (ordering_dead_letter = 'skip' OR ordering_dead_letter = 'block');
ALTER TABLE events ADD COLUMN ordering_key text
    CHECK (ordering_key IS NULL OR octet_length(ordering_key) BETWEEN 1 AND 256);
ALTER TABLE deliveries ADD COLUMN ordering_group text;
ALTER TABLE deliveries ADD COLUMN ordering_blocking bigint NOT NULL DEFAULT 0
    CHECK (ordering_blocking = 0 OR ordering_blocking = 1);
CREATE INDEX deliveries_ordering ON deliveries (target_id, ordering_group, status, ordering_blocking, id)
    WHERE ordering_group IS NOT NULL;

CREATE OR REPLACE VIEW delivery_history AS
SELECT d.id                AS delivery_id,
       e.uid               AS event_uid,
       e.type              AS event_type,
       d.target_id         AS target_id,
       t.url               AS target_url,
       d.status            AS status,
       d.priority          AS priority,
       d.attempt_count     AS attempt_count,
       d.last_status_code  AS last_status_code,
       d.last_error        AS last_error,
       webhookd_iso(d.created_at)      AS created_at,
       webhookd_iso(d.next_attempt_at) AS next_attempt_at,
       webhookd_iso(d.updated_at)      AS updated_at,
       webhookd_iso(d.completed_at)    AS completed_at,
       d.ordering_group                AS ordering_group
FROM deliveries d
JOIN events e ON e.id = d.event_id
JOIN targets t ON t.id = d.target_id;
