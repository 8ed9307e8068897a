//! The real binary, killed with SIGKILL: every acknowledged event is still delivered.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_and_pending_loses_nothing() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(30)); // attempts hang: in flight when killed
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/e/{{{{ N }}}}\"\n", receiver.url()));
    let port = free_port();
    let server = ServeProcess::in_workspace(&ws, port, &["--concurrency", "4"], &[]);
    server.ready().await;
    let http = reqwest::Client::new();
    let total = 20;
    for n in 0..total {
        let resp = http
            .post(format!("{}/v1/events", server.base))
            .body(json!({ "Topic": "T", "Payload": { "N": n } }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
    }
    receiver.wait_for(2, Duration::from_secs(10)).await; // some in flight, the rest pending
    server.kill9();

    receiver.set_delay(Duration::ZERO);
    let server = ServeProcess::in_workspace(&ws, port, &["--concurrency", "4"], &[]);
    server.ready().await;
    let arrived = eventually(Duration::from_secs(30), "every event to arrive after the restart", || async {
        let paths: std::collections::HashSet<String> = receiver.requests().into_iter().map(|r| r.path).collect();
        (paths.len() == total).then_some(paths)
    })
    .await;
    for n in 0..total {
        assert!(arrived.contains(&format!("/e/{n}")), "event {n} was lost");
    }
    drop(server);
}

#[tokio::test]
async fn env_variables_are_resolved_at_load_and_a_missing_one_stops_the_start() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/x\n  headers:\n    Authorization: \"Bearer ${{HS_CRASH_TEST_TOKEN}}\"\n",
            receiver.url()
        ),
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_hookshape"))
        .args(["serve", "--listen", "127.0.0.1:0", "--subscriptions"])
        .arg(ws.path().join("subscriptions"))
        .args(["--store", &format!("sqlite://{}", ws.db().display())])
        .env_remove("HS_CRASH_TEST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("s.yaml:5:") && stderr.contains("HS_CRASH_TEST_TOKEN is not set"), "{stderr}");

    let port = free_port();
    let server = ServeProcess::in_workspace(&ws, port, &[], &[("HS_CRASH_TEST_TOKEN", "from-env")]);
    server.ready().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/events", server.base))
        .body(json!({ "Topic": "T", "Payload": {} }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("authorization").as_deref(), Some("Bearer from-env"));
}
