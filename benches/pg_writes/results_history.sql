-- Models "floor" and "keys", results: 54 history rows (five index entries each, and the counters' trigger).
INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at, config_version,
                        request, last_status, last_error, source, event_at, final_started_at, final_duration_ms,
                        final_response_body)
SELECT model_id('model_delivery_ids'), model_id('model_delivery_ids'), 'bench-0', 'bench.event', 'succeeded', 1,
       model_now(), model_now(), :version, :request, 200, NULL, NULL, model_now(), model_now(), 1, NULL
  FROM generate_series(1, 54);
