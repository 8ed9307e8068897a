//! `request.body_format`: form, text and XML bodies arrive at a real receiver exactly as
//! rendered, with one Content-Type, signed over the bytes sent, and shown as sent.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

fn content_types(r: &Received) -> Vec<String> {
    r.headers.get_all("content-type").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_form_body_arrives_encoded_signed_over_its_bytes_and_retried_unchanged() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.subscription(
        "form.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/form\n  body_format: form\n  body:\n    a: \"{{{{ A }}}}\"\n    b: \"{{{{ B }}}}\"\n\
             signature:\n  scheme: hmac-sha256-hex\n  secret: form-secret\nretry:\n  schedule: [200ms]\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "A": 1, "B": "x y" } })).await.0, 202);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    for (n, r) in got.iter().enumerate() {
        assert_eq!(&r.body[..], b"a=1&b=x%20y", "attempt {}", n + 1);
        assert_eq!(content_types(r), ["application/x-www-form-urlencoded"]);
        let signature = hookshape::sign::hmac_hex(b"form-secret", &r.body);
        assert_eq!(r.header("x-webhook-signature"), Some(signature));
        assert_eq!(r.header("x-webhook-event").as_deref(), Some("T"));
        assert_eq!(r.header("x-webhook-attempt"), Some((n + 1).to_string()));
    }
    // History keeps the text sent, not JSON.
    let id = got[0].header("x-webhook-id").unwrap();
    let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(detail["request"]["body"], "a=1&b=x%20y", "{detail}");
    let headers = detail["request"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["Content-Type", "application/x-www-form-urlencoded"])), "{detail}");
}

#[tokio::test]
async fn text_and_xml_bodies_arrive_exactly_with_xml_escaping_only_in_xml() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.template("note.txt", "Hi {{ Name }}: {{ Note }}");
    ws.template("note.xml", "<note><to>{{ Name }}</to><body>{{ Note }}</body><n>{{ N }}</n></note>");
    let sub = |path: &str, rest: &str| format!("topics: [T]\nrequest:\n  url: {}/{path}\n  {rest}\n", receiver.url());
    ws.subscription("text.yaml", &sub("text", "body_format: text\n  body_template: note.txt"));
    ws.subscription("xml.yaml", &sub("xml", "body_format: xml\n  body_template: note.xml"));
    ws.subscription("inline.yaml", &sub("inline", "body_format: xml\n  body: \"<v>{{ Name }}</v>\""));
    ws.subscription(
        "csv.yaml",
        &sub("csv", "body_format: text\n  headers:\n    content-type: text/csv\n  body: \"{{ Name }},{{ N }}\""),
    );
    ws.subscription(
        "json.yaml",
        &sub("json", "headers:\n    Content-Type: application/vnd.api+json\n  body: { n: \"{{ N }}\" }"),
    );
    let app = TestApp::spawn(ws.config()).await;
    // Raw text, so 1234.50 keeps its digits (json! would make it 1234.5).
    let event = r#"{"Topic": "T", "Payload": {"Name": "Tom & \"Jerry\"", "Note": "a < b & 'c'", "N": 1234.50}}"#;
    assert_eq!(app.post_raw("/v1/events", event.to_string(), None).await.0, 202);
    receiver.wait_for(5, Duration::from_secs(10)).await;
    let one = |path: &str| receiver.requests_to(&format!("/{path}")).remove(0);
    let (text, xml, inline, csv, json) = (one("text"), one("xml"), one("inline"), one("csv"), one("json"));
    assert_eq!(std::str::from_utf8(&text.body).unwrap(), "Hi Tom & \"Jerry\": a < b & 'c'");
    assert_eq!(content_types(&text), ["text/plain; charset=utf-8"]);
    assert_eq!(
        std::str::from_utf8(&xml.body).unwrap(),
        "<note><to>Tom &amp; &quot;Jerry&quot;</to><body>a &lt; b &amp; &apos;c&apos;</body><n>1234.50</n></note>"
    );
    assert_eq!(content_types(&xml), ["application/xml"]);
    assert_eq!(std::str::from_utf8(&inline.body).unwrap(), "<v>Tom &amp; &quot;Jerry&quot;</v>");
    // A header's Content-Type replaces the format's (or JSON's): exactly one is sent.
    assert_eq!(std::str::from_utf8(&csv.body).unwrap(), "Tom & \"Jerry\",1234.50");
    assert_eq!(content_types(&csv), ["text/csv"]);
    assert_eq!(std::str::from_utf8(&json.body).unwrap(), r#"{"n":1234.50}"#);
    assert_eq!(content_types(&json), ["application/vnd.api+json"]);
    assert_eq!(xml.header("x-webhook-event").as_deref(), Some("T"));
}

#[test]
fn render_prints_the_exact_form_body_and_one_content_type() {
    let ws = Workspace::new();
    ws.subscription(
        "f.yaml",
        "topics: [T]\nrequest:\n  url: http://h/f\n  body_format: form\n  body: { a: \"{{ A }}\", b: \"{{ B }}\", ok: true }\n",
    );
    ws.subscription(
        "j.yaml",
        "topics: [T]\nrequest:\n  url: http://h/j\n  headers: { Content-Type: application/vnd.api+json }\n  body: { a: 1 }\n",
    );
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {"A": 1, "B": "x y"}}"#).unwrap();
    let render = |name: &str| {
        let out = hookshape()
            .args(["render", "--subscription", name, "--event"])
            .arg(&event)
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let content_types = |stdout: &str| -> Vec<String> {
        stdout.lines().filter(|l| l.to_ascii_lowercase().starts_with("content-type:")).map(str::to_string).collect()
    };
    let form = render("f");
    assert_eq!(form.lines().last(), Some("a=1&b=x%20y&ok=true"), "{form}");
    assert_eq!(content_types(&form), ["Content-Type: application/x-www-form-urlencoded"], "{form}");
    // A header's Content-Type is the one shown, as it is the one sent.
    let json = render("j");
    assert_eq!(content_types(&json), ["Content-Type: application/vnd.api+json"], "{json}");
}

#[test]
fn a_value_xml_cannot_carry_fails_the_render_instead_of_making_a_broken_document() {
    let ws = Workspace::new();
    ws.subscription(
        "x.yaml",
        "topics: [T]\nrequest:\n  url: http://h/x\n  body_format: xml\n  body_template: x.xml.j2\n",
    );
    ws.template("x.xml.j2", "<a>{{ N }}</a>");
    let event = ws.path().join("event.json");
    let render = |payload: &str| {
        std::fs::write(&event, format!(r#"{{"Topic": "T", "Payload": {payload}}}"#)).unwrap();
        hookshape()
            .args(["render", "--subscription", "x", "--event"])
            .arg(&event)
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .arg("--templates")
            .arg(ws.path().join("templates"))
            .output()
            .unwrap()
    };
    let out = render(r#"{"N": "a\u0000b"}"#);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("U+0000, which XML 1.0 cannot carry"), "{stderr}");
    let out = render(r#"{"N": "a\tb & é"}"#);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.trim_end().ends_with("<a>a\tb &amp; é</a>"), "{stdout}");
}

#[test]
fn body_and_format_mismatches_are_load_errors_with_file_and_line() {
    let ws = Workspace::new();
    let sub = |rest: &str| format!("topics: [T]\nrequest:\n  url: http://h/x\n{rest}");
    ws.template("t.txt", "x");
    ws.subscription("a-nested.yaml", &sub("  body_format: form\n  body:\n    a: 1\n    tags: [x, y]\n"));
    ws.subscription("b-template.yaml", &sub("  body_format: form\n  body_template: t.txt\n"));
    ws.subscription("c-map.yaml", &sub("  body_format: text\n  body:\n    a: 1\n"));
    ws.subscription(
        "d-quoted.yaml",
        &sub("  headers:\n    Content-Type: application/x-www-form-urlencoded\n  body: \"code={{ Code }}\"\n"),
    );
    ws.subscription("e-none.yaml", &sub("  body_format: xml\n"));
    ws.subscription("f-unknown.yaml", &sub("  body_format: yaml\n  body: x\n"));
    let out = on_workspace("validate", &ws);
    let expect = [
        ("a-nested.yaml:7:", "request.body.tags: a list has no form encoding"),
        ("b-template.yaml:5:", "request.body_template: body_format form encodes a body mapping"),
        ("c-map.yaml:5:", "request.body: body_format text sends text"),
        ("d-quoted.yaml:6:", "set body_format: text"),
        ("e-none.yaml:4:", "request.body_format: xml needs a body or body_template"),
        ("f-unknown.yaml:4:", "unknown variant `yaml`"),
    ];
    assert_one_line_per_mistake(&out, &expect);
}
