//! The command line, run as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::*;

#[test]
fn refuses_to_listen_beyond_loopback_without_tokens() {
    let ws = Workspace::new();
    let out = hookshape()
        .args(["serve", "--listen", "0.0.0.0:0", "--subscriptions"])
        .arg(ws.path().join("subscriptions"))
        .env_remove("HOOKSHAPE_INTAKE_TOKEN")
        .env_remove("HOOKSHAPE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKSHAPE_INTAKE_TOKEN"));
}

#[test]
fn validate_reports_every_problem_with_file_and_line() {
    let ws = Workspace::new();
    ws.subscription("ok.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n");
    ws.subscription("typo.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  methd: POST\n");
    ws.subscription("host.yaml", "topics: [T]\nrequest:\n  url: \"https://{{ Host }}/x\"\n");
    ws.subscription("dur.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  timeout: 30\n");
    // A byte order mark (as Windows editors write one) is no mistake: read as text it stood
    // before the first key, and `topics` went missing.
    ws.subscription("bom.yaml", "\u{feff}topics: [T]\nrequest:\n  url: http://h/x\n");
    ws.subscription("indent.yaml", "topics: [T]\nrequest:\n  method: POST\n url: http://h/x\n");
    ws.subscription("unquoted.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body:\n    points: {{ Points }}\n");
    ws.subscription("give.yaml", "topics: [T]\nrequest:\n  url: http://h/x\nretry:\n  give_up_on: [422, 200]\n");
    ws.subscription("tmpl.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body:\n    a: \"{{ unclosed\"\n");
    ws.subscription("filt.yaml", "topics: [T]\nrequest:\n  url: \"http://h/{{ Id | slugify }}\"\n");
    ws.subscription("glob.yaml", "topics: [\"Topic?\"]\nrequest:\n  url: http://h/x\n");
    ws.subscription("nofile.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  body_template: missing.json.j2\n");
    ws.subscription("zdup.yaml", "name: ok\ntopics: [T]\nrequest:\n  url: http://h/x\n");
    ws.subscription("cmp.yaml", "topics: [T]\nfilter: \"Points | nope >= 100\"\nrequest:\n  url: http://h/x\n");
    // Names in branches an empty event does not take: minijinja looks them up only there.
    let branch = "  body:\n    a: \"{% if Vip %}{{ Name | uppr }}{% endif %}\"\n";
    ws.subscription("branch.yaml", &format!("topics: [T]\nrequest:\n  url: http://h/x\n{branch}"));
    ws.subscription(
        "short.yaml",
        "topics: [T]\nfilter: \"Points >= 1 and Name | nope2\"\nrequest:\n  url: http://h/x\n",
    );
    ws.subscription("evn.yaml", "topics: [T]\nrequest:\n  url: \"http://h/{% if Points is evn %}a{% endif %}\"\n");
    let out = on_workspace("validate", &ws);
    let expect = [
        ("branch.yaml:5:", "request.body.a: unknown filter: filter uppr is unknown"),
        // Shown as written, not as the checked call comparisons become inside.
        ("cmp.yaml:2:", "unknown filter: filter nope is unknown: `Points | nope >= 100`"),
        ("dur.yaml:4:", "invalid duration"),
        ("evn.yaml:3:", "unknown test: test evn is unknown"),
        ("filt.yaml:3:", "unknown filter"),
        ("give.yaml:5:", "retry.give_up_on: 200 is a success"),
        ("glob.yaml:1:", "only * is a wildcard"),
        ("host.yaml:3:", "host"),
        ("indent.yaml:", "a `url:` is at line 4: check its indentation"),
        ("nofile.yaml:4:", "not a file under the templates directory"),
        ("short.yaml:2:", "filter nope2 is unknown: `Points >= 1 and Name | nope2`"),
        ("tmpl.yaml:5:", "request.body"),
        ("typo.yaml:4:", "methd"),
        ("unquoted.yaml:5:", "quote the template (\"{{ Points }}\")"),
        ("zdup.yaml:1:", "already used"),
    ];
    assert_one_line_per_mistake(&out, &expect);
}

#[tokio::test]
async fn listen_prints_each_request_and_whether_its_signature_verifies() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = hookshape()
        .args(["listen", "--port", &port.to_string(), "--scheme", "hmac-sha256-hex", "--secret", "k"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hook?x=1");
    eventually(Duration::from_secs(10), "listen to start", || async { http.get(&url).send().await.ok() }).await;
    let body = r#"{"name":"João"}"#;
    let good = hookshape::sign::hmac_hex(b"k", body.as_bytes());
    for signature in [Some(good.as_str()), Some("bad"), None] {
        let post = http.post(&url).body(body);
        let post = match signature {
            Some(s) => post.header("X-Webhook-Signature", s),
            None => post,
        };
        post.send().await.unwrap();
    }
    let mut lines = Vec::new();
    let verdicts = eventually(Duration::from_secs(10), "three signature verdicts", || {
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        std::future::ready(Some(posted_verdicts(&lines)).filter(|v| v.len() >= 3).map(|v| (v, lines.clone())))
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (verdicts, all) = verdicts;
    assert_eq!(
        verdicts,
        [
            "signature: valid",
            "signature: INVALID (X-Webhook-Signature does not match)",
            "signature: unsigned (no X-Webhook-Signature header)"
        ]
    );
    assert!(all.iter().any(|l| l.contains("POST /hook?x=1")), "{all:?}");
    assert!(all.iter().any(|l| l.contains("\"name\": \"João\"")), "{all:?}");
}

/// A container runtime or service manager stops `listen` with SIGTERM: it exits cleanly.
#[tokio::test]
async fn listen_stops_cleanly_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = hookshape().args(["listen", "--port", &port.to_string()]).stdout(Stdio::null()).spawn().unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/");
    eventually(Duration::from_secs(10), "listen to start", || async { http.get(&url).send().await.ok() }).await;
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status =
        eventually(Duration::from_secs(10), "listen to exit", || std::future::ready(child.try_wait().unwrap())).await;
    assert!(status.success(), "{status}");
}

/// The signature verdict `listen` printed for each POST (the GETs probed its start).
fn posted_verdicts(lines: &[String]) -> Vec<String> {
    let mut posted = false;
    let mut verdicts = Vec::new();
    for line in lines {
        if line.starts_with("── ") {
            posted = line.starts_with("── POST");
        } else if posted && line.starts_with("signature:") {
            verdicts.push(line.clone());
        }
    }
    verdicts
}

async fn admin_cli(base: &str, args: &[&str]) -> (i32, String, String) {
    client_cli(&[args, &["--url", base]].concat(), "HOOKSHAPE_ADMIN_TOKEN").await
}

/// A client command's exit code, stdout and stderr, run without the token `unset` names.
async fn client_cli(args: &[&str], unset: &str) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookshape"))
        .args(args)
        .env_remove(unset)
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn deliveries_and_subscriptions_commands_show_tables_and_json() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("crm.yaml", &format!("topics: [T]\nrequest:\n  url: {}/x\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&serde_json::json!({ "Topic": "T", "Payload": {} })).await;
    let done = app.wait_for_status("succeeded", 1).await;
    let id = done[0]["id"].as_str().unwrap();

    let (code, out, _) = admin_cli(&app.base, &["deliveries", "list"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS") && lines[0].contains("SUBSCRIPTION"), "{out}");
    assert!(lines[1].starts_with(id) && lines[1].contains("succeeded") && lines[1].contains("crm"), "{out}");

    let (code, out, _) = admin_cli(&app.base, &["deliveries", "list", "--since", "1h"]).await;
    assert_eq!((code, out.contains(id)), (0, true), "a duration back from now: {out}");
    let (code, out, _) = admin_cli(&app.base, &["deliveries", "list", "--until", "1h"]).await;
    assert_eq!((code, out.contains(id)), (0, false), "created within the hour: {out}");
    let (code, _, err) = admin_cli(&app.base, &["deliveries", "list", "--since", "yesterday"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--since \"yesterday\": give a duration ago (30m, 1h, 7d), an RFC 3339 time"), "{err}");

    let (code, out, _) = admin_cli(&app.base, &["deliveries", "list", "--status", "failed", "--json"]).await;
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["deliveries"], serde_json::json!([]));

    let (code, out, _) = admin_cli(&app.base, &["deliveries", "show", id]).await;
    assert_eq!(code, 0);
    assert!(out.contains(&format!("POST {}/x", receiver.url())) && out.contains("ATTEMPT"), "{out}");
    assert!(out.contains("\nattempts: 1\n") && !out.contains("attempts: [{"), "a count, the list in the table: {out}");

    let (code, out, _) = admin_cli(&app.base, &["deliveries", "retry", id]).await;
    assert_eq!((code, out.contains("pending")), (0, true), "{out}");
    receiver.wait_for(2, Duration::from_secs(10)).await;

    let (code, out, _) = admin_cli(&app.base, &["subscriptions", "disable", "crm"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = admin_cli(&app.base, &["subscriptions", "list"]).await;
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.starts_with("crm")).unwrap();
    assert!(row.contains("disabled"), "{out}");
    let (code, out, _) = admin_cli(&app.base, &["deliveries", "retry", id]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("held: subscription crm is disabled since ") && out.contains("subscriptions enable crm"),
        "{out}"
    );
    let (code, out, _) = admin_cli(&app.base, &["subscriptions", "enable", "crm"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("enabled"), "{out}");

    let (code, _, err) = admin_cli(&app.base, &["deliveries", "show", "dlv_nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no delivery dlv_nope"), "{err}");
}

/// A `hookshape listen` process, killed when dropped (also when an assertion fails).
struct Listening(std::process::Child);

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn send_cli(file: &std::path::Path, url: &str) -> (i32, String, String) {
    let file = file.to_string_lossy();
    client_cli(&["send", &file, "--url", url], "HOOKSHAPE_INTAKE_TOKEN").await
}

/// `--url` pointed at a server that answers 200 "ok" to anything (`hookshape listen`, or
/// a receiver): before, every client command exited 0 with an empty table, "enabled", or
/// the event "sent"; now each says the answer at that URL is not hookshape's, exit 1.
#[tokio::test]
async fn client_commands_pointed_at_a_server_that_is_not_hookshape_say_so_and_exit_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _listen =
        Listening(hookshape().args(["listen", "--port", &port.to_string()]).stdout(Stdio::null()).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(10), "listen to start", || async { http.get(&base).send().await.ok() }).await;
    let not_ours = |path: &str| format!("{base}{path} answered 200 with text/plain, not hookshape's JSON: is --url");
    let commands: [(&[&str], &str); 6] = [
        (&["deliveries", "list"], "/v1/deliveries"),
        (&["deliveries", "list", "--json", "--status", "failed"], "/v1/deliveries"),
        (&["deliveries", "show", "dlv_x"], "/v1/deliveries/dlv_x"),
        (&["deliveries", "retry", "dlv_x"], "/v1/deliveries/dlv_x/retry"),
        (&["subscriptions", "list"], "/v1/subscriptions"),
        (&["subscriptions", "enable", "crm"], "/v1/subscriptions/crm/enable"),
    ];
    for (args, path) in commands {
        let (code, out, err) = admin_cli(&base, args).await;
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
        assert!(err.contains(&not_ours(path)), "{args:?}: {err}");
    }
    let (code, _, err) = admin_cli(&base, &["subscriptions", "disable", "crm"]).await;
    assert_eq!(code, 1, "{err}");

    let ws = Workspace::new();
    let file = ws.path().join("event.json");
    std::fs::write(&file, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let (code, out, err) = send_cli(&file, &base).await;
    assert_eq!((code, out.as_str()), (1, ""), "the event went nowhere: {err}");
    assert!(err.contains(&not_ours("/v1/events")), "{err}");
    std::fs::write(&file, r#"[{"Topic": "T", "Payload": {}}]"#).unwrap();
    let (code, out, err) = send_cli(&file, &base).await;
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains(&not_ours("/v1/events/batch")), "{err}");

    // JSON, but not the route's answer; an error status without hookshape's error body.
    let receiver = Receiver::start().await;
    receiver.set_body(r#"{"status": "ok"}"#);
    let (code, _, err) = admin_cli(&receiver.url(), &["deliveries", "list"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/v1/deliveries answered 200 with JSON that is not hookshape's answer (no \"deliveries\" list)"),
        "{err}"
    );
    let (code, _, err) = send_cli(&file, &receiver.url()).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/v1/events/batch answered 200 with JSON that is not hookshape's answer (no \"results\" list)"),
        "{err}"
    );
    std::fs::write(&file, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let (code, _, err) = send_cli(&file, &receiver.url()).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/v1/events answered 200 with JSON that is not hookshape's answer (no \"uuid\" string)"),
        "{err}"
    );
    receiver.set_status(404);
    receiver.set_body("no such page");
    let (code, _, err) = admin_cli(&receiver.url(), &["subscriptions", "list"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/v1/subscriptions answered 404 with text/plain, not hookshape's JSON"), "{err}");
}

/// The example subscriptions shipped in this repository pass their own test cases.
#[test]
fn the_repository_subscriptions_pass_their_own_test_cases() {
    let out = hookshape()
        .arg("test")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // The cases expect each example's defaults, so no deployment's values may leak in.
        .env_remove("CRM_URL")
        .env_remove("CRM_TOKEN")
        .env_remove("CRM_WEBHOOK_SECRET")
        .env_remove("THEMEMBERS_URL")
        .env_remove("THEMEMBERS_CLIENT_TOKEN")
        .env_remove("EDUZZ_URL")
        .env_remove("EDUZZ_SECRET")
        .env_remove("TOOLZZ_URL")
        .env_remove("LOYALTY_URL")
        .env_remove("LOYALTY_SECRET")
        .env_remove("CONNECTVETS_URL")
        .env_remove("CONNECTVETS_SECRET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().last().unwrap().ends_with("passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// A deployment's receiver addresses in the environment change no case's outcome: the
/// cases write URLs with the subscriptions' own `${VAR:-default}`.
#[test]
fn the_repository_subscriptions_pass_their_own_test_cases_whatever_urls_are_set() {
    let mut test = hookshape();
    test.arg("test").current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in ["CRM_URL", "THEMEMBERS_URL", "EDUZZ_URL", "TOOLZZ_URL", "LOYALTY_URL", "CONNECTVETS_URL", "ERP_URL"] {
        test.env(var, format!("http://127.0.0.2:7000/{}", var.to_lowercase()));
    }
    let out = test.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().last().unwrap().ends_with("passed, 0 failed"), "{stdout}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let out = hookshape().arg("--version").output().unwrap();
    let version = String::from_utf8(out.stdout).unwrap();
    assert_eq!(version.trim(), format!("hookshape {} (commit {})", env!("CARGO_PKG_VERSION"), head.trim()));
}

/// Logs written to a file or a pipe carry no terminal colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour() {
    let ws = Workspace::new();
    let mut serve = hookshape()
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite://{}", ws.db().display()))
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .arg("--templates")
        .arg(ws.path().join("templates"))
        .env("HOOKSHAPE_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let first = BufReader::new(stderr).lines().map_while(Result::ok).find(|l| l.contains("INFO"));
    serve.kill().unwrap();
    serve.wait().unwrap();
    let line = first.expect("serve logged no INFO line");
    assert!(!line.contains('\u{1b}'), "{line:?}");
}

#[test]
fn a_failing_test_case_exits_1_with_a_readable_diff() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nfilter: \"N > 1\"\nrequest:\n  url: \"http://h/{{ Id }}\"\n  body: { n: \"{{ N }}\", kind: fixed }\n");
    ws.subscription(
        "s.test.yaml",
        r#"cases:
  - name: right
    event: { Topic: T, Payload: { Id: a, N: 2 } }
    expect:
      s: { url: "http://h/a", body: { n: 2, kind: fixed } }
  - name: wrong body and url
    event: { Topic: T, Payload: { Id: b, N: 3 } }
    expect:
      s: { url: "http://h/a", body: { n: 4, extra: 1 } }
  - name: filtered out
    event: { Topic: T, Payload: { Id: c, N: 0 } }
    expect:
      s: { delivered: false }
  - name: should not be delivered but is
    event: { Topic: T, Payload: { Id: d, N: 5 } }
    expect:
      s: { delivered: false }
  - name: expects nothing
    event: { Topic: T, Payload: { Id: e, N: 5 } }
"#,
    );
    let out = on_workspace("test", &ws);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "ok   s.test.yaml: right",
        "FAIL s.test.yaml: wrong body and url",
        "s: body.n: expected 4, got 3",
        "s: body.extra: missing (expected 1)",
        "s: body.kind: unexpected (got \"fixed\")",
        "expected http://h/a",
        "ok   s.test.yaml: filtered out",
        "s: delivered, but the case expects it not to be",
        "FAIL s.test.yaml: expects nothing",
        "the case checks nothing: give expect:",
        "2 passed, 3 failed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn a_test_case_compares_numbers_by_value_and_shows_the_digits_sent() {
    // YAML reads an expected 1234.50 as 1234.5; the body keeps the event's 1234.50.
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: http://h/a\n  body: { amount: \"{{ Amount }}\", tiny: \"{{ Tiny }}\" }\n",
    );
    std::fs::write(
        ws.path().join("subscriptions/event.json"),
        r#"{"Topic":"T","Payload":{"Amount":1234.50,"Tiny":1.0E-7}}"#,
    )
    .unwrap();
    ws.subscription(
        "s.test.yaml",
        "cases:\n  - name: same numbers\n    event: event.json\n    expect:\n      s: { body: { amount: 1234.50, tiny: 0.0000001 } }\n  - name: another number\n    event: event.json\n    expect:\n      s: { body: { amount: 1234.51, tiny: 1.0e-7 } }\n",
    );
    let out = on_workspace("test", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for line in [
        "ok   s.test.yaml: same numbers",
        "FAIL s.test.yaml: another number",
        "s: body.amount: expected 1234.51, got 1234.50",
        "1 passed, 1 failed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("body.tiny"), "{stdout}");
}

#[test]
fn validate_with_allow_missing_env_checks_only_that_variables_are_well_formed() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: \"${HS_NOT_SET_URL}/x\"\n  headers:\n    Authorization: \"Bearer ${HS_NOT_SET_TOKEN}\"\nsignature:\n  scheme: standard-webhooks\n  secret: ${HS_NOT_SET_SECRET}\n",
    );
    let validate = |extra: &[&str]| {
        hookshape()
            .arg("validate")
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .args(extra)
            .env_remove("HS_NOT_SET_URL")
            .env_remove("HS_NOT_SET_TOKEN")
            .env_remove("HS_NOT_SET_SECRET")
            .output()
            .unwrap()
    };
    let strict = validate(&[]);
    assert_eq!(strict.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&strict.stdout);
    assert_eq!(stdout.lines().count(), 3, "one line per missing variable: {stdout}");
    assert!(stdout.contains("s.yaml:3:") && stdout.contains("HS_NOT_SET_URL is not set"), "{stdout}");
    let relaxed = validate(&["--allow-missing-env"]);
    assert_eq!(relaxed.status.code(), Some(0), "{}", String::from_utf8_lossy(&relaxed.stdout));

    ws.subscription("bad.yaml", "topics: [T]\nrequest:\n  url: \"${1NOT-A-NAME}/x\"\n");
    let malformed = validate(&["--allow-missing-env"]);
    assert_eq!(malformed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&malformed.stdout).contains("bad.yaml:3:"));
}

#[test]
fn the_committed_schema_is_the_one_the_binary_generates_and_refuses_unknown_keys() {
    let out = hookshape().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/subscription.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(generated, committed, "run `hookshape schema > schema/subscription.schema.json`");
    assert_eq!(generated["additionalProperties"], false);
    assert_eq!(generated["required"], serde_json::json!(["topics", "request"]));
    let methods = &generated["$defs"]["Method"];
    assert!(methods.to_string().contains("PATCH"), "{methods}");
}

#[test]
fn the_committed_topic_schema_is_the_one_the_binary_generates() {
    let out = hookshape().args(["schema", "--topics"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/topic.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(generated, committed, "run `hookshape schema --topics > schema/topic.schema.json`");
    assert_eq!(generated["additionalProperties"], false);
    assert_eq!(generated["required"], serde_json::json!(["name"]));
    assert!(generated["$defs"].to_string().contains("\"enforce\""));
}

#[test]
fn the_committed_source_schema_is_the_one_the_binary_generates() {
    let out = hookshape().args(["schema", "--sources"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/source.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(generated, committed, "run `hookshape schema --sources > schema/source.schema.json`");
    assert_eq!(generated["additionalProperties"], false);
    assert_eq!(generated["required"], serde_json::json!(["verify", "event"]));
    let schemes = generated["$defs"].to_string();
    for scheme in ["hmac-sha256-hex", "hmac-sha256-prefixed", "standard-webhooks", "header", "none"] {
        assert!(schemes.contains(&format!("\"{scheme}\"")), "{scheme} missing from {schemes}");
    }
}

#[test]
fn render_prints_the_exact_request_with_secrets_masked() {
    let ws = Workspace::new();
    ws.subscription(
        "a.yaml",
        "topics: [T]\nrequest:\n  url: \"http://h/a/{{ Id }}\"\n  headers:\n    Authorization: \"Bearer ${HS_RENDER_CLI:-cli-secret}\"\n  body: { id: \"{{ Id }}\" }\nsignature:\n  scheme: hmac-sha256-hex\n  secret: k\n",
    );
    ws.subscription("b.yaml", "topics: [\"*\"]\nrequest:\n  method: DELETE\n  url: http://h/b\n");
    ws.subscription("c.yaml", "topics: [Other]\nrequest:\n  url: http://h/c\n");
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {"Id": "x/1"}}"#).unwrap();
    let render = |extra: &[&str]| {
        let out = hookshape()
            .arg("render")
            .args(extra)
            .arg("--event")
            .arg(&event)
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let one = render(&["--subscription", "a"]);
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines[0], "POST http://h/a/x%2F1");
    assert!(lines.contains(&"Authorization: ***"), "{one}");
    assert!(!one.contains("cli-secret"), "{one}");
    let body = r#"{"id":"x/1"}"#;
    let signature = format!("X-Webhook-Signature: {}", hookshape::sign::hmac_hex(b"k", body.as_bytes()));
    assert!(lines.contains(&signature.as_str()), "{one}");
    assert_eq!(lines.last(), Some(&body));

    let all = render(&["--all"]);
    let heads: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(heads, ["# a", "# b"], "{all}");
    assert!(all.contains("DELETE http://h/b"), "{all}");
}

/// `render --all` shows every subscription that takes the event even when one's filter or
/// template fails (as `serve` still delivers the others): the failure on stderr, exit 1.
#[test]
fn render_all_goes_on_past_a_subscription_that_fails() {
    let ws = Workspace::new();
    ws.subscription("a.yaml", "topics: [T]\nrequest:\n  url: http://h/a\n");
    ws.subscription("b.yaml", "topics: [T]\nfilter: \"Customer.Tier in ['gold']\"\nrequest:\n  url: http://h/b\n");
    ws.subscription("c.yaml", "topics: [T]\nrequest:\n  url: \"http://h/c/{{ Missing }}\"\n");
    ws.subscription("d.yaml", "topics: [T]\nrequest:\n  url: http://h/d\n");
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let out = hookshape()
        .args(["render", "--all", "--event"])
        .arg(&event)
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("POST http://h/a") && stdout.contains("POST http://h/d"), "both shown: {stdout}");
    assert!(stderr.contains("b: filter:") && stderr.contains("Customer"), "{stderr}");
    assert!(stderr.contains("c: render failed") && stderr.contains("Missing"), "{stderr}");
}

/// A body template that does not render JSON is named with the line and column of the
/// rendered text, and the text around it (the classic: quotes around a value templates
/// already write as JSON).
#[test]
fn a_body_template_that_renders_no_json_names_the_line_and_column() {
    let ws = Workspace::new();
    ws.subscription("a.yaml", "topics: [T]\nrequest:\n  url: http://h/a\n  body_template: t.json.j2\n");
    ws.template("t.json.j2", "{\n  \"a\": \"{{ Id }}\"\n}\n");
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {"Id": "C-1"}}"#).unwrap();
    let out = hookshape()
        .args(["render", "--subscription", "a", "--event"])
        .arg(&event)
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .arg("--templates")
        .arg(ws.path().join("templates"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not render valid JSON") && stderr.contains("at line 2 column 10 of the rendered text"),
        "{stderr}"
    );
    assert!(stderr.contains(r#""a": ""⟨here⟩C-1"""#), "{stderr}");
}

#[test]
fn header_values_are_sent_as_written_in_the_file() {
    // A header is text: read as YAML numbers, `1.10` went out as `1.1`, `0x1F` as `31`.
    let ws = Workspace::new();
    let headers = "    X-Api-Version: 1.10\n    X-Hex: 0x1F\n    X-Exp: 1e3\n    X-Flag: true\n    X-Int: 7\n";
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: http://h/a\n  headers:\n{headers}"));
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let render = |ws: &Workspace| {
        hookshape()
            .args(["render", "--subscription", "a", "--event"])
            .arg(&event)
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .output()
            .unwrap()
    };
    let out = render(&ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in ["X-Api-Version: 1.10", "X-Hex: 0x1F", "X-Exp: 1e3", "X-Flag: true", "X-Int: 7"] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} missing from:\n{stdout}");
    }
    // A null is no header value, however YAML writes it; quoted, it is the text.
    let nulls = "    X-Tilde: ~\n    X-Null: null # said so\n    X-Empty:\n    X-Quoted: \"~\"\n    X-Folded:\n      on the next line\n";
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: http://h/a\n  headers:\n{nulls}"));
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (line, name) in [(5, "X-Tilde"), (6, "X-Null"), (7, "X-Empty")] {
        let want = format!("a.yaml:{line}: request.headers.{name}: a header value cannot be null");
        assert!(stdout.contains(&want), "{want:?} missing from:\n{stdout}");
    }
    assert!(!stdout.contains("X-Quoted") && !stdout.contains("X-Folded"), "{stdout}");
    ws.subscription("a.yaml", "topics: [T]\nrequest:\n  url: http://h/a\n  headers:\n    X-Quoted: \"~\"\n    X-Folded:\n      on the next line\n");
    let out = render(&ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "X-Quoted: ~") && stdout.lines().any(|l| l == "X-Folded: on the next line"),
        "{stdout}"
    );
}

#[test]
fn body_literals_keep_the_digits_the_file_writes() {
    // YAML reads `price: 1234.50` as 1234.5; the body said 1234.50.
    let ws = Workspace::new();
    let body = "  body:\n    price: 1234.50\n    version: 1.10\n    nested: {rate: 0.50, n: 3}\n";
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: http://h/a\n{body}"));
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let out = hookshape()
        .args(["render", "--subscription", "a", "--event"])
        .arg(&event)
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(r#"{"price":1234.50,"version":1.10,"nested":{"rate":0.50,"n":3}}"#), "{stdout}");
    // YAML's infinities and NaN have no JSON number: they went out as null without a word.
    let body = "  body:\n    max: .inf\n    label: \".nan\"\n    limits: {low: -.Inf}\n";
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: http://h/a\n{body}"));
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for want in
        ["a.yaml:5: request.body.max: .inf is a number JSON cannot carry", "a.yaml:7: request.body.limits.low: -.inf"]
    {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
    assert!(!stdout.contains("label"), "a quoted \".nan\" is text: {stdout}");
}

#[test]
fn a_reader_that_goes_away_ends_a_command_quietly() {
    let ws = Workspace::new();
    ws.subscription("a.yaml", "topics: [T]\nrequest:\n  url: http://h/a\n  body: { a: 1 }\n");
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {}}"#).unwrap();
    let mut render = hookshape();
    render.args(["render", "--all", "--event"]).arg(&event).arg("--subscriptions").arg(ws.path().join("subscriptions"));
    let mut schema = hookshape();
    schema.arg("schema");
    for mut command in [render, schema] {
        // `| head -0`: the pipe's reading end is closed before anything is written.
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{command:?}: as a process SIGPIPE ended: {stderr}");
        assert!(!stderr.contains("panicked"), "{command:?}: {stderr}");
    }
}

#[tokio::test]
async fn send_posts_an_event_file_and_prints_the_answer() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = TestApp::spawn(with_tokens(ws.config(), "in-token", "admin-token")).await;
    let file = ws.path().join("event.json");
    std::fs::write(&file, r#"{"Topic": "T", "Payload": {"N": 1}}"#).unwrap();
    let send = |token: &'static str| {
        let file = file.clone();
        let url = format!("{}/v1/events", app.base);
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_hookshape"))
                .arg("send")
                .arg(&file)
                .args(["--url", &url, "--token", token])
                .output()
                .await
                .unwrap()
        }
    };
    let ok = send("in-token").await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("202") && stdout.contains(r#""deliveries":1"#), "{stdout}");
    let refused = send("wrong").await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).starts_with("401"));
    // A JSON array goes to the batch endpoint, as the command's help says.
    std::fs::write(&file, r#"[{"Topic": "T", "Payload": {"N": 2}}, {"Topic": "T", "Payload": {"N": 3}}]"#).unwrap();
    let batch = send("in-token").await;
    let stdout = String::from_utf8_lossy(&batch.stdout);
    assert_eq!(batch.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches(r#""deliveries":1"#).count(), 2, "{stdout}");
}

#[tokio::test]
async fn bench_runs_a_real_server_and_reports_every_delivery_arrived() {
    // Correctness only: what arrived and what was measured, never how fast.
    let report = bench_json(&["--events", "200", "--fan-out", "2", "--concurrency", "4", "--ceiling"]).await;
    assert_eq!((report["events_accepted"].as_u64(), report["events_failed"].as_u64()), (Some(200), Some(0)));
    assert_eq!((report["deliveries_expected"].as_u64(), report["deliveries_arrived"].as_u64()), (Some(400), Some(400)));
    assert_eq!(report["latency"]["samples"], 400, "one latency per delivery: {report}");
    assert!(report["latency"]["p50_ms"].as_f64().unwrap() <= report["latency"]["p99_ms"].as_f64().unwrap());
    assert!(report["ceiling_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["ratio_to_ceiling"].as_f64().unwrap() > 0.0);
    assert!(report["server_peak_rss_mib"].as_f64().unwrap() > 1.0, "read from /proc: {report}");
    assert!(report["server_cpu_s"].as_f64().unwrap() > 0.0);
}

/// A run to investigate afterwards: each node's log, at info, outlives the bench's scratch
/// directory.
#[tokio::test]
async fn bench_keeps_each_nodes_log_where_it_is_told() {
    let kept = tempfile::tempdir().unwrap();
    let logs = kept.path().join("logs");
    let report = bench_json(&["--events", "20", "--concurrency", "2", "--keep-logs", logs.to_str().unwrap()]).await;
    assert_eq!(report["deliveries_arrived"].as_u64(), Some(20), "{report}");
    let log = std::fs::read_to_string(logs.join("serve-0.log")).unwrap();
    // At info: its start, which warnings alone would not show.
    assert!(log.contains("subscriptions loaded") && log.contains("accepting connections"), "{log}");
}

#[test]
fn bench_refuses_several_nodes_on_sqlite() {
    let out = hookshape().args(["bench", "--nodes", "2", "--events", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes 2 needs a shared store"));
}

#[test]
fn an_unreachable_or_malformed_postgres_store_is_named_without_its_password() {
    let ws = Workspace::new();
    let serve = |store: &str| {
        hookshape()
            .args(["serve", "--listen", "127.0.0.1:0", "--store", store, "--subscriptions"])
            .arg(ws.path().join("subscriptions"))
            .arg("--templates")
            .arg(ws.path().join("templates"))
            .output()
            .unwrap()
    };
    // Nothing listens on port 1 here.
    let refused = serve("postgres://hs:hunter2-secret@127.0.0.1:1/hookshape");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Connection refused") && stderr.contains("127.0.0.1:1/hookshape"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password stays out of messages: {stderr}");

    let malformed = serve("postgres://127.0.0.1/hookshape?no_such_option=1");
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert_eq!(malformed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown option `no_such_option`"), "{stderr}");
}

/// PRODUCT.md "Edges": configuration files nested deeper than 64 levels or over 1 MiB are a
/// load error naming the file, found before YAML parses them (a 200 KB subscription nested
/// 100,000 deep took 35 s to refuse).
#[test]
fn deeply_nested_or_oversized_files_are_refused_at_once_naming_the_file() {
    let ws = Workspace::new();
    ws.subscription(
        "deep.yaml",
        &format!("topics: [T]\nrequest:\n  url: http://h/x\n  body: {}\n", "[".repeat(100_000)),
    );
    ws.subscription("big.yaml", &format!("topics: [T]\ndescription: \"{}\"\n", "x".repeat(1_100_000)));
    ws.subscription("ok.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n");
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let deep_source = format!("verify: {{scheme: none}}\nevent:\n  Topic: T\n  Payload:\n    {}x\n", "- ".repeat(70));
    std::fs::write(ws.path().join("sources").join("deep.yaml"), deep_source).unwrap();
    let started = std::time::Instant::now();
    let out = on_workspace("validate", &ws);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "a generous bound: {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (file, why) in [
        ("subscriptions/deep.yaml:4: ", "nested deeper than 64 levels"),
        ("subscriptions/big.yaml: ", "larger than 1024 KiB"),
        ("sources/deep.yaml:5: ", "nested deeper than 64 levels"),
    ] {
        assert!(stdout.lines().any(|l| l.contains(file) && l.contains(why)), "{file} {why}: {stdout}");
    }
    assert!(!stdout.contains("ok.yaml"), "{stdout}");
}
