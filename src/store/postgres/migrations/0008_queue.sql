-- hookshape's PostgreSQL schema, version 8: the live queue apart from the finished history.
-- A delivery changes state three times while live (pending, in_flight, done) and each change
-- moves indexed columns, so no update is HOT: every one left a dead row version and an
-- entry in every index of a table that held the whole history. Live rows now live in
-- `queue`, small and indexed only for what the sender needs; a delivery is written once
-- to `deliveries` when it finishes and never updated there (a retry moves it back).

-- Same columns, in the same order, as `deliveries`. Room left on each page so that an
-- update may find space on its own page.
CREATE TABLE queue (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_uuid      TEXT COLLATE "C" NOT NULL,
    subscription    TEXT COLLATE "C" NOT NULL,
    topic           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'in_flight', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_owner     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    config_version  TEXT NOT NULL,
    request         TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    source          TEXT COLLATE "C",
    event_at        BIGINT
) WITH (fillfactor = 70);

INSERT INTO queue
SELECT id, event_uuid, subscription, topic, status, attempts, next_attempt_at, lease_owner, created_at, updated_at,
       config_version, request, last_status, last_error, source, event_at
  FROM deliveries WHERE status IN ('pending', 'in_flight', 'held');
DELETE FROM deliveries WHERE status IN ('pending', 'in_flight', 'held');
-- A row has a lease owner exactly while it is in flight: recording a result finds the
-- holder's row by id and owner alone.
UPDATE queue SET lease_owner = NULL WHERE status <> 'in_flight' AND lease_owner IS NOT NULL;
UPDATE queue SET status = 'pending' WHERE status = 'in_flight' AND lease_owner IS NULL;
ALTER TABLE queue ADD CONSTRAINT queue_owner_while_in_flight CHECK ((status = 'in_flight') = (lease_owner IS NOT NULL));

-- Due rows (pending, and in-flight ones by their lease expiry), oldest first.
CREATE INDEX queue_due ON queue (next_attempt_at) WHERE status IN ('pending', 'in_flight');
-- Per subscription: the capped lease, holding, enabling, and the orphans' failure.
CREATE INDEX queue_subscription ON queue (subscription, status, next_attempt_at);
CREATE INDEX queue_lease_owner ON queue (lease_owner) WHERE status = 'in_flight';
CREATE INDEX queue_event ON queue (event_uuid);

-- The history keeps what its pages, filters, the prune and event lookups read.
DROP INDEX deliveries_due;
DROP INDEX deliveries_lease_owner;
DROP INDEX deliveries_subscription_live;
DROP INDEX deliveries_finished;
CREATE INDEX deliveries_updated ON deliveries (updated_at);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_finished_only CHECK (status IN ('succeeded', 'failed', 'shadow'));

-- Finished deliveries by subscription, status and hour (of `updated_at`; hour 0 holds every
-- hour folded by `compact_counts`), one row per connection's shard so that nodes finishing
-- deliveries at once do not wait on one row. Kept by the triggers below, in the same
-- transaction as the history's change, so reading counts never reads the history.
CREATE TABLE delivery_counts (
    subscription TEXT COLLATE "C" NOT NULL,
    status       TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    shard        INTEGER NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (subscription, status, hour, shard)
);

INSERT INTO delivery_counts (subscription, status, hour, shard, n)
SELECT subscription, status, updated_at / 3600000, 0, count(*) FROM deliveries GROUP BY 1, 2, 3;

-- One upsert per (subscription, status, hour) per statement, in key order so that two
-- statements never take the same rows' locks in opposite orders.
CREATE FUNCTION delivery_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_counts AS c (subscription, status, hour, shard, n)
    SELECT subscription, status, updated_at / 3600000, pg_backend_pid() % 8, count(*)
      FROM added GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (subscription, status, hour, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION delivery_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_counts AS c (subscription, status, hour, shard, n)
    SELECT subscription, status, updated_at / 3600000, pg_backend_pid() % 8, -count(*)
      FROM removed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (subscription, status, hour, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_counted_in AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_added();
CREATE TRIGGER deliveries_counted_out AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_removed();
