-- An event's deliveries by the time the event arrived, then its uuid: new entries go at
-- the index's end, where the uuid alone (random) put each on a page of its own, and
-- PostgreSQL writes an entry for every new version of a row whose state changes.
ALTER TABLE deliveries ADD COLUMN event_at BIGINT;
CREATE INDEX deliveries_by_event ON deliveries (event_at, event_uuid) WHERE event_at IS NOT NULL;
-- Rows with no event_at: those from before this migration, which are pruned in time, and
-- any added to an event pruned meanwhile (a replay racing the pruner).
CREATE INDEX deliveries_by_event_uuid ON deliveries (event_uuid) WHERE event_at IS NULL;
DROP INDEX deliveries_event;
-- The capped lease's queue per subscription holds live rows only: a finished row's new
-- version adds no entry to it. Held rows are found by deliveries_subscription_id.
CREATE INDEX deliveries_subscription_live ON deliveries (subscription, next_attempt_at)
    WHERE status IN ('pending', 'in_flight');
DROP INDEX deliveries_subscription;
