//! Hot reload: a valid change replaces the set; a broken one is refused whole, reported
//! with file:line, and the old set keeps delivering.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn file_changes_are_picked_up_and_a_broken_set_is_refused_while_the_old_one_delivers() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: {}/a\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    let (_, ready) = app.get("/readyz").await;
    let first_version = ready["version"].as_str().unwrap().to_string();
    assert_eq!(ready["last_reload_error"], serde_json::Value::Null);

    ws.subscription("b.yaml", &format!("topics: [T]\nrequest:\n  url: {}/b\n", receiver.url()));
    let ready = eventually(WAIT, "b.yaml to be loaded", || async {
        let (_, r) = app.get("/readyz").await;
        (r["subscriptions"] == 2).then_some(r)
    })
    .await;
    assert_ne!(ready["version"], first_version.as_str());
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.1["deliveries"], 2);
    receiver.wait_for(2, WAIT).await;

    ws.subscription("c.yaml", "topics: [T]\nrequest:\n  url: http://h/c\n  retries: 3\n");
    let error = eventually(WAIT, "the broken file to be reported", || async {
        let (_, r) = app.get("/readyz").await;
        r["last_reload_error"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("c.yaml:4:") && error.contains("retries"), "{error}");
    assert_eq!(app.get("/readyz").await.1["subscriptions"], 2, "the old set stays in force");
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.1["deliveries"], 2);
    receiver.wait_for(4, WAIT).await;

    std::fs::remove_file(ws.path().join("subscriptions/c.yaml")).unwrap();
    eventually(WAIT, "the error to clear", || async {
        let (_, r) = app.get("/readyz").await;
        r["last_reload_error"].is_null().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_still_picked_up_after_the_directory_is_made_again_or_swapped() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let subs = ws.path().join("subscriptions");
    let sub = |name: &str| format!("topics: [T]\nrequest:\n  url: {}/{name}\n", receiver.url());
    ws.subscription("a.yaml", &sub("a"));
    let app = TestApp::spawn(ws.config()).await;
    let loaded = |n: u64, what: &'static str| {
        let app = &app;
        async move {
            eventually(WAIT, what, || async { (app.get("/readyz").await.1["subscriptions"] == n).then_some(()) }).await
        }
    };
    // The watcher watches once its task has started: a file changed meanwhile is noticed.
    std::fs::write(subs.join("z.yaml"), sub("z")).unwrap();
    loaded(2, "a file added to be loaded").await;
    std::fs::remove_file(subs.join("z.yaml")).unwrap();
    loaded(1, "the file removed to be unloaded").await;

    // Deleted and made again, as `rm -r subscriptions && git checkout subscriptions` does.
    std::fs::remove_dir_all(&subs).unwrap();
    std::fs::create_dir(&subs).unwrap();
    std::fs::write(subs.join("a.yaml"), sub("a")).unwrap();
    std::fs::write(subs.join("b.yaml"), sub("b")).unwrap();
    loaded(2, "the directory made again to be loaded").await;
    std::fs::write(subs.join("c.yaml"), sub("c")).unwrap();
    loaded(3, "a file added to the new directory to be loaded").await;

    // Swapped for another, as a deploy that renames a fresh copy into place does.
    let fresh = ws.path().join("subscriptions.new");
    std::fs::create_dir(&fresh).unwrap();
    std::fs::write(fresh.join("a.yaml"), sub("a")).unwrap();
    std::fs::rename(&subs, ws.path().join("subscriptions.old")).unwrap();
    std::fs::rename(&fresh, &subs).unwrap();
    loaded(1, "the swapped-in directory to be loaded").await;
    std::fs::write(subs.join("d.yaml"), sub("d")).unwrap();
    loaded(2, "a file added to the swapped-in directory to be loaded").await;
    std::fs::write(ws.path().join("subscriptions.old/e.yaml"), sub("e")).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.get("/readyz").await.1["subscriptions"], 2, "the old directory's files are not the set");

    // A symbolic link pointed at another version (`ln -sfn v2 subscriptions`, a Kubernetes
    // ConfigMap): nothing inside either directory changes.
    let (v1, v2) = (ws.path().join("v1"), ws.path().join("v2"));
    for (dir, names) in [(&v1, &["a"][..]), (&v2, &["a", "b", "c"][..])] {
        std::fs::create_dir(dir).unwrap();
        for name in names {
            std::fs::write(dir.join(format!("{name}.yaml")), sub(name)).unwrap();
        }
    }
    std::fs::rename(&subs, ws.path().join("subscriptions.older")).unwrap();
    std::os::unix::fs::symlink(&v1, &subs).unwrap();
    loaded(1, "the link's first version to be loaded").await;
    let next = ws.path().join("subscriptions.next");
    std::os::unix::fs::symlink(&v2, &next).unwrap();
    std::fs::rename(&next, &subs).unwrap();
    loaded(3, "the version the link points at now to be loaded").await;
    std::fs::write(v2.join("d.yaml"), sub("d")).unwrap();
    loaded(4, "a file added to it to be loaded").await;
}

#[tokio::test]
async fn a_template_change_is_picked_up_and_deliveries_already_made_keep_their_bytes() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    ws.template("body.json.j2", r#"{"version": 1, "n": {{ N }}}"#);
    ws.subscription(
        "s.yaml",
        &format!(
            // The retry comes after the template change and the receiver's recovery below.
            "topics: [T]\nrequest:\n  url: {}/x\n  body_template: body.json.j2\nretry:\n  schedule: [2s]\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    app.post_event(&json!({ "Topic": "T", "Payload": { "N": 1 } })).await;
    receiver.wait_for(1, WAIT).await;
    ws.template("body.json.j2", r#"{"version": 2, "n": {{ N }}}"#);
    let (_, before) = app.get("/readyz").await;
    eventually(WAIT, "the template change", || async {
        let (_, r) = app.get("/readyz").await;
        (r["version"] != before["version"]).then_some(())
    })
    .await;
    receiver.set_status(200);
    app.post_event(&json!({ "Topic": "T", "Payload": { "N": 2 } })).await;
    app.wait_for_status("succeeded", 2).await;
    let bodies: Vec<serde_json::Value> = receiver.requests().iter().map(|r| r.json()).collect();
    assert!(bodies.contains(&json!({ "version": 1, "n": 1 })), "the retry resent the bytes first rendered");
    assert!(!bodies.contains(&json!({ "version": 2, "n": 1 })));
    assert!(bodies.contains(&json!({ "version": 2, "n": 2 })), "new events use the new template");
}

/// The same through the real binary: files changed under a running `hookshape serve`.
#[tokio::test]
async fn a_running_server_picks_up_a_new_file_and_refuses_a_broken_one() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("a.yaml", &format!("topics: [T]\nrequest:\n  url: {}/a\n", receiver.url()));
    let server = ServeProcess::in_workspace(&ws, free_port(), &[], &[]);
    server.ready().await;
    let http = reqwest::Client::new();
    let readyz = || async {
        http.get(format!("{}/readyz", server.base)).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let post = || async {
        let resp = http.post(format!("{}/v1/events", server.base)).body(r#"{"Topic":"T","Payload":{}}"#).send().await;
        resp.unwrap().json::<serde_json::Value>().await.unwrap()["deliveries"].clone()
    };
    ws.subscription("b.yaml", &format!("topics: [T]\nrequest:\n  url: {}/b\n", receiver.url()));
    eventually(WAIT, "b.yaml to be loaded", || async { (readyz().await["subscriptions"] == 2).then_some(()) }).await;
    ws.subscription("c.yaml", "topics: [T]\nrequest:\n  url: \"https://{{ Host }}/c\"\n");
    let error = eventually(WAIT, "c.yaml to be refused", || async {
        readyz().await["last_reload_error"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("c.yaml:3:"), "{error}");
    assert_eq!(post().await, 2, "the previous set stays in force");
    receiver.wait_for(2, WAIT).await;
}

/// Subscription `s` (answered 500 first, one retry `retry` later, 1 s timeout) beside `keep`.
fn gap_workspace(receiver: &Receiver, retry: &str) -> Workspace {
    let ws = Workspace::new();
    let yaml = |name: &str| {
        format!(
            "topics: [T]\nrequest:\n  url: {}/{name}\n  timeout: 1s\nretry:\n  schedule: [{retry}]\n",
            receiver.url()
        )
    };
    ws.subscription("s.yaml", &yaml("s")).subscription("keep.yaml", &yaml("keep"));
    ws
}

async fn wait_for_subscriptions(app: &TestApp, n: u64) {
    eventually(WAIT, &format!("{n} subscriptions to be loaded"), || async {
        (app.get("/readyz").await.1["subscriptions"] == n).then_some(())
    })
    .await;
}

/// A `git pull` mid-reload: `s.yaml` is missing while its retries fall due. They wait for
/// it, and go out when it is back, rather than being failed as no longer configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_due_while_a_subscription_file_is_missing_are_sent_when_it_is_back() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = gap_workspace(&receiver, "1s");
    let app = TestApp::spawn(ws.config()).await;
    for n in 0..5 {
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "N": n } })).await.0, 202);
    }
    receiver.wait_for(10, WAIT).await; // the first attempts, failed
    let s_yaml = std::fs::read_to_string(ws.path().join("subscriptions/s.yaml")).unwrap();
    std::fs::remove_file(ws.path().join("subscriptions/s.yaml")).unwrap();
    wait_for_subscriptions(&app, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // every retry of s is due, in the gap
    let (_, failed) = app.get("/v1/deliveries?subscription=s&status=failed").await;
    assert_eq!(failed["deliveries"], json!([]), "none given up in the gap");

    receiver.set_status(200);
    ws.subscription("s.yaml", &s_yaml);
    wait_for_subscriptions(&app, 2).await;
    let succeeded = app.wait_for_status("succeeded", 5).await;
    assert!(
        succeeded.iter().all(|d| d["subscription"] == "s" && d["attempts"] == 2),
        "each retried once: {succeeded:?}"
    );
    assert_eq!(receiver.requests_to("/s").len(), 10, "s's five deliveries, twice each");
}

/// A subscription whose file is gone for longer than `--orphan-grace` has its pending
/// deliveries failed, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_of_a_subscription_gone_past_the_orphan_grace_are_failed_as_removed() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = gap_workspace(&receiver, "1h");
    let mut config = ws.config();
    config.orphan_grace = Duration::from_secs(2);
    let app = TestApp::spawn(config).await;
    for n in 0..3 {
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "N": n } })).await.0, 202);
    }
    receiver.wait_for(6, WAIT).await; // each waits an hour for its retry
    std::fs::remove_file(ws.path().join("subscriptions/s.yaml")).unwrap();
    let failed = app.wait_for_status("failed", 3).await;
    for d in &failed {
        assert_eq!((d["subscription"].as_str(), d["last_error"].as_str()), (Some("s"), Some("subscription removed")));
    }
    let (_, kept) = app.get("/v1/deliveries?subscription=keep&status=pending").await;
    assert_eq!(kept["deliveries"].as_array().map(Vec::len), Some(3), "a loaded subscription keeps its retries");
}
