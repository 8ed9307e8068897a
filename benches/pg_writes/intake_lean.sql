-- Model "lean", intake: the events with their search keys, each carrying the request of its
-- delivery leased at intake, and no queue row (a sketch: BENCHMARKS.md, "What each row costs").
WITH fresh AS (
  INSERT INTO events (uuid, topic, date, received_at, body, source, schema_problems, model_requests)
  SELECT model_id('model_event_ids'), 'bench.event', '2026-12-07T03:00:00.000Z', model_now(), :body, NULL, NULL, :request
    FROM generate_series(1, 15)
  ON CONFLICT (uuid) DO NOTHING RETURNING uuid, received_at),
 keyed AS (
  INSERT INTO event_keys (value, path, event_at, event_uuid)
  SELECT k.v || right(f.uuid, 6), k.p, f.received_at, f.uuid FROM fresh f, (VALUES ('c-', 'url'), ('/r/0/c-', 'url')) k(v, p))
SELECT count(*) FROM fresh;
