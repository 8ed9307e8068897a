//! Delivery: what arrives at the receiver is exactly what the subscription renders, and
//! failures are retried per the schedule with a stable id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

async fn app(yaml: &[(&str, String)]) -> (Workspace, TestApp) {
    let ws = Workspace::new();
    for (file, text) in yaml {
        ws.subscription(file, text);
    }
    let app = TestApp::spawn(ws.config()).await;
    (ws, app)
}

#[tokio::test]
async fn url_variables_method_headers_and_a_structured_body_arrive_as_rendered() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        r#"
topics: ["Communication_EarnPurchasePoints"]
request:
  method: PATCH
  url: "{}/customers/{{{{ Customer.Id }}}}/points?topic={{{{ Topic }}}}"
  headers:
    X-Static: fixed
    X-Tenant: "{{{{ Customer.Id | lower }}}}"
  body:
    email: "{{{{ Customer.Email }}}}"
    points: "{{{{ Points }}}}"
    customer: "{{{{ Customer }}}}"
    label: "{{{{ Customer.Name }}}} earned {{{{ Points }}}}"
    tags: ["loyalty", "{{{{ Topic }}}}"]
    flag: true
"#,
        receiver.url()
    );
    let (_ws, app) = app(&[("crm.yaml", yaml)]).await;
    let uuid = new_uuid();
    assert_eq!(app.post_event(&loyalty_event(&uuid, "C-1001")).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.method, "PATCH");
    assert_eq!(r.path, "/customers/C-1001/points?topic=Communication_EarnPurchasePoints");
    assert_eq!(r.header("x-static").as_deref(), Some("fixed"));
    assert_eq!(r.header("x-tenant").as_deref(), Some("c-1001"));
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(format!("hookshape/{}", hookshape::VERSION)));
    assert_eq!(r.header("x-webhook-event").as_deref(), Some("Communication_EarnPurchasePoints"));
    assert_eq!(r.header("x-webhook-attempt").as_deref(), Some("1"));
    assert!(r.header("x-webhook-id").unwrap().starts_with("dlv_"));
    assert_eq!(
        r.json(),
        json!({
            "email": "joao@exemplo.com",
            "points": 120,
            "customer": { "Id": "C-1001", "Email": "joao@exemplo.com", "Name": "João da Silva" },
            "label": "João da Silva earned 120",
            "tags": ["loyalty", "Communication_EarnPurchasePoints"],
            "flag": true
        })
    );
}

/// PRODUCT.md: the always-sent headers, "then the subscription's headers and signature":
/// a header the subscription may set (not `X-Webhook-*`) replaces hookshape's, and the
/// signature comes last.
#[tokio::test]
async fn the_subscriptions_own_headers_replace_the_always_sent_ones() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: {}/x\n  headers:\n    Content-Type: application/vnd.crm+json\n    User-Agent: crm-bridge/2\n    X-Signature: from-the-template\n  body: {{ n: 1 }}\nsignature:\n  scheme: hmac-sha256-hex\n  header: X-Signature\n  secret: s3cret-value\n",
        receiver.url()
    );
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.header("content-type").as_deref(), Some("application/vnd.crm+json"));
    assert_eq!(r.header("user-agent").as_deref(), Some("crm-bridge/2"));
    assert_eq!(r.header("x-webhook-attempt").as_deref(), Some("1"));
    let signature = r.header("x-signature").unwrap();
    assert_eq!(signature.len(), 64, "the signature replaced the template's header: {signature}");
}

#[tokio::test]
async fn a_body_template_file_is_rendered_with_json_escaping() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.template(
        "crm/points.json.j2",
        r#"{% import "crm/macros.j2" as m %}{"name": {{ Customer.Name }}, "points": {{ Points }}, "kind": "{{ m.kind(Points) }}", "path": {{ Customer.Path }}}"#,
    );
    ws.template("crm/macros.j2", "{% macro kind(p) %}{% if p > 100 %}big{% else %}small{% endif %}{% endmacro %}");
    ws.subscription(
        "crm.yaml",
        &format!("topics: [T]\nrequest:\n  url: {}/x\n  body_template: crm/points.json.j2\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;
    let event = json!({ "Topic": "T", "Payload": {
        "Customer": { "Name": "Zé \"Quote\" <b>&</b> Ñandú", "Path": "a/b/c" }, "Points": 120 } });
    assert_eq!(app.post_event(&event).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    let body = String::from_utf8(got[0].body.to_vec()).unwrap();
    assert_eq!(body, r#"{"name":"Zé \"Quote\" <b>&</b> Ñandú","points":120,"kind":"big","path":"a/b/c"}"#);
}

#[tokio::test]
async fn non_ascii_and_slashes_reach_the_receiver_unescaped() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: {}/x\n  body:\n    url: \"{{{{ Link }}}}\"\n    name: \"{{{{ Name }}}}\"\n",
        receiver.url()
    );
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    let event = json!({ "Topic": "T", "Payload": { "Link": "https://exemplo.com/aula/1", "Name": "Introdução à Programação" } });
    assert_eq!(app.post_event(&event).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        String::from_utf8(got[0].body.to_vec()).unwrap(),
        r#"{"url":"https://exemplo.com/aula/1","name":"Introdução à Programação"}"#
    );
}

#[tokio::test]
async fn a_hostile_customer_id_stays_inside_its_one_path_segment() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"{}/customers/{{{{ Customer.Id }}}}/points?ref={{{{ Ref }}}}\"\n",
        receiver.url()
    );
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    let event = json!({ "Topic": "T", "Payload": { "Customer": { "Id": "../admin?x=1#frag" }, "Ref": "a&b=c d" } });
    assert_eq!(app.post_event(&event).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/customers/..%2Fadmin%3Fx%3D1%23frag/points?ref=a%26b%3Dc%20d");

    // A value that is exactly ".." would be resolved away by any URL parser: refused.
    let event = json!({ "Topic": "T", "Payload": { "Customer": { "Id": ".." }, "Ref": "r" } });
    assert_eq!(app.post_event(&event).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    assert!(failed[0]["last_error"].as_str().unwrap().contains("segment"), "{failed:?}");
}

#[tokio::test]
async fn a_header_value_with_cr_lf_is_refused_and_touches_nothing_else() {
    let receiver = Receiver::start().await;
    let evil =
        format!("topics: [T]\nrequest:\n  url: {}/evil\n  headers:\n    X-Name: \"{{{{ Name }}}}\"\n", receiver.url());
    let good = format!("topics: [T]\nrequest:\n  url: {}/good\n", receiver.url());
    let (_ws, app) = app(&[("evil.yaml", evil), ("good.yaml", good)]).await;
    let event = json!({ "Topic": "T", "Payload": { "Name": "x\r\nX-Injected: 1" } });
    let (status, body) = app.post_event(&event).await;
    assert_eq!((status, body["deliveries"].clone()), (202, json!(2)));
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["subscription"], "evil");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("CR, LF or NUL"), "{failed:?}");
    let got = receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(got[0].path, "/good");
    assert!(got[0].header("x-injected").is_none());
}

#[tokio::test]
async fn an_undefined_variable_fails_that_delivery_with_the_message() {
    let receiver = Receiver::start().await;
    let yaml =
        format!("topics: [T]\nrequest:\n  url: {}/x\n  body:\n    v: \"{{{{ Missing.Field }}}}\"\n", receiver.url());
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    let error = failed[0]["last_error"].as_str().unwrap();
    assert!(error.contains("undefined") && error.contains("request.body.v"), "{error}");
}

#[tokio::test]
async fn a_500_is_retried_with_a_stable_id_and_a_counting_attempt() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let yaml = format!("topics: [T]\nrequest:\n  url: {}/x\nretry:\n  schedule: [50ms, 50ms, 50ms]\n", receiver.url());
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    receiver.wait_for(2, WAIT).await;
    receiver.set_status(200);
    let got = receiver.wait_for(3, WAIT).await;
    let ids: Vec<_> = got.iter().map(|r| r.header("x-webhook-id").unwrap()).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let attempts: Vec<_> = got.iter().map(|r| r.header("x-webhook-attempt").unwrap()).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let done = app.wait_for_status("succeeded", 1).await;
    assert_eq!(done[0]["attempts"], 3);
    let bodies: Vec<_> = got.iter().map(|r| r.body.clone()).collect();
    assert!(bodies.iter().all(|b| b == &bodies[0]), "retries resend the same bytes");
}

#[tokio::test]
async fn a_receiver_that_never_answers_hits_the_timeout_and_is_retried() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(5));
    let yaml =
        format!("topics: [T]\nrequest:\n  url: {}/x\n  timeout: 200ms\nretry:\n  schedule: [50ms]\n", receiver.url());
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    receiver.wait_for(2, WAIT).await;
    let failed = app.wait_for_status("failed", 1).await;
    let (_, detail) = app.get(&format!("/v1/deliveries/{}", failed[0]["id"].as_str().unwrap())).await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    for a in attempts {
        assert!(a["error"].as_str().unwrap().starts_with("timeout: no answer within 200ms (request.timeout)"), "{a}");
        assert!(a["duration_ms"].as_i64().unwrap() < 2000, "{a}");
    }
}

/// A receiver on a port-0 listener that answers the first request of each connection
/// (keeping it open) and resets the connection when a second comes on it, as a receiver
/// that restarted does to connections it never knew: how many requests it read, and its URL.
async fn receiver_resetting_reused_connections() -> (Arc<AtomicUsize>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for answered in 0.. {
                    // One whole request: its head, then Content-Length bytes of body.
                    let whole = |buf: &[u8]| {
                        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).unwrap_or("0");
                        let end = head_end + length.trim().parse::<usize>().ok()?;
                        (buf.len() >= end).then_some(end)
                    };
                    let end = loop {
                        if let Some(end) = whole(&buf) {
                            break end;
                        }
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    buf.drain(..end);
                    counted.fetch_add(1, Ordering::SeqCst);
                    if answered > 0 {
                        let _ = conn.set_zero_linger(); // closed with a reset, not a FIN
                        return;
                    }
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
                }
            });
        }
    });
    (requests, url)
}

#[tokio::test]
async fn a_request_on_a_pooled_connection_that_was_reset_goes_again_at_once_on_a_new_one() {
    // An attempt on a dead pooled connection failed "Connection reset by peer" in 0 ms;
    // for 90 s every attempt did, until the schedule ran out, though the receiver was up.
    let (requests, url) = receiver_resetting_reused_connections().await;
    let yaml = format!("topics: [T]\nrequest:\n  url: {url}/x\nretry:\n  schedule: [10m]\n");
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    app.wait_for_status("succeeded", 1).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {"n": 2} })).await.0, 202);
    let done = app.wait_for_status("succeeded", 2).await;
    assert_eq!(requests.load(Ordering::SeqCst), 3, "the second went on the pooled connection, then a new one");
    for d in &done {
        let (_, detail) = app.get(&format!("/v1/deliveries/{}", d["id"].as_str().unwrap())).await;
        assert_eq!(detail["attempts"].as_array().unwrap().len(), 1, "one attempt: {detail}");
    }
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_and_is_never_followed() {
    let receiver = Receiver::start().await;
    receiver.set_status(302);
    let yaml = format!("topics: [T]\nrequest:\n  url: {}/x\nretry:\n  schedule: []\n", receiver.url());
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["last_status_code"], 302);
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn an_https_url_is_sent_over_tls_and_a_failed_handshake_is_a_connection_failure() {
    // A plain-HTTP receiver answers the TLS handshake with garbage: the attempt fails
    // while connecting, and no HTTP request reaches it.
    let receiver = Receiver::start().await;
    let url = receiver.url().replace("http://", "https://");
    let yaml = format!("topics: [T]\nrequest:\n  url: {url}/x\nretry:\n  schedule: []\n");
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    let (_, detail) = app.get(&format!("/v1/deliveries/{}", failed[0]["id"].as_str().unwrap())).await;
    let error = detail["attempts"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.starts_with("connection failed"), "{detail}");
    // rustls's own words for an answer that is not TLS: the handshake was tried.
    assert!(error.contains("corrupt message"), "{error}");
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn url_userinfo_is_sent_as_basic_credentials_and_a_set_authorization_wins() {
    let receiver = Receiver::start().await;
    // A receiver that echoes the credentials it got: history must not keep them.
    receiver.set_body("you sent Basic aG9va0BvcHM6cDpzcw==, password p:ss");
    let with_userinfo = receiver.url().replace("http://", "http://hook%40ops:p%3Ass@");
    let yaml = |path: &str, headers: &str| format!("topics: [T]\nrequest:\n  url: {with_userinfo}/{path}\n{headers}");
    let (_ws, app) = app(&[
        ("userinfo.yaml", yaml("userinfo", "")),
        ("own.yaml", yaml("own", "  headers:\n    Authorization: Bearer own-token\n")),
    ])
    .await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    receiver.wait_for(2, WAIT).await;
    let userinfo = &receiver.requests_to("/userinfo")[0];
    // base64("hook@ops:p:ss"): the userinfo percent-decoded.
    assert_eq!(userinfo.header("authorization").as_deref(), Some("Basic aG9va0BvcHM6cDpzcw=="));
    let own = &receiver.requests_to("/own")[0];
    assert_eq!(own.header("authorization").as_deref(), Some("Bearer own-token"));
    for delivery in app.wait_for_status("succeeded", 2).await {
        let (_, detail) = app.get(&format!("/v1/deliveries/{}", delivery["id"].as_str().unwrap())).await;
        let answer = detail["attempts"][0]["response_body"].as_str().unwrap_or_default();
        assert_eq!(answer, "you sent Basic ***, password ***", "{detail}");
        // History shows the request as sent: its Authorization there, and never its value.
        let headers: Vec<(String, String)> = serde_json::from_value(detail["request"]["headers"].clone()).unwrap();
        let authorization: Vec<&str> =
            headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(authorization, ["***"], "{detail}");
    }
}

#[tokio::test]
async fn give_up_on_ends_the_delivery_at_once() {
    let receiver = Receiver::start().await;
    receiver.set_status(422);
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: {}/x\nretry:\n  schedule: [50ms, 50ms]\n  give_up_on: [400, 422]\n",
        receiver.url()
    );
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["attempts"], 1);
    assert!(failed[0]["last_error"].as_str().unwrap().contains("give_up_on"));
}

#[tokio::test]
async fn filters_and_topics_decide_which_subscriptions_get_an_event() {
    let receiver = Receiver::start().await;
    let big = format!(
        "topics: [\"Communication_Earn*\"]\nfilter: \"Points >= 100 and Customer.Email\"\nrequest:\n  url: {}/big\n",
        receiver.url()
    );
    let other = format!("topics: [Other]\nrequest:\n  url: {}/other\n", receiver.url());
    let off = format!("enabled: false\ntopics: [\"*\"]\nrequest:\n  url: {}/off\n", receiver.url());
    let (_ws, app) = app(&[("big.yaml", big), ("other.yaml", other), ("off.yaml", off)]).await;
    let small =
        json!({ "Topic": "Communication_EarnQuizPoints", "Payload": { "Points": 5, "Customer": { "Email": "a@b" } } });
    let no_email = json!({ "Topic": "Communication_EarnQuizPoints", "Payload": { "Points": 500, "Customer": {} } });
    let yes = json!({ "Topic": "Communication_EarnQuizPoints", "Payload": { "Points": 500, "Customer": { "Email": "a@b" } } });
    assert_eq!(app.post_event(&small).await.1["deliveries"], 0);
    assert_eq!(app.post_event(&no_email).await.1["deliveries"], 0);
    assert_eq!(app.post_event(&yes).await.1["deliveries"], 1);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/big");
    // Off by its file: neither enable nor disable can say another state.
    for action in ["enable", "disable"] {
        let (status, body) = app.post(&format!("/v1/subscriptions/off/{action}")).await;
        assert_eq!(status, 409, "{action}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("enabled: false")), "{body}");
    }
    assert_eq!(app.get("/v1/subscriptions/off").await.1["state"], "off");
}

#[tokio::test]
async fn shadow_mode_records_the_request_without_sending_it() {
    let receiver = Receiver::start().await;
    let yaml =
        format!("mode: shadow\ntopics: [T]\nrequest:\n  url: {}/x\n  body: {{ a: \"{{{{ A }}}}\" }}\n", receiver.url());
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "A": 1 } })).await.0, 202);
    let shadow = app.wait_for_status("shadow", 1).await;
    let (_, detail) = app.get(&format!("/v1/deliveries/{}", shadow[0]["id"].as_str().unwrap())).await;
    assert_eq!(detail["request"]["body"], r#"{"a":1}"#);
    // A resend is refused as every not-sendable one is: 409 with the outcome and why.
    let (status, resend) = app.post(&format!("/v1/deliveries/{}/retry", shadow[0]["id"].as_str().unwrap())).await;
    assert_eq!((status, resend["outcome"].as_str()), (409, Some("not_sendable")), "{resend}");
    assert!(resend["reason"].as_str().unwrap().contains("mode: shadow"), "{resend}");
    assert_eq!(resend["error"], resend["reason"], "{resend}");
    // Enable sends no ping either: the receiver may not know of it yet.
    let (status, enabled) = app.post("/v1/subscriptions/s/enable").await;
    assert_eq!(
        (status, enabled["ping_status"].clone(), enabled["state"].clone()),
        (200, json!(null), json!("enabled"))
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
}

#[tokio::test]
async fn custom_delimiters_let_a_body_contain_literal_braces() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        "topics: [\"Communication_*\"]\ndelimiters:\n  variable: [\"<<\", \">>\"]\n  block: [\"<%\", \"%>\"]\nrequest:\n  url: \"{}/c/<< Customer.Id >>\"\n  body:\n    greeting: \"Hi {{{{name}}}}, << Customer.Name >>\"\n    points: \"<< Points >>\"\n    tier: \"<% if Points > 100 %>gold<% else %>basic<% endif %>\"\n",
        receiver.url()
    );
    let (_ws, app) = app(&[("s.yaml", yaml)]).await;
    assert_eq!(app.post_event(&loyalty_event(&new_uuid(), "C-5")).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/c/C-5");
    assert_eq!(got[0].json(), json!({ "greeting": "Hi {{name}}, João da Silva", "points": 120, "tier": "gold" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_probed_one_delivery_at_a_time_and_nothing_is_lost() {
    let port = free_port();
    let ws = Workspace::new();
    let yaml = format!("topics: [T]\nrequest:\n  url: \"http://127.0.0.1:{port}/down\"\nretry:\n  schedule: [1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]\n");
    ws.subscription("down.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..200 {
        let (status, _) = app.post_event(&json!({ "Topic": "T", "Payload": { "N": n } })).await;
        assert_eq!(status, 202);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, page) = app.get("/v1/deliveries?limit=1000").await;
    let attempted: u64 = page["deliveries"].as_array().unwrap().iter().map(|d| d["attempts"].as_u64().unwrap()).sum();
    // Without the pause every delivery would have been tried at once, and retried each second.
    assert!(attempted < 50, "{attempted} attempts on a receiver that refuses connections");

    let receiver = Receiver::start_on(port).await;
    receiver.wait_for(200, Duration::from_secs(20)).await;
    app.wait_for_status("succeeded", 200).await;
}

/// Deliveries that waited in the node's queue past the time they may start (receivers
/// held every permit longer than that) go back to the store and are sent as soon as there
/// is room, not when their leases expire (35 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_queued_too_long_to_send_are_sent_without_waiting_for_their_lease() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("points.yaml", &POINTS.replace("RECEIVER", &receiver.url()));
    let mut config = ws.config();
    config.concurrency = 2;
    let app = TestApp::spawn(config).await;
    // Longer than a queued delivery may wait to start (4 s).
    receiver.set_delay_for("/points/slow", Duration::from_millis(5_500));
    let started = std::time::Instant::now();
    // Two hold both permits; the node's queue (twice the permits) takes the next ones,
    // which wait there past their time to start; the rest are stored due.
    let customers = ["slow-0", "slow-1", "C-2", "C-3", "C-4", "C-5"];
    for customer in customers {
        assert_eq!(app.post_event(&loyalty_event(&new_uuid(), customer)).await.0, 202);
    }
    let got = receiver.wait_for(customers.len(), Duration::from_secs(20)).await;
    assert!(started.elapsed() >= Duration::from_millis(5_500), "the slow ones held the permits");
    let mut paths: Vec<String> = got.into_iter().map(|r| r.path).collect();
    paths.sort();
    let mut expected: Vec<String> = customers.iter().map(|c| format!("/points/{c}")).collect();
    expected.sort();
    assert_eq!(paths, expected);
}
