-- webhookd schema, version 8: ordered delivery per key (DESIGN.md "Ordering
-- and payload filters").

-- A delivery of an ordered target waits ('waiting') while the one ahead of
-- it in its group is neither delivered nor dead-lettered. The status CHECK
-- gains the value in place, the way SQLite documents for changes that leave
-- every stored row valid (https://sqlite.org/lang_altertable.html, "other
-- kinds of table schema changes"); the ALTERs below bump the schema cookie,
-- so every connection reads the new CHECK.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'OR status = ''dead_letter''),',
                     'OR status = ''dead_letter''' || char(10) ||
                     '                             OR status = ''waiting''),')
 WHERE type = 'table' AND name = 'deliveries';
PRAGMA writable_schema = RESET;

-- none: unordered. fifo: the target's deliveries go one at a time, in the
-- order their events were recorded. key: the same, per ordering key (events
-- without a key are unordered).
ALTER TABLE targets ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none'
    CHECK (ordering = 'none' OR ordering = 'fifo' OR ordering = 'key');
-- skip: a dead letter lets its group go on. block: the group waits until
-- `dlq release` or `dlq retry`.
ALTER TABLE targets ADD COLUMN ordering_dead_letter TEXT NOT NULL DEFAULT 'skip'
    CHECK (ordering_dead_letter = 'skip' OR ordering_dead_letter = 'block');
-- The event's ordering key, at most 256 bytes of UTF-8.
ALTER TABLE events ADD COLUMN ordering_key TEXT
    CHECK (ordering_key IS NULL OR length(CAST(ordering_key AS BLOB)) BETWEEN 1 AND 256);
-- The delivery's group within its target: '' under fifo, the event's key
-- under key; NULL: unordered (and not in deliveries_ordering).
ALTER TABLE deliveries ADD COLUMN ordering_group TEXT;
-- 1 on a dead letter that holds its group back (ordering_dead_letter block),
-- until released.
ALTER TABLE deliveries ADD COLUMN ordering_blocking INTEGER NOT NULL DEFAULT 0
    CHECK (ordering_blocking = 0 OR ordering_blocking = 1);
-- A group's deliveries by state, in the order they go: the next one waiting,
-- and whether one is ahead of it, are each an index seek.
CREATE INDEX deliveries_ordering ON deliveries (target_id, ordering_group, status, ordering_blocking, id)
    WHERE ordering_group IS NOT NULL;

-- delivery_history shows the group (NULL: unordered), so "what is this key
-- waiting for?" stays one query: see README "Ordered delivery".
DROP VIEW delivery_history;
CREATE VIEW delivery_history AS
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
       strftime('%Y-%m-%dT%H:%M:%fZ', d.created_at / 1000.0, 'unixepoch')      AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.next_attempt_at / 1000.0, 'unixepoch') AS next_attempt_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.updated_at / 1000.0, 'unixepoch')      AS updated_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.completed_at / 1000.0, 'unixepoch')    AS completed_at,
       d.ordering_group    AS ordering_group
FROM deliveries d
JOIN events e ON e.id = d.event_id
JOIN targets t ON t.id = d.target_id;
