//! Several real `hookshape serve` processes sharing one PostgreSQL: every delivery is
//! sent, once in normal operation, and a node killed with SIGKILL has its work taken over.
//! Skipped (and said so) without `HOOKSHAPE_TEST_POSTGRES_URL`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hookshape::store::postgres::PostgresStore;
use hookshape::store::{DeliveryStatus, NewDelivery, NewEvent, Store, StoredRequest};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::pg::PgSchema;

/// Subscriptions `a` and `b` (fan-out 2) on topic T, plus any extra YAML per file.
fn fan_out_workspace(receiver: &Receiver, extra: &str) -> Workspace {
    let ws = Workspace::new();
    for name in ["a", "b"] {
        let yaml =
            format!("topics: [T]\nrequest:\n  url: \"{}/{name}/{{{{ N }}}}\"\n  timeout: 2s\n{extra}", receiver.url());
        ws.subscription(&format!("{name}.yaml"), &yaml);
    }
    ws
}

async fn start_nodes(ws: &Workspace, schema: &PgSchema, n: usize, args: &[&str]) -> Vec<ServeProcess> {
    let nodes: Vec<ServeProcess> = (0..n).map(|_| ServeProcess::on_store(ws, &schema.url, free_port(), args)).collect();
    for node in &nodes {
        node.ready().await;
    }
    nodes
}

/// Posts events numbered `range` in batches of 100, spread over `nodes` in turn, all at
/// once; every one must be acknowledged.
async fn post_spread(nodes: &[&str], range: std::ops::Range<usize>) {
    let http = reqwest::Client::new();
    let numbers: Vec<usize> = range.collect();
    let posts = numbers.chunks(100).enumerate().map(|(i, chunk)| {
        let url = format!("{}/v1/events/batch", nodes[i % nodes.len()]);
        let batch: Vec<Value> = chunk.iter().map(|n| json!({ "Topic": "T", "Payload": { "N": n } })).collect();
        let http = http.clone();
        async move {
            let resp = http.post(url).json(&batch).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            let body: Value = resp.json().await.unwrap();
            for result in body["results"].as_array().unwrap() {
                assert_eq!(result["status"], 202, "{result}");
            }
        }
    });
    futures_util::future::join_all(posts).await;
}

/// Arrivals per delivery id (`X-Webhook-Id`).
fn arrivals(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in receiver.requests() {
        *seen.entry(r.header("X-Webhook-Id").unwrap()).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_every_delivery_exactly_once() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = fan_out_workspace(&receiver, "");
    let nodes = start_nodes(&ws, &schema, 2, &[]).await;
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();

    post_spread(&bases, 0..2000).await;
    receiver.wait_for(4000, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // time for any second send to show up
    let seen = arrivals(&receiver);
    assert_eq!(seen.len(), 4000, "every delivery arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let paths: HashSet<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert!((0..2000).all(|n| paths.contains(&format!("/a/{n}")) && paths.contains(&format!("/b/{n}"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_has_its_work_taken_over() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(50)); // each node always has 8 attempts in flight
    let ws = fan_out_workspace(&receiver, "");
    let mut nodes = start_nodes(&ws, &schema, 2, &["--concurrency", "8"]).await;
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let bases: Vec<&str> = bases.iter().map(String::as_str).collect();

    post_spread(&bases, 0..1000).await; // all 2,000 deliveries acknowledged by both nodes
    receiver.wait_for(1000, Duration::from_secs(60)).await;
    // Results cannot be recorded for a second (a store slow to commit), so they pile up
    // unrecorded: a node goes on sending only as far as its room for them lets it.
    let db = schema.client().await;
    db.batch_execute("BEGIN; LOCK TABLE attempts IN EXCLUSIVE MODE").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes.remove(0).kill9();
    db.batch_execute("COMMIT").await.unwrap();
    let at_kill = receiver.requests().len();
    assert!(at_kill < 2000, "the kill came before the work was done ({at_kill} sent)");

    // The survivor sends what was pending at once, and what the dead node had leased once
    // they expire (the 2 s timeout plus the lease margin) or the node is found silent: then
    // every delivery is recorded as succeeded, which only a takeover can do for the dead
    // node's attempts.
    let survivor = bases[1].to_string();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(90), "every delivery to succeed after the kill", || async {
        let mut succeeded = 0;
        for name in ["a", "b"] {
            let sub: Value =
                http.get(format!("{survivor}/v1/subscriptions/{name}")).send().await.ok()?.json().await.ok()?;
            succeeded += sub["counts"]["succeeded"].as_u64()?;
        }
        (succeeded == 2000).then_some(())
    })
    .await;
    let seen = arrivals(&receiver);
    assert_eq!(seen.len(), 2000, "every delivery arrived");
    let again = seen.values().filter(|n| **n > 1).count();
    // What the dead node had sent and not recorded: its 8 attempts in flight, and at most
    // `UNRECORDED_PER_PERMIT` results per permit waiting for a commit.
    let bound = 8 + 8 * hookshape::dispatch::recorder::UNRECORDED_PER_PERMIT;
    assert!(
        again <= bound,
        "only what the dead node had sent and not recorded ({bound} at most) may arrive twice, not {again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_hands_its_unfinished_attempts_to_the_others_at_once() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(30)); // the stopping node's attempts cannot finish
    let ws = Workspace::new();
    // A 10 s timeout: a lease lasts 15 s, and the node stays alive (its heartbeat goes on
    // during the grace), so only a release explains a takeover within seconds.
    let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/s/{{{{ N }}}}\"\n  timeout: 10s\n", receiver.url());
    ws.subscription("s.yaml", &yaml);
    let stopping = ServeProcess::on_store(&ws, &schema.url, free_port(), &["--shutdown-grace", "1s"]);
    stopping.ready().await;
    let http = reqwest::Client::new();
    for n in 0..3 {
        let resp =
            http.post(format!("{}/v1/events", stopping.base)).json(&json!({ "Topic": "T", "Payload": { "N": n } }));
        assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    }
    receiver.wait_for(3, Duration::from_secs(10)).await; // all three in flight on the stopping node
    let staying = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    staying.ready().await;

    receiver.set_delay(Duration::ZERO);
    stopping.signal("TERM");
    assert_eq!(stopping.exit_code().await, Some(0));
    eventually(Duration::from_secs(8), "the other node to send them again, long before the leases expire", || async {
        let sub: Value =
            http.get(format!("{}/v1/subscriptions/s", staying.base)).send().await.ok()?.json().await.ok()?;
        (sub["counts"]["succeeded"] == 3).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_finishing_its_attempts_within_its_grace_is_not_taken_for_dead() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    // Longer than a node may be silent (10 s), shorter than the grace: the stopping node
    // finishes them, and nobody else may send them meanwhile.
    receiver.set_delay(Duration::from_secs(13));
    let ws = Workspace::new();
    let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/g/{{{{ N }}}}\"\n  timeout: 30s\n", receiver.url());
    ws.subscription("g.yaml", &yaml);
    let stopping = ServeProcess::on_store(&ws, &schema.url, free_port(), &["--shutdown-grace", "30s"]);
    stopping.ready().await;
    let staying = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    staying.ready().await;
    let http = reqwest::Client::new();
    for n in 0..3 {
        let resp =
            http.post(format!("{}/v1/events", stopping.base)).json(&json!({ "Topic": "T", "Payload": { "N": n } }));
        assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    }
    receiver.wait_for(3, Duration::from_secs(10)).await;
    stopping.signal("TERM");
    assert_eq!(stopping.exit_code().await, Some(0));
    let sub = eventually(Duration::from_secs(10), "the three recorded as succeeded", || async {
        let sub: Value =
            http.get(format!("{}/v1/subscriptions/g", staying.base)).send().await.ok()?.json().await.ok()?;
        (sub["counts"]["succeeded"] == 3).then_some(sub)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let paths: Vec<String> = receiver.requests_to("/g/").into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 3, "each sent once, by the node that was finishing them: {paths:?} {sub}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_asked_of_a_node_without_the_subscription_is_sent_by_one_with_it() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_status_for("/extra", 500);
    // A rolling deploy: the new node has `extra`, the old one does not yet.
    let ws = Workspace::new();
    let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/extra\"\nretry:\n  schedule: [1h]\n", receiver.url());
    ws.subscription("extra.yaml", &yaml);
    let old_files = Workspace::new();
    old_files.subscription("other.yaml", &format!("topics: [U]\nrequest:\n  url: \"{}/other\"\n", receiver.url()));
    let new = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    let old = ServeProcess::on_store(&old_files, &schema.url, free_port(), &[]);
    new.ready().await;
    old.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", new.base)).json(&json!({ "Topic": "T", "Payload": {} }));
    assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    receiver.wait_for(1, Duration::from_secs(10)).await; // failed once; next attempt in an hour
    let page: Value = http.get(format!("{}/v1/deliveries", old.base)).send().await.unwrap().json().await.unwrap();
    let id = page["deliveries"][0]["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(10), "the first attempt to be recorded", || async {
        let page: Value = http.get(format!("{}/v1/deliveries", old.base)).send().await.ok()?.json().await.ok()?;
        let d = &page["deliveries"][0];
        (d["attempts"] == 1 && d["status"] == "pending").then_some(())
    })
    .await;

    receiver.set_status_for("/extra", 200);
    let resp = http.post(format!("{}/v1/deliveries/{id}/retry", old.base)).send().await.unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!((status, answer["outcome"].as_str()), (202, Some("sent")), "{answer}");
    eventually(Duration::from_secs(10), "the node that has it to send it", || async {
        let d: Value = http.get(format!("{}/v1/deliveries/{id}", old.base)).send().await.ok()?.json().await.ok()?;
        (d["status"] == "succeeded").then_some(())
    })
    .await;
    let bulk = http
        .post(format!("{}/v1/deliveries/retry", old.base))
        .json(&json!({ "subscription": "extra", "status": "succeeded" }));
    let bulk: Value = bulk.send().await.unwrap().json().await.unwrap();
    assert_eq!((bulk["retried"].clone(), bulk["not_sendable"].clone()), (json!(1), json!(0)), "{bulk}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_of_a_subscription_this_node_just_dropped_is_not_sendable_on_postgresql() {
    // "Loaded elsewhere" read when some node last noted the subscription, within 90 s: the
    // node's own note from before its reload, so a resend was answered "sent" and left
    // pending for a subscription no node had.
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("gone.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/gone\"\n", receiver.url()));
    ws.subscription("stays.yaml", &format!("topics: [U]\nrequest:\n  url: \"{}/stays\"\n", receiver.url()));
    let node = ServeProcess::on_store(&ws, &schema.url, free_port(), &[]);
    node.ready().await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{}/v1/events", node.base)).json(&json!({ "Topic": "T", "Payload": {} }));
    assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = eventually(Duration::from_secs(10), "the delivery to succeed", || async {
        let page: Value = http.get(format!("{}/v1/deliveries", node.base)).send().await.ok()?.json().await.ok()?;
        let d = &page["deliveries"][0];
        (d["status"] == "succeeded").then(|| d["id"].as_str().unwrap().to_string())
    })
    .await;
    std::fs::remove_file(ws.path().join("subscriptions/gone.yaml")).unwrap();
    eventually(Duration::from_secs(10), "the removal to load and be noted", || async {
        let ready: Value = http.get(format!("{}/readyz", node.base)).send().await.ok()?.json().await.ok()?;
        tokio::time::sleep(Duration::from_millis(1_500)).await; // a heartbeat after the reload
        (ready["subscriptions"] == 1).then_some(())
    })
    .await;
    let resp = http.post(format!("{}/v1/deliveries/{id}/retry", node.base)).send().await.unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!((status, answer["outcome"].as_str()), (409, Some("not_sendable")), "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("gone is not loaded"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_holds_across_nodes() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(100));
    let ws = Workspace::new();
    let yaml =
        format!("topics: [T]\nrequest:\n  url: \"{}/c/{{{{ N }}}}\"\ndelivery:\n  max_in_flight: 3\n", receiver.url());
    ws.subscription("c.yaml", &yaml);
    let nodes = start_nodes(&ws, &schema, 2, &[]).await;
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();

    // Single events, alternating nodes, so both are waking to send.
    let http = reqwest::Client::new();
    for n in 0..40 {
        let resp =
            http.post(format!("{}/v1/events", bases[n % 2])).json(&json!({ "Topic": "T", "Payload": { "N": n } }));
        assert_eq!(resp.send().await.unwrap().status().as_u16(), 202);
    }
    receiver.wait_for(40, Duration::from_secs(60)).await;
    assert_eq!(receiver.max_concurrency("c"), 3, "never more than 3 at once across both nodes, and the cap was used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_uuid_posted_to_two_nodes_at_once_is_one_event() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = fan_out_workspace(&receiver, "");
    let nodes = start_nodes(&ws, &schema, 2, &[]).await;
    let http = reqwest::Client::new();

    let uuids: Vec<String> = (0..50).map(|_| new_uuid()).collect();
    let posts = uuids.iter().enumerate().flat_map(|(n, uuid)| {
        let event = json!({ "Uuid": uuid, "Topic": "T", "Payload": { "N": n } });
        let http = http.clone();
        nodes.iter().map(move |node| {
            let (http, url, event) = (http.clone(), format!("{}/v1/events", node.base), event.clone());
            async move {
                let resp = http.post(url).json(&event).send().await.unwrap();
                let body: Value = resp.json().await.unwrap();
                (
                    body["uuid"].as_str().unwrap().to_string(),
                    body["duplicate"].as_bool().unwrap(),
                    body["deliveries"].clone(),
                )
            }
        })
    });
    let answers = futures_util::future::join_all(posts).await;
    for uuid in &uuids {
        let mine: Vec<_> = answers.iter().filter(|(u, _, _)| u == uuid).collect();
        assert_eq!(
            mine.iter().filter(|(_, dup, _)| !dup).count(),
            1,
            "one node stored {uuid}, the other saw a duplicate"
        );
        assert!(mine.iter().all(|(_, _, d)| *d == json!(2)), "both answers count the event's 2 deliveries");
    }
    receiver.wait_for(100, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.requests().len(), 100, "each of the 50 events fanned out to 2, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_and_retry_through_one_node_act_for_all() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    // The URL needs N: the enable's ping is rendered from a Payload that has it.
    let ws = fan_out_workspace(&receiver, "ping:\n  payload: { N: 0 }\n");
    let nodes = start_nodes(&ws, &schema, 2, &[]).await;
    let (one, two) = (&nodes[0].base, &nodes[1].base);
    let http = reqwest::Client::new();
    let post = |url: String| {
        let http = http.clone();
        async move { http.post(url).send().await.unwrap().status().as_u16() }
    };

    assert_eq!(post(format!("{one}/v1/subscriptions/a/disable")).await, 200);
    let resp = http.post(format!("{two}/v1/events")).json(&json!({ "Topic": "T", "Payload": { "N": 7 } }));
    let accepted: Value = resp.send().await.unwrap().json().await.unwrap();
    let event = accepted["uuid"].as_str().unwrap();
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let list: Value = http
        .get(format!("{two}/v1/deliveries?event={event}&subscription=a"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["deliveries"][0]["status"], "held", "the other node holds it: {list}");

    assert_eq!(post(format!("{two}/v1/subscriptions/a/enable")).await, 200);
    eventually(Duration::from_secs(10), "the held delivery to go out", || async {
        (!receiver.requests_to("/a/7").is_empty()).then_some(())
    })
    .await;

    // A retry asked of either node is carried out once. Asked before the attempt's result
    // is recorded, it is refused as in flight (409), rightly: wait for the result first.
    let id = list["deliveries"][0]["id"].as_str().unwrap();
    eventually(Duration::from_secs(10), "the sent delivery's result to be recorded", || async {
        let d: Value = http.get(format!("{one}/v1/deliveries/{id}")).send().await.ok()?.json().await.ok()?;
        (d["status"] == "succeeded").then_some(())
    })
    .await;
    assert_eq!(post(format!("{one}/v1/deliveries/{id}/retry")).await, 202);
    eventually(Duration::from_secs(10), "the retry", || async {
        (receiver.requests_to("/a/7").len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.requests_to("/a/7").len(), 2, "sent once, retried once: {:?}", receiver.requests_to("/a/7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_the_schema_once() {
    let Some(schema) = PgSchema::create().await else { return };
    let opens = (0..4).map(|_| PostgresStore::open(&schema.url));
    for opened in futures_util::future::join_all(opens).await {
        opened.unwrap();
    }
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client.query("SELECT version FROM hookshape_migrations ORDER BY version", &[]).await.unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let every: Vec<i32> = (1..=crate::pg::migration_files().len() as i32).collect();
    assert_eq!(versions, every, "each migration, applied once");
}

/// A subscription file for `name` on topic T, sent to `receiver`, with `extra` YAML.
fn subscription_yaml(receiver: &Receiver, name: &str, extra: &str) -> String {
    format!("topics: [T]\nrequest:\n  url: \"{}/{name}/{{{{ N }}}}\"\n  timeout: 2s\n{extra}", receiver.url())
}

/// A rolling deploy: one node has the new subscription `s2`, the other not yet. The old
/// node must leave s2's retries to the new one: every s2 delivery gets all its attempts
/// from a node that has it, none is given up as "no longer configured".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_only_one_node_has_is_sent_by_that_node_and_never_given_up() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let retries = "retry:\n  schedule: [1s, 1s, 1s]\ndelivery:\n  disable_after_failures: 0\n";
    let (old, new) = (Workspace::new(), Workspace::new());
    old.subscription("a.yaml", &subscription_yaml(&receiver, "a", retries));
    for name in ["a", "s2"] {
        new.subscription(&format!("{name}.yaml"), &subscription_yaml(&receiver, name, retries));
    }
    let nodes = [&old, &new].map(|ws| ServeProcess::on_store(ws, &schema.url, free_port(), &[]));
    for node in &nodes {
        node.ready().await;
    }
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();
    // Batches alternate: 200 events on the old node (a only), 200 on the new (a and s2).
    post_spread(&bases, 0..400).await;

    // 600 deliveries, 4 attempts each, all answered 500: then all are failed.
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(120), "every delivery to be finished", || async {
        let mut failed = 0;
        for name in ["a", "s2"] {
            let sub: Value =
                http.get(format!("{}/v1/subscriptions/{name}", bases[1])).send().await.ok()?.json().await.ok()?;
            failed += sub["counts"]["failed"].as_u64()?;
        }
        (failed == 600).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await; // time for any extra attempt to show up
    let page: Value = http
        .get(format!("{}/v1/deliveries?subscription=s2&limit=1000", bases[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s2 = page["deliveries"].as_array().unwrap();
    assert_eq!(s2.len(), 200);
    for d in s2 {
        assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("failed"), Some(4)), "{d}");
        assert_eq!(d["last_status_code"], 500, "the last attempt was sent, not given up: {d}");
    }
    let seen = arrivals(&receiver);
    assert_eq!(seen.len(), 600, "every delivery arrived");
    let wrong: Vec<_> = seen.iter().filter(|(_, n)| **n != 4).collect();
    assert!(wrong.is_empty(), "each delivery was sent its 4 attempts, no more, no fewer: {wrong:?}");
}

/// Two nodes across a 15 s outage of their database: neither is taken for dead by the other
/// for the silence the outage caused, nor are its expired leases taken, so the results each
/// held through it are recorded and nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_across_a_database_outage_send_nothing_twice() {
    let Some(pg) = crate::pg::ThrowawayPostgres::start() else { return };
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(500)); // attempts are in flight when it stops
    let ws = Workspace::new();
    for name in ["a", "b"] {
        ws.subscription(&format!("{name}.yaml"), &subscription_yaml(&receiver, name, ""));
    }
    let nodes: Vec<ServeProcess> =
        (0..2).map(|_| ServeProcess::on_store(&ws, &pg.url(), free_port(), &["--concurrency", "16"])).collect();
    for node in &nodes {
        node.ready().await;
    }
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();
    post_spread(&bases, 0..400).await; // 800 deliveries, about 60 a second at most
    receiver.wait_for(100, Duration::from_secs(30)).await;
    pg.stop();
    // The first node holds its results through the outage and comes back 2 s after the
    // database (paused, as a node slow to reconnect would be): the other, back at once, sees
    // its heartbeat 17 s old, but must not take it for dead for a silence the outage caused.
    tokio::time::sleep(Duration::from_secs(12)).await;
    nodes[0].signal("STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again();
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes[0].signal("CONT");

    let http = reqwest::Client::new();
    eventually(Duration::from_secs(120), "every delivery to be recorded as succeeded", || async {
        let mut succeeded = 0;
        for name in ["a", "b"] {
            let sub: Value =
                http.get(format!("{}/v1/subscriptions/{name}", bases[0])).send().await.ok()?.json().await.ok()?;
            succeeded += sub["counts"]["succeeded"].as_u64()?;
        }
        (succeeded == 800).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = arrivals(&receiver);
    assert_eq!(seen.len(), 800, "every delivery arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent again after the outage: {} deliveries: {twice:?}", twice.len());
}

/// One node's clock 30 s ahead, the other's 30 s behind: each keeps to the database's clock,
/// so neither takes the other's live leases for expired (nothing is sent twice), and a
/// retry the node behind schedules is not sent early by the node ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_whose_clocks_are_a_minute_apart_send_nothing_twice_and_no_retry_early() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(300)); // leases stay held while the other node looks
    let failing = Receiver::start().await;
    failing.set_status(500);
    let ws = fan_out_workspace(&receiver, "");
    let retried = format!(
        "topics: [R]\nrequest:\n  url: \"{}/r/{{{{ N }}}}\"\nretry:\n  schedule: [20s]\ndelivery:\n  disable_after_failures: 0\n",
        failing.url()
    );
    ws.subscription("r.yaml", &retried);
    let nodes: Vec<ServeProcess> = ["30000", "-30000"]
        .iter()
        .map(|skew| ServeProcess::on_store(&ws, &schema.url, free_port(), &["--clock-skew-ms", skew]))
        .collect();
    for node in &nodes {
        node.ready().await;
    }
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();
    // Retries scheduled by the node behind: 20 s after the first attempt, less 20% jitter.
    let http = reqwest::Client::new();
    for n in 0..20 {
        let event = json!({ "Topic": "R", "Payload": { "N": n } });
        assert_eq!(http.post(format!("{}/v1/events", bases[1])).json(&event).send().await.unwrap().status(), 202);
    }
    failing.wait_for(20, Duration::from_secs(10)).await;
    let first_attempts = std::time::Instant::now();

    post_spread(&bases, 0..1000).await;
    receiver.wait_for(2000, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = arrivals(&receiver);
    assert_eq!(seen.len(), 2000, "every delivery arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {} deliveries", twice.len());

    tokio::time::sleep(Duration::from_secs(12).saturating_sub(first_attempts.elapsed())).await;
    assert_eq!(failing.requests().len(), 20, "no retry went out 12 s into its 16-24 s wait");
    failing.wait_for(40, Duration::from_secs(60)).await;
    assert!(arrivals(&failing).values().all(|n| *n == 2), "each retried once");
}

/// A node's `hookshape_lease_skipped_total`, once its /metrics can be read.
async fn lease_skipped(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    let line = text.lines().find(|l| l.starts_with("hookshape_lease_skipped_total "))?;
    line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|v| v as u64)
}

/// An event on topic T with one pending delivery, due now, of `subscription` to `url`.
fn one_pending_event(subscription: &str, url: &str) -> NewEvent {
    let request = StoredRequest {
        method: "POST".into(),
        url: url.into(),
        headers: Vec::new(),
        body: Some("{}".into()),
        sensitive: Vec::new(),
        masked: Vec::new(),
    };
    let delivery = NewDelivery {
        id: hookshape::accept::new_delivery_id(),
        subscription: subscription.into(),
        status: DeliveryStatus::Pending,
        request,
        error: None,
        config_version: "v1".into(),
        lease: None,
        needs_activation: false,
    };
    let uuid = new_uuid();
    NewEvent {
        body: format!("{{\"Uuid\":\"{uuid}\"}}"),
        uuid,
        topic: "T".into(),
        date: "2026-11-23T10:00:00Z".into(),
        received_at: hookshape::now_ms(),
        source: None,
        deliveries: vec![delivery],
        keys: Vec::new(),
        schema_problems: Vec::new(),
    }
}

/// A due delivery whose row another transaction holds is passed over by `SKIP LOCKED`: the
/// node counts the miss in `hookshape_lease_skipped_total`, and sends it once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_delivery_held_by_another_transaction_is_counted_as_skipped_then_sent() {
    let Some(schema) = PgSchema::create().await else { return };
    let receiver = Receiver::start().await;
    let ws = fan_out_workspace(&receiver, "");
    // Stored before any node runs, so the test holds its row before anything can lease it.
    let store = PostgresStore::open(&schema.url).await.unwrap();
    let event = one_pending_event("a", &format!("{}/a/locked", receiver.url()));
    store.insert_events(vec![event]).await.unwrap();
    drop(store);
    let holder = schema.client().await;
    holder.batch_execute("BEGIN; SELECT id FROM queue WHERE subscription = 'a' FOR UPDATE").await.unwrap();

    let nodes = start_nodes(&ws, &schema, 1, &[]).await;
    let http = reqwest::Client::new();
    let base = nodes[0].base.as_str();
    eventually(Duration::from_secs(20), "a lease to count the held row as skipped", || async {
        lease_skipped(&http, base).await.filter(|n| *n >= 1)
    })
    .await;
    assert!(receiver.requests().is_empty(), "a held row is not sent");

    holder.batch_execute("ROLLBACK").await.unwrap();
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].path, "/a/locked");
}
