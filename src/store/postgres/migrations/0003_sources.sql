-- hookshape's PostgreSQL schema, version 3: the inbound source an event came through,
-- on the event and on its deliveries (history filters by it).
ALTER TABLE events ADD COLUMN source TEXT;
ALTER TABLE deliveries ADD COLUMN source TEXT COLLATE "C";
CREATE INDEX deliveries_source ON deliveries (source) WHERE source IS NOT NULL;
