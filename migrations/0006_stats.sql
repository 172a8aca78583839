-- webhookd schema, version 6: a per-minute rollup of attempts for charts.

-- Written in the transaction that records attempts (one upsert per minute
-- and target of a batch), so GET /stats/timeseries reads minutes, not
-- millions of attempt rows. minute: epoch ms floored to the minute, of the
-- attempt's start. lat_*: attempts whose duration is at most that bound and
-- above the one before (the buckets of /metrics), lat_inf the rest.
CREATE TABLE stats_minutely (
    minute          INTEGER NOT NULL,
    target_id       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered       INTEGER NOT NULL DEFAULT 0,
    retried         INTEGER NOT NULL DEFAULT 0,
    dead_lettered   INTEGER NOT NULL DEFAULT 0,
    throttled       INTEGER NOT NULL DEFAULT 0, -- answered 429, 502, 503 or 504
    duration_ms_sum INTEGER NOT NULL DEFAULT 0,
    lat_le_5ms    INTEGER NOT NULL DEFAULT 0, lat_le_10ms  INTEGER NOT NULL DEFAULT 0,
    lat_le_25ms   INTEGER NOT NULL DEFAULT 0, lat_le_50ms  INTEGER NOT NULL DEFAULT 0,
    lat_le_100ms  INTEGER NOT NULL DEFAULT 0, lat_le_250ms INTEGER NOT NULL DEFAULT 0,
    lat_le_500ms  INTEGER NOT NULL DEFAULT 0, lat_le_1s    INTEGER NOT NULL DEFAULT 0,
    lat_le_2500ms INTEGER NOT NULL DEFAULT 0, lat_le_5s    INTEGER NOT NULL DEFAULT 0,
    lat_le_10s    INTEGER NOT NULL DEFAULT 0, lat_le_30s   INTEGER NOT NULL DEFAULT 0,
    lat_inf       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, target_id)
) STRICT, WITHOUT ROWID;
