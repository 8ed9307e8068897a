//! Platform headers: a subscription may set `X-Webhook-Event` (TheMembers' format uses it for
//! its own event names), and then exactly one is sent, the subscription's; `X-Webhook-Id`
//! and `X-Webhook-Attempt` stay hookshape's.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_subscriptions_x_webhook_event_replaces_the_topic_and_arrives_once() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    // A ConnectVets note relayed to a TheMembers receiver, which reads the event's name from
    // X-Webhook-Event: `note.completed` must arrive as TheMembers' `class.completed`.
    ws.subscription(
        "chain.yaml",
        &format!(
            "topics: [note.completed]\nrequest:\n  url: {}/themembers\n  headers:\n    X-Webhook-Event: \"{{{{ 'class.completed' if Topic == 'note.completed' else Topic }}}}\"\n  body: {{ event: class.completed, data: {{ note: \"{{{{ note_id }}}}\" }} }}\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    let event = json!({ "Topic": "note.completed", "Payload": { "note_id": "n-1" } });
    assert_eq!(app.post_event(&event).await.0, 202);
    let got = receiver.wait_for(1, WAIT).await;
    let sent: Vec<_> = got[0].headers.get_all("x-webhook-event").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(sent, ["class.completed"], "exactly one, the subscription's");
    assert!(got[0].header("x-webhook-id").is_some_and(|id| id.starts_with("dlv_")));
    assert_eq!(got[0].header("x-webhook-attempt").as_deref(), Some("1"));
    assert_eq!(got[0].json()["event"], "class.completed");

    let preview = json!({ "subscription": "chain", "event": event });
    let (status, answer) = app.post_raw("/v1/render", preview.to_string(), None).await;
    assert_eq!(status, 200, "{answer}");
    let (status, refused) = app.post_raw("/v1/render", json!({ "subscription": "chain" }).to_string(), None).await;
    assert_eq!((status, refused["error"].as_str()), (422, Some("event: the canonical event to render is required")));
    let shown: Vec<_> = answer["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("x-webhook-event"))
        .collect();
    assert_eq!(shown, [&json!(["X-Webhook-Event", "class.completed"])], "render shows what is sent");
}

#[test]
fn x_webhook_id_and_attempt_stay_refused_by_validate() {
    let ws = Workspace::new();
    ws.subscription("id.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  headers:\n    X-Webhook-Id: mine\n");
    ws.subscription(
        "attempt.yaml",
        "topics: [T]\nrequest:\n  url: http://h/x\n  headers:\n    X-Webhook-Attempt: \"1\"\n",
    );
    ws.subscription("event.yaml", "topics: [T]\nrequest:\n  url: http://h/x\n  headers:\n    X-Webhook-Event: e\n");
    let out = on_workspace("validate", &ws);
    assert_one_line_per_mistake(
        &out,
        &[
            ("attempt.yaml:5:", "X-Webhook-Attempt is set by hookshape"),
            ("id.yaml:5:", "X-Webhook-Id is set by hookshape"),
        ],
    );
}
