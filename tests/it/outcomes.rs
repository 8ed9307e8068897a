//! Every action says what it did, per delivery (issue 25 items 2 and 3), on SQLite and on
//! PostgreSQL: a resend of a held delivery says held with its subscription's state, one
//! that never rendered is rendered again, replay takes the failed subscriptions or all or
//! named ones and lists its new deliveries, and the reasons are in the answers.

use std::time::Duration;

use hookshape::config::{ServeConfig, StoreUrl};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::pg::PgSchema;

const WAIT: Duration = Duration::from_secs(15);

/// `config` set to run on `store` ("sqlite" as it is, or "postgres" on a schema of its own,
/// returned to keep it alive); None when PostgreSQL is not there to test on.
async fn on_store(store: &str, config: &mut ServeConfig) -> Option<Option<PgSchema>> {
    if store != "postgres" {
        return Some(None);
    }
    let schema = PgSchema::create().await?;
    config.store = StoreUrl::Postgres(schema.url.clone());
    Some(Some(schema))
}

/// The stores to run a case on: a SQLite file, and a PostgreSQL schema of its own when
/// the server is configured (kept alive by the returned guard).
async fn stores(ws: &Workspace) -> Vec<(&'static str, ServeConfig, Option<PgSchema>)> {
    let mut out = vec![("sqlite", ws.config(), None)];
    if let Some(schema) = PgSchema::create().await {
        let mut config = ws.config();
        config.store = StoreUrl::Postgres(schema.url.clone());
        out.push(("postgres", config, Some(schema)));
    }
    out
}

/// Waits for `n` deliveries of `sub` in `status`.
async fn wait_for(app: &TestApp, sub: &str, status: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} {status} deliveries of {sub}"), || async {
        let (_, page) = app.get(&format!("/v1/deliveries?status={status}&subscription={sub}&limit=1000")).await;
        let list = page["deliveries"].as_array().cloned().unwrap_or_default();
        (list.len() >= n).then_some(list)
    })
    .await
}

fn failing_subscription(ws: &Workspace, name: &str, receiver: &Receiver) {
    ws.subscription(
        &format!("{name}.yaml"),
        &format!("topics: [T]\nrequest:\n  url: \"{}/{name}\"\nretry:\n  schedule: []\n", receiver.url()),
    );
}

#[tokio::test]
async fn a_resend_of_a_held_delivery_says_held_with_the_subscriptions_state_and_sends_nothing() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    failing_subscription(&ws, "crm", &receiver);
    for (store, config, _schema) in stores(&ws).await {
        receiver.set_status(500);
        let app = TestApp::spawn(config).await;
        for n in 0..2 {
            app.post_event(&json!({ "Topic": "T", "Payload": { "N": n } })).await;
        }
        let failed = wait_for(&app, "crm", "failed", 2).await;
        assert_eq!(app.post("/v1/subscriptions/crm/disable").await.0, 200, "{store}");
        let sent_before = receiver.requests().len();
        receiver.set_status(200);

        // One: held, with the subscription's state and the way to enable it.
        let id = failed[0]["id"].as_str().unwrap();
        let (status, one) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
        assert_eq!(
            (status, one["outcome"].as_str(), one["status"].as_str()),
            (202, Some("held"), Some("held")),
            "{store}: {one}"
        );
        let by = &one["held_by"];
        assert_eq!(
            (by["state"].as_str(), by["enable"].as_str()),
            (Some("disabled"), Some("POST /v1/subscriptions/crm/enable"))
        );
        let since = by["disabled_since"].as_str().unwrap_or_else(|| panic!("{store}: no disabled_since: {one}"));
        assert!(chrono::DateTime::parse_from_rfc3339(since).is_ok(), "{since}");
        assert_eq!(by["disabled_reason"], "disabled by hand", "{store}: {one}");

        // Many: counted held, never sent, the subscription's state given once.
        let (status, many) =
            app.post_raw("/v1/deliveries/retry", json!({ "subscription": "crm" }).to_string(), None).await;
        assert_eq!(status, 200, "{many}");
        assert_eq!(
            (many["retried"].clone(), many["sent"].clone(), many["held"].clone()),
            (json!(1), json!(0), json!(1)),
            "{store}: {many}"
        );
        assert_eq!(many["subscriptions"][0]["held_by"]["disabled_since"].as_str(), Some(since), "{store}: {many}");
        assert_eq!(many["deliveries"][0]["outcome"], "held");
        assert_eq!(
            many["deliveries"][0]["held_by"], many["subscriptions"][0]["held_by"],
            "{store}: each says why: {many}"
        );

        // The reason is in the delivery's answer and the subscription's.
        let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
        let held = detail["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "held").cloned();
        let held = held.unwrap_or_else(|| panic!("{store}: no held reason: {detail}"));
        assert!(held["text"].as_str().unwrap().contains(&format!("disabled since {since}")), "{held}");
        assert!(
            detail["reasons"].as_array().unwrap().iter().any(|r| r["kind"] == "response"),
            "the last answer too: {detail}"
        );
        assert_eq!(app.get("/v1/subscriptions/crm").await.1["disabled_since"].as_str(), Some(since));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.requests().len(), sent_before, "{store}: held means nothing was sent");

        // Enabled, they go.
        assert_eq!(app.post("/v1/subscriptions/crm/enable").await.0, 200);
        wait_for(&app, "crm", "succeeded", 2).await;
        assert_eq!(app.get("/v1/subscriptions/crm").await.1["disabled_since"], Value::Null);
        app.stop().await;
    }
}

/// A body template that fails for an event without `Customer`, on its second line.
const BROKEN: &str = "{\n  \"id\": {{ Payload.Customer.Id | tojson }}\n}\n";
const FIXED: &str = "{\n  \"id\": {{ Payload.Id | tojson }}\n}\n";

async fn wait_for_reload(app: &TestApp, before: &str) {
    eventually(WAIT, "the fixed template to load", || async {
        let (_, r) = app.get("/readyz").await;
        (r["version"].as_str() != Some(before)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_delivery_that_never_rendered_is_rendered_again_by_a_resend_once_the_template_is_fixed() {
    for store in ["sqlite", "postgres"] {
        let receiver = Receiver::start().await;
        let ws = Workspace::new();
        let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/c\"\n  body_template: c.json.j2\n", receiver.url());
        ws.subscription("c.yaml", &yaml);
        ws.template("c.json.j2", BROKEN);
        let mut config = ws.config();
        let Some(schema) = on_store(store, &mut config).await else { continue };
        let app = TestApp::spawn(config).await;
        for n in 0..2 {
            app.post_event(&json!({ "Topic": "T", "Payload": { "Id": n } })).await;
        }
        let failed = wait_for(&app, "c", "failed", 2).await;
        let id = failed[0]["id"].as_str().unwrap().to_string();

        // The reason names the template and its line.
        let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
        let reason = &detail["reasons"][0];
        assert_eq!(reason["kind"], "render_error", "{store}: {detail}");
        let text = reason["text"].as_str().unwrap();
        assert!(text.contains("c.json.j2") && text.contains("line 2"), "{store}: {text}");

        // Not fixed yet: not sendable, and why; nothing changed.
        let (status, answer) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
        assert_eq!((status, answer["outcome"].as_str()), (409, Some("not_sendable")), "{store}: {answer}");
        assert!(answer["reason"].as_str().unwrap().contains("still does not render"), "{answer}");
        assert!(answer["error"].is_string(), "an error body as every error: {answer}");

        // Fixed: rendered again into the same delivery, and sent.
        let (_, ready) = app.get("/readyz").await;
        ws.template("c.json.j2", FIXED);
        wait_for_reload(&app, ready["version"].as_str().unwrap()).await;
        let (status, answer) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
        assert_eq!(
            (status, answer["outcome"].as_str(), answer["status"].as_str()),
            (202, Some("rerendered"), Some("pending")),
            "{store}: {answer}"
        );
        let got = receiver.wait_for(1, WAIT).await;
        assert_eq!(got[0].header("x-webhook-id").as_deref(), Some(id.as_str()), "the same delivery");
        let (_, event) = app.get(&format!("/v1/events/{}", failed[0]["event"].as_str().unwrap())).await;
        assert_eq!(got[0].json(), json!({ "id": event["event"]["Payload"]["Id"].clone() }), "rendered with the fix");
        let done = wait_for(&app, "c", "succeeded", 1).await;
        assert_eq!(done[0]["id"].as_str(), Some(id.as_str()));
        assert_ne!(done[0]["url"], "", "it has its request now");

        // A second resend is an ordinary one: it does not render or make anything again.
        let (status, again) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
        assert_eq!((status, again["outcome"].as_str()), (202, Some("sent")), "{again}");

        // Recover renders the other one again too.
        let (status, many) =
            app.post_raw("/v1/deliveries/retry", json!({ "subscription": "c" }).to_string(), None).await;
        assert_eq!(
            (status, many["rerendered"].clone(), many["not_sendable"].clone()),
            (200, json!(1), json!(0)),
            "{store}: {many}"
        );
        wait_for(&app, "c", "succeeded", 2).await;
        receiver.wait_for(3, WAIT).await;
        app.stop().await;
        drop(schema);
    }
}

#[tokio::test]
async fn replay_takes_the_failed_subscriptions_or_all_or_named_ones_and_lists_its_new_deliveries() {
    let receiver = Receiver::start().await;
    receiver.set_status_for("/bad", 500);
    let ws = Workspace::new();
    failing_subscription(&ws, "good", &receiver);
    failing_subscription(&ws, "bad", &receiver);
    for (store, config, _schema) in stores(&ws).await {
        let app = TestApp::spawn(config).await;
        let uuid = new_uuid();
        app.post_event(&json!({ "Uuid": uuid, "Topic": "T", "Payload": {} })).await;
        wait_for(&app, "good", "succeeded", 1).await;
        wait_for(&app, "bad", "failed", 1).await;
        let path = format!("/v1/events/{uuid}/replay");
        let replay = |body: Value| app.post_raw(&path, body.to_string(), None);

        let (status, only_failed) = replay(json!({ "failed_only": true })).await;
        assert_eq!(status, 202, "{store}: {only_failed}");
        let made = only_failed["new_deliveries"].as_array().unwrap();
        assert_eq!((only_failed["deliveries"].clone(), made.len()), (json!(1), 1), "{store}: {only_failed}");
        assert_eq!(made[0]["subscription"], "bad");
        assert!(made[0]["id"].as_str().unwrap().starts_with("dlv_"));
        assert!(["pending", "in_flight", "failed"].contains(&made[0]["status"].as_str().unwrap()), "{only_failed}");
        // What it left out is said: `good`'s delivery succeeded (a replay that finds no
        // failed delivery answered an empty list and nothing more).
        let skipped = only_failed["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1, "{store}: {only_failed}");
        assert_eq!(skipped[0]["subscription"], "good");
        let reason = skipped[0]["reason"].as_str().unwrap();
        assert!(reason.starts_with("not failed: its delivery dlv_") && reason.ends_with(" is succeeded"), "{reason}");

        let (status, named) = replay(json!({ "subscriptions": ["good"] })).await;
        assert_eq!((status, named["new_deliveries"][0]["subscription"].as_str()), (202, Some("good")), "{named}");
        assert_eq!(named["deliveries"], 1);

        let (status, all) = app.post(&format!("/v1/events/{uuid}/replay")).await;
        let mut subs: Vec<&str> =
            all["new_deliveries"].as_array().unwrap().iter().map(|d| d["subscription"].as_str().unwrap()).collect();
        subs.sort();
        assert_eq!((status, subs), (202, vec!["bad", "good"]), "without a body: every subscription, as before");

        let (_, event) = app.get(&format!("/v1/events/{uuid}")).await;
        assert_eq!(event["deliveries"].as_array().unwrap().len(), 2 + 1 + 1 + 2, "{store}");

        let (status, unknown) = replay(json!({ "subscriptions": ["nope"] })).await;
        assert_eq!(status, 422, "{unknown}");
        assert!(unknown["error"].as_str().unwrap().contains("nope"), "{unknown}");
        let (status, both) = replay(json!({ "subscriptions": ["good"], "failed_only": true })).await;
        assert_eq!(status, 422, "{both}");
        let (status, _) = replay(json!({ "failed_only": "yes" })).await;
        assert_eq!(status, 422);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_receiver_asking_for_a_pause_shows_as_paused_until_its_end() {
    let receiver = Receiver::start().await;
    receiver.set_status(429);
    receiver.set_retry_after(Some("60"));
    let ws = Workspace::new();
    let yaml = format!("topics: [T]\nrequest:\n  url: {}/crm\nretry:\n  schedule: [1s, 1h]\n", receiver.url());
    ws.subscription("crm.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    let asked = chrono::Utc::now();
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let sub = eventually(WAIT, "the subscription to show its pause", || async {
        let (_, sub) = app.get("/v1/subscriptions/crm").await;
        sub["paused_until"].is_string().then_some(sub)
    })
    .await;
    let until = sub["paused_until"].as_str().unwrap().to_string();
    let ends = chrono::DateTime::parse_from_rfc3339(&until).unwrap().with_timezone(&chrono::Utc);
    let after = (ends - asked).num_seconds();
    assert!((55..=65).contains(&after), "the pause ends 60 s after the 429, not {after} s: {sub}");

    let (_, page) = app.get("/v1/deliveries?subscription=crm").await;
    let id = page["deliveries"][0]["id"].as_str().unwrap().to_string();
    let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
    let paused = detail["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "paused");
    let paused = paused.unwrap_or_else(|| panic!("no paused reason: {detail}"));
    assert_eq!(paused["until"], until.as_str(), "{detail}");
    assert!(paused["text"].as_str().unwrap().starts_with(&format!("paused until {until}: the receiver answered 429")));

    for page in ["/console/subscriptions/crm", "/console/subscriptions", &format!("/console/deliveries/{id}")] {
        let html = app.http.get(format!("{}{page}", app.base)).send().await.unwrap().text().await.unwrap();
        let said = html.contains(&format!("aused until <time datetime=\"{until}\">"))
            || html.contains(&format!("paused until {until}"));
        assert!(said, "{page} does not say the subscription is paused:\n{html}");
    }
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookshape"))
        .args(["subscriptions", "list", "--url", &app.base])
        .env_remove("HOOKSHAPE_ADMIN_TOKEN")
        .output()
        .await
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("enabled (paused until {until})")), "the CLI says so too:\n{listed}");
    assert_eq!(receiver.requests().len(), 1, "nothing more is sent during the pause");
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_shows_as_unreachable_since_probing() {
    let ws = Workspace::new();
    // Nothing listens there: every attempt fails to connect.
    let port = free_port();
    ws.subscription(
        "down.yaml",
        &format!("topics: [T]\nrequest:\n  url: http://127.0.0.1:{port}/x\n  timeout: 1s\nretry:\n  schedule: [1s, 1s, 1h]\n"),
    );
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let sub = eventually(WAIT, "the subscription to show the pause", || async {
        let (_, sub) = app.get("/v1/subscriptions/down").await;
        sub["unreachable"].is_object().then_some(sub)
    })
    .await;
    let since = sub["unreachable"]["since"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(since).is_ok(), "{sub}");
    assert!(sub["unreachable"]["node"].as_str().unwrap().starts_with("node-"), "per node, and says which: {sub}");
    let (_, page) = app.get("/v1/deliveries?subscription=down").await;
    let id = page["deliveries"][0]["id"].as_str().unwrap();
    let detail = eventually(WAIT, "the delivery to say why it waits", || async {
        let (_, d) = app.get(&format!("/v1/deliveries/{id}")).await;
        let kinds: Vec<String> =
            d["reasons"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap().to_string()).collect();
        (kinds.contains(&"unreachable".to_string()) && kinds.contains(&"connection_error".to_string())).then_some(d)
    })
    .await;
    let text =
        detail["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "unreachable").unwrap()["text"].clone();
    assert!(text.as_str().unwrap().starts_with(&format!("receiver unreachable since {since}")), "{text}");

    // The console's pages say it too (open on loopback without tokens).
    for page in ["/console/subscriptions/down", "/console/subscriptions", &format!("/console/deliveries/{id}")] {
        let html = app.http.get(format!("{}{page}", app.base)).send().await.unwrap().text().await.unwrap();
        let said = html.contains(&format!("nreachable since <time datetime=\"{since}\">"))
            || html.contains(&format!("receiver unreachable since {since}"));
        assert!(said, "{page} does not say the receiver is unreachable:\n{html}");
    }
}

#[tokio::test]
async fn a_deliverys_request_shows_every_header_it_was_sent_with() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"{}/hdr\"\n  headers:\n    X-Tenant: \"t-{{{{ Id }}}}\"\n  body: {{ id: \"{{{{ Id }}}}\" }}\n\
         signature:\n  scheme: hmac-sha256-hex\n  secret: hdr-signing-secret\nauth:\n  bearer: hdr-bearer-token\n",
        receiver.url()
    );
    ws.subscription("hdr.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": { "Id": "h1" } })).await;
    let done = wait_for(&app, "hdr", "succeeded", 1).await;
    let id = done[0]["id"].as_str().unwrap();
    let sent = &receiver.requests()[0];
    let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
    let headers: Vec<(String, String)> = serde_json::from_value(detail["request"]["headers"].clone()).unwrap();
    let expect = [
        ("Content-Type", "application/json".to_string()),
        ("User-Agent", sent.header("user-agent").unwrap()),
        ("X-Webhook-Event", "T".to_string()),
        ("X-Webhook-Id", id.to_string()),
        ("X-Webhook-Attempt", "1".to_string()),
        ("X-Tenant", "t-h1".to_string()),
        ("X-Webhook-Signature", "***".to_string()),
        ("Authorization", "***".to_string()),
    ];
    for (name, value) in expect {
        assert!(headers.contains(&(name.to_string(), value.clone())), "{name}: {value} is not in {headers:?}");
        assert!(sent.header(name).is_some(), "the receiver got {name}");
    }
    let html =
        app.http.get(format!("{}/console/deliveries/{id}", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("-H &#x27;Content-Type: application&#x2f;json&#x27;"),
        "copy as curl sends the body as JSON: {html}"
    );
    assert!(!html.contains("hdr-signing-secret") && !html.contains("hdr-bearer-token"), "{html}");
}

#[tokio::test]
async fn a_resend_of_a_delivery_in_flight_leaves_it_to_its_attempt() {
    for store in ["sqlite", "postgres"] {
        let receiver = Receiver::start().await;
        receiver.set_delay(Duration::from_secs(2));
        let ws = Workspace::new();
        ws.subscription("slow.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/slow\"\n", receiver.url()));
        let mut config = ws.config();
        let Some(_schema) = on_store(store, &mut config).await else { continue };
        let app = TestApp::spawn(config).await;
        app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
        receiver.wait_for(1, WAIT).await; // under way, for two seconds
        let (_, page) = app.get("/v1/deliveries?subscription=slow").await;
        let id = page["deliveries"][0]["id"].as_str().unwrap().to_string();
        let (status, answer) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
        assert_eq!((status, answer["outcome"].as_str()), (409, Some("not_sendable")), "{store}: {answer}");
        assert!(answer["reason"].as_str().unwrap().starts_with("it is in flight"), "{store}: {answer}");

        let done = wait_for(&app, "slow", "succeeded", 1).await;
        assert_eq!(done[0]["attempts"], 1, "{store}: its one attempt recorded: {done:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.requests().len(), 1, "{store}: sent once");
    }
}

#[tokio::test]
async fn a_delivery_of_a_subscription_no_longer_loaded_is_not_sendable_and_says_why() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    failing_subscription(&ws, "stays", &receiver);
    failing_subscription(&ws, "gone", &receiver);
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let gone = wait_for(&app, "gone", "failed", 1).await;
    wait_for(&app, "stays", "failed", 1).await;
    std::fs::remove_file(ws.path().join("subscriptions/gone.yaml")).unwrap();
    eventually(WAIT, "the file's removal to load", || async {
        (app.get("/readyz").await.1["subscriptions"] == 1).then_some(())
    })
    .await;
    receiver.set_status(200);

    let id = gone[0]["id"].as_str().unwrap();
    let (status, one) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
    assert_eq!((status, one["outcome"].as_str()), (409, Some("not_sendable")), "{one}");
    assert!(one["reason"].as_str().unwrap().contains("gone is not loaded"), "{one}");
    assert_eq!(app.get(&format!("/v1/deliveries/{id}")).await.1["status"], "failed", "nothing changed");

    let (status, named) =
        app.post_raw("/v1/deliveries/retry", json!({ "subscription": "gone" }).to_string(), None).await;
    assert_eq!((status, named["not_sendable"].clone(), named["retried"].clone()), (200, json!(1), json!(0)), "{named}");
    let (status, all) = app.post_raw("/v1/deliveries/retry", json!({}).to_string(), None).await;
    assert_eq!((status, all["sent"].clone(), all["not_sendable"].clone()), (200, json!(1), json!(1)), "{all}");
    let said = all["deliveries"].as_array().unwrap().iter().find(|d| d["subscription"] == "gone").cloned().unwrap();
    assert!(said["reason"].as_str().unwrap().contains("not loaded"), "{said}");
    wait_for(&app, "stays", "succeeded", 1).await;
    assert!(receiver.requests_to("/gone").len() == 1, "never sent again");
}

/// The API's bulk resend takes the filters the console's recover takes: events and a
/// history search too (both were refused by the API while the console used them).
#[tokio::test]
async fn a_bulk_resend_takes_events_and_a_search_as_the_console_does() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nsearch_keys: [Customer.Id]\nrequest:\n  url: \"{}/s\"\nretry:\n  schedule: []\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    let mut uuids = Vec::new();
    for customer in ["C-1", "C-2", "C-3"] {
        let uuid = new_uuid();
        app.post_event(&json!({ "Uuid": uuid, "Topic": "T", "Payload": { "Customer": { "Id": customer } } })).await;
        uuids.push(uuid);
    }
    wait_for(&app, "s", "failed", 3).await;
    receiver.set_status(200);
    let by_event = json!({ "event": [uuids[0].clone(), uuids[1].clone()] }).to_string();
    let (status, answer) = app.post_raw("/v1/deliveries/retry", by_event, None).await;
    assert_eq!((status, answer["sent"].clone()), (200, json!(2)), "{answer}");
    let (status, answer) = app.post_raw("/v1/deliveries/retry", json!({ "key": "C-3" }).to_string(), None).await;
    assert_eq!((status, answer["sent"].clone()), (200, json!(1)), "{answer}");
    let (status, answer) = app.post_raw("/v1/deliveries/retry", json!({ "cursor": "dlv_x" }).to_string(), None).await;
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.starts_with("cursor: unknown")
            && !error.contains("use status, subscription, topic, event, key, source, since, until, limit or cursor"),
        "{error}"
    );
    wait_for(&app, "s", "succeeded", 3).await;
}

/// A delivery waiting for a subscription no node has loaded says so (it had only its
/// last attempt's answer, as if it would be retried).
#[tokio::test]
async fn a_pending_delivery_of_a_removed_subscription_says_it_is_not_loaded() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.subscription(
        "gone.yaml",
        &format!("topics: [T]\nrequest:\n  url: \"{}/gone\"\nretry:\n  schedule: [1h]\n", receiver.url()),
    );
    ws.subscription("stays.yaml", "topics: [Other]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let pending = eventually(WAIT, "an attempt, then a wait", || async {
        let (_, page) = app.get("/v1/deliveries?status=pending&subscription=gone").await;
        page["deliveries"].as_array().and_then(|l| l.first().cloned()).filter(|d| d["attempts"] == 1)
    })
    .await;
    let id = pending["id"].as_str().unwrap();
    let (_, before) = app.get(&format!("/v1/deliveries/{id}")).await;
    assert!(!before["reasons"].to_string().contains("not_loaded"), "{before}");
    std::fs::remove_file(ws.path().join("subscriptions/gone.yaml")).unwrap();
    eventually(WAIT, "the removal to load", || async {
        (app.get("/readyz").await.1["subscriptions"] == 1).then_some(())
    })
    .await;
    let (_, after) = app.get(&format!("/v1/deliveries/{id}")).await;
    let said = after["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "not_loaded").cloned();
    let said = said.unwrap_or_else(|| panic!("no not_loaded reason: {after}"));
    assert!(said["text"].as_str().unwrap().contains("--orphan-grace"), "{said}");
}

/// Disable holds what is pending; an attempt in flight then must not come back as pending
/// and be retried while the subscription reads disabled.
#[tokio::test]
async fn an_attempt_in_flight_when_its_subscription_is_disabled_ends_held_not_retried() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    receiver.set_delay(Duration::from_millis(800));
    let ws = Workspace::new();
    let yaml =
        format!("topics: [T]\nrequest:\n  url: {}/slow\n  timeout: 5s\nretry:\n  schedule: [1s, 1s]\n", receiver.url());
    ws.subscription("slow.yaml", &yaml);
    for (store, config, _schema) in stores(&ws).await {
        let sent_before = receiver.requests().len();
        let app = TestApp::spawn(config).await;
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
        receiver.wait_for(sent_before + 1, WAIT).await;
        assert_eq!(app.post("/v1/subscriptions/slow/disable").await.0, 200);
        let held = wait_for(&app, "slow", "held", 1).await;
        assert_eq!(held[0]["attempts"], 1, "{store}: {held:?}");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(receiver.requests().len(), sent_before + 1, "{store}: nothing is sent while disabled");
        let (_, sub) = app.get("/v1/subscriptions/slow").await;
        let counts = (sub["counts"]["held"].clone(), sub["counts"]["pending"].clone());
        assert_eq!(counts, (json!(1), json!(0)), "{store}: {sub}");
        app.stop().await;
    }
}
