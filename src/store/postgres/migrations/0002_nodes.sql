-- hookshape's PostgreSQL schema, version 2: node liveness. Each node writes its heartbeat
-- every second (the database's clock, so nodes' clocks need not agree); the leases of a
-- node silent for 10 s are made due at once by whichever node notices.
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX deliveries_lease_owner ON deliveries (lease_owner) WHERE status = 'in_flight';
