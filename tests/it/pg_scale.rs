//! The PostgreSQL store at scale, measured in rows, not time: over a history of 200,000
//! finished deliveries, no statement that runs on a timer or for a page scans the history
//! or reads more than a bounded number of its rows; and the finished-delivery counters
//! those statements read agree with the history through every kind of change.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookshape::accept::new_delivery_id;
use hookshape::store::postgres::{timer_and_page_statements, PostgresStore};
use hookshape::store::*;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::helpers::new_uuid;
use crate::pg::{migration_files, PgSchema};

/// Finished deliveries in the history the plan test fills.
const HISTORY: i64 = 200_000;
/// The most rows of `deliveries` or `attempts` any one plan node may examine: a page's
/// worth and then some, and nothing like the history's size.
const MOST_ROWS: f64 = 1_000.0;

fn request(sub: &str) -> StoredRequest {
    StoredRequest {
        method: "POST".into(),
        url: format!("http://127.0.0.1:9/{sub}"),
        headers: vec![],
        body: Some("{}".into()),
        sensitive: vec![],
        masked: vec![],
    }
}

pub(crate) fn delivery(sub: &str, status: DeliveryStatus) -> NewDelivery {
    NewDelivery {
        id: new_delivery_id(),
        subscription: sub.into(),
        status,
        request: request(sub),
        error: (status == DeliveryStatus::Failed).then(|| "did not render".to_string()),
        config_version: "v1".into(),
        lease: None,
        needs_activation: false,
    }
}

async fn insert(store: &Arc<dyn Store>, deliveries: Vec<NewDelivery>) -> String {
    let uuid = new_uuid();
    let event = NewEvent {
        keys: Vec::new(),
        schema_problems: Vec::new(),
        uuid: uuid.clone(),
        topic: "T".into(),
        date: "2026-11-23T10:00:00Z".into(),
        received_at: hookshape::now_ms(),
        body: "{}".into(),
        source: None,
        deliveries,
    };
    store.insert_events(vec![event]).await.unwrap();
    uuid
}

/// A lease with nothing to sweep and no cap: the one-statement lease.
fn lease_req(owner: &str) -> LeaseRequest {
    LeaseRequest {
        owner: owner.into(),
        now: hookshape::now_ms(),
        lease_ms: Default::default(),
        default_lease_ms: 60_000,
        limit: 100,
        caps: Default::default(),
        exclude: vec![],
        sweep_held: false,
        loaded: None,
    }
}

/// Fills the history with `HISTORY` finished deliveries (one a second back from now, so
/// they span some 55 hours; every seventh failed; ten subscriptions), each with its event
/// and one attempt, by statements run in the server.
async fn fill_history(client: &tokio_postgres::Client, now: i64) {
    let request = serde_json::to_string(&request("s")).unwrap();
    client
        .execute(
            "INSERT INTO events (uuid, topic, date, received_at, body)
             SELECT 'ev-' || lpad(i::text, 7, '0'), 'T', '2026-11-23T10:00:00Z', $1::bigint - ($2::bigint - i) * 1000, '{}'
               FROM generate_series(1, $2::bigint) AS i",
            &[&now, &HISTORY],
        )
        .await
        .unwrap();
    // Ids below any real one (those are `dlv_` and a UUIDv7, time first), oldest least.
    client
        .execute(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                                     config_version, request, last_status, event_at)
             SELECT 'dlv_0000' || lpad(i::text, 28, '0'), 'ev-' || lpad(i::text, 7, '0'), 's' || (i % 10), 'T',
                    CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 1, t, t, 'v1', $3,
                    CASE WHEN i % 7 = 0 THEN 500 ELSE 200 END, t
               FROM (SELECT i, $1::bigint - ($2::bigint - i) * 1000 AS t FROM generate_series(1, $2::bigint) AS i) AS g",
            &[&now, &HISTORY, &request],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code)
             SELECT id, 1, created_at, 5, last_status FROM deliveries",
            &[],
        )
        .await
        .unwrap();
    // Every event indexed by a customer id that 4 events share (`C-1007` among them).
    client
        .execute(
            "INSERT INTO event_keys (value, path, event_at, event_uuid)
             SELECT 'c-' || (i % 50000), 'customer.id', $1::bigint - ($2::bigint - i) * 1000, 'ev-' || lpad(i::text, 7, '0')
               FROM generate_series(1, $2::bigint) AS i",
            &[&now, &HISTORY],
        )
        .await
        .unwrap();
    client.batch_execute("ANALYZE").await.unwrap();
}

/// Each plan node that reads `deliveries` or `attempts`: its type, table and the rows it
/// examined (returned, and removed by its filter, over all its loops).
fn history_reads(plan: &Value, found: &mut Vec<(String, String, f64)>) {
    let number = |key: &str| plan.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    if let Some(table @ ("deliveries" | "attempts" | "event_keys")) = plan.get("Relation Name").and_then(Value::as_str)
    {
        let examined =
            (number("Actual Rows") + number("Rows Removed by Filter") + number("Rows Removed by Index Recheck"))
                * number("Actual Loops").max(1.0);
        let kind = plan["Node Type"].as_str().unwrap_or("?").to_string();
        found.push((kind, table.to_string(), examined));
    }
    for child in plan.get("Plans").and_then(Value::as_array).into_iter().flatten() {
        history_reads(child, found);
    }
}

/// EXPLAIN ANALYZE of `sql` (in a transaction rolled back, so each statement sees the same
/// data): its reads of the history.
async fn reads_of(
    client: &mut tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Vec<(String, String, f64)> {
    let tx = client.transaction().await.unwrap();
    let explained = tx
        .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN of {sql}: {e}"));
    tx.rollback().await.unwrap();
    let JsonText(plan) = explained.get(0);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let mut found = Vec::new();
    history_reads(&plan[0]["Plan"], &mut found);
    found
}

/// A `json` value as its text (EXPLAIN's JSON output is typed `json`).
struct JsonText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for JsonText {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(std::str::from_utf8(raw)?.to_string()))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSON
    }
}

fn misreads(reads: &[(String, String, f64)]) -> Vec<&(String, String, f64)> {
    reads.iter().filter(|(kind, _, rows)| kind == "Seq Scan" || *rows > MOST_ROWS).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_no_timer_or_page_statement_reads_more_of_a_larger_history() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let mut client = schema.client().await;
    let now = hookshape::now_ms();
    // Some live work beside the history: due, leased, and held.
    store.heartbeat("node-a", now).await.unwrap();
    for _ in 0..20 {
        insert(&store, vec![delivery("s3", DeliveryStatus::Pending)]).await;
    }
    assert_eq!(store.lease(LeaseRequest { limit: 10, ..lease_req("node-a") }).await.unwrap().len(), 10);
    for _ in 0..10 {
        insert(&store, vec![delivery("live", DeliveryStatus::Pending)]).await;
    }
    store.disable("live", "paused").await.unwrap();
    fill_history(&client, now).await;

    // The check itself sees what it looks for: a whole-history count is flagged.
    let count_all = reads_of(&mut client, "SELECT count(*) FROM deliveries", &[]).await;
    assert!(!misreads(&count_all).is_empty(), "{count_all:?}");

    let middle = format!("dlv_0000{:028}", HISTORY / 2);
    let event = format!("ev-{:07}", HISTORY / 2);
    let statements = timer_and_page_statements(now, "node-a", &middle, "s3", &event);
    assert!(statements.len() > 15);
    let mut report = Vec::new();
    for s in &statements {
        let params: Vec<&(dyn ToSql + Sync)> = s.params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let reads = reads_of(&mut client, &s.sql, &params).await;
        let bad = misreads(&reads);
        assert!(bad.is_empty(), "{} reads the history as it grows: {bad:?}\n{}", s.name, s.sql);
        report.push(format!("{}: {reads:?}", s.name));
    }
    // The pages read what they show: a history page reads its rows off the history.
    let page = report.iter().find(|r| r.starts_with("history page:")).unwrap();
    assert!(page.contains("deliveries"), "{page}");
    let search = report.iter().find(|r| r.starts_with("history search by key:")).unwrap();
    assert!(search.contains("event_keys") && search.contains("deliveries"), "{search}");

    // The real store answers from the counters as the history holds them.
    let stats = store.queue_stats(true).await.unwrap();
    let failed = (1..=HISTORY).filter(|i| i % 7 == 0).count() as u64;
    assert_eq!(stats.by_status["failed"], failed);
    assert_eq!(stats.by_status["succeeded"], HISTORY as u64 - failed);
    assert_eq!((stats.by_status["pending"], stats.by_status["in_flight"], stats.by_status["held"]), (10, 10, 10));
    counters_agree_with_the_history(&store, &client).await;
    store.compact_counts(now).await.unwrap();
    counters_agree_with_the_history(&store, &client).await;
    let rows: i64 = client.query_one("SELECT count(*) FROM delivery_counts", &[]).await.unwrap().get(0);
    // Ten subscriptions, two outcomes, hour 0 and the last 25 hours at most.
    assert!(rows <= 10 * 2 * 27, "{rows} counter rows after folding");
}

/// The counters, summed, against a real count of the history; and what
/// `subscription_states` reports against both tables and the last 24 hours of history.
async fn counters_agree_with_the_history(store: &Arc<dyn Store>, client: &tokio_postgres::Client) {
    let counted = |sql: &'static str| async move {
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| ((r.get::<_, String>(0), r.get::<_, String>(1)), r.get::<_, i64>(2)))
            .collect::<BTreeMap<_, _>>()
    };
    let counters =
        counted("SELECT subscription, status, sum(n)::bigint FROM delivery_counts GROUP BY 1, 2 HAVING sum(n) <> 0")
            .await;
    let history = counted("SELECT subscription, status, count(*) FROM deliveries GROUP BY 1, 2").await;
    assert_eq!(counters, history, "the counters against the history");
    let live = counted("SELECT subscription, status, count(*) FROM queue GROUP BY 1, 2").await;
    let recent = counted(
        "SELECT subscription, status, count(*) FROM deliveries
          WHERE updated_at / 3600000 >= (extract(epoch FROM now()) * 1000)::bigint / 3600000 - 24 GROUP BY 1, 2",
    )
    .await;
    let states = store.subscription_states().await.unwrap();
    for ((sub, status), n) in history.iter().chain(&live) {
        let state = states.iter().find(|s| &s.name == sub).unwrap_or_else(|| panic!("{sub} not listed"));
        assert_eq!(state.counts[status], *n as u64, "{sub} {status}");
    }
    for state in &states {
        let of = |status: &str| recent.get(&(state.name.clone(), status.to_string())).copied().unwrap_or(0) as u64;
        let expected = RecentOutcomes { succeeded: of("succeeded"), failed: of("failed") };
        assert_eq!(state.last_24h, expected, "{}'s last 24 hours", state.name);
    }
}

/// Every change that moves a delivery into or out of the history keeps the counters equal
/// to a count of it: intake (straight to history when stored finished), results, retries
/// of finished deliveries, orphans failed, prunes, and compactions, two at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counters_follow_every_change_to_the_history() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let client = schema.client().await;
    store.heartbeat("n", hookshape::now_ms()).await.unwrap();
    let everything = ["a".to_string(), "b".to_string(), "gone".to_string()];
    store.keep_loaded("n", &everything, 60_000).await.unwrap();
    for _ in 0..4 {
        let mut ds: Vec<NewDelivery> =
            ["a", "b", "gone"].iter().map(|s| delivery(s, DeliveryStatus::Pending)).collect();
        ds.push(delivery("a", DeliveryStatus::Shadow));
        ds.push(delivery("b", DeliveryStatus::Failed));
        insert(&store, ds).await;
    }
    counters_agree_with_the_history(&store, &client).await;
    assert_eq!(store.queue_stats(false).await.unwrap().by_status["pending"], 12);

    // One lease statement takes them all; a's succeed, b's fail or retry.
    let leased = store.lease(lease_req("n")).await.unwrap();
    assert_eq!(leased.len(), 12);
    let (mine, gone): (Vec<&Leased>, Vec<&Leased>) = leased.iter().partition(|d| d.subscription != "gone");
    let outcome = |i: usize, d: &Leased| match (d.subscription.as_str(), i % 2) {
        ("a", _) => Outcome::Succeeded,
        (_, 0) => Outcome::Failed,
        _ => Outcome::Retry { at: 0 },
    };
    let reports: Vec<AttemptReport> = mine
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let outcome = outcome(i, d);
            let code = if outcome == Outcome::Succeeded { 200 } else { 500 };
            crate::store::report(d, "n", outcome, code)
        })
        .collect();
    store.finish_attempts(reports.clone()).await.unwrap();
    counters_agree_with_the_history(&store, &client).await;
    // A lost lease's result, recorded again, moves nothing.
    store.finish_attempts(reports).await.unwrap();
    counters_agree_with_the_history(&store, &client).await;
    let retried = store.list_deliveries(DeliveryQuery { limit: 100, ..DeliveryQuery::default() }).await.unwrap();
    let succeeded = retried.deliveries.iter().find(|d| d.status == DeliveryStatus::Succeeded).unwrap();
    let shadow = retried.deliveries.iter().find(|d| d.status == DeliveryStatus::Shadow).unwrap();

    // Finished deliveries retried move back to the queue; a shadow one stays.
    assert_eq!(store.retry_now(&succeeded.id).await.unwrap(), RetryNow::Scheduled);
    assert_eq!(store.retry_now(&shadow.id).await.unwrap(), RetryNow::Shadow);
    assert_eq!(status_of(&store, &succeeded.id).await, DeliveryStatus::Pending);
    counters_agree_with_the_history(&store, &client).await;
    let failed_b = DeliveryQuery {
        status: vec![DeliveryStatus::Failed],
        subscription: vec!["b".into()],
        limit: 100,
        ..DeliveryQuery::default()
    };
    assert!(store.retry_matching(failed_b).await.unwrap() >= 4, "b's failures, at render and sent");
    counters_agree_with_the_history(&store, &client).await;

    // A delivery being sent is left to its attempt (it stays in the queue, leased).
    assert_eq!(gone.len(), 4);
    assert_eq!(store.retry_now(&gone[0].id).await.unwrap(), RetryNow::InFlight);
    assert_eq!(status_of(&store, &gone[0].id).await, DeliveryStatus::InFlight);
    // gone's other leases are its node's; released, then its subscription is no node's for long.
    store.release_leases("n", hookshape::now_ms()).await.unwrap();
    client.execute("UPDATE subscription_seen SET seen_at = seen_at - 120000 WHERE name = 'gone'", &[]).await.unwrap();
    client.execute("UPDATE nodes SET writing_since = writing_since - 11000", &[]).await.unwrap();
    assert_eq!(store.keep_loaded("n", &everything[..2], 60_000).await.unwrap(), 4);
    counters_agree_with_the_history(&store, &client).await;
    let states = store.subscription_states().await.unwrap();
    let gone_state = states.iter().find(|s| s.name == "gone").unwrap();
    assert_eq!((gone_state.counts["failed"], gone_state.last_24h.failed), (4, 4));

    // Prunes, a batch at a time, then all; compactions, two at once, change no total.
    assert_eq!(store.prune(hookshape::now_ms() + 1, 3).await.unwrap(), 3);
    counters_agree_with_the_history(&store, &client).await;
    let (one, two) = tokio::join!(store.compact_counts(hookshape::now_ms()), store.compact_counts(hookshape::now_ms()));
    one.unwrap();
    two.unwrap();
    counters_agree_with_the_history(&store, &client).await;
    // A day and more later, every hour is folded into one row per subscription and status.
    let later = hookshape::now_ms() + 30 * 3_600_000;
    store.compact_counts(later).await.unwrap();
    let hours: Vec<i64> = client
        .query("SELECT DISTINCT hour FROM delivery_counts", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hours, [0]);
    store.prune(hookshape::now_ms() + 1, 1000).await.unwrap();
    let left: i64 = client.query_one("SELECT count(*) FROM deliveries", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
    let counters: Option<i64> =
        client.query_one("SELECT sum(n)::bigint FROM delivery_counts", &[]).await.unwrap().get(0);
    assert_eq!(counters, Some(0), "a pruned history counts nothing");
}

async fn status_of(store: &Arc<dyn Store>, id: &str) -> DeliveryStatus {
    store.get_delivery(id).await.unwrap().unwrap().summary.status
}

/// A database at version 7 with live and finished deliveries: migration 8 moves the live
/// ones into `queue`, keeps the finished ones as history, and counts them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_8_moves_live_deliveries_to_the_queue_and_counts_the_history() {
    let Some(schema) = PgSchema::create().await else { return };
    let client = schema.client().await;
    let earlier = [
        include_str!("../../src/store/postgres/migrations/0001_initial.sql"),
        include_str!("../../src/store/postgres/migrations/0002_nodes.sql"),
        include_str!("../../src/store/postgres/migrations/0003_sources.sql"),
        include_str!("../../src/store/postgres/migrations/0004_history_paging.sql"),
        include_str!("../../src/store/postgres/migrations/0005_event_time.sql"),
        include_str!("../../src/store/postgres/migrations/0006_loaded_subscriptions.sql"),
        include_str!("../../src/store/postgres/migrations/0007_revoked_sessions.sql"),
    ];
    client
        .batch_execute(
            "CREATE TABLE hookshape_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    for (i, sql) in earlier.iter().enumerate() {
        client.batch_execute(sql).await.unwrap();
        let version = i as i32 + 1;
        client.execute("INSERT INTO hookshape_migrations (version, name) VALUES ($1, 'v')", &[&version]).await.unwrap();
    }
    let request = serde_json::to_string(&request("s")).unwrap();
    let now = hookshape::now_ms();
    client
        .execute(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, created_at, updated_at,
                                     next_attempt_at, config_version, request, lease_owner)
             SELECT 'dlv_0000' || lpad(i::text, 28, '0'), 'e', 's',  'T',
                    (ARRAY['pending', 'in_flight', 'held', 'succeeded', 'failed', 'shadow'])[i % 6 + 1], $1, $1,
                    $1, 'v1', $2, CASE WHEN i % 6 = 1 THEN 'old-node' END
               FROM generate_series(1, 60) AS i",
            &[&now, &request],
        )
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let count = |sql: &'static str| async { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) };
    assert_eq!(count("SELECT count(*) FROM queue").await, 30);
    assert_eq!(count("SELECT count(*) FROM deliveries").await, 30);
    let stats = store.queue_stats(true).await.unwrap();
    for status in DeliveryStatus::ALL {
        assert_eq!(stats.by_status[status.as_str()], 10, "{status:?}");
    }
    counters_agree_with_the_history(&store, &client).await;
    // The moved rows are the sender's again.
    let leased = store.lease(lease_req("n")).await.unwrap();
    assert_eq!(leased.len(), 20, "the pending ones, and the in-flight ones no live node holds");
}

/// Where autovacuum is off (as on the test server), the store vacuums `queue` itself once
/// its dead rows outnumber its live ones, so the table's space is reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_store_vacuums_a_queue_whose_dead_rows_are_a_fifth_of_its_live_ones() {
    let Some((_schema, _store, client)) = store_with_queue(60_000).await else { return };
    // A backlog: far more live rows than dead ones, yet the dead ones are enough to slow
    // every lease (they lie where its scan of due rows starts).
    // 11,111 dead beside 48,889 live: past 10,000 and a fifth of the live ones.
    client.execute("DELETE FROM queue WHERE id LIKE 'dlv_1%'", &[]).await.unwrap();
    let vacuums = "SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables WHERE relid = 'queue'::regclass";
    crate::helpers::eventually(std::time::Duration::from_secs(60), "a VACUUM of queue", || async {
        (client.query_one(vacuums, &[]).await.unwrap().get::<_, i64>(0) > 0).then_some(())
    })
    .await;
}

/// A VACUUM that truncates a table's empty end takes the table's exclusive lock, which
/// `queue` (never without a lease, insert or result under load) made every VACUUM of it
/// wait up to five seconds for: no VACUUM of `queue` gives its pages back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vacuuming_the_queue_never_truncates_it() {
    let Some((_schema, _store, client)) = store_with_queue(20_000).await else { return };
    let size = |table: &'static str| {
        let client = &client;
        async move {
            client.query_one("SELECT pg_relation_size($1::text::regclass)", &[&table]).await.unwrap().get::<_, i64>(0)
        }
    };
    // The control: the same rows in a table of the same shape, left to truncate.
    client
        .batch_execute("CREATE TABLE control (LIKE queue); ALTER TABLE control RESET (vacuum_truncate)")
        .await
        .unwrap();
    client.batch_execute("INSERT INTO control SELECT * FROM queue").await.unwrap();
    let before = size("queue").await;
    assert!(before > 0);
    client.batch_execute("DELETE FROM queue; DELETE FROM control").await.unwrap();
    // Deleted rows are removed (and the pages they leave can go) only once no transaction
    // of the database's other users may still see them: the control says when that is,
    // and queue's rows were deleted before its own.
    crate::helpers::eventually(std::time::Duration::from_secs(60), "the control truncated", || async {
        client.batch_execute("VACUUM control").await.unwrap();
        (size("control").await == 0).then_some(())
    })
    .await;
    client.batch_execute("VACUUM queue").await.unwrap();
    assert_eq!(size("queue").await, before, "vacuumed, its pages kept");
}

/// The outcome `report` records for a leased delivery.
pub(crate) fn report(leased: &Leased, owner: &str, code: u16, outcome: Outcome) -> AttemptReport {
    AttemptReport {
        delivery_id: leased.id.clone(),
        subscription: leased.subscription.clone(),
        owner: owner.into(),
        attempt: leased.attempt,
        started_at: hookshape::now_ms(),
        duration_ms: i64::from(code),
        status_code: Some(code),
        response_body: Some(format!("answer {code}")),
        error: None,
        outcome,
        disable_after: 0,
        disable_now: false,
    }
}

/// A delivery's attempts as (number, status code), as the API shows them.
async fn attempts_of(store: &Arc<dyn Store>, id: &str) -> Vec<(u32, Option<u16>)> {
    let detail = store.get_delivery(id).await.unwrap().unwrap_or_else(|| panic!("{id} is gone"));
    detail.attempts.iter().map(|a| (a.attempt, a.status_code)).collect()
}

/// The schema as migrations 1 to `version` left it, as an older hookshape wrote it.
async fn schema_at_version(client: &tokio_postgres::Client, version: usize) {
    client
        .batch_execute(
            "CREATE TABLE hookshape_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    for (i, file) in migration_files().iter().take(version).enumerate() {
        client.batch_execute(&std::fs::read_to_string(file).unwrap()).await.unwrap();
        let version = i as i32 + 1;
        client.execute("INSERT INTO hookshape_migrations (version, name) VALUES ($1, 'v')", &[&version]).await.unwrap();
    }
}

fn latest_version() -> i64 {
    migration_files().len() as i64
}

/// Migration 12 keeps a delivery's final attempt in its history row. A store at version 11
/// with rows in every state migrates with nothing to move: old rows still show their
/// attempts, new ones write no `attempts` row when they finish, a lost lease's record of
/// the same attempt loses to the holder's, and a finished delivery retried takes its final
/// attempt back to `attempts` so that its next one follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_12_keeps_the_final_attempt_in_the_history_row() {
    let Some(schema) = PgSchema::create().await else { return };
    let client = schema.client().await;
    schema_at_version(&client, 11).await;
    // At version 11: an event, its live deliveries in `queue` (pending, in flight for a node
    // that is gone, held), finished ones in the history, each attempt a row of `attempts`.
    let request = serde_json::to_string(&request("s")).unwrap();
    let now = hookshape::now_ms();
    client
        .batch_execute(&format!(
            "INSERT INTO events (uuid, topic, date, received_at, body) VALUES ('e', 'T', 'd', {now}, '{{}}');
             INSERT INTO subscription_state (name, disabled, updated_at) VALUES ('h', TRUE, {now});"
        ))
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO queue (id, event_uuid, subscription, topic, status, attempts, next_attempt_at, lease_owner,
                                created_at, updated_at, config_version, request, event_at)
             VALUES ('dlv_00pending', 'e', 's', 'T', 'pending', 0, $1, NULL, $1, $1, 'v1', $2, $1),
                    ('dlv_01in_flight', 'e', 's', 'T', 'in_flight', 0, $1, 'gone-node', $1, $1, 'v1', $2, $1),
                    ('dlv_02held', 'e', 'h', 'T', 'held', 0, $1, NULL, $1, $1, 'v1', $2, $1)",
            &[&now, &request],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                                     config_version, request, last_status, event_at)
             VALUES ('dlv_03succeeded', 'e', 's', 'T', 'succeeded', 1, $1, $1, 'v1', $2, 200, $1),
                    ('dlv_04failed', 'e', 's', 'T', 'failed', 2, $1, $1, 'v1', $2, 500, $1),
                    ('dlv_05shadow', 'e', 's', 'T', 'shadow', 0, $1, $1, 'v1', $2, NULL, $1);
             ",
            &[&now, &request],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code)
             VALUES ('dlv_03succeeded', 1, $1, 7, 200), ('dlv_04failed', 1, $1, 8, 500), ('dlv_04failed', 2, $1, 9, 500)",
            &[&now],
        )
        .await
        .unwrap();

    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let count = |sql: &'static str| async { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) };
    assert_eq!(count("SELECT max(version)::bigint FROM hookshape_migrations").await, latest_version());
    // The rows from before read as they did.
    assert_eq!(attempts_of(&store, "dlv_03succeeded").await, [(1, Some(200))]);
    assert_eq!(attempts_of(&store, "dlv_04failed").await, [(1, Some(500)), (2, Some(500))]);
    assert_eq!(attempts_of(&store, "dlv_05shadow").await, []);
    let page = store.list_deliveries(DeliveryQuery { limit: 10, ..DeliveryQuery::default() }).await.unwrap();
    let durations: Vec<(&str, Option<i64>)> =
        page.deliveries.iter().map(|d| (d.id.as_str(), d.last_duration_ms)).collect();
    assert_eq!(
        durations,
        [
            ("dlv_05shadow", None),
            ("dlv_04failed", Some(9)),
            ("dlv_03succeeded", Some(7)),
            ("dlv_02held", None),
            ("dlv_01in_flight", None),
            ("dlv_00pending", None)
        ]
    );

    // The live ones are the sender's again; each finishes at its first attempt.
    let leased = store.lease(lease_req("n")).await.unwrap();
    let ids: Vec<&str> = leased.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["dlv_00pending", "dlv_01in_flight"], "the held one waits");
    // A lease lost to this node recorded the in-flight one's attempt first; the holder's wins.
    let lost = report(&leased[1], "gone-node", 503, Outcome::Failed);
    store.finish_attempts(vec![report(&leased[0], "n", 201, Outcome::Succeeded), lost]).await.unwrap();
    store.finish_attempt(report(&leased[1], "n", 202, Outcome::Succeeded)).await.unwrap();
    assert_eq!(attempts_of(&store, "dlv_00pending").await, [(1, Some(201))]);
    assert_eq!(attempts_of(&store, "dlv_01in_flight").await, [(1, Some(202))]);
    assert_eq!(count("SELECT count(*) FROM attempts WHERE delivery_id = 'dlv_00pending'").await, 0, "none written");
    let shown = store.get_delivery("dlv_00pending").await.unwrap().unwrap();
    assert_eq!(shown.summary.last_duration_ms, Some(201));
    assert_eq!(shown.attempts[0].response_body.as_deref(), Some("answer 201"));

    // Retried, a finished delivery's final attempt goes back to `attempts`; the next follows.
    for id in ["dlv_00pending", "dlv_04failed"] {
        assert_eq!(store.retry_now(id).await.unwrap(), RetryNow::Scheduled);
    }
    assert_eq!(attempts_of(&store, "dlv_00pending").await, [(1, Some(201))], "live again, its attempt kept");
    let again = store.lease(lease_req("n")).await.unwrap();
    assert_eq!(
        again.iter().map(|l| (l.id.as_str(), l.attempt)).collect::<Vec<_>>(),
        [("dlv_00pending", 2), ("dlv_04failed", 3)]
    );
    let retry = Outcome::Retry { at: hookshape::now_ms() };
    store
        .finish_attempts(vec![report(&again[0], "n", 203, Outcome::Succeeded), report(&again[1], "n", 502, retry)])
        .await
        .unwrap();
    assert_eq!(attempts_of(&store, "dlv_00pending").await, [(1, Some(201)), (2, Some(203))]);
    assert_eq!(attempts_of(&store, "dlv_04failed").await, [(1, Some(500)), (2, Some(500)), (3, Some(502))]);
    let last = store.lease(lease_req("n")).await.unwrap();
    store.finish_attempt(report(&last[0], "n", 504, Outcome::Failed)).await.unwrap();
    assert_eq!(
        attempts_of(&store, "dlv_04failed").await,
        [(1, Some(500)), (2, Some(500)), (3, Some(502)), (4, Some(504))]
    );
    counters_agree_with_the_history(&store, &client).await;
}

/// Migration 14 narrows `event_keys`' indexes to what a search and the prune look up. Keys
/// written before it are still found, by value alone or with its path, through the new
/// index; the prune still takes them with their event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_14_still_finds_the_keys_written_before_it() {
    let Some(schema) = PgSchema::create().await else { return };
    let client = schema.client().await;
    schema_at_version(&client, 13).await;
    let request = serde_json::to_string(&request("s")).unwrap();
    let now = hookshape::now_ms();
    let old = now - 40 * 86_400_000;
    client
        .execute(
            "INSERT INTO events (uuid, topic, date, received_at, body)
             VALUES ('e1', 'T', 'd', $1, '{}'), ('e2', 'T', 'd', $1, '{}'), ('e3', 'T', 'd', $2, '{}')",
            &[&now, &old],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                                     config_version, request, last_status, event_at)
             VALUES ('dlv_1', 'e1', 's', 'T', 'succeeded', 1, $1, $1, 'v1', $3, 200, $1),
                    ('dlv_2', 'e2', 's', 'T', 'succeeded', 1, $1, $1, 'v1', $3, 200, $1),
                    ('dlv_3', 'e3', 's', 'T', 'succeeded', 1, $2, $2, 'v1', $3, 200, $2)",
            &[&now, &old, &request],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO event_keys (value, path, event_at, event_uuid)
             VALUES ('c-1007', 'customer.id', $1, 'e1'), ('c-1007', 'customer.email', $1, 'e2'),
                    ('c-2000', 'customer.id', $1, 'e2'), ('c-1007', 'customer.id', $2, 'e3')",
            &[&now, &old],
        )
        .await
        .unwrap();

    let store = PostgresStore::open(&schema.url).await.unwrap();
    let version = client.query_one("SELECT max(version)::bigint FROM hookshape_migrations", &[]).await.unwrap();
    assert_eq!(version.get::<_, i64>(0), latest_version());
    let found = |text: &str| {
        let q = DeliveryQuery { key: hookshape::search::Term::parse(text), limit: 10, ..DeliveryQuery::default() };
        let store = &store;
        async move {
            let page = store.list_deliveries(q).await.unwrap();
            page.deliveries.into_iter().map(|d| d.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("C-1007").await, ["dlv_3", "dlv_2", "dlv_1"]);
    assert_eq!(found("Customer.Id:C-1007").await, ["dlv_3", "dlv_1"]);
    assert_eq!(found("customer.id:c-2000").await, ["dlv_2"]);
    assert_eq!(found("C-3000").await, Vec::<String>::new());

    // A table of four rows is read whole whatever its indexes: with sequential scans off,
    // the plan says which index a search's prepared statement would use.
    let plan = generic_plan(&client, "SELECT event_at, event_uuid FROM event_keys WHERE value = $1", true).await;
    assert!(plan.contains("event_keys_by_value"), "{plan}");

    // The old event's keys go with it.
    let pruned = store.prune(now - 30 * 86_400_000, 100).await.unwrap();
    assert!(pruned > 0);
    let left = client.query_one("SELECT count(*) FROM event_keys WHERE event_uuid = 'e3'", &[]).await.unwrap();
    assert_eq!(left.get::<_, i64>(0), 0);
    assert_eq!(found("C-1007").await, ["dlv_2", "dlv_1"]);
}

/// `n` pending deliveries written straight into `queue`, due since 0.
async fn fill_queue(client: &tokio_postgres::Client, n: i32) {
    let request = serde_json::to_string(&request("s")).unwrap();
    client
        .execute(
            "INSERT INTO queue (id, event_uuid, subscription, topic, status, next_attempt_at, created_at, updated_at,
                                config_version, request)
             SELECT 'dlv_' || i, 'e' || i, 's', 'T', 'pending', 0, 0, 0, 'v1', $1 FROM generate_series(1, $2) AS i",
            &[&request, &n],
        )
        .await
        .unwrap();
}

/// A store on a schema of its own (dropped with the `PgSchema`), with `n` pending
/// deliveries in `queue` (`fill_queue`), and a client of that schema; None without a
/// test server.
async fn store_with_queue(n: i32) -> Option<(PgSchema, PostgresStore, tokio_postgres::Client)> {
    let schema = PgSchema::create().await?;
    let store = PostgresStore::open(&schema.url).await.unwrap();
    let client = schema.client().await;
    fill_queue(&client, n).await;
    Some((schema, store, client))
}

/// The generic plan (the one a prepared statement keeps from its sixth execution) of `sql`,
/// made now on `client`, as EXPLAIN prints it; with `INDEX_ONLY` when `guarded`.
async fn generic_plan(client: &tokio_postgres::Client, sql: &str, guarded: bool) -> String {
    client.batch_execute(&format!("PREPARE planned AS {sql}")).await.unwrap();
    let params: i32 = client
        .query_one("SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'planned'", &[])
        .await
        .unwrap()
        .get(0);
    let nulls = vec!["NULL"; params as usize].join(", ");
    let guard = if guarded { hookshape::store::postgres::INDEX_ONLY } else { "SELECT 1" };
    let messages = client
        .simple_query(&format!(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; {guard}; EXPLAIN EXECUTE planned({nulls}); ROLLBACK"
        ))
        .await
        .unwrap();
    client.batch_execute("DEALLOCATE planned").await.unwrap();
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plan made while `queue` was small keeps being used once it is large: the statements
/// that join a batch to `queue` by id must find its rows by key whatever its size then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_joining_a_batch_to_the_queue_plan_by_its_key_at_any_size() {
    let Some((_schema, _store, client)) = store_with_queue(300).await else { return };
    client.batch_execute("VACUUM ANALYZE queue").await.unwrap();
    let statements = hookshape::store::postgres::queue_by_id_statements();
    assert!(!statements.is_empty());
    for (name, sql) in statements {
        // The hazard is real: unguarded, a small queue is planned as a whole-table scan.
        let unguarded = generic_plan(&client, &sql, false).await;
        assert!(unguarded.contains("Seq Scan on queue"), "{name}, unguarded:\n{unguarded}");
        let guarded = generic_plan(&client, &sql, true).await;
        assert!(!guarded.contains("Seq Scan on queue"), "{name}, planned by key:\n{guarded}");
        // By key: the primary key, probed with the batch's ids (not read whole for a hash).
        assert!(guarded.contains("queue_pkey") && guarded.contains("Index Cond: (id = "), "{name}:\n{guarded}");
    }
    // The lease's join needs no guard: it expects one picked row and probes the key.
    let lease = generic_plan(&client, &hookshape::store::postgres::lease_statement(), false).await;
    assert!(lease.contains("Index Scan using queue_pkey") && !lease.contains("Seq Scan on queue"), "lease:\n{lease}");
}

/// The scans of the due index (`queue_due`) in a lease of at most `limit` rows, as EXPLAIN
/// ANALYZE prints them (in a transaction rolled back, so nothing is leased): the lease's
/// own (`picked`), and its count of the due rows it missed (`seen`).
async fn due_index_scans_in_lease_of(client: &tokio_postgres::Client, limit: i64) -> Vec<String> {
    let lease = hookshape::store::postgres::lease_statement();
    let messages = client
        .simple_query(&format!(
            "BEGIN; PREPARE lease AS {lease};
             EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
                EXECUTE lease('n', 99999999999999, 1, '{{}}', {limit}, '{{}}', '{{}}', NULL);
             ROLLBACK; DEALLOCATE lease"
        ))
        .await
        .unwrap();
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .filter(|line| line.contains("using queue_due"))
        .map(|line| line.trim().to_string())
        .collect()
}

/// A backlog's leases all come back full; counting the due rows they missed would scan
/// the due index a second time, for a count that is 0 whenever the lease is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_full_lease_does_not_count_the_rows_it_missed() {
    let Some((_schema, _store, client)) = store_with_queue(300).await else { return };
    let full = due_index_scans_in_lease_of(&client, 10).await;
    let never = |scans: &[String]| scans.iter().filter(|s| s.ends_with("(never executed)")).count();
    assert_eq!((full.len(), never(&full)), (2, 1), "a full lease scans the due index once: {full:#?}");
    let short = due_index_scans_in_lease_of(&client, 500).await;
    assert_eq!((short.len(), never(&short)), (2, 0), "one that came back short counts what it missed: {short:#?}");
}

/// A statement PostgreSQL plans again keeps one identity in `pg_stat_statements`, so an
/// operator reading it finds each of hookshape's statements once, its calls and time whole.
/// A connection analyses its prepared statements again, now with the parameters' types
/// known, after an invalidation of any table they touch (each VACUUM of `queue`, the
/// store's own every few seconds under load, is one): a parameter whose type was inferred
/// from where it stands can come out as another tree, so another query id (the results
/// statement was counted under two, ~3:1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_planned_again_keep_one_identity_in_pg_stat_statements() {
    let Some(pg) = crate::pg::ThrowawayPostgres::start() else { return };
    let client = crate::pg::connect(&pg.url()).await;
    client.batch_execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'").await.unwrap();
    drop(client);
    pg.stop();
    pg.start_again();
    let client = crate::pg::connect(&pg.url()).await;
    client.batch_execute("CREATE EXTENSION pg_stat_statements").await.unwrap();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&pg.url()).await.unwrap());

    // Each statement that joins a batch to `queue`, run on one connection before and after
    // an invalidation of `queue`; the control is the results statement as it was, its time
    // uncast. A VACUUM invalidates only when it changes the table's statistics, which it
    // does under load and not on this empty table; setting a storage option to the value it
    // has invalidates every time.
    let invalidate = "ALTER TABLE queue SET (fillfactor = 70)";
    let results = hookshape::store::postgres::queue_by_id_statements()[0].1.clone();
    let uncast = results.replace("$11::bigint", "$11");
    assert_ne!(uncast, results, "the control differs from the statement");
    let mut statements = hookshape::store::postgres::queue_by_id_statements();
    statements.push(("uncast control", uncast));
    let mut ids = BTreeMap::new();
    for (name, sql) in &statements {
        client.batch_execute("SELECT pg_stat_statements_reset()").await.unwrap();
        let nulls = vec!["NULL"; highest_parameter(sql)].join(", ");
        client.batch_execute(&format!("PREPARE p AS {sql}")).await.unwrap();
        client.batch_execute(&format!("EXECUTE p({nulls})")).await.unwrap();
        client.batch_execute(invalidate).await.unwrap();
        client.batch_execute(&format!("EXECUTE p({nulls}); DEALLOCATE p")).await.unwrap();
        let row = client
            .query_one(
                "SELECT count(DISTINCT queryid), sum(calls)::bigint FROM pg_stat_statements WHERE query LIKE 'PREPARE p AS%'",
                &[],
            )
            .await
            .unwrap();
        let (distinct, calls): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(calls, 2, "{name}: both executions counted");
        ids.insert(*name, distinct);
    }
    assert_eq!(ids.remove("uncast control"), Some(2), "the hazard is real: uncast, it is counted twice");
    assert!(ids.values().all(|n| *n == 1), "one query id each: {ids:?}");

    // And through the store: intake, a lease and the results, four times, invalidated between.
    client.batch_execute("SELECT pg_stat_statements_reset()").await.unwrap();
    for round in 0..4 {
        insert(&store, vec![delivery("a", DeliveryStatus::Pending), delivery("b", DeliveryStatus::Pending)]).await;
        let leased = store.lease(lease_req("n1")).await.unwrap();
        assert_eq!(leased.len(), 2, "round {round}");
        let reports = leased.iter().map(|l| report(l, "n1", 200, Outcome::Succeeded)).collect();
        store.finish_attempts(reports).await.unwrap();
        client.batch_execute(invalidate).await.unwrap();
    }
    let recorded: Vec<i64> = client
        .query("SELECT calls FROM pg_stat_statements WHERE query LIKE 'WITH r AS (%'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, [4], "the results statement: one query id, every batch counted");
    let split: Vec<(String, i64)> = client
        .query(
            "SELECT left(query, 60), count(DISTINCT queryid) FROM pg_stat_statements
              GROUP BY query HAVING count(DISTINCT queryid) > 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(split.is_empty(), "statements counted under more than one query id: {split:?}");
}

/// The highest `$n` a statement names: how many parameters it takes.
fn highest_parameter(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
        .unwrap_or(0)
}
