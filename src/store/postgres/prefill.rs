//! `bench --prefill N` on PostgreSQL: a history of N finished deliveries, each with its
//! event and one attempt, made by the server itself (`generate_series`) a chunk per
//! statement, so ten million take minutes and no row crosses the network.

use super::{pg_error, PostgresStore};
use crate::store::StoreResult;

/// Deliveries per statement (and transaction): large enough that the statements' own cost
/// is nothing, small enough that one chunk's rows fit in memory while it runs.
const CHUNK: i64 = 250_000;
/// The history spans this long, ending at `History::newest_at`.
pub const SPAN_MS: i64 = 30 * 24 * 3600 * 1000;

/// What to add to the history.
pub struct History<'a> {
    pub deliveries: u64,
    /// The deliveries go to these in turn.
    pub subscriptions: &'a [String],
    /// The newest row's `updated_at`; the others are spread evenly over `SPAN_MS` before it.
    pub newest_at: i64,
}

/// Every prefilled delivery's request (the receiver is never asked: they are finished).
const REQUEST: &str = r#"{"method":"POST","url":"http://127.0.0.1:9/prefill","headers":[],"body":"{\"n\":1}"}"#;

/// One chunk: ids `dlv_0` and 15 digits sort before any live one (`dlv_` and a UUIDv7,
/// `dlv_019…`), and ids, event times and finish times rise together, as in a real history.
/// Event uuids are random, as producers send them; each event is indexed by a customer id
/// of its own (`c-` and its number), as `search_keys: [Customer.Id]` would. Counters kept by triggers on
/// `deliveries` see plain INSERTs, so they stay right.
const INSERT_CHUNK: &str = "
WITH s AS MATERIALIZED (
    SELECT x, 'dlv_0' || lpad(x::text, 15, '0') AS id,
           gen_random_uuid()::text AS uuid,
           ($3::text[])[1 + (x % cardinality($3::text[]))::int] AS subscription,
           $5::bigint - $6::bigint + (x - $7::bigint + 1) * $6::bigint / $4::bigint AS at
      FROM generate_series($1::bigint, $2::bigint) AS x),
 e AS (INSERT INTO events (uuid, topic, date, received_at, body)
       SELECT uuid, 'bench.event', '2026-01-01T00:00:00Z', at, '{}' FROM s),
 k AS (INSERT INTO event_keys (value, path, event_at, event_uuid)
       SELECT 'c-' || x, 'customer.id', at, uuid FROM s),
 d AS (INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, next_attempt_at,
                               created_at, updated_at, config_version, request, last_status, event_at)
       SELECT id, uuid, subscription, 'bench.event', 'succeeded', 1, NULL, at, at, 'prefill', $8, 200, at FROM s)
INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body)
SELECT id, 1, at, 3, 200, '' FROM s";

impl PostgresStore {
    /// Adds `history` to the store's finished deliveries, after any an earlier prefill
    /// made; `progress` hears the count done after each chunk. Then vacuums and analyzes
    /// the three tables, as a database that has held its history a while has them (hint
    /// bits set, statistics known), so the load that follows measures the load.
    pub async fn prefill_finished(&self, history: &History<'_>, progress: &mut dyn FnMut(u64)) -> StoreResult<()> {
        if history.subscriptions.is_empty() {
            return Err(crate::store::StoreError::Rejected("prefill needs at least one subscription".into()));
        }
        let total = i64::try_from(history.deliveries)
            .map_err(|_| crate::store::StoreError::Rejected("prefill: too many deliveries".into()))?;
        let mut client = self.client().await?;
        // Only the prefill's own ids are below dlv_01 (a UUIDv7 of this century starts 01…).
        let last: Option<String> = client
            .query_one("SELECT max(id) FROM deliveries WHERE id < 'dlv_01'", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(pg_error)?;
        let first = last.and_then(|id| id.get(5..)?.parse::<i64>().ok()).map_or(0, |n| n + 1);
        let subscriptions = history.subscriptions.to_vec();
        let mut start = first;
        while start < first + total {
            let end = (start + CHUNK).min(first + total) - 1;
            let tx = client.transaction().await.map_err(pg_error)?;
            // A chunk lost in a crash is no loss: the bench starts again.
            tx.batch_execute("SET LOCAL synchronous_commit = off").await.map_err(pg_error)?;
            tx.execute(
                INSERT_CHUNK,
                &[&start, &end, &subscriptions, &total, &history.newest_at, &SPAN_MS, &first, &REQUEST],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            start = end + 1;
            progress((start - first) as u64);
        }
        // The inserts' statistics go out after the next transaction (PostgreSQL 15 on; before,
        // the function does not exist and there is nothing to wait for): after VACUUM's,
        // they would count the rows twice in n_live_tup.
        client
            .batch_execute(
                "DO $$ BEGIN PERFORM pg_stat_force_next_flush(); EXCEPTION WHEN undefined_function THEN NULL; END $$",
            )
            .await
            .map_err(pg_error)?;
        client.batch_execute("VACUUM (ANALYZE) events, deliveries, attempts, event_keys").await.map_err(pg_error)
    }
}
