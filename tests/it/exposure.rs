//! What hookshape exposes: without tokens it answers only this machine's names and pages;
//! secrets never reach history, render output, errors, /readyz, validate or logs in any
//! encoding; deliveries connect only where the egress policy allows.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn without_tokens_only_this_machine_and_its_own_pages_are_served() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = TestApp::spawn(ws.config()).await;
    let send = |method: reqwest::Method, path: &str, headers: &[(&str, &str)]| {
        let mut req = app.http.request(method, format!("{}{path}", app.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let (status, body) = send(reqwest::Method::GET, "/healthz", &[("Host", "evil.example")]).await;
    assert_eq!(status, 421, "{body}");
    assert!(body["error"].as_str().unwrap().contains("evil.example"), "{body}");
    assert_eq!(send(reqwest::Method::GET, "/healthz", &[("Host", "localhost:8080")]).await.0, 200);

    let foreign = [("Origin", "https://evil.example")];
    let (status, body) = send(reqwest::Method::POST, "/v1/subscriptions/s/disable", &foreign).await;
    assert_eq!(status, 421, "{body}");
    assert_eq!(app.get("/v1/subscriptions/s").await.1["state"], "enabled", "nothing changed");
    let (status, _) = send(reqwest::Method::GET, "/v1/subscriptions/s", &foreign).await;
    assert_eq!(status, 200, "a foreign page may not change anything, reading is harmless (no CORS)");

    let resp = app
        .http
        .post(format!("{}/v1/events", app.base))
        .header("Content-Type", "text/plain")
        .body(json!({ "Topic": "T", "Payload": {} }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let (_, page) = app.get("/v1/deliveries").await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 0, "nothing was stored: {page}");
}

#[tokio::test]
async fn with_tokens_other_names_are_served() {
    let ws = Workspace::new();
    let app = TestApp::spawn(with_tokens(ws.config(), "in", "ad")).await;
    let resp = app.http.get(format!("{}/healthz", app.base)).header("Host", "hookshape.internal").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// A secret with characters that every encoding writes differently.
const SECRET: &str = "tok/en+ \"sécret\"&x=1";

fn assert_no_secret(text: &str, what: &str) {
    let forms = [
        "sécret".to_string(),
        "s%C3%A9cret".into(),
        "s%c3%a9cret".into(),
        "s\\u00e9cret".into(),
        "tok/en".into(),
        "tok%2Fen".into(),
        "tok%2fen".into(),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
    ];
    for form in forms {
        assert!(!text.contains(&form), "{what} shows the secret as {form:?}: {text}");
    }
}

#[tokio::test]
async fn an_injected_secret_never_shows_in_history_render_readyz_validate_or_logs() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/hook?k=${{HS_EXPOSURE_QUERY}}\"\n  body: {{ token: \"${{HS_EXPOSURE_SECRET}}\", id: \"{{{{ Id }}}}\" }}\nsignature:\n  scheme: hmac-sha256-hex\n  secret: \"${{HS_EXPOSURE_SECRET}}\"\n",
            receiver.url()
        ),
    );
    // In the URL's query the secret is percent-encoded, as a value holding '&' must be there.
    let query = hookshape::percent::encode_component(SECRET);
    let env = [("HS_EXPOSURE_SECRET", SECRET), ("HS_EXPOSURE_QUERY", query.as_str())];
    let server = ServeProcess::in_workspace(&ws, free_port(), &[], &env);
    server.ready().await;
    // A receiver echoing the secret in hex, and in the base64 of a Basic credential built
    // around it, as its own debugging output might.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{SECRET}"));
    receiver.set_body(&format!("echo: {} {basic}", hex::encode_upper(SECRET)));
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.unwrap().text().await.unwrap() }
    };
    let resp = http
        .post(format!("{}/v1/events", server.base))
        .header("Content-Type", "application/json")
        .body(json!({ "Topic": "T", "Payload": { "Id": 1 } }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert!(String::from_utf8_lossy(&got[0].body).contains("sécret"), "the receiver gets the real value");

    let list: serde_json::Value = serde_json::from_str(&get(format!("{}/v1/deliveries", server.base)).await).unwrap();
    let id = list["deliveries"][0]["id"].as_str().unwrap().to_string();
    let detail = eventually(WAIT, "the attempt's answer to be recorded", || {
        let path = format!("{}/v1/deliveries/{id}", server.base);
        async move { Some(get(path).await).filter(|d| d.contains("echo: ")) }
    })
    .await;
    assert!(detail.contains("***"), "{detail}");
    assert_no_secret(&detail, "the delivery's history");
    // Eight characters in a row of either, made of the secret's bits alone, would show it
    // (the base64's first 8 characters hold "user:", its last 2 the padding).
    let hex = hex::encode_upper(SECRET);
    for (form, own) in [("hex", &hex[..]), ("base64 of user:secret", &basic[8..basic.len() - 3])] {
        let leaked = (0..=own.len() - 8).map(|i| &own[i..i + 8]).find(|w| detail.contains(*w));
        assert!(leaked.is_none(), "the history shows the secret's {form} ({leaked:?}): {detail}");
    }

    let render = http
        .post(format!("{}/v1/render", server.base))
        .header("Content-Type", "application/json")
        .body(json!({ "subscription": "s", "event": { "Topic": "T", "Payload": { "Id": 1 } } }).to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_no_secret(&render, "/v1/render");

    // A broken change that puts the secret into an error message: the URL itself.
    ws.subscription("broken.yaml", "topics: [T]\nrequest:\n  url: \"${HS_EXPOSURE_SECRET}\"\n");
    let readyz = eventually(WAIT, "the reload to be refused", || async {
        let r = get(format!("{}/readyz", server.base)).await;
        r.contains("broken.yaml").then_some(r)
    })
    .await;
    assert!(readyz.contains(r#"url \"***\""#), "the error names the field, the value masked: {readyz}");
    assert_no_secret(&readyz, "/readyz");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.logs().contains("broken.yaml"), "the refusal is logged: {}", server.logs());
    assert_no_secret(&server.logs(), "the logs");

    let validate = hookshape()
        .arg("validate")
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .arg("--templates")
        .arg(ws.path().join("templates"))
        .envs(env)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&validate.stdout);
    assert!(printed.contains("broken.yaml") && printed.contains("***"), "{printed}");
    assert_no_secret(&printed, "validate");
}

/// PRODUCT.md lists signature secrets among the secrets whether or not they come from
/// `${VAR}`: one written into the file as it is stays out of history too, and so do
/// `Authorization` credentials, which history already shows as `***`.
#[tokio::test]
async fn a_signature_secret_or_credentials_written_into_the_file_are_masked_in_history() {
    let receiver = Receiver::start().await;
    receiver.set_body("echo: literal-signing-key, token literal-bearer-token");
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: {}/hook\n  headers:\n    Authorization: Bearer literal-bearer-token\nsignature:\n  scheme: hmac-sha256-hex\n  secret: literal-signing-key\n",
        receiver.url()
    );
    ws.subscription("s.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    receiver.wait_for(1, WAIT).await;
    let (_, list) = app.get("/v1/deliveries").await;
    let id = list["deliveries"][0]["id"].as_str().unwrap().to_string();
    let detail = eventually(WAIT, "the attempt to be recorded", || async {
        let (_, d) = app.get(&format!("/v1/deliveries/{id}")).await;
        (d["attempts"].as_array().is_some_and(|a| !a.is_empty())).then_some(d)
    })
    .await;
    let text = detail.to_string();
    assert!(text.contains("echo: ***, token ***"), "{text}");
    assert!(!text.contains("literal-signing-key") && !text.contains("literal-bearer-token"), "{text}");
    assert_eq!(
        receiver.wait_for(1, WAIT).await[0].header("authorization").as_deref(),
        Some("Bearer literal-bearer-token")
    );
}

#[tokio::test]
async fn deny_private_networks_refuses_loopback_at_once_and_egress_allow_lets_it_through() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let port = receiver.addr.port();
    ws.subscription("ip.yaml", &format!("topics: [T]\nrequest:\n  url: {}/ip\n", receiver.url()));
    ws.subscription("name.yaml", &format!("topics: [T]\nrequest:\n  url: http://localhost:{port}/name\n"));
    let post = |base: String| async move {
        let resp = reqwest::Client::new()
            .post(format!("{base}/v1/events"))
            .header("Content-Type", "application/json")
            .body(json!({ "Topic": "T", "Payload": {} }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
    };

    let denied = ServeProcess::in_workspace(&ws, free_port(), &["--deny-private-networks"], &[]);
    denied.ready().await;
    post(denied.base.clone()).await;
    let failed = eventually(WAIT, "both deliveries to fail", || async {
        let page: serde_json::Value =
            reqwest::get(format!("{}/v1/deliveries?status=failed", denied.base)).await.unwrap().json().await.unwrap();
        let list = page["deliveries"].as_array().cloned().unwrap_or_default();
        (list.len() == 2).then_some(list)
    })
    .await;
    for d in &failed {
        let error = d["last_error"].as_str().unwrap();
        assert!(error.contains("loopback") && error.contains("--deny-private-networks"), "{error}");
        assert_eq!(d["attempts"], 1, "refused at once, not retried: {d}");
    }
    assert!(receiver.requests().is_empty(), "the receiver saw nothing");
    drop(denied);

    let ws2 = Workspace::new();
    for f in ["ip.yaml", "name.yaml"] {
        std::fs::copy(ws.path().join("subscriptions").join(f), ws2.path().join("subscriptions").join(f)).unwrap();
    }
    let args = ["--deny-private-networks", "--egress-allow", "127.0.0.0/8", "--egress-allow", "::1/128"];
    let allowed = ServeProcess::in_workspace(&ws2, free_port(), &args, &[]);
    allowed.ready().await;
    post(allowed.base.clone()).await;
    let got = receiver.wait_for(2, WAIT).await;
    let mut paths: Vec<_> = got.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/ip", "/name"]);
}

/// The first attempt of a delivery not in `seen` once one is recorded, with its delivery's id.
async fn new_attempt(app: &TestApp, seen: &[String]) -> (String, serde_json::Value) {
    eventually(WAIT, "a new attempt to be recorded", || async {
        let (_, list) = app.get("/v1/deliveries").await;
        for d in list["deliveries"].as_array()? {
            let id = d["id"].as_str()?.to_string();
            if seen.contains(&id) {
                continue;
            }
            let (_, detail) = app.get(&format!("/v1/deliveries/{id}")).await;
            if let Some(attempt) = detail["attempts"].as_array().and_then(|a| a.first().cloned()) {
                return Some((id, attempt));
            }
        }
        None
    })
    .await
}

/// PRODUCT.md "Edges": secrets stay out of history in any encoding a receiver might echo
/// them in: PHP's `json_encode` (`\/`, `\uXXXX`) and HTML references, mixed as they come.
#[tokio::test]
async fn a_secret_echoed_with_the_receivers_own_escaping_is_masked_in_history() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    // A base64 key, as PHP apps store them: json_encode writes its `/` as `\/`.
    let secret = "c2lnbmluZy1rZXk/dGVzdA+QUJD\"é&=";
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: {}/hook\nsignature:\n  scheme: hmac-sha256-hex\n  secret: '{secret}'\n",
        receiver.url()
    );
    ws.subscription("s.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    let echoes = [
        r#"{"key":"c2lnbmluZy1rZXk\/dGVzdA+QUJD\"\u00e9&="}"#.to_string(),
        r#"{"key":"\u0063\u0032lnbmluZy1rZXk\u002fdGVzdA\u002BQUJD\u0022\u00E9\u0026\u003d"}"#.to_string(),
        "<p>c2lnbmluZy1rZXk&#x2F;dGVzdA&#43;QUJD&quot;&eacute;&amp;&#61;</p>".replace("&eacute;", "é"),
        "<p>c2lnbmluZy1rZXk&#47;dGVzdA+QUJD&#34;é&amp;amp;=</p>".to_string(),
        // Percent-encoded with lower-case hex, as some encoders write it.
        format!(
            "key={}",
            secret
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02x}") })
                .collect::<String>()
        ),
        // Echoed across the 16 KiB kept of an answer: its first six characters before the cut.
        format!("{}{secret}{}", "A".repeat(16 * 1024 - 6), "B".repeat(100)),
    ];
    let mut seen = Vec::new();
    for (n, echo) in echoes.iter().enumerate() {
        receiver.set_body(echo);
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "n": n } })).await.0, 202);
        let (id, attempt) = new_attempt(&app, &seen).await;
        seen.push(id);
        let body = attempt["response_body"].as_str().unwrap_or_default();
        assert!(body.contains("***"), "echo {n} masked: {attempt}");
        for part in ["c2lnbm", "dGVzdA", "QUJD"] {
            assert!(!body.contains(part), "echo {n} shows the secret: {body}");
        }
    }
    // An answer kept whole is not touched at its end, though it ends as the secret's hex
    // form begins (6332…): only a cut can leave a secret's beginning behind.
    receiver.set_body("count 6332");
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "n": "whole" } })).await.0, 202);
    let (_, attempt) = new_attempt(&app, &seen).await;
    assert_eq!(attempt["response_body"], "count 6332", "{attempt}");
}

/// PRODUCT.md "Edges": a `${VAR}` value is data, never template code: `{{`, `{%` and `}}`
/// in it arrive as those characters, in the URL, a header and the body, and stay masked.
#[tokio::test]
async fn a_variable_holding_template_markup_arrives_as_written_and_masked() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/hook/${{HS_PATH_VALUE}}\"\n  headers:\n    X-Value: \"${{HS_MARKUP_VALUE}}\"\n  body: {{ v: \"${{HS_MARKUP_VALUE}}\", n: \"{{{{ N }}}}\" }}\n",
            receiver.url()
        ),
    );
    // Rendered on its own (`{{ Topic }}`) and unbalanced (`{% 50%`, which broke the file).
    let markup = "{{ Topic }}-x {% if true %}y{% endif %} }} {% 50%";
    let env = [("HS_PATH_VALUE", "{{Topic}}-p"), ("HS_MARKUP_VALUE", markup)];
    let server = ServeProcess::in_workspace(&ws, free_port(), &[], &env);
    server.ready().await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/v1/events", server.base))
        .header("Content-Type", "application/json")
        .body(json!({ "Topic": "T", "Payload": { "N": 1 } }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/hook/%7B%7BTopic%7D%7D-p", "not rendered to /hook/T-p");
    assert_eq!(got[0].header("x-value").as_deref(), Some(markup));
    assert_eq!(got[0].json(), json!({ "v": markup, "n": 1 }));

    let list: serde_json::Value =
        http.get(format!("{}/v1/deliveries", server.base)).send().await.unwrap().json().await.unwrap();
    let id = list["deliveries"][0]["id"].as_str().unwrap();
    let detail = http.get(format!("{}/v1/deliveries/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    for shown in ["Topic", "-x", "T-p", "if true"] {
        assert!(!detail.contains(shown), "history shows the value ({shown}): {detail}");
    }
}

/// A default in force (`${VAR:-value}` with VAR unset) is the secret's value: the
/// subscription's own views (the API's `url`, the console's request line) show it masked,
/// as its file and its history do.
#[tokio::test]
async fn a_default_in_force_in_a_url_is_masked_in_the_subscription_views() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: \"http://127.0.0.1:9/c/{{ Id }}?k=${secret:HS_NEVER_SET_Q:-querysecretvalue}&p=${HS_NEVER_SET_P:-plainsecretvalue}\"\n",
    );
    let app = TestApp::spawn(ws.config()).await;
    let (status, one) = app.get("/v1/subscriptions/s").await;
    assert_eq!(status, 200, "{one}");
    let url = one["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:9/c/{{ Id }}?k="), "the URL as the file writes it: {url}");
    let (_, all) = app.get("/v1/subscriptions").await;
    let page = app.http.get(format!("{}/console/subscriptions/s", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for (what, text) in [
        ("GET /v1/subscriptions/s", one.to_string()),
        ("GET /v1/subscriptions", all.to_string()),
        ("the console", page),
    ] {
        assert!(
            !text.contains("querysecretvalue") && !text.contains("plainsecretvalue"),
            "{what} shows a default in force: {text}"
        );
    }
}

/// The subscriptions page names the directory `serve` was given, not always `subscriptions/`.
#[tokio::test]
async fn the_subscriptions_page_names_the_directory_it_loaded() {
    let ws = Workspace::new();
    let dir = ws.path().join("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.yaml"), "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n").unwrap();
    let mut config = ws.config();
    config.subscriptions_dir = dir.clone();
    let app = TestApp::spawn(config).await;
    let page = app.http.get(format!("{}/console/subscriptions", app.base)).send().await.unwrap().text().await.unwrap();
    // minijinja escapes `/` in HTML as `&#x2f;`.
    let shown = dir.display().to_string().replace('/', "&#x2f;");
    assert!(page.contains(&format!("loaded from <code>{shown}/</code>")), "{page}");
}
