//! `rate_limit` and 429 pauses: a real receiver counts requests in every window of the
//! limit's length, on one node (SQLite) and on two real nodes sharing PostgreSQL; a 429
//! with `Retry-After` holds back the subscription's other deliveries; bad values are load
//! errors with their line; `hookshape bench --rate-limit` reports what arrived per window.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::pg::PgSchema;

/// A subscription `paced` on topic T at `requests` per `per`, plus any extra YAML.
fn paced_workspace(receiver: &Receiver, limit: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"{}/paced/{{{{ N }}}}\"\n  timeout: 5s\nrate_limit: {limit}\n{extra}",
        receiver.url()
    );
    ws.subscription("paced.yaml", &yaml);
    ws
}

/// Posts events numbered `range` in batches of 50 to `bases` in turn, all at once; every one
/// must be accepted.
async fn post_all(bases: &[&str], range: std::ops::Range<usize>) {
    let http = reqwest::Client::new();
    let numbers: Vec<usize> = range.collect();
    let posts = numbers.chunks(50).enumerate().map(|(i, chunk)| {
        let url = format!("{}/v1/events/batch", bases[i % bases.len()]);
        let batch: Vec<Value> = chunk.iter().map(|n| json!({ "Topic": "T", "Payload": { "N": n } })).collect();
        let http = http.clone();
        async move {
            let body: Value = http.post(url).json(&batch).send().await.unwrap().json().await.unwrap();
            for result in body["results"].as_array().unwrap() {
                assert_eq!(result["status"], 202, "{result}");
            }
        }
    });
    futures_util::future::join_all(posts).await;
}

async fn post_one(base: &str, topic: &str, n: usize) {
    let sent = reqwest::Client::new().post(format!("{base}/v1/events"));
    let answer = sent.json(&json!({ "Topic": topic, "Payload": { "N": n } })).send().await.unwrap();
    assert_eq!(answer.status(), 202);
}

/// The most requests that arrived in any window of length `per` (each window starting at
/// an arrival: the fullest window always does).
/// The most arrivals counted in one window of the 20 per second the tests allow. The turns
/// are exact at the sender (the attempts' recorded start times are held to 20, give or
/// take a millisecond's rounding); arrivals timed by this process on a loaded machine
/// (load 12 on 2 cores measured) bunch up by tens of milliseconds, hence this margin.
const LOOSE: usize = 26;

/// The fullest window of `per` among `arrivals`.
fn fullest_window(arrivals: &[Instant], per: Duration) -> usize {
    let first = arrivals.iter().min().copied().unwrap_or_else(Instant::now);
    let ms: Vec<i64> = arrivals.iter().map(|a| a.duration_since(first).as_millis() as i64).collect();
    fullest_window_ms(&ms, per)
}

fn fullest_window_ms(times_ms: &[i64], per: Duration) -> usize {
    let per = per.as_millis() as i64;
    let mut times = times_ms.to_vec();
    times.sort();
    let mut fullest = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= per {
            start += 1;
        }
        fullest = fullest.max(end - start + 1);
    }
    eprintln!("fullest window of {per} ms: {fullest} requests");
    fullest
}

/// Every one of `n` deliveries arrived, each once.
fn each_once(receiver: &Receiver, n: usize) {
    let requests = receiver.requests_to("/paced/");
    let ids: HashSet<String> = requests.iter().map(|r| r.header("X-Webhook-Id").unwrap()).collect();
    assert_eq!(ids.len(), n, "every delivery arrived");
    assert_eq!(requests.len(), n, "none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_in_every_window_and_the_excess_waits_without_slowing_intake() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(30));
    let ws = paced_workspace(&receiver, "{requests: 20, per: 1s}", "delivery:\n  max_in_flight: 2\n");
    let app = TestApp::spawn(ws.config()).await;

    // 200 events at once: ten seconds of the limit.
    let started = Instant::now();
    post_all(&[&app.base], 0..200).await;
    let accepted_in = started.elapsed();
    let sent_by_then = receiver.requests().len();
    assert!(sent_by_then < 60, "intake answered while the excess waited ({sent_by_then} sent by then)");

    let requests = receiver.wait_for(200, Duration::from_secs(30)).await;
    let took = requests.iter().map(|r| r.at).max().unwrap().duration_since(started);
    tokio::time::sleep(Duration::from_millis(500)).await;
    each_once(&receiver, 200);
    let arrivals: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    let fullest = fullest_window(&arrivals, Duration::from_secs(1));
    assert!(fullest <= LOOSE, "at most 20 arrived in any second (with a margin for a loaded machine), not {fullest}");
    let db = rusqlite::Connection::open_with_flags(ws.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = db.prepare("SELECT started_at FROM attempts").unwrap();
    let started_at: Vec<i64> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let sent = fullest_window_ms(&started_at, Duration::from_secs(1));
    assert!(sent <= 22, "at most 20 attempts started in any second (a late turn, ms rounding), not {sent}");
    assert!(
        took >= Duration::from_millis(9_000),
        "spread over ten seconds, not {took:?} (intake took {accepted_in:?})"
    );
    assert!(took < Duration::from_secs(15), "and not much slower than the limit: {took:?}");
    assert!(receiver.max_concurrency("paced") <= 2, "max_in_flight applies too");
    app.wait_for_status("succeeded", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pace_slower_than_a_lease_leaves_to_start_still_drains() {
    // One request every 5 s, longer than a lease leaves to start an attempt (4 s): a
    // delivery leased as soon as the one before went would wait past that for its turn and
    // be given back unsent, its turn lost, again and again (only the first was ever sent).
    let receiver = Receiver::start().await;
    let ws = paced_workspace(&receiver, "{requests: 1, per: 5s}", "");
    let app = TestApp::spawn(ws.config()).await;
    post_all(&[&app.base], 0..3).await;
    let requests = receiver.wait_for(3, Duration::from_secs(20)).await;
    for pair in requests.windows(2) {
        let apart = pair[1].at.duration_since(pair[0].at);
        assert!(apart >= Duration::from_millis(4_900), "{apart:?} apart, at one a 5 s");
        assert!(apart < Duration::from_millis(7_500), "{apart:?} apart: a turn was lost");
    }
    app.wait_for_status("succeeded", 3).await;
    assert_eq!(receiver.requests().len(), 3, "each sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_pace_drains_when_events_arrive_at_two_postgresql_nodes() {
    // Each node leases a delivery before it knows the shared pace; the turn the other took
    // first leaves it waiting past its send_by. It must give it back at once (for whichever
    // node's turn nears), not hold it, claim a turn for it and waste that turn.
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = paced_workspace(&receiver, "{requests: 1, per: 5s}", "");
    let a = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    let b = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    a.ready().await;
    b.ready().await;
    post_all(&[&a.base, &b.base], 0..2).await;
    post_all(&[&b.base, &a.base], 2..4).await;
    let requests = receiver.wait_for(4, Duration::from_secs(30)).await;
    for pair in requests.windows(2) {
        let apart = pair[1].at.duration_since(pair[0].at);
        assert!(apart >= Duration::from_millis(4_900), "{apart:?} apart, at one a 5 s");
        assert!(apart < Duration::from_millis(8_000), "{apart:?} apart: a turn was lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_pauses_the_whole_subscription() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let yaml =
        format!("topics: [T]\nrequest:\n  url: \"{}/paced/{{{{ N }}}}\"\nretry:\n  schedule: [1s]\n", receiver.url());
    ws.subscription("paced.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;

    receiver.set_status(429);
    receiver.set_retry_after(Some("3"));
    post_all(&[&app.base], 0..1).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await[0].at;
    tokio::time::sleep(Duration::from_millis(300)).await; // its result is in
    receiver.set_status(200);
    receiver.set_retry_after(None);
    post_all(&[&app.base], 1..6).await;

    let requests = receiver.wait_for(7, Duration::from_secs(20)).await; // 6 and the retry
    for r in &requests[1..] {
        let after = r.at.duration_since(first);
        assert!(after >= Duration::from_millis(2_900), "{} went {after:?} after the 429 asked for 3 s", r.path);
    }
    app.wait_for_status("succeeded", 6).await;
    each_once_but_the_retry(&receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sqlite_node_keeps_its_rate_limit_turns_and_429_pauses() {
    // One node on SQLite, killed and started again on the same file (a crash, or a deploy):
    // the turn it took and the pause a receiver asked for were in memory only, so the next
    // request went at once and the quota was exceeded.
    let receiver = Receiver::start().await;
    let ws = paced_workspace(&receiver, "{requests: 1, per: 6s}", "");
    let held =
        format!("topics: [Q]\nrequest:\n  url: \"{}/held/{{{{ N }}}}\"\nretry:\n  schedule: [1s]\n", receiver.url());
    ws.subscription("held.yaml", &held);
    let port = free_port();
    let node = ServeProcess::in_workspace(&ws, port, &[], &[]);
    node.ready().await;
    receiver.set_status(429);
    receiver.set_retry_after(Some("6"));
    post_one(&node.base, "Q", 0).await;
    let paused_at = receiver.wait_for(1, Duration::from_secs(10)).await[0].at;
    receiver.set_status(200);
    receiver.set_retry_after(None);
    post_one(&node.base, "T", 0).await;
    let turn_at = receiver.wait_for(2, Duration::from_secs(10)).await[1].at;
    tokio::time::sleep(Duration::from_millis(300)).await; // the 429's result is in
    node.kill9();

    let node = ServeProcess::in_workspace(&ws, port, &[], &[]);
    node.ready().await;
    let state: Value =
        reqwest::get(format!("{}/v1/subscriptions/held", node.base)).await.unwrap().json().await.unwrap();
    assert!(state["paused_until"].is_i64() || state["paused_until"].is_string(), "{state}");
    post_one(&node.base, "T", 1).await;
    post_one(&node.base, "Q", 1).await;
    let requests = receiver.wait_for(5, Duration::from_secs(30)).await; // 4 and the 429's retry
    for r in &requests[2..] {
        let (since, what) = match r.path.starts_with("/paced/") {
            true => (turn_at, "the last turn of 1 per 6 s"),
            false => (paused_at, "the 429 that asked for 6 s"),
        };
        let after = r.at.duration_since(since);
        assert!(after >= Duration::from_millis(5_900), "{} went {after:?} after {what}", r.path);
    }
    assert_eq!(receiver.requests().len(), 5, "each once, and the 429'd one again");
}

/// Six deliveries arrived, the first twice (its 429 and its retry), the others once.
fn each_once_but_the_retry(receiver: &Receiver) {
    let paths: Vec<String> = receiver.requests_to("/paced/").into_iter().map(|r| r.path).collect();
    assert_eq!(paths.iter().filter(|p| *p == "/paced/0").count(), 2, "{paths:?}");
    assert_eq!(paths.len(), 7, "{paths:?}");
}

#[test]
fn zero_negative_and_absurd_rate_limits_are_load_errors_naming_the_line() {
    let ws = Workspace::new();
    let sub = |limit: &str| format!("topics: [T]\nrequest:\n  url: \"http://127.0.0.1:9/x\"\nrate_limit: {limit}\n");
    ws.subscription("a.yaml", &sub("{requests: 0, per: 1s}"));
    ws.subscription("b.yaml", &sub("{requests: -3, per: 1s}"));
    ws.subscription("c.yaml", &sub("\n  requests: 10\n  per: 0s"));
    ws.subscription("d.yaml", &sub("{requests: 10, per: 400d}"));
    ws.subscription("e.yaml", &sub("{requests: 100000, per: 1s}"));
    ws.subscription("f.yaml", &sub("{requests: 10}"));
    let out = on_workspace("validate", &ws);
    let expect = [
        ("a.yaml:4:", "rate_limit.requests: must be between 1 and 1000000, not 0"),
        ("b.yaml:4:", "rate_limit.requests: must be between 1 and 1000000, not -3"),
        ("c.yaml:6:", "rate_limit.per: must be more than 0"),
        ("d.yaml:4:", "rate_limit.per: must be more than 0 and at most 31d, not 400d"),
        ("e.yaml:4:", "more than one a millisecond"),
        ("f.yaml:4:", "missing field `per`"),
    ];
    assert_one_line_per_mistake(&out, &expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgresql_nodes_share_one_rate_limit() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = paced_workspace(&receiver, "{requests: 20, per: 1s}", "");
    let nodes: Vec<ServeProcess> = (0..2).map(|_| ServeProcess::on_store(&ws, &schema.url, free_port(), &[])).collect();
    for node in &nodes {
        node.ready().await;
    }
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();

    let started = Instant::now();
    post_all(&bases, 0..200).await;
    let requests = receiver.wait_for(200, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    each_once(&receiver, 200);
    let arrivals: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    let fullest = fullest_window(&arrivals, Duration::from_secs(1));
    assert!(fullest <= LOOSE, "at most 20 arrived in any second across both nodes (with a margin), not {fullest}");
    let took = arrivals.iter().max().unwrap().duration_since(started);
    // When the senders started each attempt, as they recorded it (the attempt that finished
    // a delivery is kept in its history row).
    let db = schema.client().await;
    let started_at: Vec<i64> = db
        .query("SELECT started_at FROM attempts UNION ALL SELECT final_started_at FROM deliveries", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(started_at.len(), 200, "every attempt, recorded once");
    let sent = fullest_window_ms(&started_at, Duration::from_secs(1));
    assert!(
        sent <= 22,
        "at most 20 attempts started in any second on both nodes (a late turn, ms rounding), not {sent}"
    );
    assert!(took >= Duration::from_millis(9_000), "spread over ten seconds, not {took:?}");
    assert!(took < Duration::from_secs(15), "and not much slower than the limit: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_one_postgresql_node_pauses_the_subscription_on_the_other() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let yaml =
        format!("topics: [T]\nrequest:\n  url: \"{}/paced/{{{{ N }}}}\"\nretry:\n  schedule: [1s]\n", receiver.url());
    ws.subscription("paced.yaml", &yaml);
    let nodes: Vec<ServeProcess> = (0..2).map(|_| ServeProcess::on_store(&ws, &schema.url, free_port(), &[])).collect();
    for node in &nodes {
        node.ready().await;
    }

    receiver.set_status(429);
    receiver.set_retry_after(Some("4"));
    post_all(&[&nodes[0].base], 0..1).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await[0].at;
    // The other node reads the pauses every second.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    receiver.set_status(200);
    receiver.set_retry_after(None);
    post_all(&[&nodes[1].base], 1..6).await;

    let requests = receiver.wait_for(7, Duration::from_secs(20)).await;
    for r in &requests[1..] {
        let after = r.at.duration_since(first);
        assert!(after >= Duration::from_millis(3_900), "{} went {after:?} after the 429 asked for 4 s", r.path);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    each_once_but_the_retry(&receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_rate_limit_reports_the_requests_per_window_against_the_limit() {
    let report = bench_json(&["--rate-limit", "5/1s", "--duration", "4s"]).await;
    assert_eq!(report["events_failed"], 0, "{report}");
    assert!(report["events_accepted"].as_u64().unwrap() >= 150, "ten times the limit was posted: {report}");
    let windows = &report["windows"];
    assert_eq!((windows["limit_requests"].as_u64(), windows["limit_per_s"].as_f64()), (Some(5), Some(1.0)));
    let per_window: Vec<u64> = windows["per_window"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(per_window.len(), 4, "{report}");
    assert!(per_window.iter().all(|n| (3..=7).contains(n)), "about 5 a second, not {per_window:?}");
    let accuracy = windows["accuracy"].as_f64().unwrap();
    assert!((0.8..=1.2).contains(&accuracy), "{accuracy}");
}

/// A resend while the receiver's pause (429 with Retry-After) lasts makes the delivery due,
/// but it goes when the pause ends: the answer says when, not "sent" alone.
// Multi-threaded: the server answers the CLI while the test waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_during_a_receivers_pause_says_when_it_goes() {
    let receiver = Receiver::start().await;
    receiver.set_status(429);
    receiver.set_retry_after(Some("30"));
    let ws = Workspace::new();
    ws.subscription(
        "p.yaml",
        &format!("topics: [T]\nrequest:\n  url: {}/p\nretry:\n  schedule: [20s]\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = eventually(Duration::from_secs(10), "the 429 to be recorded", || async {
        let (_, list) = app.get("/v1/deliveries?status=pending").await;
        let d = list["deliveries"].as_array()?.first()?.clone();
        (d["attempts"] == 1).then(|| d["id"].as_str().map(str::to_string)).flatten()
    })
    .await;
    let (status, one) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
    assert_eq!((status, one["outcome"].as_str()), (202, Some("sent")), "{one}");
    assert!(one["paused_until"].is_string(), "the answer says when it goes: {one}");
    let out = hookshape().args(["deliveries", "retry", &id, "--url", &app.base]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("is paused until") && said.contains("goes then"), "{said}");
    let body = json!({ "status": ["pending"] }).to_string();
    let (status, many) = app.post_raw("/v1/deliveries/retry", body, None).await;
    assert!((200..300).contains(&status), "{many}");
    assert!(many["subscriptions"][0]["paused_until"].is_string(), "{many}");
    assert!(many["deliveries"][0]["paused_until"].is_string(), "{many}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.requests().len(), 1, "nothing goes before the pause ends");
}
