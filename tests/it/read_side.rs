//! Delivery history and health: filters, cursor paging, the redacted request, attempts.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn deliveries_can_be_filtered_and_paged_with_a_cursor() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("a.yaml", &format!("topics: [\"*\"]\nrequest:\n  url: {}/a\n", receiver.url()));
    ws.subscription("b.yaml", &format!("topics: [Only.B]\nrequest:\n  url: {}/b\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    let mut events = Vec::new();
    for topic in ["Only.B", "Only.B", "Other", "Other", "Other"] {
        let uuid = new_uuid();
        app.post_event(&json!({ "Uuid": uuid, "Topic": topic, "Payload": {} })).await;
        events.push(uuid);
    }
    app.wait_for_status("succeeded", 7).await;

    let count = |path: String| {
        let app = &app;
        async move { app.get(&path).await.1["deliveries"].as_array().unwrap().len() }
    };
    assert_eq!(count("/v1/deliveries?subscription=b".into()).await, 2);
    assert_eq!(count("/v1/deliveries?topic=Other".into()).await, 3);
    assert_eq!(count(format!("/v1/deliveries?event={}", events[0])).await, 2);
    // Several events at once, as every other filter takes several values.
    assert_eq!(count(format!("/v1/deliveries?event={},{}", events[0], events[2])).await, 3);
    assert_eq!(count(format!("/v1/deliveries?event={}&event={}", events[0], events[2])).await, 3);
    let (status, body) = app.get("/v1/deliveries?key=a&key=b").await;
    assert_eq!(status, 400, "a second search is said, not the first dropped: {body}");
    assert!(body["error"].as_str().unwrap().contains("give key once"), "{body}");
    assert_eq!(count("/v1/deliveries?status=failed".into()).await, 0);
    assert_eq!(count("/v1/deliveries?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z".into()).await, 7);
    assert_eq!(count("/v1/deliveries?until=2000-01-01T00:00:00Z".into()).await, 0);

    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/deliveries?limit=3&cursor={c}"),
            None => "/v1/deliveries?limit=3".into(),
        };
        let (_, page) = app.get(&path).await;
        for d in page["deliveries"].as_array().unwrap() {
            assert!(seen.insert(d["id"].as_str().unwrap().to_string()), "no delivery twice");
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (7, 3));

    let (status, body) = app.get("/v1/deliveries?colour=red").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("colour"));
    assert_eq!(app.get("/v1/deliveries?status=lost").await.0, 400);
    // A cursor that is no delivery id is an error, not an empty last page.
    let (status, body) = app.get("/v1/deliveries?cursor=bogus").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cursor"), "{body}");
    assert_eq!(app.get("/v1/deliveries?cursor=").await.0, 200, "an empty cursor is the first page");
    assert_eq!(app.get("/v1/deliveries/dlv_nope").await.0, 404);
}

#[tokio::test]
async fn a_delivery_shows_its_request_with_secrets_masked_and_every_attempt() {
    let receiver = Receiver::start().await;
    receiver.set_status(503);
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"${{HS_TEST_UNSET_ORIGIN:-{}}}/x?key=${{HS_TEST_UNSET_URLKEY:-url-secret-value}}\"\n  headers:\n    Authorization: \"Bearer ${{HS_TEST_UNSET_TOKEN:-supersecret-token}}\"\n    X-Api-Key: \"${{HS_TEST_UNSET_KEY:-another-secret}}\"\n    X-Plain: visible\n  body: {{ n: \"{{{{ N }}}}\", token: \"${{HS_TEST_UNSET_BODY:-body-secret-value}}\" }}\nsignature:\n  scheme: hmac-sha256-hex\n  secret: \"${{HS_TEST_UNSET_SIG:-signing-secret}}\"\nretry:\n  schedule: [50ms]\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": { "N": 7 } })).await;
    let failed = app.wait_for_status("failed", 1).await;
    let id = failed[0]["id"].as_str().unwrap();
    let resp = app.http.get(format!("{}/v1/deliveries/{id}", app.base)).send().await.unwrap();
    let text = resp.text().await.unwrap();
    for secret in ["supersecret-token", "another-secret", "signing-secret", "url-secret-value", "body-secret-value"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let detail: serde_json::Value = serde_json::from_str(&text).unwrap();
    let headers = detail["request"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["Authorization", "***"])), "{detail}");
    assert!(headers.contains(&json!(["X-Api-Key", "***"])), "{detail}");
    assert!(headers.contains(&json!(["X-Plain", "visible"])), "{detail}");
    assert_eq!(detail["request"]["method"], "POST");
    assert_eq!(detail["request"]["body"], r#"{"n":7,"token":"***"}"#);
    // A variable that gives the URL's origin is configuration, not a secret: it stays shown.
    assert_eq!(detail["request"]["url"], format!("{}/x?key=***", receiver.url()));
    assert_eq!(detail["config_version"].as_str().unwrap().len(), 12);
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert_eq!(a["status_code"], 503);
        assert_eq!(a["response_body"], "received");
        assert!(a["started_at"].as_str().unwrap().ends_with('Z'));
        assert!(a["duration_ms"].as_i64().unwrap() >= 0);
    }
    // The receiver did get the real values.
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].header("authorization").as_deref(), Some("Bearer supersecret-token"));
    assert_eq!(got[0].path, "/x?key=url-secret-value");
    assert_eq!(got[0].json(), json!({ "n": 7, "token": "body-secret-value" }));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.get("/healthz").await, (200, json!({ "status": "ok" })));
    let (status, ready) = app.get("/readyz").await;
    assert_eq!((status, ready["status"].clone(), ready["subscriptions"].clone()), (200, json!("ready"), json!(1)));
    assert_eq!(app.get("/nope").await.0, 404);
}
