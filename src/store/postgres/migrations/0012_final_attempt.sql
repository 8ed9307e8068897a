-- hookshape's PostgreSQL schema, version 11: the attempt that finished a delivery is kept
-- in its history row, not as a row of `attempts`. Finishing wrote three things per
-- delivery (the queue row's delete, the history row, the attempt with its index entry and
-- an upsert's speculative insertion); most deliveries finish at their first attempt, so
-- `attempts` now holds only the attempts before the last (retried ones) and those recorded
-- by a lease that was lost. Its status code and error are the row's `last_status` and
-- `last_error`. Rows finished before this version have these columns NULL and their
-- attempts all in `attempts`, which readers read either way: nothing to move.
ALTER TABLE deliveries ADD COLUMN final_started_at BIGINT;
ALTER TABLE deliveries ADD COLUMN final_duration_ms BIGINT;
ALTER TABLE deliveries ADD COLUMN final_response_body TEXT;
