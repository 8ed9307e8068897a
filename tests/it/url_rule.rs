//! The URL rule (docs/reference/subscription-file.md, Secrets): a URL's scheme, host, port and path show even when they
//! came from `${VAR}`; its userinfo and the values of query parameters that came from a
//! variable stay `***`; a `${secret:VAR}` is masked wherever it lands. Checked on the real
//! binary in history (API and console), `/v1/render`, `hookshape render` and `validate`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

/// A query value with characters that every encoding writes differently.
const QUERY_SECRET: &str = "k3y/v+ \"sécret\"";
/// The credential part of a chat webhook's path.
const PATH_SECRET: &str = "chat/T0K3N+\"pâth\"";
const PASSWORD: &str = "pa55w0rd-user";

/// The forms a receiver, a log or a page could write `secret` in: raw, percent-encoded
/// (either case), JSON-escaped, HTML-escaped, base64. Only the distinctive parts are
/// searched, so a form cut by escaping is still found.
fn forms(secret: &str, parts: &[&str]) -> Vec<String> {
    let mut forms: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    for part in parts {
        let upper = hookshape::percent::encode_component(part);
        forms.push(upper.to_ascii_lowercase());
        forms.push(upper);
        forms.push(serde_json::to_string(part).unwrap().trim_matches('"').to_string());
    }
    forms.push(base64::engine::general_purpose::STANDARD.encode(secret));
    forms.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    forms.retain(|f| f.len() >= 4);
    forms
}

fn assert_hidden(text: &str, what: &str) {
    let all = [
        forms(QUERY_SECRET, &["k3y/v", "sécret", "s\\u00e9cret", "&quot;sécret"]),
        forms(PATH_SECRET, &["T0K3N", "pâth", "p\\u00e2th", "chat/T0K3N"]),
        forms(PASSWORD, &[PASSWORD]),
    ];
    for form in all.iter().flatten() {
        assert!(!text.contains(form.as_str()), "{what} shows a secret as {form:?}: {text}");
    }
}

/// A page's text as a person reads it: the references the console's escaping writes decoded.
fn html_text(page: &str) -> String {
    [("&#x2f;", "/"), ("&#x27;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]
        .iter()
        .fold(page.to_string(), |text, (reference, c)| text.replace(reference, c))
}

struct Setup {
    ws: Workspace,
    receiver: Receiver,
    env: Vec<(&'static str, String)>,
}

/// `crm` takes its whole base URL, userinfo included, from one variable and an API key in
/// its query from another; `chat` takes its URL from a `${secret:…}`.
async fn setup() -> Setup {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        "topics: [T]\nrequest:\n  url: \"${HS_CRM_URL}/{{ Customer.Id }}/points?api_key=${HS_CRM_KEY}&plain=visible\"\n",
    );
    ws.subscription("chat.yaml", "topics: [T]\nrequest:\n  url: \"${secret:HS_CHAT_URL}\"\n");
    let host = receiver.url().trim_start_matches("http://").to_string();
    let env = vec![
        ("HS_CRM_URL", format!("http://crm-user:{PASSWORD}@{host}/customers")),
        ("HS_CRM_KEY", QUERY_SECRET.to_string()),
        ("HS_CHAT_URL", format!("http://{host}/services/{}", hookshape::percent::encode_component(PATH_SECRET))),
    ];
    Setup { ws, receiver, env }
}

impl Setup {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// Where `crm` delivers C-1007's points, as history shows it.
    fn crm_shown(&self) -> String {
        format!("http://***@{}/customers/C-1007/points?api_key=***&plain=visible", self.host())
    }

    fn host(&self) -> String {
        self.receiver.url().trim_start_matches("http://").to_string()
    }
}

/// `hookshape ARGS` on the workspace's files with `env` set: its exit code and what it printed.
fn cli(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = on_workspace_env(args[0], &args[1..], env, ws);
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn event() -> serde_json::Value {
    json!({ "Topic": "T", "Payload": { "Customer": { "Id": "C-1007" } } })
}

#[tokio::test]
async fn history_and_render_show_a_urls_host_and_path_and_hide_its_credentials_and_secret_variables() {
    let s = setup().await;
    let server = ServeProcess::in_workspace(&s.ws, free_port(), &[], &s.env());
    server.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", server.base)).json(&event()).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let got = s.receiver.wait_for(2, WAIT).await;
    let crm = got.iter().find(|r| r.path.starts_with("/customers/")).expect("crm's request");
    assert!(crm.path.starts_with("/customers/C-1007/points?api_key=k3y/v+"), "the real URL: {}", crm.path);
    assert!(got.iter().any(|r| r.path == format!("/services/{}", hookshape::percent::encode_component(PATH_SECRET))));

    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.unwrap().text().await.unwrap() }
    };
    let list: serde_json::Value = serde_json::from_str(&get(format!("{}/v1/deliveries", server.base)).await).unwrap();
    let rows = list["deliveries"].as_array().unwrap().clone();
    let row = |name: &str| rows.iter().find(|d| d["subscription"] == name).unwrap().clone();
    assert_eq!(row("crm")["url"], s.crm_shown(), "the list shows where it went");
    assert_eq!(row("chat")["url"], "***", "a ${{secret:…}} URL is masked whole");
    assert_hidden(&list.to_string(), "the deliveries list");
    for name in ["crm", "chat"] {
        let id = row(name)["id"].as_str().unwrap().to_string();
        let detail = get(format!("{}/v1/deliveries/{id}", server.base)).await;
        assert_hidden(&detail, "a delivery's history");
        let page = get(format!("{}/console/deliveries/{id}", server.base)).await;
        assert!(page.contains("<html") || page.contains("<!doctype"), "the console page: {page}");
        assert_hidden(&page, "the console's delivery page");
        assert_hidden(&html_text(&page), "the console's delivery page, as read");
        if name == "crm" {
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
            assert_eq!(detail["request"]["url"], s.crm_shown());
            assert!(html_text(&page).contains(&s.crm_shown()), "the console shows where it went: {page}");
        }
    }
    let page = get(format!("{}/console/deliveries", server.base)).await;
    assert!(html_text(&page).contains("/customers/C-1007/points"), "the console's list shows the path: {page}");
    assert_hidden(&page, "the console's deliveries list");

    for name in ["crm", "chat"] {
        let render = http
            .post(format!("{}/v1/render", server.base))
            .json(&json!({ "subscription": name, "event": event() }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if name == "crm" {
            assert!(render.contains(&s.crm_shown()), "{render}");
        }
        assert_hidden(&render, "/v1/render");
    }
    assert_hidden(&server.logs(), "the logs");
}

#[tokio::test]
async fn the_cli_shows_a_urls_host_and_path_and_hides_its_credentials_and_secret_variables() {
    let s = setup().await;
    s.ws.subscription(
        "crm.test.yaml",
        "cases:\n  - name: a case that expects another URL\n    event: { Topic: T, Payload: { Customer: { Id: C-1007 } } }\n    expect:\n      crm:\n        url: http://elsewhere.invalid/\n      chat:\n        url: http://elsewhere.invalid/\n",
    );
    let event_file = s.ws.path().join("event.json");
    std::fs::write(&event_file, event().to_string()).unwrap();
    let run = |args: &[&str]| cli(&s.ws, args, &s.env()).1;
    let event_arg = event_file.to_str().unwrap();
    let rendered = run(&["render", "--all", "--event", event_arg]);
    assert!(rendered.contains(&s.crm_shown()), "{rendered}");
    assert_hidden(&rendered, "hookshape render");

    let tested = run(&["test"]);
    assert!(tested.contains(&format!("got      {}", s.crm_shown())), "{tested}");
    assert!(tested.contains("got      ***"), "chat's URL is a secret: {tested}");
    assert_hidden(&tested, "hookshape test");
}

/// A receiver's answer naming the URL (an error page, an echo) keeps the host and path
/// readable, and the credentials out.
#[tokio::test]
async fn a_receivers_echo_of_the_url_shows_its_host_and_path_only() {
    let s = setup().await;
    s.receiver.set_status(500);
    s.receiver.set_body(&format!(
        "no route for http://crm-user:{PASSWORD}@{}/customers/C-1007/points?api_key={}",
        s.host(),
        hookshape::percent::encode_component(QUERY_SECRET),
    ));
    let server = ServeProcess::in_workspace(&s.ws, free_port(), &[], &s.env());
    server.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", server.base)).json(&event()).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let body = eventually(WAIT, "crm's first attempt to be recorded", || async {
        let list: serde_json::Value =
            http.get(format!("{}/v1/deliveries", server.base)).send().await.unwrap().json().await.unwrap();
        let rows = list["deliveries"].as_array()?.clone();
        let id = rows.iter().find(|d| d["subscription"] == "crm")?["id"].as_str()?.to_string();
        let detail: serde_json::Value =
            http.get(format!("{}/v1/deliveries/{id}", server.base)).send().await.unwrap().json().await.unwrap();
        detail["attempts"][0]["response_body"].as_str().map(str::to_string)
    })
    .await;
    assert!(body.contains(&format!("@{}/customers/C-1007/points", s.host())), "{body}");
    assert_hidden(&body, "a receiver's answer in history");
}

/// A value the URL would show that is a secret elsewhere in the subscription (the same key
/// sent as a header) is masked in the URL too.
#[tokio::test]
async fn a_path_value_that_is_also_a_secret_header_is_masked_in_the_url() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "k.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/keys/${{HS_SHARED_KEY}}/${{HS_SHOWN_SEGMENT}}\"\n  headers:\n    X-Api-Key: \"${{HS_SHARED_KEY}}\"\n",
            receiver.url()
        ),
    );
    let env = [("HS_SHARED_KEY", "shared-k3y-value"), ("HS_SHOWN_SEGMENT", "tenant-42")];
    let server = ServeProcess::in_workspace(&ws, free_port(), &[], &env);
    server.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", server.base)).json(&event()).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/keys/shared-k3y-value/tenant-42");
    let list: serde_json::Value =
        http.get(format!("{}/v1/deliveries", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["deliveries"][0]["url"], format!("{}/keys/***/tenant-42", receiver.url()));
}

/// A `${VAR}` value whose characters would move the URL's parts (an `@` in a password
/// sends the request to another host, with part of the password as its user) is refused
/// when the files load, without showing it; a short query value that came from a
/// variable is `***` where it stands.
#[tokio::test]
async fn a_value_that_would_move_the_urls_parts_is_a_load_error_and_a_short_query_value_is_masked() {
    let ws = Workspace::new();
    ws.subscription("pw.yaml", "topics: [T]\nrequest:\n  url: \"http://user:${HS_PW}@127.0.0.1:9/p?k=v\"\n");
    ws.subscription("q.yaml", "topics: [T]\nrequest:\n  url: \"http://127.0.0.1:9/p?k=${HS_QK}&z=1\"\n");
    let run = |args: &[&str], env: &[(&str, &str)]| cli(&ws, args, env);
    let (code, text) = run(&["validate"], &[("HS_PW", "Rp@ss/w0rd+x"), ("HS_QK", "qk v&al")]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("pw.yaml:3") && text.contains("'@'") && text.contains("%40"), "{text}");
    assert!(text.contains("q.yaml:3") && text.contains("'&'") && text.contains("%26"), "{text}");
    for part in ["Rp@ss", "w0rd", "qk v", "&al"] {
        assert!(!text.contains(part), "the error shows the value ({part}): {text}");
    }

    // Encoded as the error says, both load, and a short query value is hidden where it stands.
    let env = [("HS_PW", "Rp%40ss%2Fw0rd+x"), ("HS_QK", "qq")];
    let (code, text) = run(&["validate"], &env);
    assert_eq!(code, Some(0), "{text}");
    let event_file = ws.path().join("event.json");
    std::fs::write(&event_file, event().to_string()).unwrap();
    let (code, text) = run(&["render", "--all", "--event", event_file.to_str().unwrap()], &env);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("http://***@127.0.0.1:9/p?k=v"), "{text}");
    assert!(text.contains("http://127.0.0.1:9/p?k=***&z=1"), "{text}");
    assert!(!text.contains("w0rd") && !text.contains("k=qq"), "{text}");
}
