-- webhookd schema, version 7: payload filters.

-- A condition on the event's payload (DESIGN.md "Ordering and payload
-- filters"): compact JSON, {"all": […]}, {"any": […]}, {"not": …} or
-- {"path": …, "op": …, "value": …}. NULL: every payload. Checked when an
-- event fans out, with event_filters: both must hold for a delivery row.
ALTER TABLE targets ADD COLUMN payload_filter TEXT
    CHECK (payload_filter IS NULL OR (json_valid(payload_filter) AND json_type(payload_filter) = 'object'));
