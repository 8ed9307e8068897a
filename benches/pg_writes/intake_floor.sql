-- Model "floor", intake: 15 events, each with its two index entries, and nothing else.
INSERT INTO events (uuid, topic, date, received_at, body, source, schema_problems)
SELECT model_id('model_event_ids'), 'bench.event', '2026-12-07T03:00:00.000Z', model_now(), :body, NULL, NULL
  FROM generate_series(1, 15)
ON CONFLICT (uuid) DO NOTHING;
