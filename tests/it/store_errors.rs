//! Store errors as producers and operators see them: a permanent one answered once and
//! isolated from its neighbours, a full disk flipping `/readyz` at once (even before the
//! database file exists), and a PostgreSQL outage said in one clear message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookshape::config::StoreUrl;
use serde_json::json;

use crate::helpers::*;
use crate::pg::PgSchema;

fn event(topic: &str, n: u32) -> serde_json::Value {
    json!({ "Topic": topic, "Payload": { "N": n } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_store_refuses_is_answered_once_and_its_neighbours_are_stored() {
    let ws = Workspace::new();
    let app = TestApp::spawn(ws.config()).await;
    // A real constraint of the database file's own: events of topic "poison" are refused.
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.topic = 'poison'
         BEGIN SELECT RAISE(ABORT, 'poison is refused'); END;",
    )
    .unwrap();
    drop(conn);

    let good: Vec<_> = (0..40)
        .map(|n| {
            let (base, http) = (app.base.clone(), app.http.clone());
            tokio::spawn(async move {
                let resp = http.post(format!("{base}/v1/events")).json(&event("T", n)).send().await.unwrap();
                resp.status().as_u16()
            })
        })
        .collect();
    let (status, body) = app.post_event(&event("poison", 0)).await;
    assert_eq!(status, 422, "a permanent store error is not a 503 to retry forever: {body}");
    assert!(body["error"].as_str().unwrap().contains("poison is refused"), "{body}");
    for task in good {
        assert_eq!(task.await.unwrap(), 202, "an event beside the refused one is stored");
    }
    let (status, _) = app.post_event(&event("T", 99)).await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_unready_with_the_first_write_refused_for_want_of_space() {
    let Some(disk) = Tmpfs::mount("4m") else { return };
    let ws = Workspace::new();
    let mut config = ws.config();
    config.store = StoreUrl::Sqlite(disk.0.path().join("hookshape.db"));
    let app = TestApp::spawn(config).await;
    eventually(Duration::from_secs(5), "the node to be ready", || async {
        (app.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let filler = disk.fill();
    let mut refused = false;
    for n in 0..2000 {
        let pad = json!({ "Topic": "T", "Payload": { "N": n, "Pad": "x".repeat(2000) } });
        if app.post_event(&pad).await.0 == 503 {
            refused = true;
            break;
        }
    }
    assert!(refused, "intake must answer 503 once the disk is full");
    // At once, not at the next heartbeat.
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "intake refuses for want of space, so the node is not ready: {body}");
    assert!(body["error"].as_str().unwrap().contains("does not take writes"), "{body}");
    std::fs::remove_file(filler).unwrap();
    eventually(Duration::from_secs(5), "the node to be ready again", || async {
        (app.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_on_a_full_disk_before_its_database_exists_and_serves_once_there_is_space() {
    let Some(disk) = Tmpfs::mount("4m") else { return };
    let filler = disk.fill();
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("f.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/f/{{{{ N }}}}\"\n", receiver.url()));
    let mut config = ws.config();
    config.store = StoreUrl::Sqlite(disk.0.path().join("data").join("hookshape.db"));
    let app = TestApp::spawn(config).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(app.post_event(&event("T", 1)).await.0, 503, "no database yet: intake refuses");

    std::fs::remove_file(filler).unwrap();
    let accepted = eventually(Duration::from_secs(5), "intake to take events once there is space", || async {
        (app.post_event(&event("T", 2)).await.0 == 202).then_some(())
    });
    accepted.await;
    eventually(Duration::from_secs(5), "the node to be ready", || async {
        (app.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
}

/// A TCP proxy to the test PostgreSQL that can be cut, as an outage would.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn to(target: (String, u16)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let held = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                held.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { port, tasks }
    }

    /// Refuses new connections and drops every open one.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_is_answered_503_saying_store_unavailable_once() {
    let Some(schema) = PgSchema::create().await else { return };
    let url: url::Url = schema.url.parse().unwrap();
    let target = (url.host_str().unwrap().to_string(), url.port().unwrap_or(5432));
    assert!(target.0.starts_with("127."), "tests talk to 127.0.0.0/8 only");
    let proxy = Proxy::to(target).await;
    let mut through = url.clone();
    through.set_port(Some(proxy.port)).unwrap();
    let ws = Workspace::new();
    let mut config = ws.config();
    config.store = StoreUrl::Postgres(through.to_string());
    let app = TestApp::spawn(config).await;
    assert_eq!(app.post_event(&event("T", 1)).await.0, 202);

    proxy.cut();
    let (status, body) = app.post_event(&event("T", 2)).await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert_eq!(error.matches("store unavailable").count(), 1, "said once: {error}");
    assert!(error.contains("PostgreSQL"), "{error}");
}
