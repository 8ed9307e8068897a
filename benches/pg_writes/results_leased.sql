-- Model "leased", results: as results_queue.sql, from the table of rows leased at intake.
WITH r AS (SELECT id FROM model_leased WHERE id > :last ORDER BY id LIMIT 54),
 done AS (
  DELETE FROM model_leased q USING r WHERE q.id = r.id AND q.lease_owner = 'node-1'
  RETURNING q.id, q.event_uuid, q.subscription, q.topic, q.created_at, q.config_version, q.request, q.source, q.event_at),
 finished AS (
  INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at, config_version,
                          request, last_status, last_error, source, event_at, final_started_at, final_duration_ms,
                          final_response_body)
  SELECT id, event_uuid, subscription, topic, 'succeeded', 1, created_at, model_now(), config_version, request, 200, NULL,
         source, event_at, model_now(), 1, NULL FROM done RETURNING id)
SELECT coalesce(max(id), :last) AS last FROM finished
\gset
