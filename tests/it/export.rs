//! `hookshape events export`: real events posted to a real intake (SQLite and PostgreSQL),
//! read back by the real binary as canonical lines that intake takes again; the store is
//! only read; `--redact` placeholders are stable and do not show the value.

use std::path::Path;

use hookshape::config::StoreUrl;
use serde_json::Value;

use crate::helpers::{hookshape, new_uuid, TestApp, Workspace};
use crate::pg::PgSchema;

const SHADOW: &str = "name: crm\nmode: shadow\ntopics: [\"Communication_*\"]\nrequest:\n  url: http://127.0.0.1:9/x\n  body: { id: \"{{ Customer.Id }}\" }\n";

/// Events of two topics, with numbers whose digits JSON libraries like to change (parsed
/// from text: the crate's serde_json keeps a number's digits, `json!` would not).
fn events() -> Vec<Value> {
    (0..5)
        .map(|i| {
            let topic = if i % 2 == 0 { "Communication_EarnPurchasePoints" } else { "Communication_Redeem" };
            let text = format!(
                r#"{{"Uuid":"{}","Date":"2025-04-15T14:30:0{i}.000Z","Topic":"{topic}","Payload":{{"Customer":{{"Id":"C-{i}","Email":"cliente{i}@exemplo.com"}},"Points":120.50,"Big":12345678901234567890}}}}"#,
                new_uuid()
            );
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

/// Posts `events` one by one (so their received order is theirs) to an app on `store`.
async fn stored(ws: &Workspace, store: StoreUrl, events: &[Value]) {
    let mut config = ws.config();
    config.store = store;
    let app = TestApp::spawn(config).await;
    for e in events {
        let (status, body) = app.post_event(e).await;
        assert_eq!(status, 202, "{body}");
        // Distinct received times, so the oldest-first order is the posting order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.stop().await;
}

fn export(store: &str, args: &[&str]) -> (i32, String, String) {
    let out = hookshape().args(["events", "export", "--store", store]).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The store's directory as it stands, but for the WAL index: each file's name, a hash of
/// its bytes, and its modification time.
fn snapshot(db: &Path) -> Vec<(String, String, std::time::SystemTime)> {
    use sha2::Digest;
    let mut files: Vec<_> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .filter_map(|e| {
            // A file the stopping server's writer removes meanwhile (its WAL) is not there.
            let e = e.ok()?;
            // The WAL index (-shm) is shared memory every reader of a WAL database takes
            // its read mark in, so reading a store whose server still has it open touches it
            // (the server in this process may not have closed it yet); it holds no data.
            if e.file_name().to_string_lossy().ends_with("-shm") {
                return None;
            }
            let hash = hex::encode(sha2::Sha256::digest(std::fs::read(e.path()).ok()?));
            Some((e.file_name().to_string_lossy().into_owned(), hash, e.metadata().ok()?.modified().ok()?))
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn sqlite_export_is_canonical_selectable_and_never_writes_the_store() {
    let ws = Workspace::new();
    ws.subscription("crm.yaml", SHADOW);
    let sent = events();
    stored(&ws, StoreUrl::Sqlite(ws.db()), &sent).await;
    // The stopped server's writer thread closes the file (and removes its WAL) on its own time.
    let mut before = snapshot(&ws.db());
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = snapshot(&ws.db());
        if now == before {
            break;
        }
        before = now;
    }
    let store = format!("sqlite://{}", ws.db().display());

    let (code, stdout, stderr) = export(&store, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&stdout), sent, "every event, oldest first, as it was posted");
    for (line, event) in stdout.lines().zip(&sent) {
        // Digits kept: `120.50` and the 20-digit integer as they were sent.
        assert!(line.contains(r#""Points":120.50"#) && line.contains("12345678901234567890"), "{line}");
        assert!(line.starts_with(&format!(r#"{{"Uuid":"{}","Date":"#, event["Uuid"].as_str().unwrap())), "{line}");
        // The line is what intake takes.
        assert!(hookshape::event::parse(line.as_bytes()).is_ok(), "{line}");
    }

    let (_, stdout, _) = export(&store, &["--topic", "Communication_Red*"]);
    assert_eq!(lines(&stdout), vec![sent[1].clone(), sent[3].clone()]);
    let (_, stdout, _) = export(&store, &["--last", "2"]);
    assert_eq!(lines(&stdout), sent[3..].to_vec(), "the newest two, oldest first");
    let (_, stdout, _) = export(&store, &["--topic", "Communication_EarnPurchasePoints", "--last", "1"]);
    assert_eq!(lines(&stdout), vec![sent[4].clone()]);
    let (_, stdout, _) = export(&store, &["--since", "1h"]);
    assert_eq!(lines(&stdout).len(), 5);
    let (_, stdout, _) = export(&store, &["--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(stdout, "");

    assert_eq!(snapshot(&ws.db()), before, "the export wrote to the store");
}

#[tokio::test]
async fn redacted_values_get_stable_placeholders_that_do_not_show_them() {
    let ws = Workspace::new();
    ws.subscription("crm.yaml", SHADOW);
    let mut sent = events();
    // The same customer twice: the same placeholder, so a diff still sees one customer.
    sent[2]["Payload"]["Customer"]["Email"] = sent[0]["Payload"]["Customer"]["Email"].clone();
    stored(&ws, StoreUrl::Sqlite(ws.db()), &sent).await;
    let store = format!("sqlite://{}", ws.db().display());
    let args = ["--redact", "Customer.Email", "--redact", "Points"];
    let (code, first, stderr) = export(&store, &args);
    assert_eq!(code, 0, "{stderr}");
    let (_, second, _) = export(&store, &args);
    assert_eq!(first, second, "the same placeholders on every run");
    assert!(!first.contains("exemplo.com") && !first.contains("120.50"), "{first}");
    let out = lines(&first);
    let email = |i: usize| out[i]["Payload"]["Customer"]["Email"].as_str().unwrap().to_string();
    assert!(email(0).starts_with("redacted-"), "{}", email(0));
    assert_eq!(email(0), email(2));
    assert_ne!(email(0), email(1));
    assert!(out[0]["Payload"]["Points"].as_str().unwrap().starts_with("redacted-"), "a number becomes a string");
    assert_eq!(out[0]["Payload"]["Customer"]["Id"], "C-0", "what is not redacted stays");
}

#[test]
fn bad_arguments_and_a_missing_store_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("nope.db").display());
    let (code, stdout, stderr) = export(&missing, &[]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("nope.db: no such SQLite file"), "{stderr}");
    assert!(!dir.path().join("nope.db").exists(), "export created a database");
    for (args, says) in [
        (&["--since", "yesterday"][..], "--since \"yesterday\""),
        (&["--redact", "Customer."][..], "--redact"),
        (&["--last", "0"][..], "--last"),
    ] {
        let (code, _, stderr) = export(&missing, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn postgres_export_reads_a_nodes_store_and_never_migrates_one() {
    let Some(schema) = PgSchema::create().await else { return };
    let ws = Workspace::new();
    ws.subscription("crm.yaml", SHADOW);
    let sent = events();
    stored(&ws, StoreUrl::Postgres(schema.url.clone()), &sent).await;
    let (code, stdout, stderr) = export(&schema.url, &["--topic", "Communication_*"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&stdout), sent);
    let (_, stdout, _) = export(&schema.url, &["--last", "2"]);
    assert_eq!(lines(&stdout), sent[3..].to_vec());

    // A schema with no hookshape tables: an error, and still no tables (nothing migrated).
    let Some(empty) = PgSchema::create().await else { return };
    let (code, stdout, stderr) = export(&empty.url, &[]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("events"), "{stderr}");
    let tables =
        empty.client().await.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema()", &[]).await.unwrap();
    assert!(tables.is_empty(), "export created tables");
}
