//! Running hookshape for months: metrics, backpressure, retention, graceful shutdown.

use std::time::Duration;

use hookshape::store::sqlite::SqliteStore;
use hookshape::store::{DeliveryQuery, DeliveryStatus, NewDelivery, NewEvent, Store, StoredRequest};
use serde_json::{json, Value};

use crate::helpers::*;

/// Checks every line is a comment or `name{labels} value`, and returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name in: {line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "bad labels in: {line}");
        }
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_their_counters_move() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: {}/x\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    let scrape = || async {
        let resp = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        parse_prometheus(&resp.text().await.unwrap())
    };
    let before = scrape().await;
    assert_eq!(sample(&before, r#"hookshape_events_accepted_total{topic="T"}"#), None);
    for _ in 0..3 {
        app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    }
    app.wait_for_status("succeeded", 3).await;
    // The counters move at once; the pending gauge at the next per-second refresh.
    let after = eventually(Duration::from_secs(10), "the attempt counters and the pending gauge to move", || async {
        let s = scrape().await;
        let attempts = sample(&s, r#"hookshape_attempt_duration_seconds_count{subscription="s"}"#);
        let pending = sample(&s, r#"hookshape_queue_depth{state="pending"}"#);
        (attempts == Some(3.0) && pending == Some(0.0)).then_some(s)
    })
    .await;
    assert_eq!(sample(&after, r#"hookshape_events_accepted_total{topic="T"}"#), Some(3.0));
    assert_eq!(sample(&after, r#"hookshape_deliveries_total{state="succeeded",subscription="s"}"#), Some(3.0));
    assert_eq!(sample(&after, r#"hookshape_queue_depth{state="pending"}"#), Some(0.0));
    assert_eq!(sample(&after, "hookshape_oldest_pending_age_seconds"), Some(0.0));
    assert_eq!(sample(&after, "hookshape_subscriptions_disabled"), Some(0.0));
    assert_eq!(sample(&after, "hookshape_reload_failures_total"), Some(0.0));

    // The gauges follow the queue every second, finished states too (from the counters).
    assert_eq!(app.post("/v1/subscriptions/s/disable").await.0, 200);
    for _ in 0..2 {
        app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    }
    eventually(Duration::from_secs(10), "the held and disabled gauges to move", || async {
        let s = scrape().await;
        let held = sample(&s, r#"hookshape_queue_depth{state="held"}"#);
        let succeeded = sample(&s, r#"hookshape_queue_depth{state="succeeded"}"#);
        let disabled = sample(&s, "hookshape_subscriptions_disabled");
        (held == Some(2.0) && succeeded == Some(3.0) && disabled == Some(1.0)).then_some(())
    })
    .await;
}

/// A replay's deliveries final at once (a shadow subscription's, a render failure) are
/// counted in `hookshape_deliveries_total` as intake's are (the console's rates read it).
#[tokio::test]
async fn a_replays_deliveries_final_at_once_are_counted() {
    let ws = Workspace::new();
    ws.subscription("shadowy.yaml", "mode: shadow\ntopics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    ws.subscription("broken.yaml", "topics: [T]\nrequest:\n  url: \"http://127.0.0.1:9/{{ Missing }}\"\n");
    let app = TestApp::spawn(ws.config()).await;
    let uuid = new_uuid();
    assert_eq!(app.post_event(&json!({ "Uuid": uuid, "Topic": "T", "Payload": {} })).await.0, 202);
    let (status, replayed) = app.post(&format!("/v1/events/{uuid}/replay")).await;
    assert_eq!(status, 202, "{replayed}");
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let samples = parse_prometheus(&text);
    assert_eq!(sample(&samples, r#"hookshape_deliveries_total{state="shadow",subscription="shadowy"}"#), Some(2.0));
    assert_eq!(sample(&samples, r#"hookshape_deliveries_total{state="failed",subscription="broken"}"#), Some(2.0));

    // The console's confirmation says a shadow subscription's is never sent, and an
    // unknown choice is refused rather than taken for "all".
    let page = |which: &str| {
        let url = format!("{}/console/events/{uuid}/replay?which={which}", app.base);
        let http = app.http.clone();
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, confirm) = page("all").await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("shadowy is a shadow subscription: recorded, never sent"), "{confirm}");
    let (status, refused) = page("bogus").await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("is not failed, all or pick"), "{refused}");
}

#[tokio::test]
async fn intake_answers_503_once_pending_deliveries_pass_the_bound() {
    let ws = Workspace::new();
    // Nothing listens on port 9 here: every attempt fails and waits an hour to retry.
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  timeout: 1s\nretry:\n  schedule: [1h]\n",
    );
    let mut config = ws.config();
    config.max_pending = 3;
    let app = TestApp::spawn(config).await;
    for _ in 0..3 {
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    }
    let (status, body) = eventually(Duration::from_secs(10), "intake to push back", || async {
        let (status, body) = app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
        (status == 503).then_some((status, body))
    })
    .await;
    assert_eq!(status, 503);
    assert!(body["error"].as_str().unwrap().contains("pending"), "{body}");
}

#[tokio::test]
async fn the_pending_bound_holds_between_the_stores_counts() {
    // A capped subscription's fresh deliveries are stored pending; the receiver holds the
    // one in flight, so they stay pending. Posted back to back, faster than the counts are
    // read again (once a second), the bound must still hold.
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(5));
    let ws = Workspace::new();
    let yaml = format!("topics: [T]\nrequest:\n  url: {}/x\ndelivery:\n  max_in_flight: 1\n", receiver.url());
    ws.subscription("s.yaml", &yaml);
    let mut config = ws.config();
    config.max_pending = 3;
    let app = TestApp::spawn(config).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0);
    }
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    // Three pending, and one more if a count read meanwhile saw one of them leased.
    assert!((3..=4).contains(&accepted), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
}

fn shadow_event(uuid: &str) -> NewEvent {
    NewEvent {
        keys: Vec::new(),
        schema_problems: Vec::new(),
        uuid: uuid.into(),
        topic: "T".into(),
        date: "2025-01-01T00:00:00Z".into(),
        received_at: hookshape::now_ms(),
        body: "{}".into(),
        source: None,
        deliveries: vec![NewDelivery {
            id: hookshape::accept::new_delivery_id(),
            subscription: "s".into(),
            status: DeliveryStatus::Shadow,
            lease: None,
            needs_activation: false,
            request: StoredRequest {
                method: "POST".into(),
                url: "http://h/".into(),
                headers: vec![],
                body: None,
                sensitive: vec![],
                masked: vec![],
            },
            error: None,
            config_version: "v".into(),
        }],
    }
}

#[tokio::test]
async fn pruning_removes_only_finished_history_older_than_the_retention() {
    let ws = Workspace::new();
    let store = SqliteStore::open(&ws.db()).unwrap();
    let (old, new) = (new_uuid(), new_uuid());
    store.insert_events(vec![shadow_event(&old), shadow_event(&new)]).await.unwrap();
    // Age one event's history by 40 days, as if it had been there that long.
    let forty_days_ago = hookshape::now_ms() - 40 * 86_400_000;
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute("UPDATE deliveries SET updated_at = ?1 WHERE event_uuid = ?2", rusqlite::params![forty_days_ago, old])
        .unwrap();
    conn.execute("UPDATE events SET received_at = ?1 WHERE uuid = ?2", rusqlite::params![forty_days_ago, old]).unwrap();

    let thirty_days_ago = hookshape::now_ms() - 30 * 86_400_000;
    assert_eq!(store.prune(thirty_days_ago, 500).await.unwrap(), 1);
    let left = store.list_deliveries(DeliveryQuery { limit: 10, ..Default::default() }).await.unwrap();
    let events: Vec<_> = left.deliveries.iter().map(|d| d.event.clone()).collect();
    assert_eq!(events, vec![new.clone()]);
    assert!(store.get_event(&old).await.unwrap().is_none(), "the old event went with its history");
    assert!(store.get_event(&new).await.unwrap().is_some());
    assert_eq!(store.prune(thirty_days_ago, 500).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_arriving_does_not_hold_the_process_past_its_shutdown_grace() {
    // A body trickling in kept the server draining for a fixed 10 s after the grace: a
    // service manager that stops the unit at the grace would have killed it.
    use tokio::io::AsyncWriteExt;
    let ws = Workspace::new();
    let server = ServeProcess::in_workspace(&ws, free_port(), &["--shutdown-grace", "2s"], &[]);
    server.ready().await;
    let mut slow = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    let head =
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = std::time::Instant::now();
    server.signal("TERM");
    assert_eq!(server.exit_code().await, Some(0), "a clean exit");
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM with a 2 s grace");
}

// Multi-threaded: the receiver must keep answering while the test waits for the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_deliveries_in_flight_loses_none() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(1500));
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/e/{{{{ N }}}}\"\n", receiver.url()));
    let port = free_port();
    let args = ["--concurrency", "2", "--shutdown-grace", "10s"];
    let server = ServeProcess::in_workspace(&ws, port, &args, &[]);
    server.ready().await;
    let (http, base) = (reqwest::Client::new(), server.base.clone());
    for n in 0..4 {
        let resp = http
            .post(format!("{base}/v1/events"))
            .body(json!({ "Topic": "T", "Payload": { "N": n } }).to_string())
            .send()
            .await;
        assert_eq!(resp.unwrap().status().as_u16(), 202);
    }
    receiver.wait_for(2, Duration::from_secs(10)).await; // two attempts in flight
    server.signal("TERM");
    // An event posted before the signal is handled is accepted and must arrive too.
    let mut expected: Vec<String> = (0..4).map(|n| format!("/e/{n}")).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut during = 202;
    for n in 10.. {
        assert!(std::time::Instant::now() < deadline, "intake kept accepting during shutdown");
        let body = json!({ "Topic": "T", "Payload": { "N": n } }).to_string();
        let Ok(resp) = http.post(format!("{base}/v1/events")).body(body).send().await else { continue };
        during = resp.status().as_u16();
        if during != 202 {
            break;
        }
        expected.push(format!("/e/{n}"));
    }
    assert_eq!(during, 503);
    assert_eq!(server.exit_code().await, Some(0), "a clean exit");
    assert_eq!(receiver.requests().len(), 2, "attempts in flight were let finish, nothing new was started");

    receiver.set_delay(Duration::ZERO);
    let server = ServeProcess::in_workspace(&ws, port, &args, &[]);
    server.ready().await;
    receiver.wait_for(expected.len(), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    expected.sort();
    assert_eq!(paths, expected, "each delivered once: in-flight ones finished, the rest resumed");
}

#[tokio::test]
async fn bulk_retry_resends_the_failed_deliveries_a_filter_matches() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    for name in ["a", "b"] {
        ws.subscription(
            &format!("{name}.yaml"),
            &format!("topics: [T]\nrequest:\n  url: \"{}/{name}\"\nretry:\n  schedule: []\n", receiver.url()),
        );
    }
    let app = TestApp::spawn(ws.config()).await;
    for _ in 0..3 {
        app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    }
    app.wait_for_status("failed", 6).await;
    receiver.set_status(200);
    let retry = |body: Value| app.post_raw("/v1/deliveries/retry", body.to_string(), None);
    let (status, answer) = retry(json!({ "subscription": "a", "limit": 2 })).await;
    assert_eq!((status, answer["retried"].clone(), answer["sent"].clone()), (200, json!(2), json!(2)), "{answer}");
    let (status, answer) = retry(json!({ "status": "in_flight" })).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("in_flight"), "{answer}");
    let (status, answer) = retry(json!({ "subscription": ["a", "b"] })).await;
    assert_eq!((status, answer["retried"].clone()), (200, json!(4)), "the rest: failed is the default status");
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 4, "each one: {answer}");
    app.wait_for_status("succeeded", 6).await;
    assert_eq!(receiver.requests().len(), 12);
}

/// An attempt the shutdown grace runs out on may have reached the receiver: it is recorded
/// as interrupted, and the request sent after the restart is the next attempt, not attempt
/// 1 again with history showing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_cut_short_by_a_stop_is_recorded_and_the_next_send_is_the_next_attempt() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(20));
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/cut\"\n  timeout: 30s\n", receiver.url()));
    let port = free_port();
    let server = ServeProcess::in_workspace(&ws, port, &["--shutdown-grace", "1s"], &[]);
    server.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", server.base)).json(&json!({ "Topic": "T", "Payload": {} }));
    assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    server.signal("TERM");
    assert_eq!(server.exit_code().await, Some(0));

    receiver.set_delay(Duration::ZERO);
    let server = ServeProcess::in_workspace(&ws, port, &[], &[]);
    server.ready().await;
    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(got[1].header("x-webhook-attempt").as_deref(), Some("2"), "the send after the cut one");
    let detail = eventually(Duration::from_secs(10), "the second attempt to be recorded", || async {
        let list: Value = http.get(format!("{}/v1/deliveries", server.base)).send().await.ok()?.json().await.ok()?;
        let id = list["deliveries"][0]["id"].as_str()?.to_string();
        let d: Value = http.get(format!("{}/v1/deliveries/{id}", server.base)).send().await.ok()?.json().await.ok()?;
        (d["status"] == "succeeded").then_some(d)
    })
    .await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    assert!(attempts[0]["error"].as_str().is_some_and(|e| e.starts_with("interrupted")), "{detail}");
    assert_eq!(attempts[1]["status_code"], 200, "{detail}");
}
