//! The store's behaviour, one set of cases run against both implementations: every case
//! is a function of `Arc<dyn Store>`, and `store_suite!` makes a SQLite test and a
//! PostgreSQL test of each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hookshape::accept::new_delivery_id;
use hookshape::store::postgres::PostgresStore;
use hookshape::store::sqlite::SqliteStore;
use hookshape::store::*;

use crate::helpers::new_uuid;
use crate::pg::PgSchema;

/// A store and whatever must live as long as it (a temp dir, a schema).
struct Opened {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    Opened { store: Arc::new(store), _guard: Box::new(dir) }
}

async fn postgres() -> Option<Opened> {
    let schema = PgSchema::create().await?;
    let store = PostgresStore::open(&schema.url).await.unwrap();
    Some(Opened { store: Arc::new(store), _guard: Box::new(schema) })
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let opened = super::sqlite().await;
                    super::$case(opened.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(opened) = super::postgres().await else { return };
                    super::$case(opened.store.clone()).await;
                }
            )*
        }
    };
}

store_suite!(
    an_event_is_stored_once_with_its_deliveries,
    concurrent_duplicates_create_one_event,
    leases_take_due_deliveries_once_and_count_attempts,
    leases_last_their_subscriptions_own_length,
    a_fresh_delivery_can_be_stored_leased_to_the_node_that_accepts_it,
    excluded_subscriptions_are_not_leased,
    a_node_leases_and_waits_for_only_the_subscriptions_it_has_loaded,
    a_batch_of_results_is_recorded_together,
    concurrent_leases_never_share_a_delivery,
    a_stopping_owner_releases_its_leases_to_the_others,
    leases_queued_too_long_to_send_go_back_due_at_once,
    a_lease_taken_again_before_the_old_one_goes_back_stays,
    max_in_flight_caps_unexpired_leases_across_owners,
    finishing_an_attempt_moves_the_delivery_and_keeps_history,
    failures_disable_a_subscription_and_enable_releases_held,
    a_failure_after_a_success_made_since_its_delivery_is_not_consecutive,
    retry_now_schedules_anything_but_shadow,
    retry_matching_resends_what_a_filter_finds_and_never_in_flight_or_shadow,
    a_bulk_retry_goes_in_batches_that_others_see_and_still_retries_every_match,
    signed_out_sessions_are_remembered_until_they_expire,
    history_filters_and_pages_newest_first,
    a_listed_url_never_shows_a_secret,
    an_events_source_is_kept_on_its_deliveries_and_filters_them,
    a_subscription_waiting_for_its_ping_sends_nothing_even_when_retried,
    prune_removes_only_old_finished_history,
    queue_stats_count_by_status,
    the_counts_read_equal_a_count_of_the_rows_through_every_change,
    a_never_rendered_delivery_takes_its_first_request_once,
    a_bulk_retry_says_which_it_made_due_and_which_held_and_can_leave_out_the_never_attempted,
    a_disabled_subscription_keeps_the_time_it_was_disabled,
);

fn request(sub: &str) -> StoredRequest {
    StoredRequest {
        method: "POST".into(),
        url: format!("http://127.0.0.1:9/{sub}"),
        headers: vec![("Authorization".into(), "Bearer secret-token".into())],
        body: Some("{\"n\":1}".into()),
        sensitive: vec!["authorization".into()],
        masked: Vec::new(),
    }
}

fn delivery(sub: &str, status: DeliveryStatus) -> NewDelivery {
    NewDelivery {
        id: new_delivery_id(),
        subscription: sub.into(),
        status,
        request: request(sub),
        error: None,
        config_version: "v1".into(),
        lease: None,
        needs_activation: false,
    }
}

fn event(uuid: &str, topic: &str, subs: &[&str]) -> NewEvent {
    NewEvent {
        keys: Vec::new(),
        schema_problems: Vec::new(),
        uuid: uuid.into(),
        topic: topic.into(),
        date: "2026-11-23T10:00:00Z".into(),
        received_at: hookshape::now_ms(),
        body: format!("{{\"Uuid\":\"{uuid}\"}}"),
        source: None,
        deliveries: subs.iter().map(|s| delivery(s, DeliveryStatus::Pending)).collect(),
    }
}

async fn insert(store: &Arc<dyn Store>, subs: &[&str]) -> String {
    let uuid = new_uuid();
    store.insert_events(vec![event(&uuid, "T", subs)]).await.unwrap();
    uuid
}

fn lease_req(owner: &str, limit: usize, caps: &[(&str, u32)]) -> LeaseRequest {
    LeaseRequest {
        owner: owner.into(),
        now: hookshape::now_ms(),
        lease_ms: HashMap::new(),
        default_lease_ms: 60_000,
        limit,
        caps: caps.iter().map(|(s, c)| (s.to_string(), *c)).collect(),
        exclude: Vec::new(),
        sweep_held: true,
        loaded: None,
    }
}

/// The report of one attempt at `d` by `owner`, answered `code` (also used by `pg_scale`).
pub(crate) fn report(d: &Leased, owner: &str, outcome: Outcome, code: u16) -> AttemptReport {
    AttemptReport {
        delivery_id: d.id.clone(),
        subscription: d.subscription.clone(),
        owner: owner.into(),
        attempt: d.attempt,
        started_at: hookshape::now_ms(),
        duration_ms: 3,
        status_code: Some(code),
        response_body: Some(format!("answer {code}")),
        error: None,
        outcome,
        disable_after: 0,
        disable_now: false,
    }
}

async fn status_of(store: &Arc<dyn Store>, id: &str) -> DeliveryStatus {
    store.get_delivery(id).await.unwrap().unwrap().summary.status
}

async fn deliveries_of(store: &Arc<dyn Store>, event: &str) -> Vec<DeliverySummary> {
    let q = DeliveryQuery { event: vec![event.into()], limit: 100, ..DeliveryQuery::default() };
    store.list_deliveries(q).await.unwrap().deliveries
}

async fn an_event_is_stored_once_with_its_deliveries(store: Arc<dyn Store>) {
    let uuid = new_uuid();
    let first = store.insert_events(vec![event(&uuid, "Sale", &["a", "b"])]).await.unwrap();
    assert_eq!(first, vec![Inserted { uuid: uuid.clone(), deliveries: 2, duplicate: false, leased: vec![] }]);

    let again = store.insert_events(vec![event(&uuid, "Sale", &["a", "b", "c"])]).await.unwrap();
    assert_eq!(
        again,
        vec![Inserted { uuid: uuid.clone(), deliveries: 2, duplicate: true, leased: vec![] }],
        "nothing new is added"
    );
    assert_eq!(deliveries_of(&store, &uuid).await.len(), 2);
    let stored = store.get_event(&uuid).await.unwrap().unwrap();
    assert_eq!((stored.topic.as_str(), stored.body), ("Sale", format!("{{\"Uuid\":\"{uuid}\"}}")));

    // Within one batch the first of a Uuid is stored and the second is its duplicate.
    let other = new_uuid();
    let batch = vec![event(&other, "Sale", &["a"]), event(&other, "Sale", &["a", "b"]), event(&uuid, "Sale", &["a"])];
    let results = store.insert_events(batch).await.unwrap();
    let summary: Vec<(usize, bool)> = results.iter().map(|r| (r.deliveries, r.duplicate)).collect();
    assert_eq!(summary, vec![(1, false), (1, true), (2, true)]);
    assert_eq!(deliveries_of(&store, &other).await.len(), 1);
    assert!(store.get_event("no-such-event").await.unwrap().is_none());
}

async fn concurrent_duplicates_create_one_event(store: Arc<dyn Store>) {
    let uuid = new_uuid();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, uuid) = (store.clone(), uuid.clone());
            tokio::spawn(async move { store.insert_events(vec![event(&uuid, "T", &["a", "b"])]).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        let result = t.await.unwrap();
        assert_eq!(result[0].deliveries, 2);
        fresh += usize::from(!result[0].duplicate);
    }
    assert_eq!(fresh, 1, "exactly one insert created the event");
    assert_eq!(deliveries_of(&store, &uuid).await.len(), 2);
}

async fn leases_take_due_deliveries_once_and_count_attempts(store: Arc<dyn Store>) {
    assert_eq!(store.next_due_at(None).await.unwrap(), None);
    for _ in 0..5 {
        insert(&store, &["s"]).await;
    }
    assert!(store.next_due_at(None).await.unwrap().is_some());
    let a = store.lease(lease_req("node-a", 3, &[])).await.unwrap();
    let b = store.lease(lease_req("node-b", 10, &[])).await.unwrap();
    assert_eq!((a.len(), b.len()), (3, 2));
    assert!(a.iter().chain(&b).all(|d| d.attempt == 1 && d.topic == "T" && d.subscription == "s"));
    assert_eq!(a[0].request, request("s"), "the stored request comes back whole, secrets included, to be sent");
    assert!(store.lease(lease_req("node-c", 10, &[])).await.unwrap().is_empty(), "unexpired leases are kept");
    assert_eq!(status_of(&store, &a[0].id).await, DeliveryStatus::InFlight);

    // Once the leases expire (their holder died), another owner takes them over. Nothing
    // was recorded, so it is still the first attempt: a crash does not use up a retry.
    let mut later = lease_req("node-c", 10, &[]);
    later.now += 120_000;
    let taken = store.lease(later).await.unwrap();
    assert_eq!(taken.len(), 5);
    assert!(taken.iter().all(|d| d.attempt == 1));
    // The old holder's late report is history, but moves nothing; the holder's wins.
    store.finish_attempt(report(&a[0], "node-a", Outcome::Succeeded, 200)).await.unwrap();
    assert_eq!(status_of(&store, &a[0].id).await, DeliveryStatus::InFlight);
    let detail = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!((detail.summary.attempts, detail.attempts.len()), (0, 1));
    let again = taken.iter().find(|d| d.id == a[0].id).unwrap();
    store.finish_attempt(report(again, "node-c", Outcome::Retry { at: 0 }, 503)).await.unwrap();
    let detail = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!(detail.summary.attempts, 1, "one recorded attempt");
    assert_eq!(detail.attempts[0].status_code, Some(503), "the holder's record won");
    // Recorded attempts number the next one.
    let next = store.lease(lease_req("node-c", 10, &[])).await.unwrap();
    assert_eq!(next.iter().find(|d| d.id == a[0].id).map(|d| d.attempt), Some(2));
}

async fn a_fresh_delivery_can_be_stored_leased_to_the_node_that_accepts_it(store: Arc<dyn Store>) {
    store.disable("off", "by hand").await.unwrap();
    let now = hookshape::now_ms();
    let lease = PreLease { owner: "node-a".into(), until: now + 60_000, send_by: now + SEND_WITHIN_MS };
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &["on", "off", "plain"]);
    for d in e.deliveries.iter_mut().filter(|d| d.subscription != "plain") {
        d.lease = Some(lease.clone());
    }
    let ids: HashMap<String, String> = e.deliveries.iter().map(|d| (d.subscription.clone(), d.id.clone())).collect();
    let inserted = store.insert_events(vec![e]).await.unwrap();
    let leased = &inserted[0].leased;
    assert_eq!(leased.len(), 1, "a disabled subscription's delivery is held, not leased: {leased:?}");
    assert_eq!((leased[0].id.as_str(), leased[0].attempt), (ids["on"].as_str(), 1));
    assert_eq!(leased[0].request, request("on"), "handed over whole, ready to send");
    assert_eq!((leased[0].send_by, leased[0].lease_until), (lease.send_by, lease.until));
    assert_eq!(status_of(&store, &ids["on"]).await, DeliveryStatus::InFlight);
    assert_eq!(status_of(&store, &ids["off"]).await, DeliveryStatus::Held);
    assert_eq!(status_of(&store, &ids["plain"]).await, DeliveryStatus::Pending);
    let others = store.lease(lease_req("node-b", 10, &[])).await.unwrap();
    assert_eq!(others.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [ids["plain"].as_str()]);
    store.finish_attempt(report(&leased[0], "node-a", Outcome::Succeeded, 200)).await.unwrap();
    assert_eq!(status_of(&store, &ids["on"]).await, DeliveryStatus::Succeeded);
    let again = store.insert_events(vec![event(&uuid, "T", &["on"])]).await.unwrap();
    assert!(again[0].duplicate && again[0].leased.is_empty());
}

async fn excluded_subscriptions_are_not_leased(store: Arc<dyn Store>) {
    insert(&store, &["busy", "idle"]).await;
    let mut req = lease_req("node-a", 10, &[("capped", 5)]);
    req.exclude = vec!["busy".into(), "capped".into()];
    let taken = store.lease(req).await.unwrap();
    assert_eq!(taken.iter().map(|d| d.subscription.as_str()).collect::<Vec<_>>(), ["idle"]);
}

async fn a_node_leases_and_waits_for_only_the_subscriptions_it_has_loaded(store: Arc<dyn Store>) {
    insert(&store, &["mine", "theirs"]).await;
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(store.next_due_at(Some(&names(&["other"]))).await.unwrap(), None, "nothing of its own is due");
    assert!(store.next_due_at(Some(&names(&["theirs"]))).await.unwrap().is_some());
    let mut req = lease_req("node-a", 10, &[]);
    req.loaded = Some(names(&["mine", "other"]));
    let taken = store.lease(req).await.unwrap();
    assert_eq!(taken.iter().map(|d| d.subscription.as_str()).collect::<Vec<_>>(), ["mine"]);
    let mut req = lease_req("node-b", 10, &[]);
    req.loaded = Some(names(&["theirs"]));
    let taken = store.lease(req).await.unwrap();
    assert_eq!(
        taken.iter().map(|d| d.subscription.as_str()).collect::<Vec<_>>(),
        ["theirs"],
        "left to a node that has it"
    );
}

async fn a_batch_of_results_is_recorded_together(store: Arc<dyn Store>) {
    for _ in 0..3 {
        insert(&store, &["ok", "retry", "fail"]).await;
    }
    let leased = store.lease(lease_req("node-a", 100, &[])).await.unwrap();
    assert_eq!(leased.len(), 9);
    let soon = hookshape::now_ms() + 60_000;
    let reports: Vec<AttemptReport> = leased
        .iter()
        .map(|d| match d.subscription.as_str() {
            "ok" => report(d, "node-a", Outcome::Succeeded, 200),
            "retry" => report(d, "node-a", Outcome::Retry { at: soon }, 503),
            _ => AttemptReport { disable_after: 3, ..report(d, "node-a", Outcome::Failed, 500) },
        })
        .collect();
    let mut lost = report(&leased[0], "node-z", Outcome::Failed, 500);
    lost.attempt = 1;
    store.finish_attempts(reports).await.unwrap();
    store.finish_attempts(vec![lost]).await.unwrap();
    for d in &leased {
        let detail = store.get_delivery(&d.id).await.unwrap().unwrap();
        let want = match d.subscription.as_str() {
            "ok" => DeliveryStatus::Succeeded,
            "retry" => DeliveryStatus::Pending,
            _ => DeliveryStatus::Failed,
        };
        assert_eq!((detail.summary.status, detail.summary.attempts, detail.attempts.len()), (want, 1, 1), "{d:?}");
    }
    let states = store.subscription_states().await.unwrap();
    let fail = states.iter().find(|s| s.name == "fail").unwrap();
    assert!(fail.disabled, "three failures in one batch count toward auto-disable: {fail:?}");
}

async fn leases_last_their_subscriptions_own_length(store: Arc<dyn Store>) {
    insert(&store, &["short", "long"]).await;
    let mut req = lease_req("node-a", 10, &[]);
    req.lease_ms = HashMap::from([("short".to_string(), 5_000), ("long".to_string(), 125_000)]);
    assert_eq!(store.lease(req.clone()).await.unwrap().len(), 2);
    let mut at = lease_req("node-b", 10, &[]);
    at.now = req.now + 6_000;
    let taken = store.lease(at.clone()).await.unwrap();
    assert_eq!(taken.iter().map(|d| d.subscription.as_str()).collect::<Vec<_>>(), ["short"]);
    at.now = req.now + 126_000;
    let taken = store.lease(at).await.unwrap();
    assert!(taken.iter().any(|d| d.subscription == "long"), "the long lease expired only now");
}

async fn concurrent_leases_never_share_a_delivery(store: Arc<dyn Store>) {
    let events: Vec<NewEvent> = (0..100).map(|_| event(&new_uuid(), "T", &["x", "y"])).collect();
    store.insert_events(events).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.lease(lease_req(&format!("node-{i}"), 16, &[])).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 200, "every delivery was leased");
    assert_eq!(distinct.len(), 200, "no delivery was leased twice");
}

async fn a_stopping_owner_releases_its_leases_to_the_others(store: Arc<dyn Store>) {
    for _ in 0..3 {
        insert(&store, &["s"]).await;
    }
    let mine = store.lease(lease_req("stopping", 2, &[])).await.unwrap();
    let theirs = store.lease(lease_req("staying", 1, &[])).await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (2, 1));
    assert_eq!(store.release_leases("stopping", hookshape::now_ms()).await.unwrap(), 2);
    let taken = store.lease(lease_req("staying", 10, &[])).await.unwrap();
    let mut ids: Vec<&str> = taken.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = mine.iter().map(|d| d.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "only the stopping owner's leases came back, at once");
    assert!(taken.iter().all(|d| d.attempt == 1), "nothing was recorded: still the first attempt");
    assert_eq!(store.release_leases("nobody", hookshape::now_ms()).await.unwrap(), 0);
}

async fn leases_queued_too_long_to_send_go_back_due_at_once(store: Arc<dyn Store>) {
    for _ in 0..3 {
        insert(&store, &["s"]).await;
    }
    let mine = store.lease(lease_req("queued", 3, &[])).await.unwrap();
    assert_eq!(mine.len(), 3);
    let (unsent, kept) = (vec![UnsentLease::from(&mine[0]), UnsentLease::from(&mine[1])], &mine[2]);
    // Another owner cannot give back leases it does not hold.
    assert_eq!(store.release_unsent("other", &unsent, hookshape::now_ms()).await.unwrap(), 0);
    assert_eq!(store.release_unsent("queued", &unsent, hookshape::now_ms()).await.unwrap(), 2);
    let again = store.lease(lease_req("other", 10, &[])).await.unwrap();
    let mut ids: Vec<&str> = again.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = unsent.iter().map(|l| l.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "the two given back are due at once; the third stays leased");
    assert!(again.iter().all(|d| d.attempt == 1), "nothing was attempted: still the first attempt");
    assert_eq!(status_of(&store, &kept.id).await, DeliveryStatus::InFlight);
}

/// The dispatcher gathers leases to give back for a moment before one statement returns
/// them. A delivery its owner leased again meanwhile (its lease expired) may be on its way:
/// giving back the old lease must not release the new one. (A Resend leaves a delivery in
/// flight alone.)
async fn a_lease_taken_again_before_the_old_one_goes_back_stays(store: Arc<dyn Store>) {
    for _ in 0..2 {
        insert(&store, &["s"]).await;
    }
    let first = store.lease(lease_req("queued", 2, &[])).await.unwrap();
    assert_eq!(first.len(), 2);
    let (expired, resent) = (&first[0], &first[1]);
    assert_eq!(store.retry_now(&resent.id).await.unwrap(), RetryNow::InFlight);
    // Later than the first lease's expiry: that lease has expired, and the new ones differ.
    let later = LeaseRequest { now: expired.lease_until + 1, ..lease_req("queued", 10, &[]) };
    let second = store.lease(later).await.unwrap();
    let mut ids: Vec<&str> = second.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![expired.id.as_str(), resent.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "the same owner leased both again");
    assert!(second.iter().all(|d| d.lease_until > expired.lease_until));

    let old: Vec<UnsentLease> = first.iter().map(UnsentLease::from).collect();
    assert_eq!(store.release_unsent("queued", &old, hookshape::now_ms()).await.unwrap(), 0);
    for d in &first {
        assert_eq!(status_of(&store, &d.id).await, DeliveryStatus::InFlight, "{} still leased", d.id);
    }
    let new: Vec<UnsentLease> = second.iter().map(UnsentLease::from).collect();
    assert_eq!(store.release_unsent("queued", &new, hookshape::now_ms()).await.unwrap(), 2);
    for d in &first {
        assert_eq!(status_of(&store, &d.id).await, DeliveryStatus::Pending, "{} given back", d.id);
    }
}

async fn max_in_flight_caps_unexpired_leases_across_owners(store: Arc<dyn Store>) {
    for _ in 0..10 {
        insert(&store, &["capped", "free"]).await;
    }
    let caps = [("capped", 3)];
    let first = store.lease(lease_req("node-a", 100, &caps)).await.unwrap();
    let count = |ls: &[Leased], s: &str| ls.iter().filter(|d| d.subscription == s).count();
    assert_eq!((count(&first, "capped"), count(&first, "free")), (3, 10));
    assert!(store.lease(lease_req("node-b", 100, &caps)).await.unwrap().is_empty(), "the cap is store-wide");

    // One finishes: exactly one more may go, to whichever owner asks.
    let done = first.iter().find(|d| d.subscription == "capped").unwrap();
    store.finish_attempt(report(done, "node-a", Outcome::Succeeded, 200)).await.unwrap();
    let next = store.lease(lease_req("node-b", 100, &caps)).await.unwrap();
    assert_eq!(count(&next, "capped"), 1);

    // Owners racing for the room left never exceed the cap together.
    for d in first.iter().filter(|d| d.subscription == "capped" && d.id != done.id).chain(&next) {
        store.finish_attempt(report(d, &d_owner(d, &first), Outcome::Succeeded, 200)).await.unwrap();
    }
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { store.lease(lease_req(&format!("racer-{i}"), 100, &[("capped", 3)])).await.unwrap() },
            )
        })
        .collect();
    let mut raced = 0;
    for r in racers {
        raced += count(&r.await.unwrap(), "capped");
    }
    assert_eq!(raced, 3, "six owners leasing at once took exactly the cap");
}

/// Which owner holds a lease in `max_in_flight_caps…`: the first batch was node-a's.
fn d_owner(d: &Leased, first: &[Leased]) -> String {
    if first.iter().any(|f| f.id == d.id) {
        "node-a".into()
    } else {
        "node-b".into()
    }
}

async fn finishing_an_attempt_moves_the_delivery_and_keeps_history(store: Arc<dyn Store>) {
    insert(&store, &["ok", "again"]).await;
    let leased = store.lease(lease_req("node-a", 10, &[])).await.unwrap();
    let by_sub: HashMap<&str, &Leased> = leased.iter().map(|d| (d.subscription.as_str(), d)).collect();

    store.finish_attempt(report(by_sub["ok"], "node-a", Outcome::Succeeded, 200)).await.unwrap();
    let detail = store.get_delivery(&by_sub["ok"].id).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Succeeded);
    assert_eq!((detail.summary.attempts, detail.summary.last_status_code), (1, Some(200)));
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].response_body.as_deref(), Some("answer 200"));
    assert_eq!(detail.request.headers[0].1, "***", "history never shows a secret header");
    assert!(detail.summary.next_attempt_at.is_none());
    let listed = deliveries_of(&store, &detail.summary.event).await;
    let ok = listed.iter().find(|d| d.subscription == "ok").unwrap();
    assert_eq!(
        (ok.url.as_str(), ok.last_duration_ms),
        ("http://127.0.0.1:9/ok", Some(3)),
        "URL and last duration listed"
    );
    let again = listed.iter().find(|d| d.subscription == "again").unwrap();
    assert_eq!(again.last_duration_ms, None, "not attempted yet");

    let soon = hookshape::now_ms() + 60_000;
    store.finish_attempt(report(by_sub["again"], "node-a", Outcome::Retry { at: soon }, 503)).await.unwrap();
    let detail = store.get_delivery(&by_sub["again"].id).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Pending);
    assert_eq!(detail.summary.next_attempt_at, Some(iso(soon)));
    assert!(store.lease(lease_req("node-a", 10, &[])).await.unwrap().is_empty(), "not due before its time");
    assert_eq!(store.next_due_at(None).await.unwrap(), Some(soon));
}

async fn failures_disable_a_subscription_and_enable_releases_held(store: Arc<dyn Store>) {
    insert(&store, &["flaky"]).await;
    insert(&store, &["flaky"]).await;
    insert(&store, &["flaky"]).await;
    let fail = |d: &Leased| AttemptReport { disable_after: 2, ..report(d, "n", Outcome::Failed, 500) };

    let one = store.lease(lease_req("n", 1, &[])).await.unwrap();
    store.finish_attempt(fail(&one[0])).await.unwrap();
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "flaky").unwrap();
    assert_eq!((state.disabled, state.consecutive_failures), (false, 1));

    let two = store.lease(lease_req("n", 1, &[])).await.unwrap();
    store.finish_attempt(fail(&two[0])).await.unwrap();
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "flaky").unwrap();
    assert!(state.disabled);
    assert_eq!(state.disabled_reason.as_deref(), Some("2 consecutive failed deliveries"));
    assert_eq!((state.counts["held"], state.counts["failed"]), (1, 2), "the pending one is held");

    let later = insert(&store, &["flaky", "other"]).await;
    let statuses: HashMap<String, DeliveryStatus> =
        deliveries_of(&store, &later).await.into_iter().map(|d| (d.subscription, d.status)).collect();
    assert_eq!(statuses["flaky"], DeliveryStatus::Held, "new deliveries of a disabled subscription are held");
    assert_eq!(statuses["other"], DeliveryStatus::Pending);
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert!(leased.iter().all(|d| d.subscription == "other"), "nothing of a disabled subscription is sent");
    assert_eq!(store.queue_stats(false).await.unwrap().disabled_subscriptions, 1);

    assert_eq!(store.enable("flaky").await.unwrap(), 2);
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "flaky").unwrap();
    assert_eq!((state.disabled, state.consecutive_failures, state.counts["pending"]), (false, 0, 2));
    let released = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(released.len(), 2);

    // A success clears the count; a 410 disables at once.
    store.finish_attempt(report(&released[0], "n", Outcome::Succeeded, 200)).await.unwrap();
    let gone = AttemptReport { disable_now: true, ..report(&released[1], "n", Outcome::Failed, 410) };
    store.finish_attempt(gone).await.unwrap();
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "flaky").unwrap();
    assert_eq!(state.disabled_reason.as_deref(), Some("the receiver answered 410 Gone"));
    assert_eq!(state.consecutive_failures, 1);

    store.disable("other", "by hand").await.unwrap();
    let other = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "other").unwrap();
    assert_eq!((other.disabled, other.disabled_reason.as_deref()), (true, Some("by hand")));
}

async fn a_failure_after_a_success_made_since_its_delivery_is_not_consecutive(store: Arc<dyn Store>) {
    let state = |store: Arc<dyn Store>| async move {
        store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "flaky").unwrap()
    };
    let fail = |d: &Leased| AttemptReport { disable_after: 3, ..report(d, "n", Outcome::Failed, 500) };
    // Five deliveries to a customer that always fails, then one to a customer that does not.
    for _ in 0..5 {
        insert(&store, &["flaky"]).await;
    }
    let failing = store.lease(lease_req("n", 10, &[])).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    insert(&store, &["flaky"]).await;
    let ok = store.lease(lease_req("n", 10, &[])).await.unwrap();
    store.finish_attempt(report(&ok[0], "n", Outcome::Succeeded, 200)).await.unwrap();
    // The five fail for good together, after the success: none is consecutive.
    store.finish_attempts(failing.iter().map(fail).collect()).await.unwrap();
    let s = state(store.clone()).await;
    assert_eq!((s.disabled, s.consecutive_failures, s.counts["failed"]), (false, 0, 5), "{s:?}");

    // A backlog: a delivery made before them succeeds after they were made. Not consecutive either.
    let old = insert(&store, &["flaky"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for _ in 0..3 {
        insert(&store, &["flaky"]).await;
    }
    let backlog = store.lease(lease_req("n", 10, &[])).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (first, rest): (Vec<Leased>, Vec<Leased>) = backlog.into_iter().partition(|d| d.event_uuid == old);
    store.finish_attempt(report(&first[0], "n", Outcome::Succeeded, 200)).await.unwrap();
    store.finish_attempts(rest.iter().map(fail).collect()).await.unwrap();
    let s = state(store.clone()).await;
    assert_eq!((s.disabled, s.consecutive_failures, s.counts["failed"]), (false, 0, 8), "{s:?}");

    // Deliveries made after the last success that fail do count, and disable it at three.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for _ in 0..3 {
        insert(&store, &["flaky"]).await;
    }
    for d in store.lease(lease_req("n", 10, &[])).await.unwrap() {
        store.finish_attempt(fail(&d)).await.unwrap();
    }
    let s = state(store.clone()).await;
    assert!(s.disabled, "{s:?}");
    assert_eq!(s.disabled_reason.as_deref(), Some("3 consecutive failed deliveries"));
}

async fn retry_now_schedules_anything_but_shadow(store: Arc<dyn Store>) {
    assert_eq!(store.retry_now("dlv_missing").await.unwrap(), RetryNow::NotFound);
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &["s", "held-later"]);
    e.deliveries.push(delivery("watch", DeliveryStatus::Shadow));
    store.insert_events(vec![e]).await.unwrap();
    let ids: HashMap<String, String> =
        deliveries_of(&store, &uuid).await.into_iter().map(|d| (d.subscription, d.id)).collect();
    assert_eq!(store.retry_now(&ids["watch"]).await.unwrap(), RetryNow::Shadow);

    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    for d in &leased {
        store.finish_attempt(report(d, "n", Outcome::Failed, 400)).await.unwrap();
    }
    assert_eq!(store.retry_now(&ids["s"]).await.unwrap(), RetryNow::Scheduled);
    assert_eq!(status_of(&store, &ids["s"]).await, DeliveryStatus::Pending);

    store.disable("held-later", "maintenance").await.unwrap();
    assert_eq!(store.retry_now(&ids["held-later"]).await.unwrap(), RetryNow::Held);
    assert_eq!(status_of(&store, &ids["held-later"]).await, DeliveryStatus::Held, "it goes when enabled");

    let again = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].attempt), (ids["s"].as_str(), 2));
}

async fn retry_matching_resends_what_a_filter_finds_and_never_in_flight_or_shadow(store: Arc<dyn Store>) {
    for _ in 0..3 {
        insert(&store, &["a", "b"]).await;
    }
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &[]);
    e.deliveries.push(delivery("a", DeliveryStatus::Shadow));
    store.insert_events(vec![e]).await.unwrap();
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(leased.len(), 6);
    for d in &leased[..5] {
        store.finish_attempt(report(d, "n", Outcome::Failed, 500)).await.unwrap();
    }
    let failed = |subs: &[&str]| DeliveryQuery {
        status: vec![DeliveryStatus::Failed, DeliveryStatus::InFlight, DeliveryStatus::Shadow],
        subscription: subs.iter().map(|s| s.to_string()).collect(),
        limit: 100,
        ..DeliveryQuery::default()
    };
    let in_a = failed(&["a"]);
    let failed_in_a = leased[..5].iter().filter(|d| d.subscription == "a").count() as u64;
    assert_eq!(store.retry_matching(in_a).await.unwrap(), failed_in_a, "a's failed ones: not in flight, not shadow");
    assert_eq!(store.retry_matching(DeliveryQuery { limit: 1, ..failed(&["a", "b"]) }).await.unwrap(), 1, "limit");
    store.disable("b", "maintenance").await.unwrap();
    let rest = store.retry_matching(failed(&["b"])).await.unwrap();
    let held = store.list_deliveries(DeliveryQuery {
        status: vec![DeliveryStatus::Held],
        limit: 100,
        ..DeliveryQuery::default()
    });
    let held = held.await.unwrap().deliveries.len() as u64;
    assert!(rest > 0);
    assert_eq!(held, rest + 1, "a disabled subscription's wait, held (with the one `limit` let through)");
    assert_eq!(status_of(&store, &leased[5].id).await, DeliveryStatus::InFlight, "the one being sent is left alone");
}

async fn a_bulk_retry_goes_in_batches_that_others_see_and_still_retries_every_match(store: Arc<dyn Store>) {
    const N: usize = 10 * RETRY_BATCH + 50; // in events of 50
    let events: Vec<NewEvent> = (0..N / 50)
        .map(|_| {
            let mut e = event(&new_uuid(), "T", &[]);
            e.deliveries = (0..50).map(|_| delivery("bulk", DeliveryStatus::Failed)).collect();
            e
        })
        .collect();
    store.insert_events(events).await.unwrap();
    let failed = DeliveryQuery {
        status: vec![DeliveryStatus::Failed],
        subscription: vec!["bulk".into()],
        limit: N - 20,
        ..DeliveryQuery::default()
    };
    let pending = |store: Arc<dyn Store>| async move {
        store.queue_stats(false).await.unwrap().by_status.get("pending").copied().unwrap_or(0) as usize
    };

    // One batch is bounded, and says where the next one starts.
    let first = store.retry_batch(DeliveryQuery { limit: RETRY_BATCH, ..failed.clone() }).await.unwrap();
    assert_eq!(first.retried as usize, RETRY_BATCH);
    let newest_left = DeliveryQuery { limit: 1, ..failed.clone() };
    let below = store.list_deliveries(newest_left).await.unwrap().deliveries[0].id.clone();
    assert!(below < first.last.clone().unwrap(), "the rest lie below the batch's last id");

    // The rest, as a bulk retry: while it runs, another connection sees it part done (each
    // batch is its own transaction; one statement over all would show nothing, then all).
    let rest = DeliveryQuery { limit: N - 20 - RETRY_BATCH, ..failed.clone() };
    let retry = tokio::spawn({
        let store = store.clone();
        async move { store.retry_matching(rest).await.unwrap() }
    });
    let mut seen_part_done = false;
    while !retry.is_finished() {
        let n = pending(store.clone()).await;
        seen_part_done |= n > RETRY_BATCH && n < N - 20;
    }
    assert_eq!(retry.await.unwrap() as usize, N - 20 - RETRY_BATCH, "every match up to the limit");
    assert!(seen_part_done, "the bulk retry was one transaction: intake would wait behind all of it");
    assert_eq!(pending(store.clone()).await, N - 20);
    let left = store.list_deliveries(DeliveryQuery { limit: 100, ..failed.clone() }).await.unwrap().deliveries;
    assert_eq!(left.len(), 20, "the limit holds across batches");
    assert!(left.iter().all(|d| d.id < below), "the newest first: the oldest are left");
    assert_eq!(store.retry_matching(failed).await.unwrap(), 20);
}

async fn a_subscription_waiting_for_its_ping_sends_nothing_even_when_retried(store: Arc<dyn Store>) {
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &[]);
    let mut d = delivery("eduzz", DeliveryStatus::Pending);
    d.needs_activation = true;
    e.deliveries.push(d);
    store.insert_events(vec![e]).await.unwrap();
    let replayed = DeliveryQuery { subscription: vec!["eduzz".into()], limit: 10, ..DeliveryQuery::default() };
    let mut again = delivery("eduzz", DeliveryStatus::Pending);
    again.needs_activation = true;
    store.add_deliveries(&uuid, "T", vec![again]).await.unwrap();
    let ids: Vec<String> =
        store.list_deliveries(replayed.clone()).await.unwrap().deliveries.into_iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(store.retry_now(&ids[0]).await.unwrap(), RetryNow::Held);
    assert_eq!(
        store.retry_matching(DeliveryQuery { status: vec![DeliveryStatus::Held], ..replayed.clone() }).await.unwrap(),
        2
    );
    assert!(store.lease(lease_req("n", 10, &[])).await.unwrap().is_empty(), "nothing goes before the ping");
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "eduzz").unwrap();
    assert!(state.disabled && state.disabled_reason.as_deref() == Some(WAITING_FOR_PING));
    assert_eq!(store.enable("eduzz").await.unwrap(), 2);
    assert_eq!(store.lease(lease_req("n", 10, &[])).await.unwrap().len(), 2);
}

async fn an_events_source_is_kept_on_its_deliveries_and_filters_them(store: Arc<dyn Store>) {
    let (from_source, from_intake) = (new_uuid(), new_uuid());
    let mut e = event(&from_source, "T", &["a", "b"]);
    e.source = Some("themembers".into());
    store.insert_events(vec![e, event(&from_intake, "T", &["a"])]).await.unwrap();
    // A replay adds deliveries to a stored event: they take its source too.
    store.add_deliveries(&from_source, "T", vec![delivery("c", DeliveryStatus::Pending)]).await.unwrap();
    let q = DeliveryQuery { source: vec!["themembers".into()], limit: 100, ..DeliveryQuery::default() };
    let listed = store.list_deliveries(q).await.unwrap().deliveries;
    let mut subs: Vec<&str> = listed.iter().map(|d| d.subscription.as_str()).collect();
    subs.sort();
    assert_eq!(subs, ["a", "b", "c"]);
    assert!(listed.iter().all(|d| d.event == from_source && d.source.as_deref() == Some("themembers")));
    let stored = store.get_event(&from_source).await.unwrap().unwrap();
    assert_eq!(stored.source.as_deref(), Some("themembers"));
    assert!(deliveries_of(&store, &from_intake).await.iter().all(|d| d.source.is_none()));
}

async fn a_listed_url_never_shows_a_secret(store: Arc<dyn Store>) {
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &[]);
    let mut d = delivery("s", DeliveryStatus::Pending);
    d.request.url = "http://127.0.0.1:9/hook?token=s3cr3t-value".into();
    d.request.masked = vec!["s3cr3t-value".into()];
    e.deliveries.push(d);
    store.insert_events(vec![e]).await.unwrap();
    let listed = deliveries_of(&store, &uuid).await;
    assert_eq!(listed[0].url, "http://127.0.0.1:9/hook?token=***");
}

async fn history_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    let first = insert(&store, &["a", "b"]).await;
    let mut sale = event(&new_uuid(), "Sale", &["a"]);
    sale.received_at += 1;
    store.insert_events(vec![sale]).await.unwrap();
    let last = insert(&store, &["b"]).await;

    let list = |q: DeliveryQuery| {
        let store = store.clone();
        async move { store.list_deliveries(DeliveryQuery { limit: 100, ..q }).await.unwrap() }
    };
    let all = list(DeliveryQuery::default()).await.deliveries;
    assert_eq!(all.len(), 4);
    let ids: Vec<&String> = all.iter().map(|d| &d.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    let only = |q: DeliveryQuery| async { list(q).await.deliveries.len() };
    assert_eq!(only(DeliveryQuery { subscription: vec!["a".into()], ..Default::default() }).await, 2);
    assert_eq!(only(DeliveryQuery { topic: vec!["Sale".into()], ..Default::default() }).await, 1);
    assert_eq!(only(DeliveryQuery { event: vec![first.clone()], ..Default::default() }).await, 2);
    let two = vec![first, last];
    assert_eq!(only(DeliveryQuery { event: two, ..Default::default() }).await, 3, "several events: any of them");
    assert_eq!(only(DeliveryQuery { status: vec![DeliveryStatus::Pending], ..Default::default() }).await, 4);
    assert_eq!(only(DeliveryQuery { status: vec![DeliveryStatus::Failed], ..Default::default() }).await, 0);
    let either = vec![DeliveryStatus::Failed, DeliveryStatus::Pending];
    assert_eq!(only(DeliveryQuery { status: either, ..Default::default() }).await, 4, "several values: any of them");
    assert_eq!(only(DeliveryQuery { since: Some(hookshape::now_ms() + 60_000), ..Default::default() }).await, 0);
    assert_eq!(only(DeliveryQuery { until: Some(hookshape::now_ms() + 60_000), ..Default::default() }).await, 4);

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_deliveries(DeliveryQuery { limit: 3, cursor, ..DeliveryQuery::default() }).await.unwrap();
        assert!(page.deliveries.len() <= 3);
        seen.extend(page.deliveries.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), "pages cover all, in order, once");
}

async fn prune_removes_only_old_finished_history(store: Arc<dyn Store>) {
    let done = insert(&store, &["s"]).await;
    let waiting = insert(&store, &["slow"]).await;
    let leased = store.lease(lease_req("n", 10, &[("slow", 0)])).await.unwrap();
    assert_eq!(leased.len(), 1);
    store.finish_attempt(report(&leased[0], "n", Outcome::Succeeded, 200)).await.unwrap();

    assert_eq!(store.prune(hookshape::now_ms() - 60_000, 100).await.unwrap(), 0, "nothing is old enough yet");
    let removed = store.prune(hookshape::now_ms() + 60_000, 100).await.unwrap();
    assert_eq!(removed, 1);
    assert!(store.get_delivery(&leased[0].id).await.unwrap().is_none());
    assert!(store.get_event(&done).await.unwrap().is_none(), "an event left without deliveries goes too");
    assert_eq!(deliveries_of(&store, &waiting).await.len(), 1, "pending work is never pruned");
    assert!(store.get_event(&waiting).await.unwrap().is_some());
}

async fn queue_stats_count_by_status(store: Arc<dyn Store>) {
    let empty = store.queue_stats(true).await.unwrap();
    assert_eq!(empty.by_status.len(), 6);
    assert!(empty.by_status.values().all(|n| *n == 0));
    assert_eq!(empty.oldest_pending_created_at, None);

    let before = hookshape::now_ms();
    insert(&store, &["a", "b", "c"]).await;
    let leased = store.lease(lease_req("n", 1, &[])).await.unwrap();
    store.finish_attempt(report(&leased[0], "n", Outcome::Succeeded, 204)).await.unwrap();
    let stats = store.queue_stats(true).await.unwrap();
    assert_eq!((stats.by_status["pending"], stats.by_status["succeeded"]), (2, 1));
    assert!(stats.oldest_pending_created_at.unwrap() >= before);
    let active = store.queue_stats(false).await.unwrap();
    assert_eq!(active.by_status.keys().collect::<Vec<_>>(), ["held", "in_flight", "pending"], "history is not counted");
    assert_eq!(active.by_status["pending"], 2);
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_heartbeat_makes_every_other_owners_lease_due_and_keeps_its_own() {
    let opened = sqlite().await;
    let store = opened.store;
    insert(&store, &["s", "t"]).await;
    let old = store.lease(lease_req("old-process", 1, &[])).await.unwrap();
    let mine = store.lease(lease_req("this-process", 1, &[])).await.unwrap();
    assert_eq!((old.len(), mine.len()), (1, 1));
    assert_eq!(store.heartbeat("this-process", hookshape::now_ms()).await.unwrap(), 1);
    let taken = store.lease(lease_req("this-process", 10, &[])).await.unwrap();
    assert_eq!(taken.iter().map(|d| (d.id.as_str(), d.attempt)).collect::<Vec<_>>(), [(old[0].id.as_str(), 1)]);
    assert_eq!(store.heartbeat("this-process", hookshape::now_ms()).await.unwrap(), 0, "its own leases stay");
}

/// The names of a SQLite file's indexes on `deliveries`.
fn delivery_indexes(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' AND sql IS NOT NULL")
        .unwrap();
    let mut names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_file_with_the_earlier_whole_table_indexes_is_upgraded_and_still_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let before = insert(&store, &["s"]).await;
    drop(store);
    // Put the file back the way an earlier version left it: whole-table indexes, and
    // deliveries that name their event by its uuid alone.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP INDEX deliveries_live; DROP INDEX deliveries_finished_by_time; DROP INDEX deliveries_from_source;
         DROP INDEX events_received;
         CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
         CREATE INDEX deliveries_finished ON deliveries (status, updated_at);
         CREATE INDEX deliveries_finished_at ON deliveries (status, updated_at)
             WHERE status IN ('succeeded', 'failed', 'shadow');
         CREATE INDEX deliveries_source ON deliveries (source);
         DROP INDEX deliveries_by_event; DROP INDEX deliveries_by_event_uuid;
         ALTER TABLE deliveries DROP COLUMN event_at;
         CREATE INDEX deliveries_event ON deliveries (event_uuid);
         DROP INDEX deliveries_status_id_off_queue; DROP INDEX deliveries_subscription_id_off_queue;
         CREATE INDEX deliveries_status_id ON deliveries (status, id);
         CREATE INDEX deliveries_subscription_id ON deliveries (subscription, status, id);",
    )
    .unwrap();
    drop(conn);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    assert_eq!(
        delivery_indexes(&path),
        [
            "deliveries_by_event",
            "deliveries_by_event_uuid",
            "deliveries_finished_by_time",
            "deliveries_from_source",
            "deliveries_live",
            "deliveries_status_id_off_queue",
            "deliveries_subscription_id_off_queue"
        ]
    );
    // The lease and prune queries' own WHERE terms, which the partial indexes repeat.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (query, index) in [
        (
            "SELECT id FROM deliveries WHERE status IN ('pending', 'in_flight') AND next_attempt_at <= 0
              ORDER BY next_attempt_at LIMIT 10",
            "deliveries_live",
        ),
        (
            "SELECT id FROM deliveries WHERE status NOT IN ('pending', 'in_flight') AND status <> 'held'
                AND updated_at < 0 LIMIT 10",
            "deliveries_finished_by_time",
        ),
        // The events past the retention, which prune looks at for any left without deliveries.
        ("SELECT uuid FROM events WHERE received_at < 0 LIMIT 10", "events_received"),
    ] {
        let plan: String = conn.query_row(&format!("EXPLAIN QUERY PLAN {query}"), [], |r| r.get(3)).unwrap();
        assert!(plan.contains(index), "{query} reads {plan}");
    }
    let stored_at = |uuid: &str| -> Option<i64> {
        conn.query_row("SELECT event_at FROM deliveries WHERE event_uuid = ?1", [uuid], |r| r.get(0)).unwrap()
    };
    assert_eq!(stored_at(&before), None, "rows from before keep no event time");

    // Deliveries from before and after the upgrade are both found by their event.
    let after = insert(&store, &["s"]).await;
    assert!(stored_at(&after).is_some());
    rows_with_and_without_an_event_time_are_found_by_their_event(&store, &before, &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_prefilled_history_gives_each_delivery_its_own_event_with_a_random_uuid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    SqliteStore::prefill_finished(&path, 300).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    assert_eq!(store.queue_stats(true).await.unwrap().by_status["succeeded"], 300);
    let q = DeliveryQuery { limit: 300, ..DeliveryQuery::default() };
    let page = store.list_deliveries(q).await.unwrap().deliveries;
    assert_eq!(page.len(), 300);
    let events: HashSet<&str> = page.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events.len(), 300, "one event per delivery");
    for d in &page[..20] {
        let found = deliveries_of(&store, &d.event).await;
        assert_eq!(found.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), [d.id.as_str()]);
        assert!(store.get_event(&d.event).await.unwrap().is_some());
    }
    // Newest first by id: the events' uuids in that order are not sorted either way.
    let uuids: Vec<&str> = page.iter().map(|d| d.event.as_str()).collect();
    assert!(!uuids.is_sorted() && !uuids.iter().rev().is_sorted(), "uuids follow the deliveries' order");
}

/// A file made before the counters: opening it counts its history once, by the hour for
/// the last 24, and from then on the triggers keep them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_file_made_before_the_counters_is_counted_once_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    SqliteStore::prefill_finished(&path, 3000).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER delivery_counts_insert; DROP TRIGGER delivery_counts_leave;
         DROP TRIGGER delivery_counts_enter; DROP TRIGGER delivery_counts_delete;
         DROP TABLE delivery_counts;
         UPDATE deliveries SET status = 'failed' WHERE rowid % 3 = 0;",
    )
    .unwrap();
    let first_recent_hour = hookshape::now_ms() / 3_600_000 - 24;
    let recent = |status: &str| -> u64 {
        conn.query_row(
            "SELECT count(*) FROM deliveries WHERE status = ?1 AND updated_at / 3600000 >= ?2",
            rusqlite::params![status, first_recent_hour],
            |r| r.get(0),
        )
        .unwrap()
    };
    let expected = RecentOutcomes { succeeded: recent("succeeded"), failed: recent("failed") };
    assert!(expected.succeeded > 0 && expected.failed > 0, "a 30th of 30 days is in the last 24 h");
    drop(conn);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let stats = store.queue_stats(true).await.unwrap().by_status;
    assert_eq!((stats["succeeded"], stats["failed"]), (2000, 1000));
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "bench-0").unwrap();
    assert_eq!((state.counts["succeeded"], state.counts["failed"]), (2000, 1000));
    assert_eq!(state.last_24h, expected);
    insert(&store, &["bench-0"]).await;
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    store.finish_attempt(report(&leased[0], "n", Outcome::Failed, 500)).await.unwrap();
    let state = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "bench-0").unwrap();
    assert_eq!((state.counts["failed"], state.last_24h.failed), (1001, expected.failed + 1), "kept from then on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_wal_stays_bounded_while_writes_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    // 64 writers keep the SQLite writer busy with ~40 MB of pages: the WAL must be
    // checkpointed and started over meanwhile, not grow by all of it.
    let body = "x".repeat(8 * 1024);
    let writers: Vec<_> = (0..64)
        .map(|_| {
            let (store, body) = (store.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..64 {
                    let mut e = event(&new_uuid(), "T", &["s"]);
                    e.body = format!("{{\"pad\":\"{body}\"}}");
                    store.insert_events(vec![e]).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    // A WAL file never shrinks while writes go on, so its size now is the most it held.
    let wal = std::fs::metadata(dir.path().join("store.db-wal")).unwrap().len();
    // The database as readers see it (its file and the WAL's newer pages together).
    let conn = rusqlite::Connection::open(&path).unwrap();
    let database: u64 = conn
        .query_row("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size", [], |r| r.get(0))
        .unwrap();
    assert!(database > 32 << 20, "the test wrote too little to tell: {database} bytes");
    assert!(wal < 24 << 20, "the WAL grew to {wal} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deliveries_stored_before_the_event_time_existed_are_found_by_their_event() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let before = insert(&store, &["s"]).await;
    // As migration 5 leaves a row stored before it: no event time.
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let forget = "UPDATE queue SET event_at = NULL WHERE event_uuid = $1";
    assert_eq!(client.execute(forget, &[&before]).await.unwrap(), 1);
    let after = insert(&store, &["s"]).await;
    let stored_at = "SELECT event_at FROM queue WHERE event_uuid = $1";
    assert!(client.query_one(stored_at, &[&after]).await.unwrap().get::<_, Option<i64>>(0).is_some());
    rows_with_and_without_an_event_time_are_found_by_their_event(&store, &before, &after).await;
}

/// `before`'s one delivery (to `s`) was stored with no event time, `after`'s with one:
/// both are found by their event, counted as a duplicate's, replayed onto, leased, and
/// pruned with their event.
async fn rows_with_and_without_an_event_time_are_found_by_their_event(
    store: &Arc<dyn Store>,
    before: &str,
    after: &str,
) {
    assert_eq!(deliveries_of(store, before).await.len(), 1);
    assert_eq!(deliveries_of(store, after).await.len(), 1);
    let again = store.insert_events(vec![event(before, "T", &["s", "t"])]).await.unwrap();
    assert_eq!((again[0].duplicate, again[0].deliveries), (true, 1), "a repeat counts the earlier deliveries");
    assert_eq!(store.add_deliveries(before, "T", vec![delivery("t", DeliveryStatus::Pending)]).await.unwrap(), 1);
    assert_eq!(deliveries_of(store, before).await.len(), 2, "a delivery added to an earlier event is found with it");

    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(leased.len(), 3, "the deliveries stored without an event time are still due");
    store.finish_attempts(leased.iter().map(|d| report(d, "n", Outcome::Succeeded, 200)).collect()).await.unwrap();
    assert_eq!(status_of(store, &leased[0].id).await, DeliveryStatus::Succeeded);
    assert_eq!(store.prune(hookshape::now_ms() + 1, 100).await.unwrap(), 3, "the finished ones are found to prune");
    assert!(store.get_event(before).await.unwrap().is_none(), "an event from before goes with its last delivery");
    assert!(store.get_event(after).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_silent_nodes_leases_stop_counting_and_are_taken_over() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let now = hookshape::now_ms();
    store.heartbeat("node-a", now).await.unwrap();
    store.heartbeat("node-b", now).await.unwrap();
    for _ in 0..4 {
        insert(&store, &["capped"]).await;
    }
    let caps = [("capped", 2)];
    assert_eq!(store.lease(lease_req("node-a", 10, &caps)).await.unwrap().len(), 2);
    assert!(store.lease(lease_req("node-b", 10, &caps)).await.unwrap().is_empty(), "a's live leases fill the cap");

    // node-a goes silent: past the silence limit its leases no longer count, and the next
    // heartbeat of any node makes them due at once.
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let silent_ms = NODE_SILENCE_MS + 1_000;
    client
        .execute("UPDATE nodes SET heartbeat_at = heartbeat_at - $1 WHERE id = 'node-a'", &[&silent_ms])
        .await
        .unwrap();
    // node-b has been writing all along: it may judge node-a dead.
    client
        .execute("UPDATE nodes SET writing_since = writing_since - $1 WHERE id = 'node-b'", &[&silent_ms])
        .await
        .unwrap();
    let b = store.lease(lease_req("node-b", 10, &caps)).await.unwrap();
    assert_eq!(b.len(), 2, "the cap counts only live nodes' leases");
    assert_eq!(store.heartbeat("node-b", hookshape::now_ms()).await.unwrap(), 2);
    let taken = store.lease(lease_req("node-b", 10, &[])).await.unwrap();
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|d| d.attempt == 1), "a taken-over attempt is not counted");
    assert_eq!(store.heartbeat("node-b", hookshape::now_ms()).await.unwrap(), 0);
}

/// A store outage silences every node at once: the first node back judges nobody dead,
/// and another live node's expired leases stay its own, so it records the results it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_a_store_outage_no_node_is_taken_for_dead_and_its_leases_stay_its_own() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let client = schema.client().await;
    for node in ["node-a", "node-b"] {
        store.heartbeat(node, hookshape::now_ms()).await.unwrap();
    }
    // Both have been writing for a minute, and node-a holds two leases.
    client.execute("UPDATE nodes SET writing_since = writing_since - 60000", &[]).await.unwrap();
    insert(&store, &["s", "s"]).await;
    let held = store.lease(lease_req("node-a", 10, &[])).await.unwrap();
    assert_eq!(held.len(), 2);

    // A 15 s outage: no heartbeat was written, and the leases expired meanwhile.
    client.execute("UPDATE nodes SET heartbeat_at = heartbeat_at - 15000", &[]).await.unwrap();
    client.execute("UPDATE queue SET next_attempt_at = next_attempt_at - 120000", &[]).await.unwrap();
    assert_eq!(store.heartbeat("node-b", hookshape::now_ms()).await.unwrap(), 0, "node-b was silenced too");
    assert!(store.lease(lease_req("node-b", 10, &[])).await.unwrap().is_empty(), "a live node's expired leases");
    store.heartbeat("node-a", hookshape::now_ms()).await.unwrap();
    store.finish_attempts(held.iter().map(|d| report(d, "node-a", Outcome::Succeeded, 200)).collect()).await.unwrap();
    for d in &held {
        assert_eq!(status_of(&store, &d.id).await, DeliveryStatus::Succeeded, "node-a's results are recorded");
    }
    // Its own expired lease a node takes again (a queued lease it let lapse unsent).
    insert(&store, &["t"]).await;
    let mine = store.lease(lease_req("node-b", 10, &[])).await.unwrap();
    client.execute("UPDATE queue SET next_attempt_at = next_attempt_at - 120000", &[]).await.unwrap();
    assert!(store.lease(lease_req("node-a", 10, &[])).await.unwrap().is_empty());
    assert_eq!(store.lease(lease_req("node-b", 10, &[])).await.unwrap()[0].id, mine[0].id);
}

/// Deliveries of a subscription no node has had loaded for the grace are failed, by a node
/// that has been writing for 10 s (after an outage every node has noted its own again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_orphans_are_failed_past_the_grace_only_by_a_node_writing_for_10_s() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    let client = schema.client().await;
    store.heartbeat("node-a", hookshape::now_ms()).await.unwrap();
    let uuid = insert(&store, &["kept", "gone"]).await;
    let (both, kept) = (["kept".to_string(), "gone".to_string()], ["kept".to_string()]);
    assert_eq!(store.keep_loaded("node-a", &both, 60_000).await.unwrap(), 0);
    client.execute("UPDATE subscription_seen SET seen_at = seen_at - 120000 WHERE name = 'gone'", &[]).await.unwrap();
    assert_eq!(store.keep_loaded("node-a", &kept, 60_000).await.unwrap(), 0, "a node just back judges nothing");
    client.execute("UPDATE nodes SET writing_since = writing_since - 11000", &[]).await.unwrap();
    assert_eq!(store.keep_loaded("node-a", &kept, 600_000).await.unwrap(), 0, "within a longer grace");
    assert_eq!(store.keep_loaded("node-a", &kept, 60_000).await.unwrap(), 1);
    let mut found = deliveries_of(&store, &uuid).await;
    found.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    assert_eq!(found[0].subscription, "gone");
    assert_eq!((found[0].status, found[0].last_error.as_deref()), (DeliveryStatus::Failed, Some(SUBSCRIPTION_REMOVED)));
    assert_eq!(found[1].status, DeliveryStatus::Pending, "a loaded subscription keeps its deliveries");

    // "Last seen loaded" is written again only every quarter of the grace (at most a
    // minute), on a tick: a subscription noted 70 s ago may have been loaded until 55 s
    // ago, so with a 60 s grace it is failed only once 77 s have passed.
    insert(&store, &["late"]).await;
    let with_late = ["kept".to_string(), "late".to_string()];
    assert_eq!(store.keep_loaded("node-a", &with_late, 60_000).await.unwrap(), 0);
    client.execute("UPDATE subscription_seen SET seen_at = seen_at - 70000 WHERE name = 'late'", &[]).await.unwrap();
    assert_eq!(store.keep_loaded("node-a", &kept, 60_000).await.unwrap(), 0, "not before the grace and a refresh");
    client.execute("UPDATE subscription_seen SET seen_at = seen_at - 8000 WHERE name = 'late'", &[]).await.unwrap();
    assert_eq!(store.keep_loaded("node-a", &kept, 60_000).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_node_says_when_it_builds_new_history_indexes_at_start() {
    use crate::helpers::{free_port, ServeProcess, Workspace};
    let ws = Workspace::new();
    let path = ws.path().join("data/hookshape.db");
    let store = format!("sqlite://{}", path.display());
    let serve = || ServeProcess::on_store(&ws, &store, free_port(), &[]);
    let announced = "building this version's indexes of the delivery history";
    let fresh = serve();
    fresh.ready().await;
    assert!(!fresh.logs().contains(announced), "a new file builds its indexes empty, unannounced");
    drop(fresh);
    // The prune's index as the version before this one made it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP INDEX deliveries_finished_by_time;
         CREATE INDEX deliveries_finished_at ON deliveries (status, updated_at)
             WHERE status IN ('succeeded', 'failed', 'shadow');",
    )
    .unwrap();
    drop(conn);
    let upgraded = serve();
    upgraded.ready().await;
    assert!(upgraded.logs().contains(announced), "{}", upgraded.logs());
    let indexes = delivery_indexes(&path);
    assert!(indexes.contains(&"deliveries_finished_by_time".to_string()), "{indexes:?}");
    assert!(!indexes.contains(&"deliveries_finished_at".to_string()), "{indexes:?}");
}

async fn signed_out_sessions_are_remembered_until_they_expire(store: Arc<dyn Store>) {
    assert!(store.revoked_sessions(100).await.unwrap().is_empty());
    store.revoke_session("a", 200, 100).await.unwrap();
    store.revoke_session("b", 300, 100).await.unwrap();
    store.revoke_session("b", 300, 100).await.unwrap(); // signing out twice is one entry
    let mut revoked = store.revoked_sessions(100).await.unwrap();
    revoked.sort();
    assert_eq!(revoked, vec![("a".to_string(), 200), ("b".to_string(), 300)]);
    // Past its expiry a session is not listed, and the next sign-out forgets it for good.
    assert_eq!(store.revoked_sessions(250).await.unwrap(), vec![("b".to_string(), 300)]);
    store.revoke_session("c", 400, 250).await.unwrap();
    let mut later = store.revoked_sessions(0).await.unwrap();
    later.sort();
    assert_eq!(later, vec![("b".to_string(), 300), ("c".to_string(), 400)], "the expired one is deleted");
}

/// Every delivery's subscription and status, counted from the rows themselves (every page
/// of the history): what the store's counters must say.
async fn counted_from_rows(store: &Arc<dyn Store>) -> BTreeMap<(String, String), u64> {
    let mut counted = BTreeMap::new();
    let mut cursor = None;
    loop {
        let q = DeliveryQuery { limit: 500, cursor, ..DeliveryQuery::default() };
        let page = store.list_deliveries(q).await.unwrap();
        for d in page.deliveries {
            *counted.entry((d.subscription, d.status.as_str().to_string())).or_insert(0) += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return counted,
        }
    }
}

/// The counts `subscription_states` and `queue_stats` give equal those of the rows, and
/// (every delivery here finished within the hour, unless `folded`) the last 24 h's succeeded
/// and failed ones too.
async fn assert_counts_match_rows(store: &Arc<dyn Store>, step: &str, folded: bool) {
    let rows = counted_from_rows(store).await;
    let states = store.subscription_states().await.unwrap();
    let mut read = BTreeMap::new();
    for s in &states {
        for (status, n) in s.counts.iter().filter(|(_, n)| **n > 0) {
            read.insert((s.name.clone(), status.clone()), *n);
        }
        let of =
            |status: &str| if folded { 0 } else { rows.get(&(s.name.clone(), status.into())).copied().unwrap_or(0) };
        let expected = RecentOutcomes { succeeded: of("succeeded"), failed: of("failed") };
        assert_eq!(s.last_24h, expected, "{step}: {}'s last 24 h", s.name);
    }
    assert_eq!(read, rows, "{step}: subscription_states");
    let mut by_status = BTreeMap::new();
    for ((_, status), n) in &rows {
        *by_status.entry(status.clone()).or_insert(0) += n;
    }
    let stats = store.queue_stats(true).await.unwrap().by_status;
    let stats: BTreeMap<String, u64> = stats.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(stats, by_status, "{step}: queue_stats");
}

async fn the_counts_read_equal_a_count_of_the_rows_through_every_change(store: Arc<dyn Store>) {
    // Born finished (a render error, a shadow), and pending.
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &["a", "b", "b"]);
    e.deliveries.push(delivery("a", DeliveryStatus::Failed));
    e.deliveries.push(delivery("watch", DeliveryStatus::Shadow));
    store.insert_events(vec![e]).await.unwrap();
    insert(&store, &["a", "c"]).await;
    assert_counts_match_rows(&store, "inserted", false).await;

    // Finished: succeeded, failed for good, and one retried later.
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(leased.len(), 5);
    let outcomes = [Outcome::Succeeded, Outcome::Failed, Outcome::Retry { at: 0 }, Outcome::Succeeded, Outcome::Failed];
    for (d, outcome) in leased.iter().zip(outcomes) {
        store.finish_attempt(report(d, "n", outcome, 500)).await.unwrap();
    }
    assert_counts_match_rows(&store, "finished", false).await;

    // Finished deliveries retried: counted out of their status (one held, its subscription off).
    let succeeded = leased.iter().find(|d| d.subscription == "a").unwrap();
    store.retry_now(&succeeded.id).await.unwrap();
    store.disable("c", "maintenance").await.unwrap();
    let failed = DeliveryQuery { status: vec![DeliveryStatus::Failed], limit: 100, ..DeliveryQuery::default() };
    assert!(store.retry_matching(failed).await.unwrap() >= 2);
    assert_counts_match_rows(&store, "retried", false).await;
    assert_eq!(store.enable("c").await.unwrap(), 1);

    // Finished again, then folded: the totals stay, the last 24 h as of two days on are empty.
    let again = store.lease(lease_req("n", 100, &[])).await.unwrap();
    assert!(!again.is_empty());
    for d in &again {
        store.finish_attempt(report(d, "n", Outcome::Succeeded, 200)).await.unwrap();
    }
    assert_counts_match_rows(&store, "finished again", false).await;
    let two_days_on = hookshape::now_ms() + 48 * 3_600_000;
    store.compact_counts(two_days_on).await.unwrap();
    assert_counts_match_rows(&store, "folded", true).await;

    // A delivery whose hour was folded, retried and finished again; then the history pruned.
    let succeeded = DeliveryQuery { status: vec![DeliveryStatus::Succeeded], limit: 1, ..DeliveryQuery::default() };
    let one = store.list_deliveries(succeeded).await.unwrap();
    let one = &one.deliveries[0];
    assert_eq!(store.retry_now(&one.id).await.unwrap(), RetryNow::Scheduled);
    store.compact_counts(two_days_on).await.unwrap();
    let rows = counted_from_rows(&store).await;
    let states = store.subscription_states().await.unwrap();
    let total = |name: &str| states.iter().find(|s| s.name == name).map_or(0, |s| s.counts.values().sum::<u64>());
    let of_rows = |name: &str| rows.iter().filter(|((s, _), _)| s == name).map(|(_, n)| *n).sum::<u64>();
    assert_eq!(total(&one.subscription), of_rows(&one.subscription), "retried after its hour was folded");
    let live = |status: &str| matches!(status, "pending" | "held" | "in_flight");
    let finished: u64 = rows.iter().filter(|((_, status), _)| !live(status)).map(|(_, n)| *n).sum();
    assert_eq!(store.prune(hookshape::now_ms() + 60_000, 1000).await.unwrap(), finished);
    let after = counted_from_rows(&store).await;
    assert!(after.keys().all(|(_, status)| live(status)), "only live work is left");
    let states = store.subscription_states().await.unwrap();
    for s in &states {
        for status in ["succeeded", "failed", "shadow"] {
            assert_eq!(s.counts.get(status).copied().unwrap_or(0), 0, "{}: {status} after the prune", s.name);
        }
    }
    let stats = store.queue_stats(true).await.unwrap().by_status;
    assert_eq!((stats["succeeded"], stats["failed"], stats["shadow"]), (0, 0, 0), "pruned");
}

/// SQLite: live deliveries failed as orphans are counted as failed (PostgreSQL judges
/// orphans only from a node writing for 10 s: see the PostgreSQL test of that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_counts_follow_deliveries_failed_as_orphans() {
    let opened = sqlite().await;
    let store = opened.store.clone();
    insert(&store, &["kept", "gone", "gone"]).await;
    let both = ["kept".to_string(), "gone".to_string()];
    assert_eq!(store.keep_loaded("n", &both, 60_000).await.unwrap(), 0);
    // A negative grace: every subscription not loaded now is past it, with no wait.
    assert_eq!(store.keep_loaded("n", &both[..1], -60_000).await.unwrap(), 2);
    assert_counts_match_rows(&store, "orphans failed", false).await;
    let gone = store.subscription_states().await.unwrap().into_iter().find(|s| s.name == "gone").unwrap();
    assert_eq!((gone.counts["failed"], gone.last_24h.failed), (2, 2));
}

async fn a_never_rendered_delivery_takes_its_first_request_once(store: Arc<dyn Store>) {
    let uuid = new_uuid();
    let mut e = event(&uuid, "T", &[]);
    let mut never = delivery("r", DeliveryStatus::Failed);
    never.request.url = String::new();
    never.error = Some("render failed: r.json.j2 line 2: undefined".into());
    e.deliveries.push(never.clone());
    e.deliveries.push(delivery("r", DeliveryStatus::Shadow));
    store.insert_events(vec![e]).await.unwrap();

    let mut rendered = request("r");
    rendered.url = "http://127.0.0.1:9/rendered".into();
    assert_eq!(store.render_again(&never.id, rendered.clone(), "v2").await.unwrap(), RetryNow::Scheduled);
    let d = store.get_delivery(&never.id).await.unwrap().unwrap();
    assert_eq!((d.summary.status, d.summary.config_version.as_str()), (DeliveryStatus::Pending, "v2"));
    assert_eq!((d.request.url.as_str(), d.summary.last_error.clone()), ("http://127.0.0.1:9/rendered", None));
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    assert_eq!(
        (leased.len(), leased[0].request.url.as_str()),
        (1, "http://127.0.0.1:9/rendered"),
        "it goes as rendered"
    );
    // Once rendered, its request never changes again: a second render finds nothing to do.
    assert_eq!(store.render_again(&never.id, request("r"), "v3").await.unwrap(), RetryNow::NotFound);
    assert_eq!(store.get_delivery(&never.id).await.unwrap().unwrap().request.url, "http://127.0.0.1:9/rendered");
    assert_eq!(store.render_again("dlv_missing", request("r"), "v3").await.unwrap(), RetryNow::NotFound);

    // Held when its subscription is disabled.
    let mut e = event(&new_uuid(), "T", &[]);
    let mut held = delivery("off", DeliveryStatus::Failed);
    held.request.url = String::new();
    e.deliveries.push(held.clone());
    store.insert_events(vec![e]).await.unwrap();
    store.disable("off", "by hand").await.unwrap();
    assert_eq!(store.render_again(&held.id, request("off"), "v2").await.unwrap(), RetryNow::Held);
    assert_eq!(status_of(&store, &held.id).await, DeliveryStatus::Held);
}

async fn a_bulk_retry_says_which_it_made_due_and_which_held_and_can_leave_out_the_never_attempted(
    store: Arc<dyn Store>,
) {
    let uuid = new_uuid();
    store.insert_events(vec![event(&uuid, "T", &["on", "off", "on"])]).await.unwrap();
    for d in store.lease(lease_req("n", 10, &[])).await.unwrap() {
        store.finish_attempt(report(&d, "n", Outcome::Failed, 500)).await.unwrap();
    }
    let mut e = event(&new_uuid(), "T", &[]);
    let never = delivery("on", DeliveryStatus::Failed);
    e.deliveries.push(never.clone());
    store.insert_events(vec![e]).await.unwrap();
    store.disable("off", "by hand").await.unwrap();
    let failed = DeliveryQuery { status: vec![DeliveryStatus::Failed], limit: 100, ..DeliveryQuery::default() };
    let only_never = DeliveryQuery { never_attempted_failures: Some(true), ..failed.clone() };
    let listed = store.list_deliveries(only_never).await.unwrap().deliveries;
    assert_eq!(listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec![never.id.as_str()]);

    let without_never = DeliveryQuery { never_attempted_failures: Some(false), ..failed.clone() };
    let mut made = store.retry_matching_each(without_never).await.unwrap();
    made.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    let shown: Vec<(&str, bool)> = made.iter().map(|m| (m.subscription.as_str(), m.held)).collect();
    assert_eq!(shown, vec![("off", true), ("on", false), ("on", false)]);
    assert_eq!(status_of(&store, &never.id).await, DeliveryStatus::Failed, "left out");
    for m in &made {
        let expected = if m.held { DeliveryStatus::Held } else { DeliveryStatus::Pending };
        assert_eq!(status_of(&store, &m.id).await, expected);
    }
}

async fn a_disabled_subscription_keeps_the_time_it_was_disabled(store: Arc<dyn Store>) {
    let since_of = |store: Arc<dyn Store>| async move {
        let states = store.subscription_states().await.unwrap();
        states.into_iter().find(|s| s.name == "s").and_then(|s| s.disabled_since)
    };
    let before = hookshape::now_ms();
    store.disable("s", "by hand").await.unwrap();
    let since = since_of(store.clone()).await.expect("disabled since");
    assert!(since >= before - 1_000 && since <= hookshape::now_ms() + 1_000, "{since} vs {before}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // A failure recorded while disabled, and a second disable, leave the time alone.
    insert(&store, &["s"]).await;
    store.enable("s").await.unwrap();
    assert_eq!(since_of(store.clone()).await, None, "enabled: not disabled since anything");
    let leased = store.lease(lease_req("n", 10, &[])).await.unwrap();
    store.disable("s", "by hand").await.unwrap();
    let since = since_of(store.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut failing = report(&leased[0], "n", Outcome::Failed, 500);
    failing.disable_after = 1;
    store.finish_attempt(failing).await.unwrap();
    store.disable("s", "again").await.unwrap();
    assert_eq!(since_of(store.clone()).await, Some(since));
}

/// Both PostgreSQL lease statements (a capped subscription's, under its lock, and the
/// others') count the due rows another transaction holds, which `SKIP LOCKED` passes
/// over, and lease the rest; once the lock goes those rows are leased and nothing more is
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases_count_the_due_rows_another_transaction_holds() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&schema.url).await.unwrap());
    insert(&store, &["capped", "free"]).await;
    insert(&store, &["capped", "free"]).await;
    let holder = schema.client().await;
    holder
        .batch_execute(
            "BEGIN; SELECT id FROM queue WHERE id IN (SELECT min(id) FROM queue GROUP BY subscription) FOR UPDATE",
        )
        .await
        .unwrap();
    assert_eq!(store.lease_skipped(), 0);

    let taken = store.lease(lease_req("node-a", 10, &[("capped", 5)])).await.unwrap();
    let mut subs: Vec<&str> = taken.iter().map(|d| d.subscription.as_str()).collect();
    subs.sort_unstable();
    assert_eq!(subs, ["capped", "free"], "the rows not held are leased");
    assert_eq!(store.lease_skipped(), 2, "one held row of each subscription passed over");

    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(store.lease(lease_req("node-a", 10, &[("capped", 5)])).await.unwrap().len(), 2);
    assert_eq!(store.lease_skipped(), 2, "nothing held, nothing more missed");
}
