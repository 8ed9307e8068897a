-- Model "leased", intake: as "full", but the row leased at intake goes to a table with only a primary key.
-- Model "logged" runs it too, with results_lean.sql: its lease rows are never deleted.
WITH fresh AS (
  INSERT INTO events (uuid, topic, date, received_at, body, source, schema_problems)
  SELECT model_id('model_event_ids'), 'bench.event', '2026-12-07T03:00:00.000Z', model_now(), :body, NULL, NULL
    FROM generate_series(1, 15)
  ON CONFLICT (uuid) DO NOTHING RETURNING uuid, received_at),
 queued AS (
  INSERT INTO model_leased (id, event_uuid, subscription, topic, status, attempts, next_attempt_at, lease_owner, created_at,
                            updated_at, config_version, request, source, event_at)
  SELECT model_id('model_queue_ids'), uuid, 'bench-0', 'bench.event', 'in_flight', 0, model_now() + 30000, 'node-1',
         received_at, received_at, :version, :request, NULL, received_at FROM fresh RETURNING id),
 keyed AS (
  INSERT INTO event_keys (value, path, event_at, event_uuid)
  SELECT k.v || right(f.uuid, 6), k.p, f.received_at, f.uuid FROM fresh f, (VALUES ('c-', 'url'), ('/r/0/c-', 'url')) k(v, p))
SELECT count(*) FROM queued;
