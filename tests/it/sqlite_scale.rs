//! SQLite at scale (issue 28): with a long history, housekeeping's tick, its prune minute
//! and the subscriptions view examine a bounded number of rows, measured in SQLite
//! virtual-machine steps on the real statements (`store::sqlite::probe`), never timed; and
//! the counters a prefilled history leaves agree with it.

use std::sync::Arc;

use hookshape::search::Term;
use hookshape::store::sqlite::probe::Probe;
use hookshape::store::sqlite::SqliteStore;
use hookshape::store::*;

/// Finished deliveries in the history: enough that reading it whole costs a hundred times
/// the bounds below, few enough to make in seconds in a debug build.
const HISTORY: u64 = 300_000;
/// The most steps housekeeping's tick, a prune batch of `BATCH` or the subscriptions view
/// may take: the queue and a batch, not the history.
const TICK_BOUND: u64 = 10_000;
const VIEW_BOUND: u64 = 5_000;
const PAGE_BOUND: u64 = 20_000;
const BATCH: usize = 100;
const PRUNE_BOUND: u64 = 500 * BATCH as u64;

fn live(uuid: &str, subscription: &str, status: DeliveryStatus) -> NewEvent {
    NewEvent {
        keys: Vec::new(),
        schema_problems: Vec::new(),
        uuid: uuid.into(),
        topic: "T".into(),
        date: "2026-11-23T10:00:00Z".into(),
        received_at: hookshape::now_ms(),
        body: "{}".into(),
        source: None,
        deliveries: vec![NewDelivery {
            id: hookshape::accept::new_delivery_id(),
            subscription: subscription.into(),
            status,
            request: StoredRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:9/".into(),
                headers: vec![],
                body: None,
                sensitive: vec![],
                masked: vec![],
            },
            error: None,
            config_version: "v1".into(),
            lease: None,
            needs_activation: false,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_long_history_timers_and_the_subscriptions_view_examine_the_queue_not_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.db");
    SqliteStore::prefill_finished(&path, HISTORY).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    // A little live work beside it: pending, and held behind a disabled subscription.
    store.disable("off", "maintenance").await.unwrap();
    let events = (0..20)
        .map(|i| live(&crate::helpers::new_uuid(), if i % 2 == 0 { "on" } else { "off" }, DeliveryStatus::Pending));
    store.insert_events(events.collect()).await.unwrap();

    // The counters a prefill leaves are the history's (spread over 30 days: about a 30th
    // within the last 24 h).
    let stats = store.queue_stats(true).await.unwrap().by_status;
    assert_eq!((stats["succeeded"], stats["pending"], stats["held"]), (HISTORY, 10, 10));
    let states = store.subscription_states().await.unwrap();
    let bench = states.iter().find(|s| s.name == "bench-0").unwrap();
    assert_eq!(bench.counts["succeeded"], HISTORY);
    let recent = bench.last_24h.succeeded;
    assert!((HISTORY / 40..=HISTORY / 20).contains(&recent), "about a 30th finished in the last 24 h: {recent}");

    let probe = Probe::open(&path).unwrap();
    let now = hookshape::now_ms();
    let loaded = vec!["bench-0".to_string(), "on".to_string(), "off".to_string()];
    // The measure sees a statement that reads the history whole.
    let ((), whole) = probe
        .steps(|c| {
            c.query_row("SELECT count(*) FROM deliveries WHERE topic = 'nothing'", [], |_| Ok(()))
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
        .unwrap();
    assert!(whole > HISTORY, "a whole scan takes a step per row at least: {whole}");

    let tick = probe.tick("node", &loaded, now).unwrap();
    eprintln!("steps: whole scan {whole}, tick {tick}");
    assert!(tick < TICK_BOUND, "housekeeping's tick took {tick} steps, with {HISTORY} deliveries in history");

    let (states, view) = probe.subscriptions(now).unwrap();
    eprintln!("steps: subscriptions view {view}");
    assert!(view < VIEW_BOUND, "the subscriptions view took {view} steps");
    let on = states.iter().find(|s| s.name == "on").unwrap();
    let off = states.iter().find(|s| s.name == "off").unwrap();
    // The tick's lease took the pending ones, as a node's dispatcher would.
    assert_eq!((on.counts["pending"] + on.counts["in_flight"], off.counts["held"]), (10, 10));

    for (what, q) in [
        ("the newest", DeliveryQuery { limit: 50, ..DeliveryQuery::default() }),
        ("failed", DeliveryQuery { status: vec![DeliveryStatus::Failed], limit: 50, ..DeliveryQuery::default() }),
        (
            "one subscription",
            DeliveryQuery { subscription: vec!["bench-0".into()], limit: 50, ..DeliveryQuery::default() },
        ),
        // History search: the prefill indexes each event by `c-` and its number.
        ("a key", DeliveryQuery { key: Term::parse("C-1007"), limit: 50, ..DeliveryQuery::default() }),
        (
            "a path:key of one subscription",
            DeliveryQuery {
                key: Term::parse("Customer.Id:C-1007"),
                subscription: vec!["bench-0".into()],
                status: vec![DeliveryStatus::Succeeded],
                limit: 50,
                ..DeliveryQuery::default()
            },
        ),
    ] {
        let page = probe.history(&q).unwrap();
        eprintln!("steps: history page of {what} {page}");
        assert!(page < PAGE_BOUND, "the history page of {what} took {page} steps");
    }

    let found =
        store.list_deliveries(DeliveryQuery { key: Term::parse("c-1007"), limit: 50, ..DeliveryQuery::default() });
    assert_eq!(found.await.unwrap().deliveries.len(), 1, "the prefill's event 1007, by its key");

    // A week's retention: most of the history is past it; one batch goes, and its cost is
    // the batch's. With nothing past the retention, the prune finds that at once.
    let week_ago = now - 7 * 86_400_000;
    let (pruned, prune) = probe.prune(week_ago, BATCH, now).unwrap();
    eprintln!("steps: prune batch of {pruned} and fold {prune}");
    assert_eq!(pruned, BATCH as u64);
    assert!(prune < PRUNE_BOUND, "a prune batch of {BATCH} took {prune} steps");
    let (pruned, idle) = probe.prune(now - 60 * 86_400_000, BATCH, now).unwrap();
    eprintln!("steps: prune with nothing to do {idle}");
    assert_eq!(pruned, 0);
    assert!(idle < TICK_BOUND, "a prune with nothing past the retention took {idle} steps");

    let after = store.queue_stats(true).await.unwrap().by_status;
    assert_eq!(after["succeeded"], HISTORY - BATCH as u64, "the counters follow the prune");
}
