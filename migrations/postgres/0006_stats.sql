-- webhookd schema, version 6, for PostgreSQL (see ../0006_stats.sql).
CREATE TABLE stats_minutely (
    minute          bigint NOT NULL,
    target_id       text NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    delivered       bigint NOT NULL DEFAULT 0,
    retried         bigint NOT NULL DEFAULT 0,
    dead_lettered   bigint NOT NULL DEFAULT 0,
    throttled       bigint NOT NULL DEFAULT 0,
    duration_ms_sum bigint NOT NULL DEFAULT 0,
    lat_le_5ms    bigint NOT NULL DEFAULT 0, lat_le_10ms  bigint NOT NULL DEFAULT 0,
    lat_le_25ms   bigint NOT NULL DEFAULT 0, lat_le_50ms  bigint NOT NULL DEFAULT 0,
    lat_le_100ms  bigint NOT NULL DEFAULT 0, lat_le_250ms bigint NOT NULL DEFAULT 0,
    lat_le_500ms  bigint NOT NULL DEFAULT 0, lat_le_1s    bigint NOT NULL DEFAULT 0,
    lat_le_2500ms bigint NOT NULL DEFAULT 0, lat_le_5s    bigint NOT NULL DEFAULT 0,
    lat_le_10s    bigint NOT NULL DEFAULT 0, lat_le_30s   bigint NOT NULL DEFAULT 0,
    lat_inf       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, target_id)
);

-- Wake-ups (PostgreSQL only): workers LISTEN on "webhookd" and poll as the
-- backstop. New deliveries, and deliveries made due again by hand (a
-- dead letter retried, a delivery resent), say "deliveries"; a change to a
-- target that the workers' caches hold (a person's edit, which moves
-- updated_at; the breaker; enabled) says "targets". Spending tokens and
-- adapting rates say nothing: every claim does that, under the row's lock.
CREATE FUNCTION webhookd_notify() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_notify('webhookd', TG_ARGV[0]); RETURN NULL; END $$;

CREATE TRIGGER deliveries_inserted AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION webhookd_notify('deliveries');
CREATE TRIGGER deliveries_redriven AFTER UPDATE ON deliveries FOR EACH ROW
    WHEN (NEW.status = 'pending' AND OLD.status <> 'pending' AND OLD.status <> 'in_progress')
    EXECUTE FUNCTION webhookd_notify('deliveries');
CREATE TRIGGER targets_added_or_removed AFTER INSERT OR DELETE ON targets
    FOR EACH STATEMENT EXECUTE FUNCTION webhookd_notify('targets');
CREATE TRIGGER targets_changed AFTER UPDATE ON targets FOR EACH ROW
    WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.enabled IS DISTINCT FROM NEW.enabled
          OR OLD.paused_until IS DISTINCT FROM NEW.paused_until)
    EXECUTE FUNCTION webhookd_notify('targets');
