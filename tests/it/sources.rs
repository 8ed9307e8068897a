//! Inbound sources and activation, through real HTTP: each seed platform's source takes its
//! platform's signed request and refuses a wrong one; a platform's retry is one event; the
//! round trip (what an outbound template sends, posted back into its platform's source)
//! gives the same canonical event; activation by ping, and the ping in the platform's own
//! envelope.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

fn repo(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
}

/// The real binary on the repository's own subscriptions, templates and sources, every
/// platform's URL pointed at `receiver`.
fn serve_repo(receiver: &Receiver) -> ServeProcess {
    let url = receiver.url();
    let envs: Vec<(String, String)> = ["THEMEMBERS", "EDUZZ", "TOOLZZ", "LOYALTY", "CONNECTVETS"]
        .iter()
        .map(|p| (format!("{p}_URL"), format!("{url}/{}", p.to_lowercase())))
        .chain([("CRM_URL".to_string(), format!("{url}/crm"))])
        .collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let store = format!("sqlite://{}", tempfile::tempdir().unwrap().keep().join("h.db").display());
    let sources = repo("sources");
    let args = ["--sources", sources.to_str().unwrap()];
    ServeProcess::start(free_port(), &store, &repo("subscriptions"), &repo("templates"), &args, &envs)
}

async fn post(base: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{base}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

fn example(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(repo("examples").join(path)).unwrap()).unwrap()
}

fn instant(date: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(date.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn each_platform_round_trips_through_its_outbound_template_and_its_source() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    // Eduzz's subscription starts disabled (activation: ping): the receiver answers its ping.
    assert_eq!(post(&server.base, "/v1/subscriptions/eduzz/enable", &[], vec![]).await.0, 200);

    // platform, example event, the headers its source checks (sent by the outbound request,
    // or for Toolzz, which signs nothing, none: its token is in the URL), and whether
    // the platform's envelope carries the event's id.
    let platforms: [(&str, &str, &[&str], bool); 5] = [
        ("themembers", "themembers/class.completed.json", &["x-webhook-signature"], false),
        ("eduzz", "eduzz/lesson_started.json", &["x-signature"], true),
        ("toolzz", "toolzz/members.updated.json", &[], false),
        ("loyalty", "loyalty/coupon.json", &["x-loyalty-secret"], true),
        ("connectvets", "connectvets/note.completed.json", &["x-connectvets-signature"], false),
    ];
    for (platform, file, proof, carries_id) in platforms {
        let original = example(file);
        let (status, body) = post(
            &server.base,
            "/v1/events",
            &[("Content-Type", "application/json")],
            original.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, 202, "{platform}: {body}");
        let sent = eventually(WAIT, &format!("{platform}'s outbound request"), || async {
            receiver
                .requests_to(&format!("/{platform}"))
                .into_iter()
                .find(|r| r.header("x-webhook-event") == original["Topic"].as_str().map(String::from))
        })
        .await;
        let headers: Vec<(String, String)> = proof.iter().map(|h| (h.to_string(), sent.header(h).unwrap())).collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // Toolzz signs nothing and sends no header of its own: its token is in the URL.
        let path = match platform {
            "toolzz" => "/v1/sources/toolzz/toolzz-dev-token".to_string(),
            _ => format!("/v1/sources/{platform}"),
        };
        let (status, answer) = post(&server.base, &path, &headers, sent.body.to_vec()).await;
        assert!(status == 202 || status == 200, "{platform}: {status} {answer}");
        let uuid = answer["uuid"].as_str().unwrap();
        let (_, stored) = get(&server.base, &format!("/v1/events/{uuid}")).await;
        let back = &stored["event"];
        assert_eq!(back["Topic"], original["Topic"], "{platform}");
        assert_eq!(back["Payload"], original["Payload"], "{platform}");
        assert_eq!(instant(&back["Date"]), instant(&original["Date"]), "{platform}");
        // The platform's id is kept as SourceId; the Uuid is the source's own, so the event
        // posted back is not taken for the intake's event it came from.
        if carries_id {
            assert_eq!(back["SourceId"], original["Uuid"], "{platform}");
            assert_ne!(back["Uuid"], original["Uuid"], "{platform}");
        }
        assert_eq!(status, 202, "{platform}: {answer}");
        assert_eq!(stored["source"], platform, "{platform}: the event records its source");

        // The source's event goes out too; posted back once more, it is the same event (a
        // platform's retry of a webhook hookshape sent on is not a new event).
        let again = eventually(WAIT, &format!("{platform}'s request for its source's event"), || async {
            receiver.requests_to(&format!("/{platform}")).into_iter().find(|r| {
                r.header("x-webhook-event") == original["Topic"].as_str().map(String::from)
                    && r.header("x-webhook-id") != sent.header("x-webhook-id")
            })
        })
        .await;
        let headers: Vec<(String, String)> = proof.iter().map(|h| (h.to_string(), again.header(h).unwrap())).collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, repeated) = post(&server.base, &path, &headers, again.body.to_vec()).await;
        assert_eq!((status, &repeated["uuid"]), (200, &answer["uuid"]), "{platform}: {repeated}");
    }
    let (_, page) = get(&server.base, "/v1/deliveries?source=connectvets").await;
    let from_source = page["deliveries"].as_array().unwrap();
    assert!(!from_source.is_empty() && from_source.iter().all(|d| d["source"] == "connectvets"), "{page}");
}

#[tokio::test]
async fn a_wrong_or_missing_proof_is_a_401_and_nothing_is_stored() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let body = br#"{"event":"note.completed","timestamp":"2024-02-14T18:25:43Z","data":{"note_id":"n"}}"#.to_vec();
    let good = format!("sha256={}", hookshape::sign::hmac_hex(b"connectvets-dev-secret", &body));
    let bad = format!("sha256={}", hookshape::sign::hmac_hex(b"not-the-secret", &body));
    for headers in [vec![("X-ConnectVets-Signature", bad.as_str())], vec![]] {
        let (status, answer) = post(&server.base, "/v1/sources/connectvets", &headers, body.clone()).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("X-ConnectVets-Signature"), "{answer}");
    }
    let (status, _) = post(&server.base, "/v1/sources/loyalty", &[("X-Loyalty-Secret", "guess")], b"{}".to_vec()).await;
    assert_eq!(status, 401);
    assert_eq!(get(&server.base, "/v1/deliveries").await.1["deliveries"], json!([]), "nothing was stored");

    let (status, answer) =
        post(&server.base, "/v1/sources/connectvets", &[("X-ConnectVets-Signature", &good)], body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(post(&server.base, "/v1/sources/nosuch", &[], b"{}".to_vec()).await.0, 404);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_and_a_mapping_without_topic_a_422() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let sign = |body: &[u8]| hookshape::sign::hmac_hex(b"eduzz-dev-secret", body);
    let not_json = b"{\"id\": \"a\",\n oops}".to_vec();
    let (status, answer) =
        post(&server.base, "/v1/sources/eduzz", &[("x-signature", &sign(&not_json))], not_json).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("line 2 column 2"), "{answer}");

    let no_event = br#"{"id":"a","event":"","data":{},"sentDate":"2023-08-31T18:34:23.023Z"}"#.to_vec();
    let (status, answer) =
        post(&server.base, "/v1/sources/eduzz", &[("x-signature", &sign(&no_event))], no_event).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("Topic"), "{answer}");

    let not_object = br#"{"id":"a","event":"e","data":[1],"sentDate":"2023-08-31T18:34:23.023Z"}"#.to_vec();
    let (status, answer) =
        post(&server.base, "/v1/sources/eduzz", &[("x-signature", &sign(&not_object))], not_object).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("Payload"), "{answer}");

    let no_date = br#"{"id":"a","event":"e","data":{}}"#.to_vec();
    let (status, answer) = post(&server.base, "/v1/sources/eduzz", &[("x-signature", &sign(&no_date))], no_date).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("sentDate is undefined"), "the field is named: {answer}");

    let array = b"[1,2]".to_vec();
    let (status, answer) = post(&server.base, "/v1/sources/eduzz", &[("x-signature", &sign(&array))], array).await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("the body is an array, not a JSON object: reach it as `body`"), "{answer}");
}

#[tokio::test]
async fn the_same_eduzz_id_posted_twice_is_one_event() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let body = br#"{"id":"z154l2pvk6jltotg0xy86glx","event":"nutror.lesson_started","data":{"n":1},"sentDate":"2023-08-31T18:34:23.023Z"}"#.to_vec();
    let signature = hookshape::sign::hmac_hex(b"eduzz-dev-secret", &body);
    let (first, a) = post(&server.base, "/v1/sources/eduzz", &[("x-signature", &signature)], body.clone()).await;
    let (second, b) = post(&server.base, "/v1/sources/eduzz", &[("x-signature", &signature)], body).await;
    assert_eq!((first, second), (202, 200), "{a} {b}");
    assert_eq!(a["uuid"], b["uuid"]);
    assert_eq!(b["duplicate"], true);
    assert_eq!(a["uuid"], "bc22f0c3-36d4-58f8-8111-5bba58a302b4", "the UUIDv5 of the source's name and the id");
}

#[tokio::test]
async fn standard_webhooks_requests_outside_the_tolerance_are_replays() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    std::fs::write(
        ws.path().join("sources/sw.yaml"),
        format!("verify:\n  scheme: standard-webhooks\n  secrets: [\"{secret}\"]\n  tolerance: 1m\nevent:\n  Topic: \"{{{{ type }}}}\"\n  Uuid: \"{{{{ headers['webhook-id'] }}}}\"\n  Payload: \"{{{{ data }}}}\"\n"),
    )
    .unwrap();
    let app = TestApp::spawn(ws.config()).await;
    let body = br#"{"type":"invoice.paid","data":{"amount":1234.50}}"#;
    let key = hookshape::sign::standard_key(secret).unwrap();
    let send = |ts: i64| {
        let signature = hookshape::sign::standard_signature(&key, "msg_2x", ts, body);
        app.http
            .post(format!("{}/v1/sources/sw", app.base))
            .header("webhook-id", "msg_2x")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let old = send(now - 600).await.unwrap();
    assert_eq!(old.status().as_u16(), 401);
    let fresh = send(now).await.unwrap();
    assert_eq!(fresh.status().as_u16(), 202);
    let answer: Value = fresh.json().await.unwrap();
    let raw = app
        .http
        .get(format!("{}/v1/events/{}", app.base, answer["uuid"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&raw).unwrap();
    let payload: Value = serde_json::from_str(r#"{"amount":1234.50}"#).unwrap();
    assert_eq!(stored["event"]["Payload"], payload);
    assert_eq!(stored["event"]["Topic"], "invoice.paid");
    assert!(raw.contains("1234.50"), "the number keeps its digits: {raw}");
}

#[tokio::test]
async fn activation_by_ping_holds_deliveries_until_a_ping_is_answered_2xx() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "new.yaml",
        &format!("topics: [T]\nrequest:\n  url: \"{}/new\"\ndelivery:\n  activation: ping\n", receiver.url()),
    );
    ws.subscription("off.yaml", &format!("enabled: false\ntopics: [T]\nrequest:\n  url: \"{}/off\"\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;
    let (_, sub) = app.get("/v1/subscriptions/new").await;
    assert_eq!(sub["state"], "disabled", "{sub}");
    app.post_event(&json!({ "Topic": "T", "Payload": {} })).await;
    let held = app.wait_for_status("held", 1).await;
    // Retrying it, alone or in bulk, does not send it before the ping: it stays held.
    let id = held[0]["id"].as_str().unwrap();
    let (status, answer) = app.post(&format!("/v1/deliveries/{id}/retry")).await;
    assert_eq!((status, answer["status"].clone()), (202, json!("held")), "{answer}");
    let body = json!({ "status": "held", "subscription": "new" }).to_string();
    let (status, answer) = app.post_raw("/v1/deliveries/retry", body, None).await;
    assert_eq!((status, answer["retried"].clone(), answer["held"].clone()), (200, json!(1), json!(1)), "{answer}");
    app.wait_for_status("held", 1).await;

    receiver.set_status(500);
    let (status, answer) = app.post("/v1/subscriptions/new/enable").await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("500"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver
        .requests_to("/new")
        .iter()
        .all(|r| r.header("x-webhook-event").as_deref() == Some("hookshape.ping")));

    receiver.set_status(200);
    let (status, answer) = app.post("/v1/subscriptions/new/enable").await;
    assert_eq!((status, answer["released"].clone()), (200, json!(1)), "{answer}");
    eventually(WAIT, "the held delivery", || async {
        receiver.requests_to("/new").into_iter().find(|r| r.header("x-webhook-event").as_deref() == Some("T"))
    })
    .await;

    let (status, answer) = app.post("/v1/subscriptions/off/enable").await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("change the file"), "{answer}");
    assert!(receiver.requests_to("/off").is_empty(), "no ping for a subscription its file turns off");
}

#[tokio::test]
async fn connectvets_gets_its_ping_in_its_own_envelope() {
    let receiver = Receiver::start().await;
    let server = serve_repo(&receiver);
    server.ready().await;
    let (status, answer) = post(&server.base, "/v1/subscriptions/connectvets/enable", &[], vec![]).await;
    assert_eq!(status, 200, "{answer}");
    let ping = receiver.requests_to("/connectvets").pop().unwrap();
    let body = ping.json();
    assert_eq!(body["event"], "hookshape.ping", "the Flask receiver reads event['event']: {body}");
    assert_eq!(body["data"], json!({ "note_id": "ping", "status": "ping" }));
    let signature = ping.header("x-connectvets-signature").unwrap();
    assert_eq!(signature, format!("sha256={}", hookshape::sign::hmac_hex(b"connectvets-dev-secret", &ping.body)));
}

#[tokio::test]
async fn a_platform_s_signed_webhook_reaches_a_subscription_whose_receiver_verifies_it() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::copy(repo("sources/themembers.yaml"), ws.path().join("sources/themembers.yaml")).unwrap();
    ws.subscription(
        "crm.yaml",
        &format!(
            "topics: [class.completed]\nrequest:\n  method: PUT\n  url: \"{}/contacts/{{{{ Payload.student.id }}}}\"\n  body: {{ email: \"{{{{ Payload.student.email }}}}\", at: \"{{{{ Date }}}}\" }}\nsignature:\n  scheme: hmac-sha256-hex\n  secret: crm-secret\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    // TheMembers' own example, byte for byte as the platform sends it.
    let body = br#"{"type":"class_history","event":"class.completed","created":"2025-01-13T14:30:00.000000Z","data":{"student":{"id":12345,"name":"Jo\u00e3o da Silva","email":"joao@exemplo.com"},"course":{"id":100}}}"#;
    let signature = hookshape::sign::hmac_hex(b"mySecretKey123", body);
    let (status, answer) =
        post(&app.base, "/v1/sources/themembers", &[("X-Webhook-Signature", &signature)], body.to_vec()).await;
    assert_eq!(status, 202, "{answer}");
    let sent = eventually(WAIT, "the CRM's request", || async { receiver.requests_to("/contacts/12345").pop() }).await;
    assert_eq!(sent.method.as_str(), "PUT");
    assert_eq!(sent.json(), json!({ "email": "joao@exemplo.com", "at": "2025-01-13T14:30:00.000000Z" }));
    let expected = hookshape::sign::hmac_hex(b"crm-secret", &sent.body);
    assert_eq!(sent.header("x-webhook-signature"), Some(expected), "the CRM verifies what it gets");
}

/// PRODUCT.md "Inbound sources": a source's Uuid is the UUIDv5 of its name and the
/// platform's id, even when that id is a UUID, so no source can suppress another's (or
/// the intake's) events; the platform's id is kept as SourceId, in history and templates.
#[tokio::test]
async fn two_sources_sending_the_same_uuid_make_two_events_each_keeping_the_platforms_id() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let source =
        "verify: {scheme: none}\nevent:\n  Topic: \"{{ type }}\"\n  Uuid: \"{{ id }}\"\n  Payload: \"{{ data }}\"\n";
    for name in ["a", "b"] {
        std::fs::write(ws.path().join("sources").join(format!("{name}.yaml")), source).unwrap();
    }
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/got/{{{{ SourceId }}}}\"\n  body: {{ platform_id: \"{{{{ SourceId }}}}\", uuid: \"{{{{ Uuid }}}}\" }}\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    let id = "F47AC10B-58CC-4372-A567-0E02B2C3D479";
    let body = json!({ "id": id, "type": "T", "data": { "n": 1 } }).to_string().into_bytes();
    let (status_a, a) = post(&app.base, "/v1/sources/a", &[], body.clone()).await;
    let (status_b, b) = post(&app.base, "/v1/sources/b", &[], body.clone()).await;
    assert_eq!((status_a, status_b), (202, 202), "{a} {b}");
    assert_ne!(a["uuid"], b["uuid"], "two sources, two events");
    let intake = json!({ "Uuid": id, "Topic": "T", "Payload": {} });
    assert_eq!(app.post_event(&intake).await.0, 202, "nor does a source take the intake's Uuid");
    let (again, dup) = post(&app.base, "/v1/sources/a", &[], body).await;
    assert_eq!((again, &dup["uuid"]), (200, &a["uuid"]), "a platform's retry is still one event: {dup}");

    for answer in [&a, &b] {
        let uuid = answer["uuid"].as_str().unwrap();
        let (_, stored) = app.get(&format!("/v1/events/{uuid}")).await;
        assert_eq!(stored["event"]["SourceId"], id, "{stored}");
        assert_eq!(stored["event"]["Uuid"], uuid, "{stored}");
    }
    let got = receiver.wait_for(2, WAIT).await;
    let mut bodies: Vec<Value> = got.iter().filter(|r| r.path.starts_with("/got/")).map(|r| r.json()).collect();
    bodies.sort_by_key(|b| b["uuid"].as_str().unwrap_or_default().to_string());
    assert_eq!(bodies.len(), 2, "{got:?}");
    for body in &bodies {
        assert_eq!(body["platform_id"], id, "{body}");
    }
    assert!(got.iter().filter(|r| r.path.starts_with("/got/")).all(|r| r.path == format!("/got/{id}")));
}

/// A platform's numeric id is one event by its value: its retry may spell the number
/// otherwise (`1`, `1.0`, `1e0`, as a serializer rewritten between the two sends would),
/// and the id is kept as the platform first wrote it.
#[tokio::test]
async fn a_numeric_platform_id_is_one_event_however_the_number_is_spelt() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(
        ws.path().join("sources/numbers.yaml"),
        "verify: {scheme: none}\nevent:\n  Topic: \"{{ type }}\"\n  Uuid: \"{{ id }}\"\n  Payload: \"{{ data }}\"\n",
    )
    .unwrap();
    let app = TestApp::spawn(ws.config()).await;
    let send = |id: &'static str| {
        let base = app.base.clone();
        async move {
            let body = format!(r#"{{"id": {id}, "type": "T", "data": {{}}}}"#).into_bytes();
            post(&base, "/v1/sources/numbers", &[], body).await
        }
    };
    let (status, first) = send("1").await;
    assert_eq!(status, 202, "{first}");
    for same in ["1.0", "1e0", "10E-1", "1.000"] {
        let (status, answer) = send(same).await;
        assert_eq!((status, &answer["uuid"]), (200, &first["uuid"]), "{same} is the same id: {answer}");
    }
    let (status, other) = send("1.5").await;
    assert_eq!(status, 202, "another value, another event: {other}");
    assert_ne!(other["uuid"], first["uuid"]);
    let (_, stored) = app.get(&format!("/v1/events/{}", first["uuid"].as_str().unwrap())).await;
    assert_eq!(stored["event"]["SourceId"], "1", "kept as first written: {stored}");
}
