//! History search through real HTTP on both stores: a customer's deliveries found among
//! 10,000 by a `search_keys` value, by `Path:value`, by the event's `SourceId` and by the
//! URL's path, with the other filters and cursor paging; and the CLI's `--key`.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::pg::PgSchema;

/// Events posted: two per customer, `C-0` … `C-4999`.
const EVENTS: usize = 10_000;
const CUSTOMERS: usize = EVENTS / 2;

const SUBSCRIPTION: &str = r#"
topics: [order.paid]
mode: shadow
search_keys: [Customer.Id, Payload.Customer.Email]
request:
  url: "http://127.0.0.1:9/customers/{{ Customer.Id }}/orders"
  body: { order: "{{ Order }}" }
"#;

/// A source with no proof (loopback only) whose platform id becomes `SourceId`.
const SOURCE: &str = r#"
verify: { scheme: none }
event:
  Topic: "{{ kind }}"
  Uuid: "{{ id }}"
  Payload: "{{ data }}"
"#;

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.subscription("orders.yaml", SUBSCRIPTION);
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(ws.path().join("sources").join("shop.yaml"), SOURCE).unwrap();
    ws
}

fn order(i: usize) -> Value {
    let customer = i % CUSTOMERS;
    json!({
        "Uuid": new_uuid(),
        "Topic": "order.paid",
        "Payload": {
            "Order": i,
            "Customer": { "Id": format!("C-{customer}"), "Email": format!("Cliente{customer}@Exemplo.com") }
        }
    })
}

/// Posts `orders` as one batch; every one must be accepted.
async fn post_batch(app: &TestApp, orders: Vec<Value>) {
    let n = orders.len();
    let (status, body) = app.post_raw("/v1/events/batch", Value::Array(orders).to_string(), None).await;
    assert_eq!(status, 200);
    let accepted = body["results"].as_array().unwrap().iter().filter(|r| r["status"] == 202).count();
    assert_eq!(accepted, n, "every event accepted");
}

async fn post_history(app: &TestApp) {
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(1000) {
        post_batch(app, chunk.iter().map(|i| order(*i)).collect()).await;
    }
}

/// The orders (`Order` in the body) of the deliveries `query` finds, all pages followed.
async fn orders_found(app: &TestApp, query: &str) -> Vec<u64> {
    let mut found = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.get(&format!("/v1/deliveries?{query}&limit=1{cursor}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        for d in page["deliveries"].as_array().unwrap() {
            let (_, detail) = app.get(&format!("/v1/deliveries/{}", d["id"].as_str().unwrap())).await;
            let body: Value = serde_json::from_str(detail["request"]["body"].as_str().unwrap()).unwrap();
            found.push(body["order"].as_u64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    found.sort();
    found
}

async fn a_customers_deliveries_are_found_among_ten_thousand(app: &TestApp) {
    post_history(app).await;
    // C-1007's two orders, newest first over two pages of one.
    assert_eq!(orders_found(app, "key=C-1007").await, vec![1007, 6007]);
    assert_eq!(orders_found(app, "key=%20c-1007%20").await, vec![1007, 6007], "case and spaces do not matter");
    assert_eq!(orders_found(app, "key=Customer.Email:cliente1007@exemplo.com").await, vec![1007, 6007]);
    assert_eq!(orders_found(app, "key=cliente1007@exemplo.com").await, vec![1007, 6007]);
    assert_eq!(orders_found(app, "key=Customer.Id:cliente1007@exemplo.com").await, Vec::<u64>::new(), "wrong path");
    assert_eq!(orders_found(app, "key=C-100").await, vec![100, 5100], "a whole value, not a prefix");
    // The URL's path, whole and by segment.
    assert_eq!(orders_found(app, "key=/customers/C-1007/orders").await, vec![1007, 6007]);
    assert_eq!(orders_found(app, "key=url:C-1007").await, vec![1007, 6007]);
    // With the other filters.
    assert_eq!(orders_found(app, "key=C-1007&status=shadow&subscription=orders").await, vec![1007, 6007]);
    assert_eq!(orders_found(app, "key=C-1007&status=failed").await, Vec::<u64>::new());
    assert_eq!(orders_found(app, "key=C-1007&topic=other").await, Vec::<u64>::new());
    assert_eq!(orders_found(app, "key=C-99999").await, Vec::<u64>::new());
    let (status, body) = app.get(&format!("/v1/deliveries?key={}", "x".repeat(201))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("key"), "{body}");

    // A source's event, by its platform id (`SourceId`).
    let shop =
        json!({ "id": "ord_77", "kind": "order.paid", "data": { "Order": 77777, "Customer": { "Id": "C-77" } } });
    let (status, body) = app.post_raw("/v1/sources/shop", shop.to_string(), None).await;
    assert!(status == 202, "{body}");
    assert_eq!(orders_found(app, "key=SourceId:ord_77").await, vec![77777]);
    assert_eq!(orders_found(app, "key=ORD_77").await, vec![77777]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_key_search_finds_a_customers_deliveries_among_ten_thousand() {
    let ws = workspace();
    let app = TestApp::spawn(ws.config()).await;
    a_customers_deliveries_are_found_among_ten_thousand(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_key_search_finds_a_customers_deliveries_among_ten_thousand() {
    let Some(schema) = PgSchema::create().await else { return };
    let ws = workspace();
    let mut config = ws.config();
    config.store = hookshape::config::StoreUrl::parse(&schema.url).unwrap();
    let app = TestApp::spawn(config).await;
    a_customers_deliveries_are_found_among_ten_thousand(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_a_customers_deliveries_by_key() {
    let ws = workspace();
    let app = TestApp::spawn(ws.config()).await;
    post_batch(&app, (0..EVENTS).step_by(500).map(order).collect()).await;
    let out = hookshape()
        .args(["deliveries", "list", "--key", "Customer.Id:C-1000", "--url", &app.base, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = page["deliveries"].as_array().unwrap();
    assert_eq!(found.len(), 2, "orders 1000 and 6000: {page}");
    assert!(found.iter().all(|d| d["url"].as_str().unwrap().contains("/customers/C-1000/")), "{page}");
    app.stop().await;
}

#[test]
fn a_search_key_that_is_not_a_path_is_a_load_error_naming_file_and_line() {
    let ws = Workspace::new();
    ws.subscription(
        "bad.yaml",
        "topics: [a]\nsearch_keys:\n  - Customer.Id\n  - Customer..Email\nrequest:\n  url: http://127.0.0.1:9/x\n",
    );
    let out = on_workspace("validate", &ws);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("bad.yaml:4: search_keys: \"Customer..Email\" has an empty segment"), "{text}");
}

/// The support job in a browser: from any page's header, type a customer's id, press
/// Enter, and see that customer's deliveries only; then narrow with the page's own form
/// (its search box kept), the dates picked, not typed as RFC 3339.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_types_a_customer_id_in_the_search_box_and_finds_their_deliveries() {
    use crate::console::{browser, rows, submit, text};
    use fantoccini::Locator;
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let ws = workspace();
    let app = TestApp::spawn(ws.config()).await;
    post_batch(&app, (0..200).map(order).collect()).await;

    c.goto(&format!("{}/console/subscriptions", app.base)).await.unwrap();
    let search = c.find(Locator::Css("header form[role=search] input[name=key]")).await.unwrap();
    search.send_keys("C-107\u{E007}").await.unwrap();
    eventually(std::time::Duration::from_secs(15), "the deliveries page", || async {
        c.current_url().await.ok().filter(|u| u.as_str().contains("/console/deliveries?key=C-107")).map(|_| ())
    })
    .await;
    let found = rows(c, "#deliveries tbody tr").await;
    assert_eq!(found.len(), 1, "order 107 only: {found:?}");
    assert!(found[0].contains("/customers/C-107/orders"), "{found:?}");

    // The page's form keeps the search and adds filters; the picker's time is UTC.
    let kept = c.find(Locator::Css("#key")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("C-107"));
    c.find(Locator::Css("input[name=status][value=shadow]")).await.unwrap().click().await.unwrap();
    submit(c, "#apply", "status=shadow").await;
    assert_eq!(rows(c, "#deliveries tbody tr").await.len(), 1);
    assert!(text(c, "#filters").await.contains("UTC"));

    let picked = format!("{}/console/deliveries?key=C-107&since=2000-01-01T00:00", app.base);
    c.goto(&picked).await.unwrap();
    assert_eq!(rows(c, "#deliveries tbody tr").await.len(), 1, "since a picked time");
    let since = c.find(Locator::Css("input[name=since]")).await.unwrap();
    assert_eq!(since.attr("type").await.unwrap().as_deref(), Some("datetime-local"));
    assert_eq!(since.prop("value").await.unwrap().as_deref(), Some("2000-01-01T00:00"), "shown in UTC, as picked");
    c.goto(&format!("{}/console/deliveries?key=C-107&until=2000-01-01T00:00", app.base)).await.unwrap();
    assert!(text(c, "#deliveries").await.contains("No delivery matches"));
    app.stop().await;
}
