//! The pgbench models of `benches/pg_writes/` (BENCHMARKS.md, "Against the issue's own
//! build, and what each row costs") stay true to hookshape's schema: each model's intake and
//! results scripts run on a freshly migrated schema and write exactly the rows the model
//! claims; and the "full" model writes, table by table, the rows hookshape's own store
//! writes for the same deliveries.

use hookshape::search::SearchKey;
use hookshape::store::postgres::PostgresStore;
use hookshape::store::*;

use crate::helpers::new_uuid;
use crate::pg::{migration_files, PgSchema};
use crate::pg_scale::{delivery, report};

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pg_writes");

/// A pgbench script as one SQL text: its variables given as literals, its meta-commands
/// (`\gset`, which keeps the last id moved for the next run) left out.
fn script(name: &str) -> String {
    let text = std::fs::read_to_string(format!("{MODELS}/{name}")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(":body", "'{\"Topic\":\"bench.event\",\"Payload\":{\"N\":1}}'")
        .replace(":request", "'{\"method\":\"POST\",\"url\":\"http://127.0.0.1:9/r/0/C-1\"}'")
        .replace(":version", "'v1'")
        .replace(":last", "'0'")
}

/// Deliveries leased at intake whose request is kept where the model keeps it: a queue row
/// or a lease row in flight to its owner, or the event's own row.
const LEASED_REQUESTS: &str = "SELECT (SELECT count(*) FROM queue WHERE status = 'in_flight' AND lease_owner = 'node-1'
                                                            AND request LIKE '{%')
                                    + (SELECT count(*) FROM model_leased WHERE status = 'in_flight'
                                                                             AND lease_owner = 'node-1' AND request LIKE '{%')
                                    + (SELECT count(*) FROM events WHERE model_requests LIKE '{%')";

/// A model run once on a fresh schema whose writes are counted (`COUNT_WRITES`): its
/// intake script, then its results script. Returns the schema (dropped with it), a client
/// of it, and `LEASED_REQUESTS` as it stood between the two scripts.
async fn run_model(intake: &str, results: &str) -> Option<(PgSchema, tokio_postgres::Client, i64)> {
    let schema = PgSchema::create().await?;
    let client = schema.client().await;
    for file in migration_files() {
        client.batch_execute(&std::fs::read_to_string(file).unwrap()).await.unwrap();
    }
    client.batch_execute(COUNT_WRITES).await.unwrap();
    client.batch_execute(&script("setup.sql")).await.unwrap();
    client.batch_execute(&script(intake)).await.unwrap();
    let leased: i64 = client.query_one(LEASED_REQUESTS, &[]).await.unwrap().get(0);
    client.batch_execute(&script(results)).await.unwrap();
    Some((schema, client, leased))
}

/// Leased requests after intake, then the rows in each table a model writes after one
/// intake and one results script.
async fn rows_after(intake: &str, results: &str) -> Option<[i64; 6]> {
    let (_schema, client, leased) = run_model(intake, results).await?;
    let mut counts = [0; 6];
    counts[0] = leased;
    for (count, table) in counts[1..].iter_mut().zip(["events", "event_keys", "queue", "model_leased", "deliveries"]) {
        *count = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
    }
    // The counters' trigger saw every history row, as it does in hookshape.
    let counted: Option<i64> =
        client.query_one("SELECT sum(n)::bigint FROM delivery_counts", &[]).await.unwrap().get(0);
    assert_eq!(counted.unwrap_or(0), counts[5], "{intake} + {results}: delivery_counts disagrees with the history");
    Some(counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_models_write_what_they_claim_on_the_current_schema() {
    // [leased requests after intake; events, event_keys, queue, model_leased, deliveries after
    // 15 events in and one batch of results out].
    let expected = [
        ("intake_floor.sql", "results_history.sql", [0, 15, 0, 0, 0, 54]),
        ("intake_keys.sql", "results_history.sql", [0, 15, 30, 0, 0, 54]),
        // A queue row per event, leased at intake; the results move all 15 into the history.
        ("intake_queue.sql", "results_queue.sql", [15, 15, 0, 0, 0, 15]),
        ("intake_full.sql", "results_queue.sql", [15, 15, 30, 0, 0, 15]),
        ("intake_lean.sql", "results_lean.sql", [15, 15, 30, 0, 0, 54]),
        ("intake_leased.sql", "results_leased.sql", [15, 15, 30, 0, 0, 15]),
        ("intake_leased.sql", "results_lean.sql", [15, 15, 30, 0, 15, 54]),
    ];
    for (intake, results, want) in expected {
        let Some(counts) = rows_after(intake, results).await else { return };
        assert_eq!(
            counts, want,
            "{intake} + {results}: leased requests; rows in events, event_keys, queue, model_leased, deliveries"
        );
    }
}

/// Row triggers, in a test's schema only, that count each row inserted, updated or deleted
/// in the tables a delivery can touch.
const COUNT_WRITES: &str = "
    CREATE TABLE model_writes (tbl text, op text, n bigint NOT NULL, PRIMARY KEY (tbl, op));
    CREATE FUNCTION model_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO model_writes VALUES (TG_TABLE_NAME, TG_OP, 1)
        ON CONFLICT (tbl, op) DO UPDATE SET n = model_writes.n + 1;
        RETURN NULL;
    END $$;
    DO $$ DECLARE t text; BEGIN
        FOREACH t IN ARRAY ARRAY['events', 'event_keys', 'queue', 'deliveries', 'attempts', 'subscription_state',
                                 'rate_slots'] LOOP
            EXECUTE format('CREATE TRIGGER model_count AFTER INSERT OR UPDATE OR DELETE ON %I
                            FOR EACH ROW EXECUTE FUNCTION model_count()', t);
        END LOOP;
    END $$;";

async fn writes(client: &tokio_postgres::Client) -> Vec<(String, String, i64)> {
    let rows = client.query("SELECT tbl, op, n FROM model_writes ORDER BY tbl, op", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

/// What hookshape's store writes for 15 events at fan-out 1, each with two search keys and
/// its delivery leased at intake, sent with success.
async fn store_writes() -> Option<Vec<(String, String, i64)>> {
    let schema = PgSchema::create().await?;
    let store = PostgresStore::open(&schema.url).await.unwrap();
    let client = schema.client().await;
    client.batch_execute(COUNT_WRITES).await.unwrap();
    let now = hookshape::now_ms();
    let owner: std::sync::Arc<str> = "node-1".into();
    let events: Vec<NewEvent> = (0..15)
        .map(|n| NewEvent {
            keys: ["c-", "/r/0/c-"].map(|v| SearchKey { path: "url".into(), value: format!("{v}{n}") }).into(),
            schema_problems: Vec::new(),
            uuid: new_uuid(),
            topic: "bench.event".into(),
            date: "2026-12-07T03:00:00Z".into(),
            received_at: now,
            body: "{}".into(),
            source: None,
            deliveries: vec![NewDelivery {
                lease: Some(PreLease { owner: owner.clone(), until: now + 60_000, send_by: now + 30_000 }),
                ..delivery("bench-0", DeliveryStatus::Pending)
            }],
        })
        .collect();
    let inserted = store.insert_events(events).await.unwrap();
    let reports: Vec<AttemptReport> =
        inserted.iter().flat_map(|i| &i.leased).map(|leased| report(leased, &owner, 200, Outcome::Succeeded)).collect();
    assert_eq!(reports.len(), 15, "every delivery leased at intake");
    store.finish_attempts(reports).await.unwrap();
    Some(writes(&client).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_full_model_writes_the_rows_hookshape_writes_per_delivery() {
    let Some(store) = store_writes().await else { return };
    let Some((_schema, client, _)) = run_model("intake_full.sql", "results_queue.sql").await else { return };
    let model = writes(&client).await;
    // Today: the event, its keys, a queue row inserted and deleted, the history row.
    let want: Vec<(String, String, i64)> = [
        ("deliveries", "INSERT", 15),
        ("event_keys", "INSERT", 30),
        ("events", "INSERT", 15),
        ("queue", "DELETE", 15),
        ("queue", "INSERT", 15),
    ]
    .map(|(t, o, n)| (t.to_string(), o.to_string(), n))
    .into();
    assert_eq!(store, want, "what hookshape's store writes for 15 deliveries leased at intake and sent");
    assert_eq!(model, store, "the full model (intake_full.sql + results_queue.sql) against hookshape's store");
}
