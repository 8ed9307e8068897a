//! Templates through the real binary and a real server: comparisons that refuse a string
//! against a number, errors that name the value, the number and date helpers, and
//! `abort(reason)`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// `hookshape render --event <payload as an event of topic T>` on `ws`: (exit code, stdout, stderr).
fn render(ws: &Workspace, payload: serde_json::Value, subscription: Option<&str>) -> (Option<i32>, String, String) {
    render_text(ws, &payload.to_string(), subscription)
}

/// `render` of a payload written as it is (numbers serde_json cannot hold: `1e400`).
fn render_text(ws: &Workspace, payload: &str, subscription: Option<&str>) -> (Option<i32>, String, String) {
    let event = ws.path().join("event.json");
    std::fs::write(&event, format!(r#"{{"Topic":"T","Payload":{payload}}}"#)).unwrap();
    let mut command = hookshape();
    command.arg("render").arg("--event").arg(&event).arg("--subscriptions").arg(ws.path().join("subscriptions"));
    command.arg("--templates").arg(ws.path().join("templates"));
    match subscription {
        Some(name) => command.arg("--subscription").arg(name),
        None => command.arg("--all"),
    };
    let out = command.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn with_filter(filter: &str) -> Workspace {
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nfilter: {filter:?}\nrequest:\n  url: http://127.0.0.1:9/x\n"));
    ws
}

#[test]
fn a_string_compared_with_a_number_is_an_error_naming_both_values() {
    let ws = with_filter("Points >= 50");
    let (code, _, stderr) = render(&ws, json!({"Points": "9"}), None);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains(r#""9""#) && stderr.contains("50"), "{stderr}");
    assert!(stderr.contains("| int"), "the error suggests the fix: {stderr}");
    // The same with numbers on both sides is an ordinary comparison.
    let (code, stdout, stderr) = render(&ws, json!({"Points": 60}), None);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("# s\nPOST http://127.0.0.1:9/x"), "{stdout}");
    let (code, stdout, _) = render(&ws, json!({"Points": 9}), None);
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
}

#[test]
fn comparison_tests_chains_in_and_ordering_filters_refuse_a_string_against_a_number_too() {
    for filter in [
        "Points is ge(50)",
        "Points is gt(5)",
        "Points is eq(9)",
        "Points in [9, 10]",
        "Points is in([9])",
        "0 < Points < 50",
        "(Points, 1) >= (50, 1)",
        "[Points] == [9]",
        "([Points, 50] | max) == 50",
    ] {
        let ws = with_filter(filter);
        let (code, stdout, stderr) = render(&ws, json!({"Points": "9"}), None);
        assert_ne!(code, Some(0), "{filter}: {stdout}");
        assert!(stderr.contains("cannot compare") && stderr.contains(r#""9" (a string)"#), "{filter}: {stderr}");
        // Numbers on both sides answer as before.
        let (code, _, stderr) = render(&ws, json!({"Points": 9}), None);
        assert_eq!(code, Some(0), "{filter}: {stderr}");
    }
}

#[test]
fn an_explicit_conversion_compares_and_a_missing_value_with_a_default_is_not_for_this_subscription() {
    let ws = with_filter("(Points | default(0) | int) >= 50");
    for (payload, delivered) in [(json!({"Points": "9"}), false), (json!({"Points": "60"}), true), (json!({}), false)] {
        let (code, stdout, stderr) = render(&ws, payload.clone(), None);
        assert_eq!(code, Some(0), "{payload}: {stderr}");
        assert_eq!(stdout.contains("POST http://127.0.0.1:9/x"), delivered, "{payload}: {stdout}");
    }
    let strings = with_filter("Status == 'paid' and Name < 'b'");
    let (code, stdout, stderr) = render(&strings, json!({"Status": "paid", "Name": "ana"}), None);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("POST"), "string against string still compares: {stdout}");
}

#[test]
fn an_undefined_value_is_named_with_what_its_parent_has() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body: { email: \"{{ Customer.Email }}\" }\n",
    );
    let (code, _, stderr) = render(&ws, json!({"Customer": {"Id": 1, "Name": "Ana"}}), Some("s"));
    assert_ne!(code, Some(0));
    assert!(
        stderr
            .contains("Customer.Email is undefined (Customer has Id, Name); use `| default(...)` if it may be missing"),
        "{stderr}"
    );
    assert!(stderr.contains("request.body.email"), "the field is still named: {stderr}");
}

#[test]
fn an_undefined_value_printed_by_a_template_or_handed_to_a_filter_is_named() {
    let ws = Workspace::new();
    ws.template("t.json.j2", r#"{"e": {{ Customer.Email }}}"#);
    ws.subscription("file.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: t.json.j2\n");
    let leaf = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body: { a: \"{{ Order.Amount | upper }}\" }\n";
    ws.subscription("filtered.yaml", leaf);
    let payload = json!({"Customer": {"Id": 1, "Name": "Ana"}, "Order": {"Id": 2}});
    let (code, _, stderr) = render(&ws, payload.clone(), Some("file"));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("Customer.Email is undefined (Customer has Id, Name)"), "{stderr}");
    assert!(stderr.contains("t.json.j2 line 1"), "{stderr}");
    let (code, _, stderr) = render(&ws, payload, Some("filtered"));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("Order.Amount is undefined (Order has Id)"), "not the filter's name: {stderr}");
}

#[test]
fn a_conversion_error_shows_its_input() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body: { n: \"{{ Amount | float }}\" }\n",
    );
    let (code, _, stderr) = render(&ws, json!({"Amount": "abc"}), Some("s"));
    assert_ne!(code, Some(0));
    assert!(stderr.contains(r#""abc" is not a number (| float)"#), "{stderr}");
    assert!(stderr.contains("request.body.n"), "{stderr}");
}

#[test]
fn number_and_date_helpers_render_into_the_body() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        r#"topics: [T]
request:
  url: http://127.0.0.1:9/x
  body:
    br: "{{ Total | format_number(2, ',', '.') }}"
    small: "{{ Price | format_number(2, ',') }}"
    exact: "{{ Amount | decimal }}"
    due: "{{ Created | date_add('7d') }}"
    before: "{{ Created | date_add('-1h') }}"
"#,
    );
    let payload = json!({"Total": 1234.5, "Price": 10.5, "Amount": "1234.50", "Created": "2025-04-15T14:30:00Z"});
    let (code, stdout, stderr) = render(&ws, payload, Some("s"));
    assert_eq!(code, Some(0), "{stderr}");
    let body = r#"{"br":"1.234,50","small":"10,50","exact":1234.50,"due":"2025-04-22T14:30:00Z","before":"2025-04-15T13:30:00Z"}"#;
    assert!(stdout.contains(body), "{stdout}");
}

#[test]
fn render_shows_the_authorization_a_urls_userinfo_becomes_and_never_its_value() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://hook%40ops:p%3Ass@127.0.0.1:9/x\n");
    let (code, stdout, stderr) = render_text(&ws, "{}", Some("s"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.lines().any(|l| l == "Authorization: ***"), "{stdout}");
    assert!(!stdout.contains("p%3Ass") && !stdout.contains("aG9va0BvcHM6cDpzcw"), "{stdout}");
}

#[test]
fn a_number_too_large_for_its_conversion_is_an_error_not_a_wrong_value() {
    // `| int` saturated to i128::MAX and `| decimal` printed "inf", both silently.
    let ws = Workspace::new();
    let sub = |expr: &str| {
        format!("topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body: {{ n: \"{{{{ {expr} }}}}\" }}\n")
    };
    for (expr, payload, error) in [
        ("P | int", r#"{"P": 1e39}"#, "1e39 is too large for | int"),
        ("P | float | int", r#"{"P": -1e39}"#, "is too large for | int"),
        ("P | int", r#"{"P": 1e400}"#, "1e400 is too large for | int"),
        ("P | int", r#"{"P": "1e39"}"#, r#""1e39" is too large for | int"#),
        ("P | int", r#"{"P": "nan"}"#, r#""nan" is not a number (| int)"#),
        ("P | decimal", r#"{"P": 1e400}"#, "1e400 is too large for | decimal"),
        ("P | format_number(2)", r#"{"P": -1e400}"#, "-1e400 is too large for | format_number"),
    ] {
        ws.subscription("s.yaml", &sub(expr));
        let (code, stdout, stderr) = render_text(&ws, payload, Some("s"));
        assert_ne!(code, Some(0), "{expr}: {stdout}");
        assert!(stderr.contains(error), "{expr}: {stderr}");
    }
    ws.subscription("s.yaml", &sub("P | decimal"));
    let (code, stdout, stderr) = render_text(&ws, r#"{"P": 1e39}"#, Some("s"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(r#"{"n":1000000000000000000000000000000000000000}"#), "{stdout}");
}

const ABORTING: &str = "topics: [T]\nrequest:\n  url: URL/abort\n  body: { email: \"{{ Customer.Email if Customer.Email is defined else abort('no email') }}\" }\n";

#[test]
fn abort_shows_its_reason_in_render_and_test() {
    let ws = Workspace::new();
    ws.subscription("a.yaml", &ABORTING.replace("URL", "http://127.0.0.1:9"));
    let (code, stdout, stderr) = render(&ws, json!({"Customer": {"Id": 1}}), Some("a"));
    assert_eq!((code, stdout.trim()), (Some(0), "aborted: no email"), "{stderr}");
    let (_, stdout, _) = render(&ws, json!({"Customer": {"Id": 1}}), None);
    assert_eq!(stdout.trim(), "# a\naborted: no email");
    ws.subscription(
        "a.test.yaml",
        "cases:\n  - name: no email\n    event: { Topic: T, Payload: { Customer: { Id: 1 } } }\n    expect:\n      a: { delivered: false }\n  - name: expects a delivery\n    event: { Topic: T, Payload: { Customer: { Id: 2 } } }\n    expect:\n      a: { url: http://127.0.0.1:9/abort }\n",
    );
    let out = on_workspace("test", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ok   a.test.yaml: no email"), "{stdout}");
    assert!(stdout.contains("aborted: no email"), "the failing case shows the reason: {stdout}");
}

#[tokio::test]
async fn an_aborted_event_is_not_delivered_to_that_subscription_and_nothing_fails() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("a.yaml", &ABORTING.replace("URL", &receiver.url()));
    ws.subscription("b.yaml", &format!("topics: [T]\nrequest:\n  url: {}/other\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    let event =
        json!({"Uuid": new_uuid(), "Topic": "T", "Date": "2025-04-15T14:30:00Z", "Payload": {"Customer": {"Id": 1}}});
    let (status, body) = app.post_event(&event).await;
    assert_eq!((status, body["deliveries"].clone()), (202, json!(1)), "{body}");
    receiver.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(receiver.requests_to("/abort").len(), 0);
    assert_eq!(receiver.requests_to("/other").len(), 1);
    app.stop().await;
}

#[test]
fn a_body_that_is_not_json_shows_the_rendered_text_around_the_error() {
    let ws = Workspace::new();
    ws.template("t.json.j2", "{\"name\": {{ Name }}, \"id\": {{ Id }} \"oops\": 1}\n");
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: t.json.j2\n");
    let (code, _, stderr) = render(&ws, json!({"Name": "Ana", "Id": 7}), Some("s"));
    assert_ne!(code, Some(0));
    assert!(stderr.contains(r#"`{"name": "Ana", "id": 7 ⟨here⟩"oops": 1}`"#), "{stderr}");
}

#[test]
fn a_macro_error_names_the_call() {
    let ws = Workspace::new();
    ws.template("macros.j2", "{% macro br_date(d) %}{{ d | date('dd/MM/yyyy') }}{% endmacro %}");
    ws.template("t.json.j2", "{% import 'macros.j2' as m %}\n{\"d\": \"{{ m.br_dat(Created) }}\"}\n");
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: t.json.j2\n");
    let (code, stdout, stderr) = render(&ws, json!({"Created": "2025-04-15T14:30:00Z"}), Some("s"));
    assert_ne!(code, Some(0));
    // Found when the files load, before any event (printed as `file:line: message` lines,
    // as validate prints them): the macro, what its file defines, where the call stands.
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("unknown macro `br_dat` (macros.j2 defines: br_date)"), "{said}");
    assert!(said.contains("t.json.j2:2"), "{said}");
}
