//! The pgbench models of `benches/pg_writes/` (BENCHMARKS.md, "What each row costs") stay
//! true to hookshape's schema: each model's intake and results scripts run on a freshly
//! migrated schema and write exactly the rows the model claims.

use crate::pg::{migration_files, PgSchema};

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

/// Leased requests after intake, then the rows in each table a model writes after one
/// intake and one results script.
async fn rows_after(intake: &str, results: &str) -> Option<[i64; 6]> {
    let schema = PgSchema::create().await?;
    let client = schema.client().await;
    for file in migration_files() {
        client.batch_execute(&std::fs::read_to_string(file).unwrap()).await.unwrap();
    }
    client.batch_execute(&script("setup.sql")).await.unwrap();
    client.batch_execute(&script(intake)).await.unwrap();
    let leased: i64 = client.query_one(LEASED_REQUESTS, &[]).await.unwrap().get(0);
    client.batch_execute(&script(results)).await.unwrap();
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
        ("intake_logged.sql", "results_logged.sql", [15, 15, 30, 0, 15, 54]),
    ];
    for (intake, results, want) in expected {
        let Some(counts) = rows_after(intake, results).await else { return };
        assert_eq!(
            counts, want,
            "{intake} + {results}: leased requests; rows in events, event_keys, queue, model_leased, deliveries"
        );
    }
}
