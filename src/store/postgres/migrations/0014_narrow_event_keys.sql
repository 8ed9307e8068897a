-- hookshape's PostgreSQL schema, version 14: `event_keys` indexed by what a search and the
-- prune look up, and nothing more.
-- The primary key (value, path, event_at, event_uuid) held each key whole, ~90 bytes an
-- entry, at a random place (values are customer ids, emails, URL paths): after each
-- checkpoint the first insert into each of its pages wrote that whole page to the WAL, and
-- the more history, the more pages, so intake got slower as the history grew. Nothing
-- needs the key unique (an event's keys are a set, inserted once with the event). A search
-- looks up a value (`value = $1`, with `path = $2` checked on the row); the prune, an
-- event's rows by its arrival (`event_at`, with its uuid checked on the row). Each index
-- now holds just that: ~30 bytes an entry, and one entry for many rows where values repeat
-- (B-tree deduplication). `value` compares byte by byte, as the other keys do, which is
-- cheaper than the database's collation and answers equality the same.
ALTER TABLE event_keys DROP CONSTRAINT event_keys_pkey;
ALTER TABLE event_keys ALTER COLUMN value TYPE TEXT COLLATE "C";
CREATE INDEX event_keys_by_value ON event_keys (value);
DROP INDEX event_keys_by_event;
CREATE INDEX event_keys_by_event ON event_keys (event_at);
