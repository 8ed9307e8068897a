-- The models' ids and clock, applied after hookshape's migrations (run.sh, and the test
-- tests/it/pg_writes.rs that keeps these scripts true to the schema). Ids are ordered, as
-- hookshape's time-ordered uuids and delivery ids are, and 36 characters long as they are.
CREATE SEQUENCE model_event_ids;
CREATE SEQUENCE model_queue_ids;
CREATE SEQUENCE model_delivery_ids;
CREATE FUNCTION model_id(seq regclass) RETURNS text LANGUAGE sql AS $$ SELECT lpad(nextval(seq)::text, 36, '0') $$;
CREATE FUNCTION model_now() RETURNS bigint LANGUAGE sql AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
-- Model "lean" (a sketch of a delivery leased at intake with no queue row): its request is
-- kept with its event, and each recorder batch moves its node's watermark.
ALTER TABLE events ADD COLUMN model_requests text;
ALTER TABLE nodes ADD COLUMN model_recorded_before bigint;
INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ('node-1', 0, 0);
-- Model "leased" (a sketch of another change): a delivery leased at intake gets a row in a
-- table of its own with the queue's columns and only a primary key.
CREATE TABLE model_leased (LIKE queue INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (id));
