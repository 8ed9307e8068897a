-- hookshape's PostgreSQL schema, version 1. Times are milliseconds since the Unix epoch.
-- Keys are COLLATE "C" so ids (time-ordered) sort bytewise, as the history cursor needs.
CREATE TABLE events (
    uuid        TEXT COLLATE "C" PRIMARY KEY,
    topic       TEXT NOT NULL,
    date        TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX events_received ON events (received_at);

-- One row per (event, subscription). For in_flight rows next_attempt_at is the lease
-- expiry, so one index finds both due pending rows and expired leases.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_uuid      TEXT COLLATE "C" NOT NULL,
    subscription    TEXT COLLATE "C" NOT NULL,
    topic           TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'in_flight', 'succeeded', 'failed', 'held', 'shadow')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_owner     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    config_version  TEXT NOT NULL,
    request         TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_event ON deliveries (event_uuid);
CREATE INDEX deliveries_subscription ON deliveries (subscription, status, next_attempt_at);
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status IN ('succeeded', 'failed', 'shadow');
CREATE INDEX deliveries_status ON deliveries (status);

CREATE TABLE attempts (
    delivery_id   TEXT COLLATE "C" NOT NULL,
    attempt       INTEGER NOT NULL,
    started_at    BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- Live state of each subscription, shared by every node: auto-disable and its counter.
CREATE TABLE subscription_state (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    updated_at           BIGINT NOT NULL
);
