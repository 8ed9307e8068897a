-- hookshape's PostgreSQL schema, version 9: rate limits and 429 pauses shared by every
-- node. One row per subscription that has been paced or paused: when its last send slot
-- began (microseconds, the database's clock as nodes read it) and until when it is paused
-- (milliseconds). Updated in place by every claim; no indexed column changes, so the
-- updates are HOT and the free space on the page takes them.
CREATE TABLE rate_slots (
    subscription TEXT COLLATE "C" PRIMARY KEY,
    last_slot_us BIGINT,
    paused_until_ms BIGINT NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
