//! Sources for platforms that sign nothing (docs/reference/source-file.md): `verify.scheme: token`, the
//! secret in the URL (`/v1/sources/{name}/{token}` or `?token=`), and `basic`. Toolzz's seed
//! payload, posted as its documentation describes it (a URL, no header of its own), goes
//! through the shipped `sources/toolzz.yaml`; the token never shows in an answer, the
//! metrics or the real binary's log at its most verbose.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

/// A token with characters a URL must percent-encode.
const TOKEN: &str = "tz-T0k3n/é+x";

/// Toolzz's `payload8.json` as its documentation prints it (seeds/002): pretty-printed.
const TOOLZZ_PAYLOAD: &str = r#"{
  "event": {
    "name": "Membros - Edição de dados de usuário",
    "slug": "members.updated",
    "send_at": "2023-07-03 14:29:26",
    "acao": "atualização"
  },
  "data": {
    "user": {
      "id": 123456,
      "name": "Aluno",
      "email": "aluno@toolzz.com",
      "institution": [
        {
          "id": 12345,
          "schools": [
            {
              "id": 123456789,
              "role_id": 4,
              "created_at": "29/06/2022 15:14:10",
              "updated_at": "03/07/2023 14:29:04"
            }
          ]
        }
      ],
      "cpf": "123.456.789-99",
      "nickname": null,
      "uuid": null
    }
  }
}"#;

fn repo(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
}

fn encoded(token: &str) -> String {
    hookshape::percent::encode_component(token)
}

/// The forms the token could be written in: as given, percent-encoded, JSON-escaped, base64.
fn assert_no_token(text: &str, what: &str) {
    for form in ["tz-T0k3n", "T0k3n%2F", "T0k3n%2f", "\\u00e9+x", "é+x", "%C3%A9%2Bx", "%c3%a9%2bx"]
        .into_iter()
        .map(String::from)
        .chain([base64::engine::general_purpose::STANDARD.encode(TOKEN)])
    {
        assert!(!text.contains(&form), "{what} shows the token as {form:?}: {text}");
    }
}

async fn post(base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{base}{path}")).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The workspace's subscriptions, templates and `sources/` on the real binary, ready, with
/// these variables set.
async fn serve_workspace_sources(ws: &Workspace, envs: &[(&str, &str)]) -> ServeProcess {
    let store = format!("sqlite://{}", ws.db().display());
    let sources = ws.path().join("sources");
    let args = ["--sources", sources.to_str().unwrap()];
    let (subscriptions, templates) = (ws.path().join("subscriptions"), ws.path().join("templates"));
    let server = ServeProcess::start(free_port(), &store, &subscriptions, &templates, &args, envs);
    server.ready().await;
    server
}

/// The repository's subscriptions, templates and sources on the real binary, logging
/// everything it can, Toolzz's token and URL set.
fn serve_repo(receiver: &Receiver) -> ServeProcess {
    let store = format!("sqlite://{}", tempfile::tempdir().unwrap().keep().join("h.db").display());
    let sources = repo("sources");
    let toolzz_url = format!("{}/toolzz", receiver.url());
    let envs = [("TOOLZZ_TOKEN", TOKEN), ("TOOLZZ_URL", toolzz_url.as_str()), ("HOOKSHAPE_LOG", "trace")];
    let args = ["--sources", sources.to_str().unwrap()];
    ServeProcess::start(free_port(), &store, &repo("subscriptions"), &repo("templates"), &args, &envs)
}

#[tokio::test]
async fn toolzz_posting_its_seed_payload_to_a_url_with_the_token_is_accepted_and_a_wrong_token_is_401() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let json = [("Content-Type", "application/json")];

    let wrong = [
        "/v1/sources/toolzz".to_string(),
        "/v1/sources/toolzz/tz-T0k3n".to_string(),
        format!("/v1/sources/toolzz?token={}x", encoded(TOKEN)),
        "/v1/sources/toolzz?tok=x".to_string(),
    ];
    for path in &wrong {
        let (status, answer) = post(&server.base, path, &json, TOOLZZ_PAYLOAD).await;
        assert_eq!(status, 401, "{path}: {answer}");
        assert!(answer.contains("token"), "the answer says what is wrong: {answer}");
        assert_no_token(&answer, "a 401");
    }
    let history: Value = reqwest::get(format!("{}/v1/deliveries", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(history["deliveries"], serde_json::json!([]), "nothing was stored for a refused request");

    let (status, answer) =
        post(&server.base, &format!("/v1/sources/toolzz/{}", encoded(TOKEN)), &json, TOOLZZ_PAYLOAD).await;
    assert_eq!(status, 202, "the path form: {answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_no_token(&answer.to_string(), "a 202");
    let query = format!("/v1/sources/toolzz?token={}", encoded(TOKEN));
    let (status, again) = post(&server.base, &query, &[], TOOLZZ_PAYLOAD).await;
    assert_eq!(status, 200, "the query form, no header at all: the same webhook again is a duplicate: {again}");

    let uuid = answer["uuid"].as_str().unwrap();
    let event: Value = reqwest::get(format!("{}/v1/events/{uuid}", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(event["source"], "toolzz");
    assert_eq!(event["event"]["Topic"], "members.updated");
    assert_eq!(event["event"]["Date"], "2023-07-03T17:29:26Z", "Brasília time to UTC");
    assert_eq!(event["event"]["Payload"]["user"]["cpf"], "123.456.789-99");
    let sent = receiver.wait_for(1, WAIT).await;
    assert_eq!(sent[0].path, "/toolzz", "the event flows on to the toolzz subscription");
    assert_eq!(sent[0].json()["event"]["slug"], "members.updated");

    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("source=\"toolzz\""), "{metrics}");
    assert_no_token(&metrics, "/metrics");
    let events: Value =
        reqwest::get(format!("{}/v1/deliveries?source=toolzz", server.base)).await.unwrap().json().await.unwrap();
    assert_no_token(&events.to_string(), "history");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = server.logs();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "the log is at its most verbose: {logs}");
    assert_no_token(&logs, "the log at trace level");
}

#[tokio::test]
async fn a_token_in_the_path_of_a_source_that_takes_none_is_refused_without_repeating_it() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let (status, answer) = post(&server.base, &format!("/v1/sources/loyalty/{}", encoded(TOKEN)), &[], "{}").await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("takes no token in its path"), "{answer}");
    assert_no_token(&answer, "a 404");
}

#[tokio::test]
async fn basic_credentials_must_match_one_user_and_password() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(
        ws.path().join("sources/crm.yaml"),
        "verify:\n  scheme: basic\n  secrets: [\"${HS_BASIC_OLD}\", \"${HS_BASIC}\"]\nevent:\n  Topic: \"{{ type }}\"\n  Payload: \"{{ data }}\"\n",
    )
    .unwrap();
    let envs = [("HS_BASIC", "crm-platform:pa55-w0rd:x"), ("HS_BASIC_OLD", "crm-platform:old-pa55")];
    let server = serve_workspace_sources(&ws, &envs).await;
    let basic = |pair: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
    let body = r#"{"type":"contact.updated","data":{"id":7}}"#;
    for (authorization, want) in [
        (Some(basic("crm-platform:pa55-w0rd:x")), 202),
        (Some(basic("crm-platform:old-pa55")), 200),
        (Some(basic("crm-platform:pa55-w0rd")), 401),
        (Some(basic("someone:pa55-w0rd:x")), 401),
        (Some("Bearer pa55-w0rd:x".to_string()), 401),
        (None, 401),
    ] {
        let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("Authorization", a.as_str())).collect();
        let (status, answer) = post(&server.base, "/v1/sources/crm", &headers, body).await;
        assert_eq!(status, want, "{authorization:?}: {answer}");
        assert!(!answer.contains("pa55"), "{answer}");
    }
    assert!(!server.logs().contains("pa55"), "{}", server.logs());
}

#[tokio::test]
async fn a_mapping_that_reads_headers_sees_the_sources_own_secret_as_stars() {
    // The header that carries the secret itself went into the event as it came: shown by
    // the API, the console, an export, and sent on in every delivery.
    let ws = Workspace::new();
    let sources = ws.path().join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let mapping = "event:\n  Topic: \"{{ type }}\"\n  Payload: \"{{ {'h': headers, 'd': data} }}\"\n";
    let header = "verify:\n  scheme: header\n  header: X-Src-Secret\n  secrets: [\"${HS_SRC}\"]\n";
    std::fs::write(sources.join("hdr.yaml"), format!("{header}{mapping}")).unwrap();
    let basic = "verify:\n  scheme: basic\n  secrets: [\"${HS_BASIC}\"]\n";
    std::fs::write(sources.join("basic.yaml"), format!("{basic}{mapping}")).unwrap();
    let server = serve_workspace_sources(&ws, &[("HS_SRC", "srcHdrL1xy"), ("HS_BASIC", "srcuser:srcPassJ0")]).await;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("srcuser:srcPassJ0"));
    for (path, header, value) in
        [("/v1/sources/hdr", "X-Src-Secret", "srcHdrL1xy"), ("/v1/sources/basic", "Authorization", basic.as_str())]
    {
        let body = format!(r#"{{"type":"t","data":{{"via":"{path}"}}}}"#);
        let copied = [(header, value), ("X-Other", "kept"), ("X-Copy", "copy of srcHdrL1xy")];
        let (status, answer) = post(&server.base, path, &copied, &body).await;
        assert_eq!(status, 202, "{answer}");
        let uuid = serde_json::from_str::<serde_json::Value>(&answer).unwrap()["uuid"].as_str().unwrap().to_string();
        let event = reqwest::get(format!("{}/v1/events/{uuid}", server.base)).await.unwrap().text().await.unwrap();
        let event: serde_json::Value = serde_json::from_str(&event).unwrap();
        let seen = &event["event"]["Payload"]["h"];
        assert_eq!(seen[header.to_ascii_lowercase()], "***", "{event}");
        assert_eq!(seen["x-other"], "kept", "other headers stay: {event}");
        if path == "/v1/sources/hdr" {
            assert_eq!(seen["x-copy"], "copy of ***", "the secret in another header: {event}");
        }
        assert!(!event.to_string().contains(value) && !event.to_string().contains("srcPassJ0"), "{event}");
    }
}

#[test]
fn a_token_or_basic_source_with_a_header_or_a_basic_secret_without_a_colon_is_a_load_error() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let event = "event:\n  Topic: \"{{ t }}\"\n  Payload: \"{{ d }}\"\n";
    let write = |file: &str, verify: &str| {
        std::fs::write(ws.path().join("sources").join(file), format!("verify:\n{verify}{event}")).unwrap()
    };
    write("b.yaml", "  scheme: basic\n  secrets: [no-colon-here]\n");
    write("t.yaml", "  scheme: token\n  header: X-Token\n  secrets: [abcdef]\n");
    let out = on_workspace("validate", &ws);
    assert_one_line_per_mistake(
        &out,
        &[("b.yaml:3:", "a basic secret is user:password"), ("t.yaml:3:", "verify.header: this scheme reads the URL")],
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("no-colon-here"), "the secret is not repeated: {printed}");
}
