-- hookshape's PostgreSQL schema, version 6: nodes that do not share one set of subscription
-- files, and liveness judged only while the store is reachable.
-- When each node's current run of heartbeats began: a node judges others dead only after
-- writing its own for 10 s since its last gap (a store outage silences every node at once).
ALTER TABLE nodes ADD COLUMN writing_since BIGINT;
-- When some node last had each subscription loaded (the database's clock, refreshed at
-- most every so often): a subscription no node has had loaded for the orphan grace has its
-- deliveries failed, "subscription removed".
CREATE TABLE subscription_seen (
    name    TEXT COLLATE "C" PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
-- The subscriptions with live deliveries today count as loaded now: their grace starts here.
INSERT INTO subscription_seen (name, seen_at)
SELECT DISTINCT subscription, (extract(epoch FROM clock_timestamp()) * 1000)::bigint
  FROM deliveries WHERE status IN ('pending', 'in_flight');
