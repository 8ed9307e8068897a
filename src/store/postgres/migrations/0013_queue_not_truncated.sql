-- hookshape's PostgreSQL schema, version 13: vacuuming `queue` never truncates it.
-- A VACUUM that finds empty pages at a table's end gives them back to the file system,
-- which needs the table's exclusive lock. `queue` is never without a lease, insert or
-- result for that long, so each VACUUM of it (the store's own, `postgres/vacuum.rs`, and
-- autovacuum's) spent up to five seconds retrying for that lock (wait event
-- `VacuumTruncate`) before it finished, and no other VACUUM of `queue` could run
-- meanwhile: at fan-out 10 the dead row versions of leased rows piled up at the start of
-- the due index that every lease scans from: one run in eight delivered ~250 a second
-- for twelve seconds. The pages truncated would be filled again within seconds anyway.
ALTER TABLE queue SET (vacuum_truncate = false);
