//! The event catalog in the console, in a real Chromium: the catalog page (each topic with
//! its validation, search keys, folded schema, examples and the subscriptions it reaches,
//! linked both ways with the subscriptions' pages), and a catalog example taken as the
//! event by the playground and by the studio.

use fantoccini::{Client, Locator};
use serde_json::json;

use fantoccini::key::Key;

use crate::console::{browser, click, screenshot, submit, text, until_text};
use crate::console_a11y::{press, tab_to};
use crate::helpers::*;

const POINTS: &str = "name: Communication_EarnPurchasePoints
description: A customer earned points on a purchase
schema:
  type: object
  required: [Customer, Points]
  properties:
    Customer:
      type: object
      properties:
        Id: {type: string}
        Email: {type: string}
    Points: {type: integer}
examples:
  - Customer: {Id: C-1001, Email: joao@exemplo.com}
    Points: 120
  - Customer: {Id: C-1002, Email: ana@exemplo.com}
    Points: 35
search_keys: [Customer.Id, Customer.Email]
validation: warn
";

const REFUND: &str = "name: order.refunded
description: An order was refunded
examples:
  - {Order: {Id: R-77}}
validation: off
";

/// `loyalty` takes the points topic (its URL carries the customer id); `audit` takes every
/// `Communication_*`; nothing takes `order.refunded`.
fn catalog_workspace(receiver: &Receiver) -> Workspace {
    let ws = Workspace::new();
    ws.subscription(
        "loyalty.yaml",
        &format!(
            "description: Points into the loyalty program\ntopics: [Communication_EarnPurchasePoints]\nrequest:\n  url: \"{}/points/{{{{ Payload.Customer.Id }}}}\"\n  body_template: loyalty/body.json.j2\n",
            receiver.url()
        ),
    );
    ws.template(
        "loyalty/body.json.j2",
        "{\n  \"customer\": {{ Payload.Customer.Id }},\n  \"points\": {{ Payload.Points }}\n}\n",
    );
    ws.subscription(
        "audit.yaml",
        &format!("topics: [\"Communication_*\"]\nrequest:\n  url: \"{}/audit\"\n", receiver.url()),
    );
    ws.topic("points.yaml", POINTS).topic("refund.yaml", REFUND);
    ws
}

async fn value_of(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_page_shows_each_topic_and_links_its_subscriptions_both_ways() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = catalog_workspace(&receiver);
    let app = TestApp::spawn(ws.config()).await;
    let base = app.base.clone();

    c.goto(&format!("{base}/console/")).await.unwrap();
    submit(c, "nav a[href='/console/topics']", "/console/topics").await;
    assert_eq!(text(c, "h1").await, "Event catalog");
    let points = text(c, "#topic-Communication_EarnPurchasePoints").await;
    for part in [
        "A customer earned points on a purchase",
        "warn: intake takes a non-conforming event",
        "Customer.Id, Customer.Email",
        "audit, loyalty",
        "Example 1",
        "C-1001",
        "Example 2",
        "ana@exemplo.com",
        "points.yaml:1",
    ] {
        assert!(points.contains(part), "{part:?} not in the topic's section:\n{points}");
    }
    screenshot(c, "topics").await;
    // The schema is there, folded until asked for.
    let schema = "#topic-Communication_EarnPurchasePoints details.schema";
    assert_eq!(value_of(c, &format!("return document.querySelector(\"{schema}\").open;")).await, false);
    // By keyboard: Tab to it, Enter unfolds it.
    tab_to(c, &format!("{schema} summary")).await;
    press(c, Key::Enter).await;
    assert_eq!(value_of(c, &format!("return document.querySelector(\"{schema}\").open;")).await, true);
    assert!(text(c, &format!("{schema} pre")).await.contains("\"required\": ["));
    let refund = text(c, "#topic-order\\.refunded").await;
    assert!(refund.contains("no subscription") && refund.contains("off: not checked at intake"), "{refund}");
    assert!(refund.contains("No schema"), "{refund}");

    // To a subscription's page, and back to the topic by the subscription's own link.
    submit(
        c,
        "#topic-Communication_EarnPurchasePoints a[href='/console/subscriptions/loyalty']",
        "/subscriptions/loyalty",
    )
    .await;
    let linked = text(c, "#catalog-topics").await;
    assert_eq!(linked, "Communication_EarnPurchasePoints");
    submit(c, "#catalog-topics a", "/console/topics#topic-Communication_EarnPurchasePoints").await;
    let target = value_of(c, "return document.querySelector(':target') && document.querySelector(':target').id;").await;
    assert_eq!(target, json!("topic-Communication_EarnPurchasePoints"));
    c.goto(&format!("{base}/console/subscriptions/audit")).await.unwrap();
    assert_eq!(text(c, "#catalog-topics").await, "Communication_EarnPurchasePoints");
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_takes_a_catalog_example_as_its_event() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = catalog_workspace(&receiver);
    let app = TestApp::spawn(ws.config()).await;
    let base = app.base.clone();

    // From the catalog page: the example, with its topic, in the event's box.
    c.goto(&format!("{base}/console/topics")).await.unwrap();
    submit(c, "#topic-Communication_EarnPurchasePoints .example a", "/console/playground").await;
    let event = value_of(c, "return JSON.parse(document.getElementById('event').value);").await;
    assert_eq!(
        event,
        json!({ "Topic": "Communication_EarnPurchasePoints", "Payload": { "Customer": { "Id": "C-1001", "Email": "joao@exemplo.com" }, "Points": 120 } })
    );
    click(c, "select[name=subscription] option[value=loyalty]").await;
    click(c, "#render").await;
    let line = text(c, "#request-line").await;
    assert!(line.ends_with("/points/C-1001"), "{line}");
    assert!(text(c, "#rendered-body").await.contains("\"points\": 120"));

    // The playground's own list: the second example, for the subscription chosen.
    c.goto(&format!("{base}/console/playground?subscription=loyalty")).await.unwrap();
    let offered: Vec<String> = serde_json::from_value(
        value_of(c, "return Array.from(document.querySelectorAll('#example option')).map(o => o.textContent);").await,
    )
    .unwrap();
    assert_eq!(
        offered,
        [
            "example: Communication_EarnPurchasePoints #1",
            "example: Communication_EarnPurchasePoints #2",
            "example: order.refunded #1"
        ]
    );
    click(c, "#example option[value='Communication_EarnPurchasePoints#2']").await;
    submit(c, "#use-example", "example=").await;
    click(c, "#render").await;
    assert!(text(c, "#request-line").await.ends_with("/points/C-1002"));
    assert!(text(c, "#rendered-body").await.contains("\"points\": 35"));

    // An example the catalog does not have: said, not guessed.
    c.goto(&format!("{base}/console/playground?example=order.refunded%232")).await.unwrap();
    assert!(text(c, "main").await.contains("The catalog has no example \"order.refunded#2\""));
    assert!(receiver.requests().is_empty(), "the playground sends nothing");
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_renders_a_catalog_example_of_the_subscriptions_topics() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = catalog_workspace(&receiver);
    let app = TestApp::spawn(ws.config()).await;

    c.goto(&format!("{}/console/studio/loyalty", app.base)).await.unwrap();
    // Only the examples of the topics it takes.
    let offered =
        value_of(c, "return Array.from(document.querySelectorAll('#example option')).map(o => o.value);").await;
    assert_eq!(offered, json!(["Communication_EarnPurchasePoints#1", "Communication_EarnPurchasePoints#2"]));
    click(c, "#example option[value='Communication_EarnPurchasePoints#2']").await;
    assert_eq!(value_of(c, "return document.getElementById('events-example').checked;").await, true);
    until_text(c, "#studio-status", |s| s.contains("Valid. 1 event rendered, 0 changed")).await;
    let render = text(c, "#render-0").await;
    assert!(render.contains("example: Communication_EarnPurchasePoints #2"), "{render}");
    assert!(render.contains("/points/C-1002"), "{render}");

    // The edited template meets the example: a field the example lacks fails to render.
    let edited = "{\n  \"customer\": {{ Payload.Customer.Id }},\n  \"tier\": {{ Payload.Tier }}\n}\n";
    let script = "const a = document.getElementById('template'); a.value = arguments[0]; \
                  a.dispatchEvent(new Event('input', { bubbles: true }));";
    c.execute(script, vec![json!(edited)]).await.unwrap();
    until_text(c, "#studio-status", |s| s.contains("1 changed")).await;
    let render = text(c, "#render-0 .edited").await;
    assert!(render.contains("Tier"), "the edited version names what it lacks: {render}");
    assert!(c.find(Locator::Css("#render-0 .loaded")).await.is_ok());
    assert!(receiver.requests().is_empty(), "the studio sends nothing");
    let _ = browser.client.clone().close().await;
}
