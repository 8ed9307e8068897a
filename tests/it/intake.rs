//! Intake: acknowledgement only after commit, idempotency, aliases, and a clear error for
//! every kind of bad input.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

async fn app_with(receiver: &Receiver) -> (Workspace, TestApp) {
    let ws = Workspace::new();
    ws.subscription("points.yaml", &POINTS.replace("RECEIVER", &receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    (ws, app)
}

#[tokio::test]
async fn an_event_is_acknowledged_with_its_uuid_and_delivery_count() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let uuid = new_uuid();
    let (status, body) = app.post_event(&loyalty_event(&uuid, "C-1")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({ "uuid": uuid, "deliveries": 1, "duplicate": false }));
    receiver.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_known_uuid_is_a_duplicate_and_creates_nothing_even_after_a_restart() {
    let receiver = Receiver::start().await;
    let (ws, app) = app_with(&receiver).await;
    let uuid = new_uuid();
    assert_eq!(app.post_event(&loyalty_event(&uuid, "C-1")).await.0, 202);
    let (status, body) = app.post_event(&loyalty_event(&uuid, "C-2")).await;
    assert_eq!((status, body["duplicate"].clone()), (200, json!(true)), "{body}");
    app.stop().await;

    let app = TestApp::spawn(ws.config()).await;
    let (status, body) = app.post_event(&loyalty_event(&uuid.to_uppercase(), "C-3")).await;
    assert_eq!((status, body["duplicate"].clone(), body["uuid"].clone()), (200, json!(true), json!(uuid)));
    let (_, page) = app.get(&format!("/v1/deliveries?event={uuid}")).await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "{page}");
    receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, vec!["/points/C-1".to_string()], "only the first event was delivered");
}

#[tokio::test]
async fn lowercase_aliases_are_accepted_and_a_uuid_is_assigned() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let event =
        json!({ "topic": "Communication_EarnSignupPoints", "payload": { "Customer": { "Id": "C-9" }, "Points": 5 } });
    let (status, body) = app.post_event(&event).await;
    assert_eq!(status, 202, "{body}");
    assert!(uuid::Uuid::parse_str(body["uuid"].as_str().unwrap()).is_ok(), "{body}");
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json(), json!({ "points": 5 }));
}

#[tokio::test]
async fn invalid_json_is_a_400_naming_line_and_column() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let (status, body) = app.post_raw("/v1/events", "{\n  \"Topic\": \"t\",\n  \"Payload\": {,}\n}".into(), None).await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("line 3 column 15"), "{message}");
}

#[tokio::test]
async fn a_missing_or_wrong_typed_field_is_a_422_naming_the_field() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let cases = [
        (json!({ "Payload": {} }), "Topic"),
        (json!({ "Topic": 42, "Payload": {} }), "Topic"),
        (json!({ "Topic": "" , "Payload": {} }), "Topic"),
        (json!({ "Topic": "t" }), "Payload"),
        (json!({ "Topic": "t", "Payload": "text" }), "Payload"),
        (json!({ "Topic": "t", "Payload": {}, "Uuid": "not-a-uuid" }), "Uuid"),
        (json!({ "Topic": "t", "Payload": {}, "Date": "tomorrow" }), "Date"),
    ];
    for (event, field) in cases {
        let (status, body) = app.post_event(&event).await;
        assert_eq!(status, 422, "{event}");
        let message = body["error"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{event} → {message}");
    }
    let (_, page) = app.get("/v1/deliveries").await;
    assert_eq!(page["deliveries"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_with_or_without_content_length() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("points.yaml", &POINTS.replace("RECEIVER", &receiver.url()));
    let mut config = ws.config();
    config.max_body_bytes = 1000;
    let app = TestApp::spawn(config).await;
    let big = json!({ "Topic": "t", "Payload": { "pad": "x".repeat(2000) } }).to_string();
    let (status, body) = app.post_raw("/v1/events", big.clone(), None).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("1000 bytes"));

    let chunks: Vec<Result<String, std::io::Error>> =
        big.as_bytes().chunks(300).map(|c| Ok(String::from_utf8(c.to_vec()).unwrap())).collect();
    let resp = app
        .http
        .post(format!("{}/v1/events", app.base))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_a_401() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("points.yaml", &POINTS.replace("RECEIVER", &receiver.url()));
    let app = TestApp::spawn(with_tokens(ws.config(), "in-token", "admin-token")).await;
    let event = loyalty_event(&new_uuid(), "C-1").to_string();
    assert_eq!(app.post_raw("/v1/events", event.clone(), None).await.0, 401);
    assert_eq!(app.post_raw("/v1/events", event.clone(), Some("admin-token")).await.0, 401);
    assert_eq!(app.post_raw("/v1/events", event.clone(), Some("in-token")).await.0, 202);

    let get = |token: &'static str| {
        let req = app.http.get(format!("{}/v1/deliveries", app.base)).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("in-token").await, 401);
    assert_eq!(get("admin-token").await, 200);
}

#[tokio::test]
async fn the_store_being_unavailable_is_a_503_with_retry_after() {
    let receiver = Receiver::start().await;
    let (ws, app) = app_with(&receiver).await;
    // Another connection holds SQLite's write lock, as a stuck disk or a backup would.
    let blocker = rusqlite::Connection::open(ws.db()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let resp = app
        .http
        .post(format!("{}/v1/events", app.base))
        .body(loyalty_event(&new_uuid(), "C-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("store unavailable"), "{body}");

    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(app.post_event(&loyalty_event(&new_uuid(), "C-2")).await.0, 202);
}

#[tokio::test]
async fn a_batch_answers_per_item_and_stores_the_good_ones() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let dup = new_uuid();
    assert_eq!(app.post_event(&loyalty_event(&dup, "C-0")).await.0, 202);
    let batch = json!([loyalty_event(&new_uuid(), "C-1"), { "Topic": "x" }, loyalty_event(&dup, "C-0")]);
    let (status, body) = app.post_raw("/v1/events/batch", batch.to_string(), None).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 202);
    assert_eq!(results[0]["deliveries"], 1);
    assert_eq!(results[1]["status"], 422);
    assert!(results[1]["error"].as_str().unwrap().starts_with("[1].Payload"), "{body}");
    assert_eq!((results[2]["status"].clone(), results[2]["duplicate"].clone()), (json!(200), json!(true)));
    receiver.wait_for(2, Duration::from_secs(10)).await;

    // A key given twice refuses its own item, not the batch.
    let good = loyalty_event(&new_uuid(), "C-2").to_string();
    let twice = r#"{"Topic": "x", "Payload": {"a": 1, "a": 2}}"#;
    let (status, body) = app.post_raw("/v1/events/batch", format!("[{good}, {twice}]"), None).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 202, "{body}");
    assert_eq!(results[1]["status"], 422, "{body}");
    assert!(results[1]["error"].as_str().unwrap().starts_with("[1].Payload.a"), "{body}");
    receiver.wait_for(3, Duration::from_secs(10)).await;
}

/// A body declared compressed is refused by name, not parsed as its bytes or stored as if
/// it had been compressed; nothing is stored, and the same event sent plain is taken.
#[tokio::test]
async fn a_body_with_a_content_encoding_is_refused_by_name_and_nothing_is_stored() {
    let receiver = Receiver::start().await;
    let (_ws, app) = app_with(&receiver).await;
    let uuid = new_uuid();
    let event = loyalty_event(&uuid, "C-1");
    let http = reqwest::Client::new();
    for (path, encoding) in [("/v1/events", "gzip"), ("/v1/events/batch", "br")] {
        let body = if path.ends_with("batch") { json!([event.clone()]) } else { event.clone() };
        let resp = http
            .post(format!("{}{path}", app.base))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", encoding)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 415, "{path}");
        let error: serde_json::Value = resp.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(&format!("Content-Encoding \"{encoding}\"")), "{error}");
    }
    // A label that names no compression (a client's mistake) is let through, as it was.
    let resp = http
        .post(format!("{}/v1/events", app.base))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "utf-8")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["duplicate"], false, "the refused ones stored nothing: {body}");
}
