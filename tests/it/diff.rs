//! `hookshape diff` on a real git repository (two commits) over events exported by the
//! real binary from a real store: exactly the affected subscriptions, paths and events,
//! in all three formats; exit codes 0, 1 and 2; the git checkout always removed.

use std::path::{Path, PathBuf};
use std::process::Output;

use hookshape::config::StoreUrl;
use serde_json::{json, Value};

use crate::helpers::{hookshape, new_uuid, TestApp, Workspace};

const POINTS: &str = "name: points\nmode: shadow\ntopics: [Communication_EarnPurchasePoints]\nfilter: \"Points >= 100\"\nrequest:\n  url: http://127.0.0.1:9/points\n  body_template: points.json.j2\n";
const AUDIT: &str = "name: audit\nmode: shadow\ntopics: [\"Communication_*\"]\nrequest:\n  url: http://127.0.0.1:9/audit\n  body: { id: \"{{ Uuid }}\" }\n";
const TEMPLATE: &str = "{\"customer\": {{ Customer.Id }}, \"points\": {{ Points }}}\n";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A subscriptions repository with its first commit: `points` (filter, body template) and `audit`.
fn repository() -> Workspace {
    let ws = Workspace::new();
    ws.subscription("points.yaml", POINTS).subscription("audit.yaml", AUDIT).template("points.json.j2", TEMPLATE);
    git(ws.path(), &["init", "-q"]);
    git(ws.path(), &["config", "user.email", "t@example.com"]);
    git(ws.path(), &["config", "user.name", "t"]);
    commit(&ws, "first");
    ws
}

fn commit(ws: &Workspace, message: &str) {
    git(ws.path(), &["add", "-A"]);
    git(ws.path(), &["commit", "-q", "-m", message]);
}

/// (points, has a Customer.Code) of each event.
const EVENTS: [(u32, bool); 6] = [(120, true), (50, true), (200, false), (130, false), (300, true), (90, false)];

/// The events posted to a real intake serving the repository's files, then exported by
/// the real binary to a file outside the repository. Returns the file and the uuids.
async fn exported(ws: &Workspace, out: &Path) -> (PathBuf, Vec<String>) {
    let db = out.join("store.db");
    let mut config = ws.config();
    config.store = StoreUrl::Sqlite(db.clone());
    let app = TestApp::spawn(config).await;
    let mut uuids = Vec::new();
    for (i, (points, code)) in EVENTS.iter().enumerate() {
        let mut customer = json!({ "Id": format!("C-{i}") });
        if *code {
            customer["Code"] = json!(format!("K-{i}"));
        }
        let uuid = new_uuid();
        let event = json!({ "Uuid": uuid, "Topic": "Communication_EarnPurchasePoints", "Payload": { "Customer": customer, "Points": points } });
        let (status, body) = app.post_event(&event).await;
        assert_eq!(status, 202, "{body}");
        uuids.push(uuid);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.stop().await;
    let export =
        hookshape().args(["events", "export", "--store", &format!("sqlite://{}", db.display())]).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let file = out.join("events.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    (file, uuids)
}

fn diff(ws: &Workspace, args: &[&str]) -> Output {
    hookshape().current_dir(ws.path()).arg("diff").args(args).output().unwrap()
}

fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn uuids_of(examples: &Value) -> Vec<String> {
    examples["examples"].as_array().unwrap().iter().map(|e| e["uuid"].as_str().unwrap().to_string()).collect()
}

/// Only the repository's own checkout: diff's temporary one is gone.
fn assert_no_checkout_left(ws: &Workspace) {
    assert_eq!(git(ws.path(), &["worktree", "list"]).lines().count(), 1, "{}", git(ws.path(), &["worktree", "list"]));
}

#[tokio::test]
async fn a_renamed_payload_field_shows_the_changed_path_and_the_events_that_now_fail() {
    let ws = repository();
    let out = tempfile::tempdir().unwrap();
    let (events, uuids) = exported(&ws, out.path()).await;
    ws.template("points.json.j2", "{\"customer\": {{ Customer.Code }}, \"points\": {{ Points }}}\n");
    commit(&ws, "second: Customer.Code");
    let file = events.to_str().unwrap();

    let run = diff(&ws, &["--base", "HEAD~1", "--events", file, "--format", "json"]);
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let report = json_report(&run);
    assert_eq!(report["events"], 6);
    let subs = report["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "only points changes: {report:#}");
    let points = &subs[0];
    assert_eq!((points["name"].as_str(), points["change"].as_str()), (Some("points"), Some("changed")));
    // Delivered (Points >= 100) with a Code: 0 and 4, whose body changes at `customer`.
    assert_eq!(uuids_of(&points["changed_requests"]), [uuids[0].clone(), uuids[4].clone()]);
    assert_eq!(points["changed_fields"], json!([{ "text": "body customer", "events": 2 }]));
    assert_eq!(
        points["changed_requests"]["examples"][0]["changes"],
        json!([{ "field": "body customer", "before": "\"C-0\"", "after": "\"K-0\"" }])
    );
    // Delivered without a Code: 2 and 3 now fail to render, the template's file and line named.
    assert_eq!(uuids_of(&points["new_errors"]), [uuids[2].clone(), uuids[3].clone()]);
    let message = points["error_messages"][0]["text"].as_str().unwrap();
    assert!(message.contains("Customer.Code is undefined") && message.contains("points.json.j2 line 1"), "{message}");
    assert_eq!(points["error_messages"][0]["events"], 2);
    assert_eq!(report["counts"]["changed_requests"], 2);
    assert_eq!(report["counts"]["new_errors"], 2);
    assert_eq!(report["counts"]["no_longer_delivered"], 0);

    let text = diff(&ws, &["--base", "HEAD~1", "--events", file]);
    assert_eq!(text.status.code(), Some(1));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("6 events; subscriptions: 1 changed, 0 added"), "{text}");
    assert!(text.contains("points (changed)") && !text.contains("audit"), "{text}");
    assert!(text.contains(r#"body customer: "C-0" → "K-0""#), "{text}");
    assert!(text.contains("new errors: 2 events"), "{text}");

    let md = diff(&ws, &["--base", "HEAD~1", "--events", file, "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(1));
    let md = String::from_utf8_lossy(&md.stdout);
    let table = md.find("| events | newly delivered").unwrap();
    let section = md.find("<details><summary><b>points</b> (changed)</summary>").unwrap();
    assert!(table < section, "counts first: {md}");
    assert!(md.contains("| 6 | 0 | 0 | 2 | 2 | 0 |"), "{md}");
    assert!(md.contains("</details>"), "{md}");
    assert_no_checkout_left(&ws);
    assert_eq!(git(ws.path(), &["status", "--porcelain"]), "", "diff wrote into the repository");
}

#[tokio::test]
async fn a_filter_change_shows_the_events_no_longer_delivered() {
    let ws = repository();
    let out = tempfile::tempdir().unwrap();
    let (events, uuids) = exported(&ws, out.path()).await;
    ws.subscription("points.yaml", &POINTS.replace("Points >= 100", "Points >= 150"));
    commit(&ws, "second: a higher bar");
    let run = diff(&ws, &["--base", "HEAD~1", "--events", events.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let report = json_report(&run);
    let points = &report["subscriptions"][0];
    assert_eq!(points["name"], "points");
    assert_eq!(uuids_of(&points["no_longer_delivered"]), [uuids[0].clone(), uuids[3].clone()]);
    assert_eq!(points["changed_requests"]["count"], 0);
    assert_eq!(report["subscriptions"].as_array().unwrap().len(), 1);

    // The same events straight from the store: the same report.
    let store = format!("sqlite://{}", out.path().join("store.db").display());
    let from_store = diff(&ws, &["--base", "HEAD~1", "--store", &store, "--last", "6", "--format", "json"]);
    assert_eq!(from_store.status.code(), Some(1), "{}", String::from_utf8_lossy(&from_store.stderr));
    assert_eq!(json_report(&from_store), report);
    // None of the newest is refused as `events export` refuses it (it rendered one before),
    // and --last beside --events (which it never limited) is refused naming both.
    let none = diff(&ws, &["--base", "HEAD~1", "--store", &store, "--last", "0"]);
    assert_eq!((none.status.code(), none.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("--last: give a number of events, 1 or more"), "{stderr}");
    let both = diff(&ws, &["--base", "HEAD~1", "--events", events.to_str().unwrap(), "--last", "2"]);
    assert_eq!((both.status.code(), both.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(stderr.contains("--last <N>") && stderr.contains("--events <FILE>"), "{stderr}");

    // Against itself: nothing changes, exit 0, in every format.
    for format in ["text", "markdown", "json"] {
        let same = diff(&ws, &["--base", "HEAD", "--events", events.to_str().unwrap(), "--format", format]);
        assert_eq!(same.status.code(), Some(0), "{format}: {}", String::from_utf8_lossy(&same.stdout));
    }
    let same = diff(&ws, &["--base", "HEAD", "--events", events.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json_report(&same)["subscriptions"], json!([]));
    assert_no_checkout_left(&ws);
}

#[test]
fn renamed_added_and_removed_subscriptions_against_a_directory() {
    let ws = repository();
    let base = tempfile::tempdir().unwrap();
    for dir in ["subscriptions", "templates"] {
        std::fs::create_dir_all(base.path().join(dir)).unwrap();
    }
    std::fs::write(base.path().join("subscriptions/points.yaml"), POINTS).unwrap();
    std::fs::write(base.path().join("subscriptions/audit.yaml"), AUDIT).unwrap();
    std::fs::write(base.path().join("templates/points.json.j2"), TEMPLATE).unwrap();
    ws.subscription("points.yaml", &POINTS.replace("name: points", "name: loyalty-points"));
    // Moved to another file under another name, its URL still naming the old one: renamed
    // (only the name: line differs). And a copy with a URL of its own: added.
    std::fs::remove_file(ws.path().join("subscriptions/audit.yaml")).unwrap();
    ws.subscription("audit-v2.yaml", &AUDIT.replace("name: audit", "name: audit-v2"));
    ws.subscription("new.yaml", &AUDIT.replace("name: audit", "name: fresh").replace("/audit", "/fresh"));
    std::fs::write(
        base.path().join("subscriptions/gone.yaml"),
        AUDIT.replace("name: audit", "name: gone").replace("/audit", "/gone"),
    )
    .unwrap();
    let events = base.path().join("events.jsonl");
    let event = json!({ "Topic": "Communication_EarnPurchasePoints", "Payload": { "Customer": { "Id": "C-1" }, "Points": 120 } });
    std::fs::write(&events, format!("{event}\n")).unwrap();

    let run =
        diff(&ws, &["--base", base.path().to_str().unwrap(), "--events", events.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let report = json_report(&run);
    let kinds: Vec<(String, String, Value)> = report["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().into(), s["change"].as_str().unwrap().into(), s["renamed_from"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("audit-v2".into(), "renamed".into(), json!("audit")),
            ("fresh".into(), "added".into(), Value::Null),
            ("loyalty-points".into(), "renamed".into(), json!("points")),
            ("gone".into(), "removed".into(), Value::Null),
        ]
    );
    let counts = &report["counts"];
    assert_eq!(
        (counts["added"].as_u64(), counts["removed"].as_u64(), counts["renamed"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
    // The added one delivers the event, the removed one no longer does; a rename alone changes no request.
    assert_eq!(report["subscriptions"][1]["newly_delivered"]["count"], 1);
    assert_eq!(report["subscriptions"][3]["no_longer_delivered"]["count"], 1);
    assert_eq!(report["subscriptions"][0]["changed_requests"]["count"], 0);
    assert_eq!(report["subscriptions"][2]["changed_requests"]["count"], 0);
}

/// The pull request that brings hookshape into a repository, here into a `hooks/`
/// directory of a monorepo: the target branch has no subscriptions directory. Before, the
/// base did not load (exit 2, which fails the CI job `init` writes); now it has no
/// subscriptions and every one shows as added (exit 1). The same for a `--base DIR`; a
/// `subscriptions` that is there but is no directory still does not load.
#[test]
fn a_base_without_the_subscriptions_directory_has_none_and_every_subscription_is_added() {
    let ws = Workspace::new();
    git(ws.path(), &["init", "-q"]);
    git(ws.path(), &["config", "user.email", "t@example.com"]);
    git(ws.path(), &["config", "user.name", "t"]);
    std::fs::write(ws.path().join("README.md"), "a service\n").unwrap();
    commit(&ws, "before hookshape");
    let hooks = ws.path().join("hooks");
    for (file, text) in [
        ("subscriptions/points.yaml", POINTS),
        ("subscriptions/audit.yaml", AUDIT),
        ("templates/points.json.j2", TEMPLATE),
    ] {
        std::fs::create_dir_all(hooks.join(file).parent().unwrap()).unwrap();
        std::fs::write(hooks.join(file), text).unwrap();
    }
    commit(&ws, "hookshape init hooks");
    let out = tempfile::tempdir().unwrap();
    let events = out.path().join("events.jsonl");
    let event = json!({ "Topic": "Communication_EarnPurchasePoints", "Payload": { "Customer": { "Id": "C-1" }, "Points": 120 } });
    std::fs::write(&events, format!("{event}\n")).unwrap();
    let in_hooks = |base: &str| {
        let files = ["--subscriptions", "hooks/subscriptions", "--templates", "hooks/templates"];
        let files = files.iter().chain(&["--sources", "hooks/sources", "--topics", "hooks/topics"]).copied();
        let args = ["--base", base, "--events", events.to_str().unwrap(), "--format", "json"];
        diff(&ws, &args.into_iter().chain(files).collect::<Vec<_>>())
    };
    let added = |run: &Output| -> Vec<(String, String, u64)> {
        assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
        let report = json_report(run);
        assert_eq!(report["counts"]["added"], 2, "{report:#}");
        let subs = report["subscriptions"].as_array().unwrap().iter();
        subs.map(|s| {
            let name = s["name"].as_str().unwrap().to_string();
            (name, s["change"].as_str().unwrap().to_string(), s["newly_delivered"]["count"].as_u64().unwrap())
        })
        .collect()
    };
    let expected = [("audit".to_string(), "added".to_string(), 1), ("points".to_string(), "added".to_string(), 1)];

    assert_eq!(added(&in_hooks("HEAD~1")), expected);
    assert_no_checkout_left(&ws);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(added(&in_hooks(empty.path().to_str().unwrap())), expected);

    // Only a missing directory: one that is there and cannot be read as one is an error.
    std::fs::create_dir(empty.path().join("hooks")).unwrap();
    std::fs::write(empty.path().join("hooks/subscriptions"), "not a directory\n").unwrap();
    let broken = in_hooks(empty.path().to_str().unwrap());
    assert_eq!((broken.status.code(), broken.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("do not load") && stderr.contains("hooks/subscriptions: cannot read directory"),
        "{stderr}"
    );
}

#[test]
fn errors_exit_2_print_nothing_on_stdout_and_leave_no_checkout() {
    let ws = repository();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let good = json!({ "Topic": "Communication_EarnPurchasePoints", "Payload": { "Points": 120 } });
    std::fs::write(&events, format!("{good}\n{good}\n{{\"Topic\": oops}}\n")).unwrap();
    let events = events.to_str().unwrap();

    let bad_ref = diff(&ws, &["--base", "no-such-branch", "--events", events]);
    assert_eq!((bad_ref.status.code(), bad_ref.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&bad_ref.stderr);
    assert!(stderr.contains("--base \"no-such-branch\": not a directory, nor a commit"), "{stderr}");

    let bad_line = diff(&ws, &["--base", "HEAD", "--events", events]);
    assert_eq!((bad_line.status.code(), bad_line.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&bad_line.stderr);
    assert!(stderr.contains(&format!("{events}:3: column 11: invalid JSON")), "{stderr}");

    // A base commit whose files do not load: its file:line, as the ref names it.
    ws.subscription("points.yaml", &POINTS.replace("filter: \"Points >= 100\"", "filter: \"Points >=\""));
    commit(&ws, "broken");
    ws.subscription("points.yaml", POINTS);
    commit(&ws, "fixed");
    std::fs::write(dir.path().join("ok.jsonl"), format!("{good}\n")).unwrap();
    let ok = dir.path().join("ok.jsonl");
    let broken_base = diff(&ws, &["--base", "HEAD~1", "--events", ok.to_str().unwrap()]);
    assert_eq!((broken_base.status.code(), broken_base.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&broken_base.stderr);
    assert!(
        stderr.contains("the base files (HEAD~1) do not load")
            && stderr.contains("HEAD~1:subscriptions/points.yaml:4:"),
        "{stderr}"
    );
    assert_no_checkout_left(&ws);

    // Working files that do not load.
    ws.subscription("audit.yaml", "name: audit\ntopics: 5\n");
    let broken_work = diff(&ws, &["--base", "HEAD", "--events", ok.to_str().unwrap()]);
    assert_eq!((broken_work.status.code(), broken_work.stdout.as_slice()), (Some(2), &b""[..]));
    let stderr = String::from_utf8_lossy(&broken_work.stderr);
    assert!(
        stderr.contains("the working files do not load") && stderr.contains("subscriptions/audit.yaml:"),
        "{stderr}"
    );
    assert_no_checkout_left(&ws);
}

#[test]
fn secrets_are_masked_in_the_report() {
    let ws = repository();
    let base = tempfile::tempdir().unwrap();
    for dir in ["subscriptions", "templates"] {
        std::fs::create_dir_all(base.path().join(dir)).unwrap();
    }
    // The secret is in the body, under a key the change renames.
    let with_secret = |key: &str| AUDIT.replace("body: { id:", &format!("body: {{ {key}: \"${{DIFF_TOKEN}}\", id:"));
    std::fs::write(base.path().join("subscriptions/audit.yaml"), with_secret("token")).unwrap();
    std::fs::remove_file(ws.path().join("subscriptions/points.yaml")).unwrap();
    ws.subscription("audit.yaml", &with_secret("api_token"));
    let events = base.path().join("events.jsonl");
    std::fs::write(&events, "{\"Topic\":\"Communication_X\",\"Payload\":{}}\n").unwrap();
    for format in ["text", "markdown", "json"] {
        let run = hookshape()
            .current_dir(ws.path())
            .env("DIFF_TOKEN", "hunter2-very-secret")
            .args([
                "diff",
                "--base",
                base.path().to_str().unwrap(),
                "--events",
                events.to_str().unwrap(),
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(!out.contains("hunter2"), "{format}: {out}");
        // Markdown escapes its own characters (`_`, `*`).
        let (field, mask) =
            if format == "markdown" { ("body api\\_token", "\\*\\*\\*") } else { ("body api_token", "***") };
        assert!(out.contains(field) && out.contains(mask), "{format}: {out}");
    }

    // A change inside a header shown whole as `***`: said, without the value.
    let with_header =
        |value: &str| AUDIT.replace("request:\n", &format!("request:\n  headers:\n    X-Client: \"{value}\"\n"));
    std::fs::write(base.path().join("subscriptions/audit.yaml"), with_header("Bearer ${DIFF_TOKEN}")).unwrap();
    ws.subscription("audit.yaml", &with_header("Token ${DIFF_TOKEN}"));
    let run = hookshape()
        .current_dir(ws.path())
        .env("DIFF_TOKEN", "hunter2-very-secret")
        .args(["diff", "--base", base.path().to_str().unwrap(), "--events", events.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.contains("(a secret value): *** → ***") && !out.contains("hunter2"), "{out}");
}

/// What a review must not miss or misname: a template reached through a name computed
/// when rendering, a reorder (not a secret), going live from `mode: shadow` and other
/// settings no request shows; and a template's `uuid()` is no difference.
#[test]
fn computed_includes_reorders_settings_and_uuids_are_reported_as_what_they_are() {
    const SUB: &str = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/t\n  headers: {A: \"1\", B: \"2\"}\n  body_template: t.json.j2\n";
    const BODY: &str =
        r#"{% set kind = "a" %}{"part": {% include "parts/" ~ kind ~ ".j2" %}, "x": 1, "id": {{ uuid() }}}"#;
    const REORDERED: &str =
        r#"{% set kind = "a" %}{"x": 1, "part": {% include "parts/" ~ kind ~ ".j2" %}, "id": {{ uuid() }}}"#;
    let write = |root: &Path, sub: &str, body: &str, part: &str| {
        for (file, text) in
            [("subscriptions/t.yaml", sub), ("templates/t.json.j2", body), ("templates/parts/a.j2", part)]
        {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    };
    let base = tempfile::tempdir().unwrap();
    write(base.path(), SUB, BODY, "\"A\"");
    let ws = Workspace::new();
    let events = base.path().join("events.jsonl");
    std::fs::write(&events, "{\"Topic\":\"T\",\"Payload\":{}}\n").unwrap();
    let run = |sub: &str, body: &str, part: &str| {
        write(ws.path(), sub, body, part);
        let out = diff(&ws, &["--base", base.path().to_str().unwrap(), "--events", events.to_str().unwrap()]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };

    let (code, out) = run(SUB, BODY, "\"A\"");
    assert_eq!(code, Some(0), "the same files, uuid() and all: {out}");
    let (code, out) = run(SUB, BODY, "\"B\"");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(r#"body part: "A" → "B""#), "{out}");
    let (code, out) = run(SUB, REORDERED, "\"A\"");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("body key order") && !out.contains("secret"), "{out}");
    let (code, out) = run(&SUB.replace(r#"{A: "1", B: "2"}"#, r#"{B: "2", A: "1"}"#), BODY, "\"A\"");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("header order") && out.contains("A, B → ") && !out.contains("secret"), "{out}");
    let live_to_shadow = format!("{SUB}mode: shadow\nretry: {{schedule: [1m]}}\n");
    let (code, out) = run(&live_to_shadow, BODY, "\"A\"");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("settings") && out.contains("mode: live → shadow"), "{out}");
    assert!(out.contains("retry.schedule: [") && out.contains("] → [1m]"), "{out}");
}

/// `auth:` changes no request shows (the credentials are `***` in every request): where
/// OAuth2 credentials go, the kind of credential, and a credential changed though shown
/// alike. Each went unreported, exit 0.
#[test]
fn auth_changes_are_settings_a_review_sees_without_the_credentials() {
    const SUB: &str = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/t\n";
    let oauth2 = |url: &str, scope: &str| {
        format!("{SUB}auth:\n  oauth2:\n    token_url: {url}\n    client_id: id-7\n    client_secret: s3cr3t-client-Q\n    scope: {scope}\n")
    };
    let base = tempfile::tempdir().unwrap();
    let write = |root: &Path, sub: &str| {
        std::fs::create_dir_all(root.join("subscriptions")).unwrap();
        std::fs::write(root.join("subscriptions/t.yaml"), sub).unwrap();
    };
    write(base.path(), &oauth2("http://127.0.0.1:9/token", "contacts.write"));
    let ws = Workspace::new();
    let events = base.path().join("events.jsonl");
    std::fs::write(&events, "{\"Topic\":\"T\",\"Payload\":{}}\n").unwrap();
    let run = |sub: &str| {
        write(ws.path(), sub);
        let out = diff(&ws, &["--base", base.path().to_str().unwrap(), "--events", events.to_str().unwrap()]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = run(&oauth2("http://127.0.0.1:9/token", "contacts.write"));
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&oauth2("http://127.0.0.2:18399/evil/token", "contacts.write admin"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            r#"auth: oauth2 from http://127.0.0.1:9/token, scope "contacts.write", client_auth basic → oauth2 from http://127.0.0.2:18399/evil/token, scope "contacts.write admin", client_auth basic"#
        ),
        "{out}"
    );
    let (code, out) =
        run(&oauth2("http://127.0.0.1:9/token", "contacts.write").replace("s3cr3t-client-Q", "an0ther-client-Z"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("client_auth basic (its credentials changed)"), "{out}");
    let (code, out) = run(&format!("{SUB}auth:\n  bearer: static-T0ken-9\n"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("client_auth basic → Bearer ***"), "{out}");
    for secret in ["s3cr3t-client-Q", "an0ther-client-Z", "static-T0ken-9"] {
        assert!(!out.contains(secret), "{out}");
    }
}

/// The checkout `diff` made under `tmp` (its TMPDIR), once git has begun writing it.
fn checkout_under(tmp: &Path) -> Option<PathBuf> {
    std::fs::read_dir(tmp).ok()?.flatten().map(|e| e.path().join("base")).find(|base| base.join(".git").exists())
}

/// Ctrl-C while the base is checked out (here while its 400 subscriptions are checked out
/// and loaded) removes the checkout, then ends the process with 130. Before, the signal
/// ended the process at once, and the checkout stayed in `git worktree list` and in the
/// temporary directory.
#[test]
fn an_interrupt_while_the_base_is_checked_out_removes_the_checkout() {
    let ws = repository();
    for i in 0..400 {
        ws.subscription(&format!("audit-{i}.yaml"), &AUDIT.replace("name: audit", &format!("name: audit-{i}")));
    }
    commit(&ws, "many subscriptions");
    let out = tempfile::tempdir().unwrap();
    let (tmp, events) = (out.path().join("tmp"), out.path().join("events.jsonl"));
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(&events, "").unwrap();
    let mut child = hookshape()
        .current_dir(ws.path())
        .env("TMPDIR", &tmp)
        .args(["diff", "--base", "HEAD", "--events", events.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let checkout = loop {
        if let Some(base) = checkout_under(&tmp) {
            break base;
        }
        assert!(child.try_wait().unwrap().is_none(), "diff ended before its checkout was seen");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "no checkout appeared");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let ended = child.wait_with_output().unwrap();
    assert_eq!(ended.status.code(), Some(130), "{:?}: {}", ended.status, String::from_utf8_lossy(&ended.stderr));
    assert!(!checkout.exists(), "{} is still there", checkout.display());
    assert_no_checkout_left(&ws);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "the temporary directory is left behind");
}
