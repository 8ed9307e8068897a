//! Hostile and unusual data: every case answers with a clear error naming what and where,
//! or records a failed delivery with the reason; nothing panics, hangs, grows without
//! bound or changes the data it carries.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

async fn app_with(ws: &Workspace) -> TestApp {
    TestApp::spawn(ws.config()).await
}

#[tokio::test]
async fn a_date_pattern_from_the_payload_fails_its_delivery_and_never_the_request() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "d.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/d\n  body: {{ d: \"{{{{ Date | date(Pattern) }}}}\" }}\n",
            receiver.url()
        ),
    );
    let app = app_with(&ws).await;
    let item =
        |pattern: &str| json!({ "Topic": "T", "Date": "2025-04-15T14:30:00Z", "Payload": { "Pattern": pattern } });
    let batch = json!([item("yyyy"), item("%Q"), item("dd/MM")]);
    let (status, body) = app.post_raw("/v1/events/batch", batch.to_string(), None).await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<_> = body["results"].as_array().unwrap().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(202), json!(202), json!(202)], "every valid item is answered: {body}");
    let (status, _) = app.post_event(&item("%Q")).await;
    assert_eq!(status, 202);
    let failed = app.wait_for_status("failed", 2).await;
    for d in &failed {
        let error = d["last_error"].as_str().unwrap();
        assert!(error.contains("%Q") && error.contains("date pattern"), "{error}");
    }
    let got = receiver.wait_for(2, WAIT).await;
    let mut bodies: Vec<_> = got.iter().map(|r| r.json()["d"].clone()).collect();
    bodies.sort_by_key(|v| v.to_string());
    assert_eq!(bodies, [json!("15/04"), json!("2025")]);
}

#[test]
fn a_literal_bad_date_pattern_or_zone_is_a_load_error() {
    let ws = Workspace::new();
    ws.subscription("p.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body: { d: \"{{ Date | date('%Q') }}\" }\n");
    ws.subscription(
        "z.yaml",
        "topics: [T]\nrequest:\n  url: http://h/x\n  body: { d: \"{{ Date | date('yyyy', 'Mars/Olympus') }}\" }\n",
    );
    ws.template("t.json.j2", "{\"d\": {{ Date | date('dd/MM/yyyy %Q') }}}");
    ws.subscription("t.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body_template: t.json.j2\n");
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for (file, what) in [("p.yaml:4:", "%Q"), ("z.yaml:4:", "Mars/Olympus"), ("t.yaml:4:", "%Q")] {
        assert!(stdout.lines().any(|l| l.contains(file) && l.contains(what)), "{file} {what}: {stdout}");
    }
}

#[tokio::test]
async fn a_batch_over_the_item_cap_is_a_413_naming_the_limit() {
    let ws = Workspace::new();
    let mut config = ws.config();
    config.max_batch_items = 3;
    let app = TestApp::spawn(config).await;
    let four: Vec<_> = (0..4).map(|_| json!({ "Topic": "T", "Payload": {} })).collect();
    let (status, body) = app.post_raw("/v1/events/batch", json!(four).to_string(), None).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("at most 3"), "{body}");
    // A body of a million zeros is refused at the fourth, not built and answered item by item.
    let zeros = format!("[{}0]", "0,".repeat(500_000));
    let started = Instant::now();
    let (status, _) = app.post_raw("/v1/events/batch", zeros, None).await;
    assert_eq!(status, 413);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let (status, body) = app.post_raw("/v1/events/batch", json!(four[..3]).to_string(), None).await;
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 3), "{body}");
}

#[tokio::test]
async fn a_key_given_twice_is_a_422_naming_it() {
    let ws = Workspace::new();
    let app = app_with(&ws).await;
    let cases = [
        (r#"{"Topic":"T","Payload":{"Customer":{"Id":"a","Id":"b"}}}"#, "Payload.Customer.Id"),
        (r#"{"Topic":"T","Topic":"U","Payload":{}}"#, "Topic"),
    ];
    for (body, path) in cases {
        let (status, answer) = app.post_raw("/v1/events", body.into(), None).await;
        assert_eq!(status, 422, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with(path) && error.contains("twice"), "{error}");
    }
    // In a batch, the item's own result says it; the other items have theirs.
    let (status, answer) = app.post_raw("/v1/events/batch", format!("[{{}}, {}]", cases[0].0), None).await;
    assert_eq!(status, 200, "{answer}");
    let twice = &answer["results"][1];
    assert_eq!(twice["status"], 422, "{answer}");
    assert!(twice["error"].as_str().unwrap().starts_with("[1].Payload.Customer.Id"), "{answer}");
    assert!(twice["error"].as_str().unwrap().contains("twice"), "{answer}");
}

#[tokio::test]
async fn numbers_arrive_with_the_digits_they_came_with() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.template("whole.json.j2", "{\"payload\": {{ Payload | tojson }}, \"amount\": {{ Amount }}}");
    ws.subscription(
        "leaf.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/leaf\n  body:\n    amount: \"{{{{ Amount }}}}\"\n    zero: \"{{{{ Zero }}}}\"\n    big: \"{{{{ Big }}}}\"\n    defaulted: \"{{{{ Amount | default(0) }}}}\"\n    items: \"{{{{ Items }}}}\"\n",
            receiver.url()
        ),
    );
    ws.subscription(
        "whole.yaml",
        &format!("topics: [T]\nrequest:\n  url: {}/whole\n  body_template: whole.json.j2\n", receiver.url()),
    );
    let app = app_with(&ws).await;
    let payload = r#"{"Amount":1234.50,"Zero":-0,"Big":123456789012345678901234567890,"Items":[{"Price":10.10}]}"#;
    let (status, body) = app.post_raw("/v1/events", format!(r#"{{"Topic":"T","Payload":{payload}}}"#), None).await;
    assert_eq!(status, 202, "{body}");
    receiver.wait_for(2, WAIT).await;
    let leaf = String::from_utf8(receiver.requests_to("/leaf")[0].body.to_vec()).unwrap();
    assert_eq!(
        leaf,
        r#"{"amount":1234.50,"zero":-0,"big":123456789012345678901234567890,"defaulted":1234.50,"items":[{"Price":10.10}]}"#
    );
    let whole = String::from_utf8(receiver.requests_to("/whole")[0].body.to_vec()).unwrap();
    assert_eq!(whole, format!(r#"{{"payload":{payload},"amount":1234.50}}"#));
}

#[tokio::test]
async fn default_covers_a_missing_parent_and_a_missing_value_is_still_an_error() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/s\n  body:\n    id: \"{{{{ Customer.Id | default('none') }}}}\"\n    deep: \"{{{{ A.b.c | d(7) }}}}\"\n    text: \"id={{{{ Customer.Address.City | default('?') }}}}\"\n",
            receiver.url()
        ),
    );
    ws.subscription(
        "strict.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/strict\n  body: {{ id: \"{{{{ Customer.Id }}}}\" }}\n",
            receiver.url()
        ),
    );
    let app = app_with(&ws).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({ "id": "none", "deep": 7, "text": "id=?" }));
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["subscription"], "strict");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("undefined"), "{}", failed[0]);
}

#[tokio::test]
async fn a_url_cannot_be_reshaped_by_data_empty_values_or_autoescape() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "del.yaml",
        &format!("topics: [T]\nrequest:\n  method: DELETE\n  url: \"{}/customers/{{{{ Id }}}}\"\n", receiver.url()),
    );
    ws.subscription(
        "raw.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/raw/{{% autoescape false %}}{{{{ Id }}}}{{% endautoescape %}}?n={{{{ Name | urlencode }}}}\"\n",
            receiver.url()
        ),
    );
    let app = app_with(&ws).await;
    for id in [json!(""), json!(null)] {
        app.post_event(&json!({ "Topic": "T", "Payload": { "Id": id, "Name": "a b" } })).await;
    }
    app.post_event(&json!({ "Topic": "T", "Payload": { "Id": "../admin?x=1", "Name": "a b" } })).await;
    let failed = app.wait_for_status("failed", 4).await;
    for d in failed.iter().filter(|d| d["subscription"] == "del") {
        let error = d["last_error"].as_str().unwrap();
        assert!(error.contains("path segment rendered empty") && error.contains("/customers/⟨empty⟩"), "where: {d}");
    }
    receiver.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&"/customers/..%2Fadmin%3Fx%3D1".to_string()), "{paths:?}");
    assert!(paths.contains(&"/raw/..%2Fadmin%3Fx%3D1?n=a%2520b".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/customers/" || p.starts_with("/raw/?")), "{paths:?}");
}

#[tokio::test]
async fn a_non_ascii_topic_reaches_its_glob_beside_a_longer_ascii_prefix() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("ab.yaml", &format!("topics: [\"ab*\"]\nrequest:\n  url: {}/ab\n", receiver.url()));
    ws.subscription("ae.yaml", &format!("topics: [\"aé*\"]\nrequest:\n  url: {}/ae\n", receiver.url()));
    let app = app_with(&ws).await;
    let (_, body) = app.post_event(&json!({ "Topic": "aéX", "Payload": {} })).await;
    assert_eq!(body["deliveries"], 1, "{body}");
    assert_eq!(receiver.wait_for(1, WAIT).await[0].path, "/ae");
}

#[tokio::test]
async fn producers_cannot_grow_the_metrics_series_with_topics() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [\"Known*\"]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = app_with(&ws).await;
    for i in 0..200 {
        app.post_event(&json!({ "Topic": format!("random-{i}"), "Payload": {} })).await;
    }
    app.post_event(&json!({ "Topic": "KnownThing", "Payload": {} })).await;
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let series: Vec<&str> = text.lines().filter(|l| l.starts_with("hookshape_events_accepted_total{")).collect();
    assert_eq!(series.len(), 2, "{series:#?}");
    assert!(series.iter().any(|l| l.contains(r#"topic="(no subscription)"} 200"#)), "{series:#?}");
    assert!(series.iter().any(|l| l.contains(r#"topic="Known*"} 1"#)), "{series:#?}");
}

#[test]
fn out_of_range_timeouts_and_reserved_variables_are_load_errors() {
    let ws = Workspace::new();
    ws.subscription("t.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  timeout: 99999999h\n");
    ws.subscription("r.yaml", "topics: [T]\nretry:\n  schedule: [1s, 400d]\nrequest:\n  url: http://h/x\n");
    ws.subscription(
        "h.yaml",
        "topics: [T]\nrequest:\n  url: http://h/x\n  headers:\n    X-T: \"${HOOKSHAPE_ADMIN_TOKEN:-x}\"\n",
    );
    ws.subscription("v.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  timeout: ${HS_TEST_TIMEOUT:-5s}\n");
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for (file, what) in [("t.yaml:4:", "request.timeout"), ("r.yaml:3:", "at most 30d"), ("h.yaml:5:", "HOOKSHAPE_")] {
        assert!(stdout.lines().any(|l| l.contains(file) && l.contains(what)), "{file} {what}: {stdout}");
    }
    assert!(!stdout.contains("v.yaml"), "a duration may come from ${{VAR}}: {stdout}");
}

#[test]
fn a_template_symlink_out_of_the_directory_or_in_a_loop_is_a_load_error_at_once() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body_template: leak.json.j2\n");
    std::os::unix::fs::symlink("/etc/passwd", ws.path().join("templates/leak.json.j2")).unwrap();
    std::os::unix::fs::symlink(".", ws.path().join("templates/loop")).unwrap();
    let started = Instant::now();
    let out = on_workspace("validate", &ws);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("leak.json.j2: symlink leads outside"), "{stdout}");
    assert!(stdout.contains("loop: symlink loop"), "{stdout}");
    assert!(!stdout.contains("root:"), "nothing of /etc/passwd is read: {stdout}");
}

#[tokio::test]
async fn the_sqlite_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let app = app_with(&ws).await;
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let mode = std::fs::metadata(ws.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}
