-- Models "lean" and "logged", results: 54 history rows from what the node holds (insert-if-absent, so a
-- takeover's copy and the node's never both land), and the node's watermark moved in the same
-- statement (which also refuses a node whose row a takeover deleted).
WITH node AS (UPDATE nodes SET model_recorded_before = model_now() WHERE id = 'node-1' RETURNING id),
 finished AS (
  INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at, config_version,
                          request, last_status, last_error, source, event_at, final_started_at, final_duration_ms,
                          final_response_body)
  SELECT model_id('model_delivery_ids'), model_id('model_delivery_ids'), 'bench-0', 'bench.event', 'succeeded', 1,
         model_now(), model_now(), :version, :request, 200, NULL, NULL, model_now(), model_now(), 1, NULL
    FROM generate_series(1, 54), node
  ON CONFLICT (id) DO NOTHING RETURNING id)
SELECT count(*) FROM finished;
