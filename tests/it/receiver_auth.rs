//! `auth:` on subscriptions against real servers on loopback: a CRM whose OAuth2 token
//! endpoint counts the tokens it issues and whose API demands a valid bearer token
//! (401 otherwise), and the test receiver for `basic` and `bearer`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use warp::Filter;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);
const CLIENT_ID: &str = "crm-client";
const CLIENT_SECRET: &str = "crm-secret-Zq81";

/// How the token endpoint answers.
#[derive(Clone, Copy, PartialEq)]
enum TokenMode {
    /// A JSON token that says it expires in this many seconds.
    Issue {
        expires_in: u64,
    },
    /// As `Issue`, each token this long in coming.
    Slow {
        expires_in: u64,
        delay: Duration,
    },
    Html,
    NoAccessToken,
    InvalidClient,
    Hang,
}

struct CrmState {
    mode: Mutex<TokenMode>,
    /// The `Authorization` and form body of every token request.
    token_requests: Mutex<Vec<(String, String)>>,
    /// Token → when issued; a token is accepted while younger than `valid_for`.
    issued: Mutex<HashMap<String, Instant>>,
    valid_for: Mutex<Duration>,
    /// (path, Authorization, X-Webhook-Attempt, answered) of every API request.
    api_requests: Mutex<Vec<(String, String, String, u16)>>,
    /// When each API request arrived, in the same order.
    api_times: Mutex<Vec<Instant>>,
}

/// A CRM on a port-0 listener: `POST /token` (client credentials, HTTP Basic) and an API
/// under every other path that echoes the `Authorization` it was given.
struct Crm {
    base: String,
    state: Arc<CrmState>,
}

impl Crm {
    async fn start(mode: TokenMode) -> Self {
        Self::start_at("127.0.0.1", mode).await
    }

    /// On another loopback address (Linux answers on all of 127.0.0.0/8).
    async fn start_at(ip: &str, mode: TokenMode) -> Self {
        let state = Arc::new(CrmState {
            mode: Mutex::new(mode),
            token_requests: Mutex::default(),
            issued: Mutex::default(),
            valid_for: Mutex::new(Duration::from_secs(3600)),
            api_requests: Mutex::default(),
            api_times: Mutex::default(),
        });
        let s = state.clone();
        let token = warp::path("token")
            .and(warp::post())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .then(move |authorization: Option<String>, body: bytes::Bytes| {
                let s = s.clone();
                async move { token_answer(&s, authorization.unwrap_or_default(), body).await }
            });
        let s = state.clone();
        let api = warp::path::full()
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("x-webhook-attempt"))
            .map(move |path: warp::path::FullPath, authorization: Option<String>, attempt: Option<String>| {
                let authorization = authorization.unwrap_or_default();
                let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
                let valid_for = *s.valid_for.lock().unwrap();
                let valid = s.issued.lock().unwrap().get(token).is_some_and(|at| at.elapsed() < valid_for);
                let code = if valid { 200 } else { 401 };
                let row = (path.as_str().to_string(), authorization.clone(), attempt.unwrap_or_default(), code);
                s.api_requests.lock().unwrap().push(row);
                s.api_times.lock().unwrap().push(Instant::now());
                let status = warp::http::StatusCode::from_u16(code).unwrap();
                warp::reply::with_status(format!("{{\"you_sent\":\"{authorization}\"}}"), status)
            });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(token.or(api)).incoming(listener).run());
        Self { base, state }
    }

    fn token_requests(&self) -> Vec<(String, String)> {
        self.state.token_requests.lock().unwrap().clone()
    }

    fn api_requests(&self) -> Vec<(String, String, String, u16)> {
        self.state.api_requests.lock().unwrap().clone()
    }

    /// The API refuses every token issued so far (as after a key rotation on its side).
    fn revoke_all(&self) {
        self.state.issued.lock().unwrap().clear();
    }

    /// A subscription of topic `topic` posting to `/api/{path}` with these credentials.
    fn subscription(&self, topic: &str, path: &str, extra: &str) -> String {
        format!(
            "topics: [{topic}]\nrequest:\n  url: {}/api/{path}\n  timeout: 2s\n  body: {{ n: \"{{{{ N }}}}\" }}\nretry:\n  schedule: [100ms]\nauth:\n  oauth2:\n    token_url: {}/token\n    client_id: {CLIENT_ID}\n    client_secret: ${{CRM_SECRET_UNSET:-{CLIENT_SECRET}}}\n    scope: contacts.write\n{extra}",
            self.base, self.base
        )
    }
}

async fn token_answer(s: &CrmState, authorization: String, body: bytes::Bytes) -> warp::reply::Response {
    use warp::Reply;
    s.token_requests.lock().unwrap().push((authorization.clone(), String::from_utf8_lossy(&body).into_owned()));
    let reply = |code: u16, body: String, kind: &str| {
        let status = warp::http::StatusCode::from_u16(code).unwrap();
        warp::reply::with_header(warp::reply::with_status(body, status), "content-type", kind).into_response()
    };
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    if authorization != format!("Basic {expected}") {
        return reply(401, json!({ "error": "invalid_client" }).to_string(), "application/json");
    }
    let mode = *s.mode.lock().unwrap();
    if let TokenMode::Slow { delay, .. } = mode {
        tokio::time::sleep(delay).await;
    }
    match mode {
        TokenMode::Issue { expires_in } | TokenMode::Slow { expires_in, .. } => {
            let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
            s.issued.lock().unwrap().insert(token.clone(), Instant::now());
            let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": expires_in });
            reply(200, body.to_string(), "application/json")
        }
        TokenMode::Html => reply(200, "<!DOCTYPE html><html><body>Sign in</body></html>".into(), "text/html"),
        TokenMode::NoAccessToken => reply(200, json!({ "token_type": "Bearer" }).to_string(), "application/json"),
        TokenMode::InvalidClient => {
            let body =
                json!({ "error": "invalid_client", "error_description": format!("secret {CLIENT_SECRET} revoked") });
            reply(400, body.to_string(), "application/json")
        }
        TokenMode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            reply(500, String::new(), "text/plain")
        }
    }
}

fn event(topic: &str, n: usize) -> serde_json::Value {
    json!({ "Topic": topic, "Payload": { "N": n } })
}

async fn detail(app: &TestApp, delivery: &serde_json::Value) -> serde_json::Value {
    app.get(&format!("/v1/deliveries/{}", delivery["id"].as_str().unwrap())).await.1
}

#[tokio::test]
async fn one_token_serves_many_deliveries_across_two_subscriptions_and_never_reaches_history() {
    let crm = Crm::start(TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", ""));
    ws.subscription("deals.yaml", &crm.subscription("T", "deals", ""));
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..10 {
        assert_eq!(app.post_event(&event("T", n)).await.0, 202);
    }
    let done = app.wait_for_status("succeeded", 20).await;
    let tokens = crm.token_requests();
    assert_eq!(tokens.len(), 1, "one token for both subscriptions: {tokens:?}");
    assert_eq!(tokens[0].1, "grant_type=client_credentials&scope=contacts.write");
    let api = crm.api_requests();
    assert_eq!(api.len(), 20, "no 401, no retry: {api:?}");
    assert!(api.iter().all(|(_, auth, _, code)| *code == 200 && auth.starts_with("Bearer tok-")), "{api:?}");
    let token = api[0].1.strip_prefix("Bearer ").unwrap().to_string();
    // The API echoed the token in its answer; history keeps it masked, and nowhere else.
    for d in &done {
        let detail = detail(&app, d).await;
        let text = detail.to_string();
        assert!(!text.contains(&token) && !text.contains(CLIENT_SECRET), "{text}");
        assert_eq!(detail["attempts"][0]["response_body"], r#"{"you_sent":"Bearer ***"}"#, "{detail}");
        // Which headers are secret, by name (the field was always empty).
        let sensitive = detail["request"]["sensitive"].as_array().cloned().unwrap_or_default();
        assert!(sensitive.contains(&json!("authorization")), "{detail}");
    }
    // The preview shows that the header is there, never its value.
    let body = json!({ "subscription": "deals", "event": event("T", 1) });
    let (status, answer) = app.post_raw("/v1/render", body.to_string(), None).await;
    assert_eq!(status, 200, "{answer}");
    let headers = answer["request"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["Authorization", "***"])), "{answer}");
}

#[tokio::test]
async fn a_token_is_renewed_ahead_of_its_expiry_without_a_refused_request() {
    // A 9 s token is renewed after 6 s: the delivery at ~6.5 s fetches a new one before
    // sending, so the API never sees the old one near its end.
    let crm = Crm::start(TokenMode::Issue { expires_in: 9 }).await;
    *crm.state.valid_for.lock().unwrap() = Duration::from_secs(9);
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", ""));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    app.wait_for_status("succeeded", 1).await;
    let first_fetch = Instant::now();
    assert_eq!(app.post_event(&event("T", 2)).await.0, 202);
    app.wait_for_status("succeeded", 2).await;
    assert_eq!(crm.token_requests().len(), 1, "the token is still fresh after under 6 s");
    tokio::time::sleep(Duration::from_millis(6500).saturating_sub(first_fetch.elapsed())).await;
    assert_eq!(app.post_event(&event("T", 3)).await.0, 202);
    app.wait_for_status("succeeded", 3).await;
    assert_eq!(crm.token_requests().len(), 2, "renewed ahead of expiry");
    let api = crm.api_requests();
    assert!(api.iter().all(|r| r.3 == 200), "never refused: {api:?}");
    assert_ne!(api[0].1, api[2].1, "the third delivery carried the new token");
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_the_resend_is_the_same_attempt() {
    let crm = Crm::start(TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", ""));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    app.wait_for_status("succeeded", 1).await;
    crm.revoke_all();
    assert_eq!(app.post_event(&event("T", 2)).await.0, 202);
    let done = app.wait_for_status("succeeded", 2).await;
    assert_eq!(crm.token_requests().len(), 2);
    let api = crm.api_requests();
    let codes: Vec<(u16, &str)> = api.iter().map(|r| (r.3, r.2.as_str())).collect();
    assert_eq!(codes, [(200, "1"), (401, "1"), (200, "1")], "refused, renewed, sent again as attempt 1");
    assert_ne!(api[1].1, api[2].1);
    for d in &done {
        let detail = detail(&app, d).await;
        assert_eq!(detail["attempts"].as_array().unwrap().len(), 1, "{detail}");
        assert_eq!(detail["attempts"][0]["status_code"], 200, "{detail}");
    }
    // A receiver that refuses every token: one renewal per attempt, then the 401 stands.
    *crm.state.valid_for.lock().unwrap() = Duration::ZERO;
    assert_eq!(app.post_event(&event("T", 3)).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    let detail = detail(&app, &failed[0]).await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "the schedule's one retry: {detail}");
    assert!(attempts.iter().all(|a| a["status_code"] == 401), "{detail}");
    assert_eq!(crm.token_requests().len(), 4, "one renewal per attempt");
    assert_eq!(crm.api_requests().len(), 3 + 4);
}

#[tokio::test]
async fn the_resend_after_a_401_waits_for_a_turn_of_the_rate_limit() {
    // The resend is one more request to the CRM: with one a second allowed, it went 45 ms
    // after the refused one.
    let crm = Crm::start(TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", "rate_limit: {requests: 1, per: 1s}\n"));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    app.wait_for_status("succeeded", 1).await;
    crm.revoke_all();
    assert_eq!(app.post_event(&event("T", 2)).await.0, 202);
    let done = app.wait_for_status("succeeded", 2).await;
    let codes: Vec<(u16, String)> = crm.api_requests().into_iter().map(|r| (r.3, r.2)).collect();
    assert_eq!(codes, [(200, "1".into()), (401, "1".into()), (200, "1".into())], "sent again within attempt 1");
    let times = crm.state.api_times.lock().unwrap().clone();
    for pair in times.windows(2) {
        let apart = pair[1].duration_since(pair[0]);
        assert!(apart >= Duration::from_millis(950), "two requests {apart:?} apart at one a second");
    }
    for d in &done {
        assert_eq!(detail(&app, d).await["attempts"].as_array().unwrap().len(), 1);
    }
}

/// Asserts that no window of one second held more than `per_second` of the CRM's API
/// requests (a few milliseconds of the receiver's own clock allowed).
fn assert_within_rate(crm: &Crm, per_second: usize) {
    let times = crm.state.api_times.lock().unwrap().clone();
    for (i, later) in times.iter().enumerate().skip(per_second) {
        let apart = later.duration_since(times[i - per_second]);
        assert!(apart >= Duration::from_millis(950), "{} requests within {apart:?}", per_second + 1);
    }
}

#[tokio::test]
async fn deliveries_that_waited_for_a_slow_token_still_go_one_turn_each() {
    // Every delivery that waited for the first token went when it came, on turns long
    // past: five requests within 770 ms at four a second.
    let crm = Crm::start(TokenMode::Slow { expires_in: 3600, delay: Duration::from_millis(1200) }).await;
    let ws = Workspace::new();
    let limit = "rate_limit: {requests: 4, per: 1s}\n";
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", limit).replace("timeout: 2s", "timeout: 5s"));
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..8 {
        assert_eq!(app.post_event(&event("T", n)).await.0, 202);
    }
    let done = app.wait_for_status("succeeded", 8).await;
    assert_eq!(crm.token_requests().len(), 1);
    assert_eq!(crm.api_requests().len(), 8, "each sent once: {:?}", crm.api_requests());
    assert_within_rate(&crm, 4);
    for d in &done {
        assert_eq!(detail(&app, d).await["attempts"].as_array().unwrap().len(), 1, "a lost turn is no attempt");
    }
}

#[tokio::test]
async fn the_ping_takes_a_turn_of_the_rate_limit_before_the_held_deliveries() {
    let crm = Crm::start(TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", "rate_limit: {requests: 1, per: 1s}\n"));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post("/v1/subscriptions/contacts/disable").await.0, 200);
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    app.wait_for_status("held", 1).await;
    assert_eq!(app.post("/v1/subscriptions/contacts/enable").await.0, 200);
    app.wait_for_status("succeeded", 1).await;
    assert_eq!(crm.api_requests().len(), 2, "the ping, then the delivery");
    assert_within_rate(&crm, 1);
}

#[tokio::test]
async fn token_endpoint_failures_are_recorded_on_the_delivery_and_retried() {
    let cases = [
        (TokenMode::Html, "token endpoint answered 200 with HTML, not a JSON object"),
        (TokenMode::NoAccessToken, "token endpoint answered 200 without an access_token"),
        (TokenMode::InvalidClient, "token endpoint answered 400: invalid_client"),
        (TokenMode::Hang, "token endpoint: timeout"),
    ];
    let ws = Workspace::new();
    let mut crms = Vec::new();
    for (i, (mode, _)) in cases.iter().enumerate() {
        let crm = Crm::start(*mode).await;
        ws.subscription(&format!("s{i}.yaml"), &crm.subscription(&format!("T{i}"), "x", ""));
        crms.push(crm);
    }
    let app = TestApp::spawn(ws.config()).await;
    for i in 0..cases.len() {
        assert_eq!(app.post_event(&event(&format!("T{i}"), i)).await.0, 202);
    }
    let failed = app.wait_for_status("failed", cases.len()).await;
    for (i, (_, expected)) in cases.iter().enumerate() {
        let d = failed.iter().find(|d| d["subscription"] == format!("s{i}")).unwrap();
        let detail = detail(&app, d).await;
        let attempts = detail["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "retried on the schedule: {detail}");
        for a in attempts {
            assert!(a["error"].as_str().unwrap().starts_with(expected), "{detail}");
            assert!(a["duration_ms"].as_i64().unwrap() < 5000, "within the 2 s timeout: {a}");
        }
        assert!(!detail.to_string().contains(CLIENT_SECRET), "{detail}");
        // Why it failed says what stopped it, not that the receiver never answered.
        let why = format!("attempt 2 ended without a response: {expected}");
        let reasons = detail["reasons"].as_array().unwrap();
        assert!(reasons.iter().any(|r| r["text"].as_str().unwrap().starts_with(&why)), "{detail}");
        assert_eq!(crms[i].token_requests().len(), 2);
        assert!(crms[i].api_requests().is_empty(), "nothing sent without a token");
    }
}

#[tokio::test]
async fn a_token_endpoint_the_egress_rules_refuse_is_never_asked_and_the_delivery_fails_at_once() {
    // The receiver is on 127.0.0.1, allowed; the token endpoint on 127.0.0.2, refused.
    let receiver = Receiver::start().await;
    let crm = Crm::start_at("127.0.0.2", TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    let yaml = crm.subscription("T", "x", "").replace(&format!("{}/api/x", crm.base), &format!("{}/x", receiver.url()));
    ws.subscription("s.yaml", &yaml);
    let mut config = ws.config();
    config.egress = hookshape::egress::EgressPolicy::new(true, vec!["127.0.0.1/32".parse().unwrap()]);
    let app = TestApp::spawn(config).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    let detail = detail(&app, &failed[0]).await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 1, "refused, not retried: {detail}");
    let error = detail["attempts"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("token endpoint: ") && error.contains("loopback"), "{detail}");
    assert!(crm.token_requests().is_empty() && receiver.requests().is_empty());
}

#[tokio::test]
async fn basic_and_bearer_credentials_are_sent_and_masked_where_echoed() {
    // Each receiver echoes the credentials it got: history must not keep them.
    let basic = Receiver::start().await;
    // Also in hex, as a receiver's debugging output might write the header it got.
    let hex_of_header = hex::encode("Basic b3BzLXVzZXI6cGE1NS13b3Jk");
    basic.set_body(&format!("got Basic b3BzLXVzZXI6cGE1NS13b3Jk (pa55-word) {hex_of_header}"));
    let bearer = Receiver::start().await;
    bearer.set_body("got Bearer bearer-T0ken-9");
    let ws = Workspace::new();
    let sub = |r: &Receiver, auth: &str| format!("topics: [T]\nrequest:\n  url: {}/x\nauth:\n{auth}", r.url());
    ws.subscription(
        "basic.yaml",
        &sub(&basic, "  basic: { username: ops-user, password: \"${PW_UNSET:-pa55-word}\" }\n"),
    );
    ws.subscription("bearer.yaml", &sub(&bearer, "  bearer: bearer-T0ken-9\n"));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);
    let auth = |r: &Receiver| r.requests()[0].header("authorization");
    basic.wait_for(1, WAIT).await;
    bearer.wait_for(1, WAIT).await;
    // base64("ops-user:pa55-word").
    assert_eq!(auth(&basic).as_deref(), Some("Basic b3BzLXVzZXI6cGE1NS13b3Jk"));
    assert_eq!(auth(&bearer).as_deref(), Some("Bearer bearer-T0ken-9"));
    for d in app.wait_for_status("succeeded", 2).await {
        let detail = detail(&app, &d).await;
        // hex("Basic ") stays: the scheme is no secret.
        let expected =
            if d["subscription"] == "basic" { "got Basic *** (***) 426173696320***" } else { "got Bearer ***" };
        assert_eq!(detail["attempts"][0]["response_body"], expected, "{detail}");
    }
    // `hookshape render`'s view: the header is listed, its value never.
    let body = json!({ "subscription": "bearer", "event": event("T", 1) });
    let (_, answer) = app.post_raw("/v1/render", body.to_string(), None).await;
    assert!(answer["request"]["headers"].as_array().unwrap().contains(&json!(["Authorization", "***"])), "{answer}");
    assert!(!answer.to_string().contains("bearer-T0ken-9"), "{answer}");
}

#[tokio::test]
async fn the_ping_before_an_enable_carries_the_token_too() {
    let crm = Crm::start(TokenMode::Issue { expires_in: 3600 }).await;
    let ws = Workspace::new();
    ws.subscription("contacts.yaml", &crm.subscription("T", "contacts", ""));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post("/v1/subscriptions/contacts/disable").await.0, 200);
    let (status, answer) = app.post("/v1/subscriptions/contacts/enable").await;
    assert_eq!(status, 200, "the API took the ping's token: {answer}");
    let api = crm.api_requests();
    assert_eq!(api.len(), 1, "{api:?}");
    assert!(api[0].1.starts_with("Bearer tok-") && api[0].3 == 200, "{api:?}");
    assert!(!answer.to_string().contains(api[0].1.trim_start_matches("Bearer ")), "{answer}");
}

#[test]
fn auth_mistakes_are_load_errors_naming_the_line() {
    let ws = Workspace::new();
    ws.subscription(
        "both.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  headers:\n    Authorization: Bearer x\nauth:\n  bearer: y-token\n",
    );
    ws.subscription(
        "url.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\nauth:\n  oauth2:\n    token_url: ftp://login/token\n    client_id: a\n    client_secret: b\n",
    );
    ws.subscription(
        "two.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\nauth:\n  bearer: t\n  basic: { username: u, password: p }\n",
    );
    ws.subscription(
        "templated.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\nauth:\n  oauth2:\n    token_url: \"http://127.0.0.1:9/t/{{ Id }}\"\n    client_id: a\n    client_secret: b\n",
    );
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("both.yaml:6: auth: sets the Authorization header"), "{stdout}");
    assert!(stdout.contains("templated.yaml:6: auth.oauth2.token_url: is not a template"), "{stdout}");
    assert!(stdout.contains("url.yaml:6: auth.oauth2.token_url: must be an http or https URL"), "{stdout}");
    assert!(stdout.contains("two.yaml:4: auth: set exactly one of basic, bearer and oauth2"), "{stdout}");
}
