//! `hookshape bench` on PostgreSQL: the real binary against a schema of its own, at a tiny
//! size (correctness only: what it fills, measures and reports, never how fast), and the
//! prefill's rows themselves.

use hookshape::store::postgres::prefill::{History, SPAN_MS};
use hookshape::store::postgres::PostgresStore;

use crate::helpers::bench_json;
use crate::pg::PgSchema;

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn bench_on_postgres_reports_the_server_the_sizes_the_costs_per_delivery_and_each_runs_ceiling() {
    let Some(schema) = PgSchema::create().await else { return };
    let report = bench_json(&[
        "--store",
        &schema.url,
        "--prefill",
        "300",
        "--events",
        "50",
        "--fan-out",
        "2",
        "--concurrency",
        "4",
        "--repeat",
        "2",
        "--console",
        "--ceiling",
        "--idle",
        "1s",
    ])
    .await;

    let server = &report["postgres"];
    for name in ["server_version", "autovacuum", "synchronous_commit", "shared_buffers", "max_connections", "fsync"] {
        assert!(server["settings"][name].as_str().is_some_and(|v| !v.is_empty()), "{name}: {server}");
    }
    let local = server["local"].as_bool().unwrap();

    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    for run in runs {
        assert_eq!(run["deliveries"], 100, "{run}");
        let costs = &run["postgres"];
        assert!(costs["wal_bytes_per_delivery"].as_f64().unwrap() > 0.0, "{costs}");
        assert!(costs["transactions_per_delivery"].as_f64().unwrap() > 0.0, "{costs}");
        // Whole pages in the WAL: the test server is PostgreSQL 14 or later, which counts them.
        assert!(costs["wal_full_pages_per_delivery"].as_f64().is_some_and(|p| p >= 0.0), "{costs}");
        // Every delivery's rows are written into pages looked up in the buffers; reads are some of them.
        let buffers = costs["buffers_per_delivery"].as_f64().unwrap();
        assert!(buffers > 0.0 && costs["buffers_read_per_delivery"].as_f64().unwrap() <= buffers, "{costs}");
        // Each delivery inserts at least its queue row and its history row.
        assert!(costs["tuples_inserted_per_delivery"].as_f64().unwrap() >= 2.0, "{costs}");
        // Lock waits were sampled while the run went: some samples, no more waiting than active.
        let locks = &costs["lock_waits"];
        assert!(locks["samples"].as_u64().unwrap() > 0, "{costs}");
        let active = locks["active"].as_u64().unwrap();
        assert!(locks["waiting_lock"].as_u64().unwrap() <= active, "{costs}");
        assert!(locks["most_waiting_lock"].as_u64().unwrap() <= locks["waiting_lock"].as_u64().unwrap(), "{costs}");
        assert_eq!(costs["cpu_ms_per_delivery"].is_number(), local, "CPU is measured exactly when local: {costs}");
        // SKIP LOCKED misses, read from the node's /metrics around the run (one node: few or none).
        assert!(costs["lease_skipped"].is_u64() && costs["lease_skipped_per_delivery"].is_number(), "{costs}");
        assert!(run["hookshape_cpu_ms_per_delivery"].as_f64().unwrap() > 0.0, "{run}");
        let tables: Vec<&str> = run["sizes"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
        for table in ["deliveries", "attempts", "events"] {
            assert!(tables.contains(&table), "{table} in {tables:?}");
        }
    }
    let deliveries_bytes = |run: &serde_json::Value| {
        run["sizes"].as_array().unwrap().iter().find(|t| t["table"] == "deliveries").unwrap()["total_bytes"]
            .as_i64()
            .unwrap()
    };
    assert!(deliveries_bytes(&runs[0]) > 0 && deliveries_bytes(&runs[1]) >= deliveries_bytes(&runs[0]));
    assert!(report["spread"]["min_vs_first"].as_f64().unwrap() > 0.0, "{report}");
    // The first run counts too, so the fewest is at most its own and the most at least.
    let buffers = |end: &str| report["spread"][format!("postgres_buffers_{end}_vs_first")].as_f64().unwrap();
    assert!(buffers("min") > 0.0 && buffers("min") <= 1.0 && buffers("max") >= 1.0, "{report}");
    // --ceiling with --repeat: each run has a ceiling of its own, measured just before it
    // (two timings of a loopback load never come out equal to the bit), and its share of it;
    // the report's ceiling is the first run's.
    let ceilings: Vec<f64> = runs.iter().map(|r| r["ceiling_per_s"].as_f64().unwrap()).collect();
    assert!(ceilings.iter().all(|c| *c > 0.0), "{ceilings:?}");
    assert_ne!(ceilings[0], ceilings[1], "the second run's ceiling was measured again");
    assert_eq!(report["ceiling_per_s"].as_f64(), Some(ceilings[0]));
    for run in runs {
        let share = run["deliveries_per_s"].as_f64().unwrap() / run["ceiling_per_s"].as_f64().unwrap();
        assert!((run["ratio_to_ceiling"].as_f64().unwrap() - share).abs() < 1e-9, "{run}");
    }
    assert!(report["spread"]["ceiling_share_max_vs_first"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["idle"]["seconds"].as_f64().unwrap() >= 1.0, "{report}");
    assert_eq!(report["idle"]["postgres_core_share"].is_number(), local);

    let pages = report["console_pages"].as_array().unwrap();
    let page = |path: &str| pages.iter().find(|p| p["page"] == path).unwrap_or_else(|| panic!("{path} in {pages:?}"));
    assert_eq!(page("/v1/subscriptions")["rows"], 2, "both subscriptions listed");
    assert!(page("/console/subscriptions")["rows"].as_u64().unwrap() >= 2);
    // The key search finds the load's customer C-7 (by its URL) and the prefill's event 7.
    assert!(page("/console/deliveries?key=C-7")["rows"].as_u64().unwrap() >= 2, "{pages:?}");
    assert!(page("/v1/deliveries?key=Customer.Id:C-7")["rows"].as_u64().unwrap() >= 1, "{pages:?}");

    // The history the bench made: 300 prefilled, each with its event and attempt, shared
    // by the run's two subscriptions; then 50 events × 2 subscriptions × 2 runs.
    let c = schema.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM deliveries WHERE config_version = 'prefill'").await, 300);
    assert_eq!(
        count(&c, "SELECT count(DISTINCT subscription) FROM deliveries WHERE config_version = 'prefill'").await,
        2
    );
    assert_eq!(count(&c, "SELECT count(*) FROM attempts WHERE delivery_id < 'dlv_01'").await, 300);
    assert_eq!(count(&c, "SELECT count(*) FROM events").await, 300 + 100);
    assert_eq!(count(&c, "SELECT count(*) FROM event_keys WHERE path = 'customer.id'").await, 300, "prefill indexed");
    assert_eq!(count(&c, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'").await, 300 + 200);
}

#[tokio::test]
async fn a_second_prefill_continues_the_first_and_ends_where_it_is_told() {
    let Some(schema) = PgSchema::create().await else { return };
    let store = PostgresStore::open(&schema.url).await.unwrap();
    let subscriptions = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let newest_at = 1_700_000_000_000;
    let mut heard = Vec::new();
    let history = History { deliveries: 30, subscriptions: &subscriptions, newest_at };
    store.prefill_finished(&history, &mut |n| heard.push(n)).await.unwrap();
    assert_eq!(heard, [30]);
    let c = schema.client().await;
    let live = "SELECT n_live_tup FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'events'";
    assert_eq!(count(&c, live).await, 30, "the inserts' statistics are counted once, before the VACUUM's");
    let older = History { deliveries: 6, subscriptions: &subscriptions, newest_at: newest_at - SPAN_MS };
    store.prefill_finished(&older, &mut |_| {}).await.unwrap();

    assert_eq!(count(&c, "SELECT count(DISTINCT id) FROM deliveries").await, 36, "no id taken twice");
    assert_eq!(count(&c, "SELECT count(*) FROM deliveries WHERE subscription = 'c'").await, 12);
    assert_eq!(count(&c, "SELECT max(updated_at) FROM deliveries WHERE id <= 'dlv_0000000000000029'").await, newest_at);
    assert_eq!(
        count(&c, "SELECT max(updated_at) FROM deliveries WHERE id > 'dlv_0000000000000029'").await,
        newest_at - SPAN_MS
    );
    assert!(count(&c, "SELECT min(updated_at) FROM deliveries").await >= newest_at - 2 * SPAN_MS);
    // Every delivery has its own event and its one attempt, at the delivery's time.
    let orphans = "SELECT count(*) FROM deliveries d
                    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.uuid = d.event_uuid AND e.received_at = d.updated_at)
                       OR NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.started_at = d.updated_at)";
    assert_eq!(count(&c, orphans).await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM events").await, 36);
}
