-- History search: what each event is indexed by (`search::event_keys`: its subscriptions'
-- search_keys, its SourceId, its deliveries' URL paths), values and paths lowercase. A
-- search reads the primary key by its prefix (value, or value and path), then the event's
-- deliveries by `deliveries_by_event` (history) or `queue`'s index of event uuids; the prune
-- finds an event's rows by the second index, which grows at its end. Written once, with the
-- event, in the insert's statement; never updated.
CREATE TABLE event_keys (
    value      TEXT NOT NULL,
    path       TEXT NOT NULL,
    event_at   BIGINT NOT NULL,
    event_uuid TEXT NOT NULL,
    PRIMARY KEY (value, path, event_at, event_uuid)
);
CREATE INDEX event_keys_by_event ON event_keys (event_at, event_uuid);
