//! The event catalog (`topics/*.yaml`): load errors with `file:line`, intake validation
//! (`enforce` refuses with 422 naming the path on `/v1/events`, a batch and a source; `warn`
//! accepts and counts; `off` does nothing), hot reload of a topic, topic `search_keys` in
//! history search, and the shipped catalog.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

/// A topic of loyalty points whose Customer.Id must be a string, checked as `validation`.
fn points_topic(validation: &str) -> String {
    format!(
        r#"name: Communication_EarnPurchasePoints
description: A customer earned points on a purchase
schema:
  type: object
  required: [Customer, Points]
  properties:
    Customer:
      type: object
      required: [Id]
      properties:
        Id: {{type: string}}
        Email: {{type: string}}
    Points: {{type: integer}}
examples:
  - Customer: {{Id: C-1001, Email: joao@exemplo.com}}
    Points: 120
search_keys: [Customer.Email]
validation: {validation}
"#
    )
}

const SHADOW: &str = "topics: [\"Communication_*\"]\nmode: shadow\nrequest:\n  url: http://127.0.0.1:9/points\n";

/// A source with no proof (loopback only) whose events keep the platform's own topic.
const SOURCE: &str = "verify: { scheme: none }\nevent:\n  Topic: \"{{ kind }}\"\n  Payload: \"{{ data }}\"\n";

fn workspace(validation: &str) -> Workspace {
    let ws = Workspace::new();
    ws.subscription("points.yaml", SHADOW).topic("points.yaml", &points_topic(validation));
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(ws.path().join("sources").join("shop.yaml"), SOURCE).unwrap();
    ws
}

fn points(id: Value) -> Value {
    json!({"Topic": "Communication_EarnPurchasePoints", "Payload": {"Customer": {"Id": id}, "Points": 5}})
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn enforce_refuses_a_nonconforming_event_with_422_naming_the_path_on_every_intake() {
    let ws = workspace("enforce");
    let app = TestApp::spawn(ws.config()).await;

    let (status, body) = app.post_event(&points(json!(7))).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with(r#"Payload.Customer.Id: 7 is not of type "string""#), "{error}");
    assert!(error.contains("topic Communication_EarnPurchasePoints enforces its schema"), "{error}");
    assert_eq!(app.post_event(&points(json!("C-1"))).await.0, 202, "a conforming event is accepted");

    let batch = json!([points(json!("C-2")), points(json!(false))]).to_string();
    let (status, body) = app.post_raw("/v1/events/batch", batch, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["status"], 202);
    assert_eq!(body["results"][1]["status"], 422);
    let error = body["results"][1]["error"].as_str().unwrap();
    assert!(error.starts_with(r#"[1].Payload.Customer.Id: false is not of type "string""#), "{error}");

    let from_source = json!({"kind": "Communication_EarnPurchasePoints", "data": {"Customer": {}, "Points": "x"}});
    let (status, body) = app.post_raw("/v1/sources/shop", from_source.to_string(), None).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("Payload.Customer: ") && error.contains("\"Id\" is a required property"), "{error}");
    assert!(error.contains(r#"Payload.Points: "x" is not of type "integer""#), "{error}");
    assert!(metrics(&app)
        .await
        .contains(r#"hookshape_source_requests_total{outcome="refused_schema",source="shop"} 1"#));
    let (_, page) = app.get("/v1/deliveries?limit=100").await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 2, "only the two conforming events were stored");
    app.stop().await;
}

#[tokio::test]
async fn warn_accepts_a_nonconforming_event_counts_it_and_marks_it_on_sqlite() {
    let ws = workspace("warn");
    warn_accepts_counts_and_marks(&TestApp::spawn(ws.config()).await).await;
}

#[tokio::test]
async fn warn_marks_the_event_on_postgresql_too() {
    let Some(schema) = crate::pg::PgSchema::create().await else { return };
    let ws = workspace("warn");
    let mut config = ws.config();
    config.store = hookshape::config::StoreUrl::parse(&schema.url).unwrap();
    warn_accepts_counts_and_marks(&TestApp::spawn(config).await).await;
}

async fn warn_accepts_counts_and_marks(app: &TestApp) {
    let (status, bad) = app.post_event(&points(json!(7))).await;
    assert_eq!((status, bad["deliveries"].clone()), (202, json!(1)), "{bad}");
    let (_, good) = app.post_event(&points(json!("C-1"))).await;
    let from_source = json!({"kind": "Communication_EarnPurchasePoints", "data": {"Points": 1}});
    let (status, sourced) = app.post_raw("/v1/sources/shop", from_source.to_string(), None).await;
    assert_eq!(status, 202, "{sourced}");
    let text = metrics(app).await;
    assert!(
        text.contains(r#"hookshape_events_schema_mismatch_total{topic="Communication_EarnPurchasePoints"} 2"#),
        "two events did not conform, one did:\n{text}"
    );
    let problems = |answer: &Value| {
        let uuid = answer["uuid"].as_str().unwrap().to_string();
        async move { app.get(&format!("/v1/events/{uuid}")).await.1["schema_problems"].clone() }
    };
    assert_eq!(problems(&bad).await, json!([r#"Payload.Customer.Id: 7 is not of type "string""#]));
    assert_eq!(problems(&good).await, json!([]));
    let sourced_problems = problems(&sourced).await;
    assert!(
        sourced_problems[0].as_str().unwrap().contains(r#""Customer" is a required property"#),
        "{sourced_problems}"
    );
    let page =
        app.http.get(format!("{}/console/events/{}", app.base, bad["uuid"].as_str().unwrap())).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"schema-problems\"") && html.contains("Payload.Customer.Id: 7 is not of type"),
        "{html}"
    );
}

#[tokio::test]
async fn off_checks_nothing_and_adds_no_series() {
    let ws = workspace("off");
    let app = TestApp::spawn(ws.config()).await;
    let (status, answer) = app.post_event(&points(json!(7))).await;
    assert_eq!(status, 202);
    assert!(!metrics(&app).await.contains("hookshape_events_schema_mismatch_total{"));
    let (_, shown) = app.get(&format!("/v1/events/{}", answer["uuid"].as_str().unwrap())).await;
    assert_eq!(shown["schema_problems"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_topic_change_is_picked_up_by_reload() {
    let ws = workspace("off");
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&points(json!(7))).await.0, 202);
    let (_, before) = app.get("/readyz").await;
    ws.topic("points.yaml", &points_topic("enforce"));
    eventually(WAIT, "the topic's enforce to be loaded", || async {
        (app.post_event(&points(json!(7))).await.0 == 422).then_some(())
    })
    .await;
    assert_ne!(app.get("/readyz").await.1["version"], before["version"], "topic files are part of the version");

    ws.topic("points.yaml", "name: Communication_EarnPurchasePoints\nvalidation: sometimes\n");
    let error = eventually(WAIT, "the broken topic to be reported", || async {
        app.get("/readyz").await.1["last_reload_error"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("points.yaml:2:") && error.contains("sometimes"), "{error}");
    assert_eq!(app.post_event(&points(json!(7))).await.0, 422, "the old catalog stays in force");
    app.stop().await;
}

/// A catalog begun after the node started: its directory did not exist to be watched.
#[tokio::test]
async fn a_topics_directory_created_after_start_is_picked_up_by_reload() {
    let ws = Workspace::new();
    ws.subscription("points.yaml", SHADOW);
    assert!(!ws.path().join("topics").exists());
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&points(json!(7))).await.0, 202, "no catalog yet");
    ws.topic("points.yaml", &points_topic("enforce"));
    eventually(WAIT, "the new catalog's enforce to be loaded", || async {
        (app.post_event(&points(json!(7))).await.0 == 422).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_topics_search_keys_find_its_events_deliveries() {
    let ws = workspace("off");
    let app = TestApp::spawn(ws.config()).await;
    let event = json!({"Topic": "Communication_EarnPurchasePoints",
                       "Payload": {"Customer": {"Id": "C-9", "Email": "Ana@Exemplo.com"}, "Points": 1}});
    assert_eq!(app.post_event(&event).await.0, 202);
    assert_eq!(app.post_event(&points(json!("C-8"))).await.0, 202);
    let (status, page) = app.get("/v1/deliveries?key=Customer.Email:ana@exemplo.com").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "the subscription declares no keys: {page}");
    let (_, none) = app.get("/v1/deliveries?key=C-9").await;
    assert_eq!(none["deliveries"].as_array().unwrap().len(), 0, "Customer.Id is no key of the topic");
    app.stop().await;
}

#[test]
fn validate_names_each_topic_mistake_with_its_file_and_line() {
    let ws = Workspace::new();
    ws.subscription("points.yaml", SHADOW);
    ws.topic("a.yaml", "name: A\ndescripton: typo\n");
    ws.topic("b.yaml", "name: \"B?\"\n");
    ws.topic("c.yaml", &points_topic("warn").replace("Points: {type: integer}", "Points: {type: intger}"));
    ws.topic("d.yaml", &points_topic("warn").replace("Points: 120", "Points: many").replace("EarnPurchase", "Other"));
    ws.topic("e1.yaml", "name: E\n").topic("e2.yaml", "name: E\n");
    let out = on_workspace("validate", &ws);
    assert_one_line_per_mistake(
        &out,
        &[
            ("a.yaml:2:", "unknown field `descripton`"),
            ("b.yaml:1:", "only * is a wildcard"),
            ("c.yaml:13:", "schema at /properties/Points/type is not valid JSON Schema"),
            ("d.yaml:16:", r#"examples[0]: Payload.Points: "many" is not of type "integer""#),
            ("e2.yaml:1:", "topic \"E\" is already described by"),
        ],
    );
}

#[test]
fn the_shipped_catalog_loads_and_its_examples_conform_to_their_schemas() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topics");
    let (catalog, errors) = hookshape::catalog::load_dir(&dir, &mut <sha2::Sha256 as sha2::Digest>::new());
    assert_eq!(errors, vec![], "the shipped topics load");
    assert!(catalog.topics.len() >= 8, "a topic per seed platform's events and the examples");
    for topic in &catalog.topics {
        assert!(topic.schema.is_some() && !topic.examples.is_empty(), "{} has a schema and examples", topic.name);
        for example in &topic.examples {
            assert_eq!(topic.problems(example), Vec::<String>::new(), "{}'s example conforms", topic.name);
        }
    }
    // The repository's own example events are in the catalog, and conform.
    for file in ["event.json", "loyalty/coupon.json", "eduzz/lesson_started.json", "connectvets/note.completed.json"] {
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("../examples").join(file)).unwrap()).unwrap();
        let topics: Vec<_> = catalog.for_event_topic(event["Topic"].as_str().unwrap()).collect();
        assert!(!topics.is_empty(), "{file}'s topic is in the catalog");
        for t in topics {
            assert_eq!(t.problems(&event["Payload"]), Vec::<String>::new(), "{file} conforms to {}", t.name);
        }
    }
}
