-- hookshape's SQLite schema. Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS events (
    uuid        TEXT PRIMARY KEY,
    topic       TEXT NOT NULL,
    date        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    body        TEXT NOT NULL,
    source      TEXT,
    -- What its catalog topics with `validation: warn` found wrong (a JSON array), or NULL.
    schema_problems TEXT
);
-- For pruning: the events past the retention, found without reading the whole history
-- (the prune runs on the writer, which every intake waits for).
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);

-- One row per (event, subscription). For in_flight rows next_attempt_at is the lease
-- expiry, so one index finds both due pending rows and expired leases.
CREATE TABLE IF NOT EXISTS deliveries (
    id              TEXT PRIMARY KEY,
    event_uuid      TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    topic           TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    config_version  TEXT NOT NULL,
    request         TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    source          TEXT,
    -- The event's received_at: an event's deliveries are found by it (see `upgrade`).
    event_at        INTEGER
);
-- Partial: only live rows, so the lease query reads a queue-sized index however long the
-- history, and a finished delivery leaves it instead of moving within it. Queries of live
-- rows repeat its WHERE word for word (SQLite uses a partial index only then;
-- `query::live_rows!`).
CREATE INDEX IF NOT EXISTS deliveries_live ON deliveries (status, next_attempt_at) WHERE status IN ('pending', 'in_flight');

-- Without rowid: an attempt is stored once, in its key's b-tree, where a rowid table keeps
-- it twice (the table and its key's index), one more page per commit. Files made before
-- keep their rowid table; the statements are the same for both.
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id   TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;

-- Live state of each subscription, shared by every node: auto-disable and its counter.
CREATE TABLE IF NOT EXISTS subscription_state (
    name                 TEXT PRIMARY KEY,
    disabled             INTEGER NOT NULL DEFAULT 0,
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    updated_at           INTEGER NOT NULL
);
-- History pages are newest first by id: a filter on state, or on subscription and state,
-- reads its page straight off one of these (the console's deliveries page at any size).
-- Partial, without the live rows: a fresh delivery enters them once, when it finishes,
-- instead of entering, leaving and entering again, two pages fewer in each commit; pages
-- of live rows read `deliveries_live`. Queries repeat the WHERE word for word
-- (`query::off_queue_rows!`).
CREATE INDEX IF NOT EXISTS deliveries_subscription_id_off_queue ON deliveries (subscription, status, id)
    WHERE status NOT IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS deliveries_status_id_off_queue ON deliveries (status, id)
    WHERE status NOT IN ('pending', 'in_flight');
-- For pruning; partial, so a delivery enters it once, when it finishes. Its WHERE has no
-- IN list of three or more: SQLite evaluates one of those through a temporary b-tree it
-- builds, and a partial index's WHERE is evaluated at every insert and update of a row
-- (`query::finished_rows!`).
CREATE INDEX IF NOT EXISTS deliveries_finished_by_time ON deliveries (updated_at)
    WHERE status NOT IN ('pending', 'in_flight') AND status <> 'held';

-- History search: what each event is indexed by (`search::event_keys`: its subscriptions'
-- search_keys, its SourceId, its deliveries' URL paths), values and paths lowercase. A
-- search reads the primary key by its prefix (value, or value and path), then the event's
-- deliveries by `deliveries_by_event`; the prune finds an event's rows by the second index,
-- which grows at its end. Written once, with the event; never updated.
CREATE TABLE IF NOT EXISTS event_keys (
    value      TEXT NOT NULL,
    path       TEXT NOT NULL,
    event_at   INTEGER NOT NULL,
    event_uuid TEXT NOT NULL,
    PRIMARY KEY (value, path, event_at, event_uuid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_keys_by_event ON event_keys (event_at, event_uuid);

-- The serving process's last sign of life: a write every second, so readiness fails when
-- writes do (a full disk).
CREATE TABLE IF NOT EXISTS heartbeat (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    node TEXT NOT NULL,
    at   INTEGER NOT NULL
);

-- Console sessions signed out before their expiry (seconds), so that their cookies stop
-- working on every node and after a restart; forgotten once they would have expired.
CREATE TABLE IF NOT EXISTS revoked_sessions (
    nonce TEXT PRIMARY KEY,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- Rate-limited subscriptions' last send slot (µs) and 429 pauses (ms): the store answers
-- from memory, and writes each change here before a request goes, so that a restart (a
-- deploy, a crash) neither forgets a turn nor lifts a pause.
CREATE TABLE IF NOT EXISTS pacing (
    subscription TEXT PRIMARY KEY,
    last_slot_us INTEGER,
    paused_until_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
