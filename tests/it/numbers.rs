//! Numbers keep their own spelling by position (PRODUCT.md "Exact data"): two numbers of
//! one event with the same value but different digits (`1234.50` and `1234.5`) each arrive
//! as they were written, and exponents stay as written (`1e2`, `1.0E-7`), through intake,
//! a source (the stored event and its delivery) and a `body_template` with `tojson`.

use std::time::Duration;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

/// A payload whose numbers collide in value but not in spelling, inside one object, across
/// objects and in a list.
const PAYLOAD: &str = r#"{"a":1234.50,"b":1234.5,"z":-0,"big":123456789012345678901234567890,"e":1e2,"E":1.0E-7,"h":100,"n":{"a":1234.5,"b":1234.50,"p":0.1,"q":0.1000000000000000055511151231257827},"l":[1e2,100.0,1E+2,-0.0,0]}"#;

fn body_of(receiver: &Receiver, path: &str) -> String {
    String::from_utf8(receiver.requests_to(path)[0].body.to_vec()).unwrap()
}

/// The stored event's text, as the store holds it.
fn stored_event(ws: &Workspace, uuid: &str) -> String {
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.query_row("SELECT body FROM events WHERE uuid = ?1", [uuid], |row| row.get(0)).unwrap()
}

fn leaf_subscription(ws: &Workspace, receiver: &Receiver, topic: &str) {
    ws.subscription(
        &format!("leaf-{topic}.yaml"),
        &format!(
            "topics: [{topic}]\nrequest:\n  url: {}/leaf-{topic}\n  body:\n    a: \"{{{{ a }}}}\"\n    b: \"{{{{ b }}}}\"\n    z: \"{{{{ z }}}}\"\n    big: \"{{{{ big }}}}\"\n    e: \"{{{{ e }}}}\"\n    E: \"{{{{ E }}}}\"\n    na: \"{{{{ Payload.n.a }}}}\"\n    nb: \"{{{{ n.b }}}}\"\n    q: \"{{{{ n.q }}}}\"\n    n: \"{{{{ n }}}}\"\n    l: \"{{{{ l }}}}\"\n    whole: \"{{{{ Payload }}}}\"\n",
            receiver.url()
        ),
    );
}

fn leaf_body() -> String {
    let n = r#"{"a":1234.5,"b":1234.50,"p":0.1,"q":0.1000000000000000055511151231257827}"#;
    format!(
        r#"{{"a":1234.50,"b":1234.5,"z":-0,"big":123456789012345678901234567890,"e":1e2,"E":1.0E-7,"na":1234.5,"nb":1234.50,"q":0.1000000000000000055511151231257827,"n":{n},"l":[1e2,100.0,1E+2,-0.0,0],"whole":{PAYLOAD}}}"#
    )
}

#[tokio::test]
async fn numbers_of_equal_value_keep_their_own_spelling_from_intake_to_the_receiver() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    leaf_subscription(&ws, &receiver, "T");
    let app = TestApp::spawn(ws.config()).await;
    let (status, answer) = app.post_raw("/v1/events", format!(r#"{{"Topic":"T","Payload":{PAYLOAD}}}"#), None).await;
    assert_eq!(status, 202, "{answer}");
    receiver.wait_for(1, WAIT).await;
    assert_eq!(body_of(&receiver, "/leaf-T"), leaf_body());
    let stored = stored_event(&ws, answer["uuid"].as_str().unwrap());
    assert!(stored.contains(PAYLOAD), "the stored event keeps every spelling: {stored}");
}

#[tokio::test]
async fn a_body_template_with_tojson_sends_each_number_as_it_was_written() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.template(
        "numbers.json.j2",
        r#"{"payload": {{ Payload | tojson }}, "n": {{ n | tojson }}, "l": {{ l | tojson(true) }}, "e": {{ E | tojson }}, "E": {{ E }}, "big": {{ big | tojson }}, "a": {{ a | tojson }}, "b": {{ b }}, "na": {{ n.a | tojson }}, "nb": {{- n.b -}}, "l0": {{ l | first }}}"#,
    );
    ws.subscription(
        "t.yaml",
        &format!("topics: [T]\nrequest:\n  url: {}/t\n  body_template: numbers.json.j2\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;
    let (status, answer) = app.post_raw("/v1/events", format!(r#"{{"Topic":"T","Payload":{PAYLOAD}}}"#), None).await;
    assert_eq!(status, 202, "{answer}");
    receiver.wait_for(1, WAIT).await;
    let n = r#"{"a":1234.5,"b":1234.50,"p":0.1,"q":0.1000000000000000055511151231257827}"#;
    assert_eq!(
        body_of(&receiver, "/t"),
        format!(
            r#"{{"payload":{PAYLOAD},"n":{n},"l":[1e2,100.0,1E+2,-0.0,0],"e":1.0E-7,"E":1.0E-7,"big":123456789012345678901234567890,"a":1234.50,"b":1234.5,"na":1234.5,"nb":1234.50,"l0":100.0}}"#
        )
    );
}

#[tokio::test]
async fn a_source_stores_and_delivers_each_number_as_the_platform_wrote_it() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    leaf_subscription(&ws, &receiver, "paid");
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(
        ws.path().join("sources/plain.yaml"),
        "verify:\n  scheme: none\nevent:\n  Topic: \"{{ type }}\"\n  Uuid: \"{{ id }}\"\n  Payload: \"{{ data }}\"\n",
    )
    .unwrap();
    let app = TestApp::spawn(ws.config()).await;
    let body = format!(r#"{{"type":"paid","id":"inv-1","amount":1e2,"data":{PAYLOAD}}}"#);
    let answer = app.http.post(format!("{}/v1/sources/plain", app.base)).body(body).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let answer: serde_json::Value = answer.json().await.unwrap();
    let uuid = answer["uuid"].as_str().unwrap();
    let stored = stored_event(&ws, uuid);
    assert!(stored.contains(PAYLOAD), "the stored event keeps every spelling: {stored}");
    let shown = app.http.get(format!("{}/v1/events/{uuid}", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains(PAYLOAD), "the API shows every spelling: {shown}");
    receiver.wait_for(1, WAIT).await;
    assert_eq!(body_of(&receiver, "/leaf-paid"), leaf_body());
}

#[test]
fn hookshape_test_renders_an_event_file_with_the_spellings_intake_would_keep() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: \"http://h/x\"\n  body: { a: \"{{ a }}\", b: \"{{ b }}\", e: \"{{ e }}\" }\n",
    );
    std::fs::write(
        ws.path().join("subscriptions/ev.json"),
        r#"{"Topic":"T","Payload":{"a":1234.50,"b":1234.5,"e":1E2}}"#,
    )
    .unwrap();
    ws.subscription(
        "s.test.yaml",
        "cases:\n  - name: spellings\n    event: ev.json\n    expect:\n      s: { body_raw: '{\"a\":1234.50,\"b\":1234.5,\"e\":1E2}' }\n",
    );
    let out = on_workspace("test", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok   s.test.yaml: spellings"), "{stdout}");
}
