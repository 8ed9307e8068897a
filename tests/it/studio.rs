//! The console's studio: `POST /console/studio/check` over real HTTP (problems with file and
//! line, renders and diffs, CSRF), and the page in a real Chromium (an error on its line as
//! one types, a body diff for a history event, downloads and copy holding the edited text,
//! the editors stacked at 390 px). The server's files never change.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::console::{browser, click, screenshot, text, until_text, WAIT};
use crate::helpers::*;

const TEMPLATE: &str = "{\n  \"id\": {{ Payload.Id }},\n  \"name\": {{ Payload.Name }}\n}\n";

/// A subscription with a body template and a signing secret written into the file.
fn studio_workspace(receiver: &Receiver) -> Workspace {
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        &format!(
            "description: Customers into the CRM\ntopics: [customer.updated]\nrequest:\n  url: \"{}/crm/{{{{ Payload.Id }}}}\"\n  headers:\n    X-Team: loyalty\n  body_template: crm/body.json.j2\nsignature:\n  scheme: hmac-sha256-hex\n  secret: crm-secret-value\nretry:\n  schedule: []\n",
            receiver.url()
        ),
    );
    ws.template("crm/body.json.j2", TEMPLATE);
    ws
}

/// Every file under the workspace's subscriptions and templates, with its bytes.
fn files(ws: &Workspace) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for dir in ["subscriptions", "templates/crm"] {
        for entry in std::fs::read_dir(ws.path().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}

/// The form token of an open console's page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn check(app: &TestApp, form: &[(&str, &str)]) -> (u16, String) {
    let resp = app.http.post(format!("{}/console/studio/check", app.base)).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_names_a_bad_template_by_file_and_line_and_renders_a_good_one_writing_nothing() {
    let receiver = Receiver::start().await;
    let ws = studio_workspace(&receiver);
    let before = files(&ws);
    let app = TestApp::spawn(ws.config()).await;
    let index = app.http.get(format!("{}/console/studio", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("href=\"/console/studio/crm\""), "the studio lists the loaded subscriptions");
    let page = app.http.get(format!("{}/console/studio/crm", app.base)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("secret: ${HIDDEN_SECRET}") && !html.contains("crm-secret-value"),
        "the file's secret is hidden"
    );
    assert!(html.contains("{{ Payload.Name }}"), "the template as written");
    let csrf = csrf_of(&html);
    let yaml = std::fs::read_to_string(ws.path().join("subscriptions/crm.yaml")).unwrap();
    let yaml = yaml.replace("crm-secret-value", "${HIDDEN_SECRET}");
    let base = [("csrf", csrf.as_str()), ("subscription", "crm"), ("yaml", yaml.as_str())];

    // An unknown filter in the template: its file and line, in the template's editor.
    let bad = TEMPLATE.replace("{{ Payload.Name }}", "{{ Payload.Name | no_such_filter }}");
    let (status, body) = check(&app, &[&base[..], &[("template", bad.as_str())]].concat()).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["valid"], false, "{answer}");
    let problem = &answer["problems"][0];
    assert_eq!(
        (problem["editor"].as_str(), problem["file"].as_str()),
        (Some("template"), Some("templates/crm/body.json.j2")),
        "{answer}"
    );
    assert_eq!(problem["line"], 3, "{problem}");
    assert!(problem["message"].as_str().unwrap().contains("no_such_filter"), "{problem}");

    // An unknown key in the file: its line, in the file's editor.
    let typo = yaml.replacen("topics:", "colour: blue\ntopics:", 1);
    let (_, body) = check(&app, &[("csrf", csrf.as_str()), ("subscription", "crm"), ("yaml", typo.as_str())]).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    let problem = &answer["problems"][0];
    assert_eq!((problem["editor"].as_str(), problem["file"].as_str()), (Some("yaml"), Some("subscriptions/crm.yaml")));
    assert_eq!(problem["line"], 2, "{problem}");
    assert!(problem["message"].as_str().unwrap().contains("colour"), "{problem}");
    assert_eq!(answer["diff"]["yaml"]["changed"], true);

    // A good edit, rendered against a pasted event: the request, and its body's change.
    let good = TEMPLATE.replace("\"name\"", "\"full_name\"");
    let event = r#"{"Topic": "customer.updated", "Payload": {"Id": 7, "Name": "Ana"}}"#;
    let form = [&base[..], &[("template", good.as_str()), ("events", "pasted"), ("event", event)]].concat();
    let (_, body) = check(&app, &form).await;
    assert!(!body.contains("crm-secret-value"), "no secret in the answer");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["diff"]["yaml"]["changed"], false, "the file as loaded");
    assert_eq!(answer["diff"]["template"]["changed"], true);
    let render = &answer["renders"][0];
    assert_eq!(render["loaded"]["url"], format!("{}/crm/7", receiver.url()));
    assert_eq!(render["edited"]["kind"], "request");
    let signature = render["edited"]["headers"].as_array().unwrap().iter().find(|h| h[0] == "X-Webhook-Signature");
    assert_eq!(signature.unwrap()[1], "***");
    assert_eq!(render["changes"]["any"], true);
    assert_eq!(render["changes"]["url"], Value::Null);
    let lines: Vec<String> = render["changes"]["body"]["hunks"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}{}", l["op"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert!(lines.contains(&"-  \"name\": \"Ana\"".to_string()), "{lines:?}");
    assert!(lines.contains(&"+  \"full_name\": \"Ana\"".to_string()), "{lines:?}");

    // A stored event by uuid, and the last ones the subscription received.
    let (status, accepted) =
        app.post_event(&json!({ "Topic": "customer.updated", "Payload": { "Id": 8, "Name": "Bia" } })).await;
    assert_eq!(status, 202);
    let uuid = accepted["uuid"].as_str().unwrap();
    let stored = [&base[..], &[("events", "stored"), ("uuid", uuid)]].concat();
    let answer: Value = serde_json::from_str(&check(&app, &stored).await.1).unwrap();
    assert_eq!(
        (answer["renders"][0]["uuid"].as_str(), answer["renders"][0]["stored"].as_bool()),
        (Some(uuid), Some(true))
    );
    assert_eq!(answer["renders"][0]["changes"]["any"], false, "the loaded files, unchanged");
    let recent = [&base[..], &[("events", "recent"), ("last", "5")]].concat();
    let answer: Value = serde_json::from_str(&check(&app, &recent).await.1).unwrap();
    assert_eq!(answer["renders"].as_array().unwrap().len(), 1, "{answer}");
    let missing = [&base[..], &[("events", "stored"), ("uuid", "00000000-0000-0000-0000-000000000000")]].concat();
    let answer: Value = serde_json::from_str(&check(&app, &missing).await.1).unwrap();
    assert!(answer["events_error"].as_str().unwrap().contains("no event"), "{answer}");

    // Without the form token: refused, as every console form.
    let (status, _) = check(&app, &[("subscription", "crm"), ("yaml", yaml.as_str())]).await;
    assert_eq!(status, 403);
    let (status, _) = check(&app, &[("csrf", csrf.as_str()), ("subscription", "nope"), ("yaml", "")]).await;
    assert_eq!(status, 404);
    assert_eq!(files(&ws), before, "the studio wrote nothing");
}

/// A textarea's value set as a person's edit would leave it (the page hears `input`).
async fn set_editor(c: &fantoccini::Client, id: &str, value: &str) {
    let script = "const a = document.getElementById(arguments[0]); a.value = arguments[1]; \
                  a.dispatchEvent(new Event('input', { bubbles: true }));";
    c.execute(script, vec![json!(id), json!(value)]).await.unwrap();
}

async fn value_of(c: &fantoccini::Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_edits_a_subscription_in_the_studio_and_takes_the_changed_files_away() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = studio_workspace(&receiver);
    let app = TestApp::spawn(ws.config()).await;
    let (status, accepted) =
        app.post_event(&json!({ "Topic": "customer.updated", "Payload": { "Id": 41, "Name": "Ana" } })).await;
    assert_eq!(status, 202);
    receiver.wait_for(1, WAIT).await;
    let before = files(&ws);

    // From the subscription's page; the last events it received render unchanged.
    c.goto(&format!("{}/console/subscriptions/crm", app.base)).await.unwrap();
    click(c, "#open-studio").await;
    until_text(c, "#studio-status", |s| s.contains("Valid. 1 event rendered, 0 changed")).await;
    let yaml: String =
        serde_json::from_value(value_of(c, "return document.getElementById('yaml').value;").await).unwrap();
    assert!(yaml.contains("secret: ${HIDDEN_SECRET}") && !c.source().await.unwrap().contains("crm-secret-value"));

    // A YAML mistake, typed: named on its line, and the editor marked invalid.
    let area = c.find(Locator::Css("#yaml")).await.unwrap();
    area.send_keys("colour: blue").await.unwrap();
    let line = yaml.lines().count() + 1;
    let problem = until_text(c, "#yaml-problems", |t| t.contains("colour")).await;
    assert!(problem.contains(&format!("subscriptions/crm.yaml:{line}")), "{problem}");
    assert!(problem.contains(&format!("Go to line {line}")), "{problem}");
    assert_eq!(value_of(c, "return document.getElementById('yaml').getAttribute('aria-invalid');").await, "true");
    click(c, "#yaml-problems button").await;
    let selected = value_of(
        c,
        "const a = document.getElementById('yaml'); return a.value.slice(a.selectionStart, a.selectionEnd);",
    )
    .await;
    assert_eq!(selected, "colour: blue", "Go to line selects the line");
    screenshot(c, "studio-error").await;
    set_editor(c, "yaml", &yaml).await;
    until_text(c, "#studio-status", |s| s.starts_with("Valid.")).await;

    // The body template changed: the history event's body diff, loaded against edited.
    let edited = TEMPLATE.replace("\"name\"", "\"full_name\"");
    set_editor(c, "template", &edited).await;
    until_text(c, "#studio-status", |s| s.contains("1 changed")).await;
    let render = text(c, "#render-0").await;
    assert!(render.contains(accepted["uuid"].as_str().unwrap()), "{render}");
    let body_diff = text(c, "#render-0 .body-diff").await;
    assert!(body_diff.contains("\"name\": \"Ana\"") && body_diff.contains("\"full_name\": \"Ana\""), "{body_diff}");
    assert!(text(c, "#template-diff").await.contains("full_name"));
    assert!(text(c, "#yaml-diff").await.contains("unchanged"));
    c.execute("document.getElementById('files-diff-title').scrollIntoView();", vec![]).await.unwrap();
    screenshot(c, "studio").await;

    // Download and copy hold the edited text exactly.
    let href = value_of(c, "return document.getElementById('download-template').getAttribute('href');").await;
    let data = href.as_str().unwrap().strip_prefix("data:text/plain;charset=utf-8,").unwrap();
    let downloaded: String = percent_encoding::percent_decode_str(data).decode_utf8().unwrap().into();
    assert_eq!(downloaded, edited);
    let name = value_of(c, "return document.getElementById('download-template').getAttribute('download');").await;
    assert_eq!(name, "body.json.j2");
    c.execute("window.copied = null; navigator.clipboard.writeText = (t) => { window.copied = t; return Promise.resolve(); };", vec![])
        .await
        .unwrap();
    click(c, "#copy-template").await;
    until_text(c, "#copy-template", |t| t == "Copied").await;
    assert_eq!(value_of(c, "return window.copied;").await, edited);

    // At 390 px the editors stack and nothing scrolls sideways.
    c.set_window_size(390, 900).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stacked = value_of(
        c,
        "const a = document.getElementById('yaml').getBoundingClientRect(), \
               b = document.getElementById('template').getBoundingClientRect(); return a.bottom <= b.top;",
    )
    .await;
    assert_eq!(stacked, true, "the template's editor under the file's");
    // The page's own part; the header's nav is the layout's (issue 25 item 5).
    let wide = value_of(
        c,
        "return Array.from(document.querySelectorAll('main *')).filter(e => e.getBoundingClientRect().right > 391) \
           .map(e => e.tagName + '#' + e.id + '.' + e.className);",
    )
    .await;
    assert_eq!(wide, json!([]), "nothing in the studio is wider than the screen");
    assert_eq!(files(&ws), before, "the studio wrote nothing");
    let _ = browser.client.clone().close().await;
}

#[tokio::test]
async fn a_default_that_is_the_secret_in_force_is_hidden_in_the_studio() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"${{HS_STUDIO_URL:-{}/d}}\"\nsignature:\n  scheme: hmac-sha256-hex\n  \
         secret: \"${{HS_STUDIO_UNSET_SECRET:-studio-dev-secret-1}}\"\n",
        receiver.url()
    );
    ws.subscription("dflt.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    let html = app.http.get(format!("{}/console/studio/dflt", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("studio-dev-secret-1"), "the secret in force, as a default:\n{html}");
    assert!(html.contains("${HS_STUDIO_UNSET_SECRET:-${HIDDEN_SECRET}}"), "{html}");
    let url_default = format!("${{HS_STUDIO_URL:-{}/d}}", receiver.url()).replace('/', "&#x2f;");
    assert!(html.contains(&url_default), "a URL's default stays: {html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_never_shows_a_value_from_the_servers_environment_whatever_the_edit() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"{}/v/${{STUDIO_PATH_TOKEN}}/{{{{ Payload.Id }}}}\"\n  headers:\n    Authorization: \"Bearer ${{STUDIO_API_TOKEN}}\"\n  body:\n    id: \"{{{{ Payload.Id }}}}\"\n",
        receiver.url()
    );
    ws.subscription("vault.yaml", &yaml);
    let (path_token, api_token) = ("path-token-8e1f3c", "api-token-5b2a9d");
    let envs = [("STUDIO_PATH_TOKEN", path_token), ("STUDIO_API_TOKEN", api_token)];
    let server = ServeProcess::in_workspace(&ws, free_port(), &[], &envs);
    server.ready().await;
    let http = reqwest::Client::new();
    // The server itself uses the values.
    let event = json!({ "Topic": "T", "Payload": { "Id": 5 } });
    http.post(format!("{}/v1/events", server.base)).json(&event).send().await.unwrap();
    let sent = receiver.wait_for(1, WAIT).await;
    assert!(sent[0].path.contains(path_token), "the loaded subscription has its variable");

    let html = http.get(format!("{}/console/studio/vault", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("${STUDIO_API_TOKEN}"), "the file as written");
    // An edit that tries to bring the values out through templates and filters.
    let leaky = yaml.replace(
        "    id: \"{{ Payload.Id }}\"\n",
        "    id: \"{{ Payload.Id }}\"\n    a: \"{{ '${STUDIO_API_TOKEN}' | upper }}\"\n    b: \"{{ '${STUDIO_PATH_TOKEN}' | base64 }}\"\n    c: \"${STUDIO_API_TOKEN}\"\n",
    );
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("subscription", "vault"),
        ("yaml", leaky.as_str()),
        ("events", "recent"),
        ("last", "5"),
    ];
    let resp = http.post(format!("{}/console/studio/check", server.base)).form(&form).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["renders"][0]["edited"]["kind"], "request", "{answer}");
    assert_eq!(answer["renders"][0]["changes"]["any"], true, "{answer}");
    let encoded = |t: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(t)
    };
    for secret in [path_token, api_token] {
        for form in [secret.to_string(), secret.to_uppercase(), encoded(secret)] {
            assert!(!body.contains(&form) && !html.contains(&form), "{form} reached the studio: {body}");
        }
    }
}

/// A draft's `tls:` may name any file on the server: the studio reads none of them (a FIFO
/// held the server, a huge file took its memory, and the errors told which files exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_reads_no_file_a_draft_names() {
    let receiver = Receiver::start().await;
    let ws = studio_workspace(&receiver);
    let fifo = ws.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let app = TestApp::spawn(ws.config()).await;
    let html = app.http.get(format!("{}/console/studio/crm", app.base)).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let yaml = std::fs::read_to_string(ws.path().join("subscriptions/crm.yaml")).unwrap();
    let yaml = yaml.replace("crm-secret-value", "${HIDDEN_SECRET}");
    for path in [fifo.display().to_string(), "/etc/passwd".into(), "/nonexistent/ca.pem".into()] {
        let draft = format!("{yaml}tls: {{ca: \"{path}\"}}\n");
        let form = [("csrf", csrf.as_str()), ("subscription", "crm"), ("yaml", draft.as_str())];
        let answer = tokio::time::timeout(Duration::from_secs(10), check(&app, &form)).await;
        let (status, body) = answer.unwrap_or_else(|_| panic!("the check of a draft naming {path} never answered"));
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["problems"], json!([]), "nothing is told of {path} (the draft is echoed as written): {body}");
    }
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "the server still answers");
}
