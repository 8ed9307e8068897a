//! Delivery policy: per-subscription concurrency caps, auto-disable and enable after a
//! ping, manual retry, replay, render, 410 Gone.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

fn event(topic: &str, n: u32) -> serde_json::Value {
    json!({ "Topic": topic, "Payload": { "N": n } })
}

#[tokio::test]
async fn max_in_flight_caps_a_slow_receiver_without_delaying_other_subscriptions() {
    let receiver = Receiver::start().await;
    receiver.set_delay_for("/slow", Duration::from_millis(400));
    let ws = Workspace::new();
    ws.subscription(
        "slow.yaml",
        &format!(
            "topics: [S]\nrequest:\n  url: \"{}/slow/{{{{ N }}}}\"\ndelivery:\n  max_in_flight: 2\n",
            receiver.url()
        ),
    );
    ws.subscription("fast.yaml", &format!("topics: [F]\nrequest:\n  url: \"{}/fast/{{{{ N }}}}\"\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..8 {
        assert_eq!(app.post_event(&event("S", n)).await.0, 202);
    }
    let started = Instant::now();
    for n in 0..3 {
        assert_eq!(app.post_event(&event("F", n)).await.0, 202);
    }
    eventually(WAIT, "the fast deliveries", || async { (receiver.requests_to("/fast").len() == 3).then_some(()) })
        .await;
    let fast_took = started.elapsed();
    assert!(receiver.requests_to("/slow").len() < 8, "fast deliveries did not wait for the slow backlog");
    assert!(fast_took < Duration::from_millis(1500), "fast deliveries took {fast_took:?}");
    eventually(WAIT, "all slow deliveries", || async { (receiver.requests_to("/slow").len() == 8).then_some(()) })
        .await;
    assert_eq!(receiver.max_concurrency("slow"), 2, "never more than max_in_flight, and the cap was used");
    let (_, sub) = app.get("/v1/subscriptions/slow").await;
    assert_eq!(sub["delivery"]["max_in_flight"], 2);
}

#[tokio::test]
async fn a_hanging_receiver_saturating_the_concurrency_does_not_delay_another_subscription() {
    let receiver = Receiver::start().await;
    receiver.set_delay_for("/hang", Duration::from_secs(10));
    let ws = Workspace::new();
    let hang = format!("topics: [S]\nrequest:\n  url: \"{}/hang/{{{{ N }}}}\"\n  timeout: 10s\n", receiver.url());
    ws.subscription("hang.yaml", &hang);
    ws.subscription("fast.yaml", &format!("topics: [F]\nrequest:\n  url: \"{}/fast/{{{{ N }}}}\"\n", receiver.url()));
    let mut config = ws.config();
    config.concurrency = 16;
    let app = TestApp::spawn(config).await;
    // No max_in_flight: 300 deliveries to a receiver that hangs, far more than the concurrency.
    let batch: Vec<_> = (0..300).map(|n| event("S", n)).collect();
    assert_eq!(app.post_raw("/v1/events/batch", json!(batch).to_string(), None).await.0, 200);
    eventually(WAIT, "the hanging receiver to be saturated", || async {
        (receiver.requests_to("/hang").len() >= 10).then_some(())
    })
    .await;
    let started = Instant::now();
    assert_eq!(app.post_event(&event("F", 1)).await.0, 202);
    eventually(WAIT, "the other subscription's delivery", || async {
        (receiver.requests_to("/fast").len() == 1).then_some(())
    })
    .await;
    let took = started.elapsed();
    assert!(receiver.requests_to("/hang").len() < 300, "it arrived while the hanging ones were still held");
    // An order of magnitude, not a tight timing: without fairness it waits for the 10 s timeout.
    assert!(took < Duration::from_secs(3), "the other subscription's delivery waited {took:?}");
}

#[tokio::test]
async fn failed_deliveries_disable_a_subscription_and_a_good_ping_enables_it() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/crm/{{{{ N }}}}\"\n  headers:\n    X-Team: loyalty\nsignature:\n  scheme: hmac-sha256-hex\n  secret: ping-secret\nretry:\n  schedule: []\ndelivery:\n  disable_after_failures: 5\nping:\n  url: \"{}/crm/ping\"\n",
            receiver.url(),
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..5 {
        app.post_event(&event("T", n)).await;
    }
    app.wait_for_status("failed", 5).await;
    let (_, sub) = app.get("/v1/subscriptions/crm").await;
    assert_eq!(sub["state"], "disabled", "{sub}");
    assert_eq!(sub["consecutive_failures"], 5);
    assert_eq!(sub["counts"]["failed"], 5);

    assert_eq!(app.post_event(&event("T", 6)).await.0, 202);
    let held = app.wait_for_status("held", 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.requests().len(), 5, "held deliveries are not sent");

    let (status, body) = app.post("/v1/subscriptions/crm/enable").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("500"), "{body}");
    assert_eq!(app.get("/v1/subscriptions/crm").await.1["state"], "disabled");

    receiver.set_status(200);
    let (status, body) = app.post("/v1/subscriptions/crm/enable").await;
    assert_eq!((status, body["released"].clone()), (200, json!(1)), "{body}");
    let got = receiver.wait_for(8, WAIT).await;
    let pings: Vec<_> =
        got.iter().filter(|r| r.header("x-webhook-event").as_deref() == Some("hookshape.ping")).collect();
    assert_eq!(pings.len(), 2);
    let ping = pings[1];
    assert_eq!(ping.header("x-team").as_deref(), Some("loyalty"));
    assert_eq!(ping.path, "/crm/ping", "the ping goes to ping.url");
    assert_eq!(ping.header("x-webhook-signature"), Some(hookshape::sign::hmac_hex(b"ping-secret", &ping.body)));
    assert_eq!(ping.json()["Topic"], "hookshape.ping");
    assert_eq!(got.last().unwrap().path, "/crm/6", "the held delivery arrives");
    let done = app.wait_for_status("succeeded", 1).await;
    assert_eq!(done[0]["id"], held[0]["id"]);
    let (_, sub) = app.get("/v1/subscriptions/crm").await;
    assert_eq!((sub["state"].clone(), sub["consecutive_failures"].clone()), (json!("enabled"), json!(0)));

    let (status, _) = app.post("/v1/subscriptions/crm/disable").await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/v1/subscriptions/crm").await.1["state"], "disabled");
    assert_eq!(app.post("/v1/subscriptions/nope/disable").await.0, 404);
}

#[tokio::test]
async fn a_mostly_healthy_receiver_whose_few_failures_finish_together_is_never_disabled() {
    let receiver = Receiver::start().await;
    // Two customers in ten always get a 500; the other eight a 200.
    receiver.set_status_for("/customers/C-3/", 500);
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/customers/{{{{ Customer }}}}/points\"\nretry:\n  schedule: [100ms, 200ms]\ndelivery:\n  disable_after_failures: 3\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    // One batch: the failing customers' deliveries all end together, after the successes.
    let customer = |n: u32| if n % 10 == 7 { "C-3".to_string() } else { format!("C-{}", n % 10) };
    let batch: Vec<_> = (0..40).map(|n| json!({ "Topic": "T", "Payload": { "Customer": customer(n) } })).collect();
    assert_eq!(app.post_raw("/v1/events/batch", json!(batch).to_string(), None).await.0, 200);
    app.wait_for_status("failed", 8).await;
    app.wait_for_status("succeeded", 32).await;
    let (_, sub) = app.get("/v1/subscriptions/crm").await;
    assert_eq!(sub["state"], "enabled", "8 failures among 40, each with newer successes, are not consecutive: {sub}");
    assert_eq!(sub["counts"]["held"], 0, "{sub}");

    // A receiver that fails everything is still disabled after three.
    receiver.set_status(500);
    for n in 0..3 {
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "Customer": format!("D-{n}") } })).await.0, 202);
    }
    app.wait_for_status("failed", 11).await;
    let (_, sub) = app.get("/v1/subscriptions/crm").await;
    assert_eq!(sub["state"], "disabled", "{sub}");
    assert_eq!(sub["disabled_reason"], "3 consecutive failed deliveries", "{sub}");
}

#[tokio::test]
async fn a_ping_is_never_sent_to_a_collection_url_and_ping_url_names_a_health_route() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let points = format!("{}/customers/{{{{ Customer.Id }}}}/points", receiver.url());
    ws.subscription("points.yaml", &format!("topics: [T]\nrequest:\n  url: \"{points}\"\n"));
    ws.subscription(
        "healthy.yaml",
        &format!("topics: [T]\nrequest:\n  url: \"{points}\"\nping:\n  url: \"{}/health\"\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;

    // An empty Payload leaves the customer's segment empty: refused, not `POST /customers/`.
    let (status, body) = app.post("/v1/subscriptions/points/enable").await;
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("ping.payload") && error.contains("ping.url"), "{error}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.requests().is_empty(), "nothing is sent: {:?}", receiver.requests());

    // ping.url receives the ping, and its 2xx enables.
    let (status, body) = app.post("/v1/subscriptions/healthy/enable").await;
    assert_eq!(status, 200, "{body}");
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].path.as_str(), got[0].json()["Topic"].clone()), ("/health", json!("hookshape.ping")));
    assert_eq!(app.get("/v1/subscriptions/healthy").await.1["state"], "enabled");
}

#[tokio::test]
async fn a_410_gone_disables_the_subscription_at_once() {
    let receiver = Receiver::start().await;
    receiver.set_status(410);
    let ws = Workspace::new();
    ws.subscription("gone.yaml", &format!("topics: [T]\nrequest:\n  url: {}/gone\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&event("T", 1)).await;
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["attempts"], 1);
    let (_, sub) = app.get("/v1/subscriptions/gone").await;
    assert_eq!(sub["state"], "disabled");
    assert!(sub["disabled_reason"].as_str().unwrap().contains("410"));
}

#[tokio::test]
async fn retry_sends_a_delivery_again_as_a_new_attempt_of_the_same_delivery() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: {}/x\nretry:\n  schedule: []\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&event("T", 1)).await;
    let failed = app.wait_for_status("failed", 1).await;
    let id = failed[0]["id"].as_str().unwrap();
    receiver.set_status(200);
    let (status, body) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
    assert_eq!(status, 202, "{body}");
    let done = app.wait_for_status("succeeded", 1).await;
    assert_eq!((done[0]["id"].as_str().unwrap(), done[0]["attempts"].clone()), (id, json!(2)));
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("x-webhook-id").as_deref(), Some(id));
    assert_eq!(got[1].header("x-webhook-attempt").as_deref(), Some("2"));
    assert_eq!(app.post("/v1/deliveries/dlv_missing/retry").await.0, 404);
}

#[tokio::test]
async fn replay_renders_a_stored_event_again_as_new_deliveries() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!("topics: [T]\nrequest:\n  url: {}/x\n  body: {{ n: \"{{{{ N }}}}\" }}\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;
    let uuid = new_uuid();
    app.post_event(&json!({ "Uuid": uuid, "Topic": "T", "Payload": { "N": 3 } })).await;
    receiver.wait_for(1, WAIT).await;
    let (status, body) = app.post(&format!("/v1/events/{uuid}/replay")).await;
    assert_eq!((status, body["deliveries"].clone()), (202, json!(1)), "{body}");
    let got = receiver.wait_for(2, WAIT).await;
    assert_ne!(got[0].header("x-webhook-id"), got[1].header("x-webhook-id"));
    assert_eq!(got[1].json(), json!({ "n": 3 }));
    let (_, page) = app.get(&format!("/v1/deliveries?event={uuid}")).await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(app.post(&format!("/v1/events/{}/replay", new_uuid())).await.0, 404);
}

#[tokio::test]
async fn render_answers_the_request_that_would_be_sent_and_sends_nothing() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  method: PUT\n  url: \"{}/c/{{{{ Id }}}}?key=${{HS_RENDER_URL_UNSET:-url-key-secret}}\"\n  headers:\n    Authorization: \"Bearer ${{HS_RENDER_UNSET:-render-secret}}\"\n  body: {{ id: \"{{{{ Id }}}}\", token: \"${{HS_RENDER_BODY_UNSET:-body-token-secret}}\" }}\nsignature:\n  scheme: hmac-sha256-hex\n  secret: k\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    let body = json!({ "subscription": "s", "event": { "Topic": "T", "Payload": { "Id": 7 } } });
    let resp = app.http.post(format!("{}/v1/render", app.base)).body(body.to_string()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    for secret in ["url-key-secret", "render-secret", "body-token-secret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["request"]["method"], "PUT");
    assert_eq!(answer["request"]["url"], format!("{}/c/7?key=***", receiver.url()));
    assert_eq!(answer["request"]["body"], r#"{"id":7,"token":"***"}"#);
    // Exactly the headers dispatch would send, but the signature is not given away: the
    // endpoint would otherwise sign any body its caller picks.
    let signature = hookshape::sign::hmac_hex(b"k", br#"{"id":7,"token":"body-token-secret"}"#);
    assert!(!text.contains(&signature), "{text}");
    assert_eq!(
        answer["request"]["headers"],
        json!([
            ["Content-Type", "application/json"],
            ["User-Agent", format!("hookshape/{}", hookshape::VERSION)],
            ["X-Webhook-Event", "T"],
            ["X-Webhook-Id", "dlv_render"],
            ["X-Webhook-Attempt", "1"],
            ["Authorization", "***"],
            ["X-Webhook-Signature", "***"],
        ])
    );
    assert_eq!(answer["matches_topic"], true);
    let bad = json!({ "subscription": "s", "event": { "Topic": "T", "Payload": {} } });
    let (status, answer) = app.post_raw("/v1/render", bad.to_string(), None).await;
    assert_eq!(status, 422);
    assert!(answer["error"].as_str().unwrap().contains("undefined"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.requests().is_empty());
}
