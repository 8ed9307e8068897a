//! The playground: an event (pasted, or picked from history) and a subscription, and the
//! exact request it would send, as `POST /v1/render` answers (secrets `***`). An example
//! of the topic catalog can be taken as the event (`?example=TOPIC%23n`).

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::field;
use super::page::{pretty_json, shown_body, value, Console};
use super::session::Viewer;
use crate::api::operations::render_preview;
use crate::api::{ApiError, ApiState};
use crate::catalog::examples;
use serde_json::json;

const EXAMPLE: &str = r#"{
  "Topic": "customer.updated",
  "Payload": { "Customer": { "Id": "c-1" } }
}"#;

/// The form; `?event=UUID` fills it with a stored event, `?example=TOPIC%23n` with an
/// example of the catalog.
pub async fn page(console: Arc<Console>, viewer: Viewer, state: ApiState, query: Vec<(String, String)>) -> Response {
    let chosen = field(&query, "subscription").filter(|s| !s.is_empty()).cloned();
    let event = match (field(&query, "event").filter(|u| !u.is_empty()), field(&query, "example")) {
        (Some(uuid), _) => match state.store.get_event(&uuid.to_ascii_lowercase()).await {
            Ok(Some(stored)) => pretty_json(&stored.body),
            Ok(None) => return console.api_error(&viewer, ApiError::not_found(format!("There is no event {uuid}."))),
            Err(e) => return console.api_error(&viewer, ApiError::store(e)),
        },
        (None, Some(key)) if !key.is_empty() => match example_event(&state, key, chosen.as_deref()) {
            Ok(text) => text,
            Err(e) => return console.api_error(&viewer, e),
        },
        _ => EXAMPLE.to_string(),
    };
    show(&console, &viewer, &state, event, chosen, None, StatusCode::OK)
}

/// The catalog's example `key` (`TOPIC#n`) as a canonical event, pretty-printed; a glob
/// topic is sent as a topic the chosen subscription takes, when one fits (`event_topic`).
fn example_event(state: &ApiState, key: &str, subscription: Option<&str>) -> Result<String, ApiError> {
    let set = state.subscriptions.load();
    let example = examples::find(&set.catalog, key)
        .ok_or_else(|| ApiError::not_found(format!("The catalog has no example {key:?}.")))?;
    // Without a subscription that takes it as one of its topics, a glob's example keeps the glob.
    let patterns = subscription.and_then(|name| set.get(name)).map(|s| s.topics.as_slice()).unwrap_or_default();
    let topic = examples::event_topic(&set.catalog, &example, patterns).unwrap_or_else(|_| example.topic.name.clone());
    let envelope = json!({ "Topic": topic, "Payload": example.payload });
    Ok(serde_json::to_string_pretty(&envelope).unwrap_or_default())
}

pub async fn render(console: Arc<Console>, viewer: Viewer, form: Vec<(String, String)>, state: ApiState) -> Response {
    let event = field(&form, "event").cloned().unwrap_or_default();
    let name = field(&form, "subscription").cloned().unwrap_or_default();
    let outcome = crate::json::parse(event.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("The event is not JSON: {e}")))
        .and_then(|value| render_preview(&state, &name, value));
    let (result, status) = match outcome {
        Ok(r) => {
            let body = r.request.body.as_deref().map(|b| shown_body(b, &r.request.headers));
            (context! { ok => true, r => value(&r), body }, StatusCode::OK)
        }
        Err(e) => (context! { ok => false, error => e.message }, e.status),
    };
    show(&console, &viewer, &state, event, Some(name), Some(result), status)
}

fn show(
    console: &Console,
    viewer: &Viewer,
    state: &ApiState,
    event: String,
    chosen: Option<String>,
    result: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let set = state.subscriptions.load();
    let subscriptions: Vec<String> = set.iter().map(|s| s.name.clone()).collect();
    let examples: Vec<minijinja::Value> =
        examples::all(&set.catalog).iter().map(|e| context! { key => e.key(), label => e.label() }).collect();
    let ctx = context! { title => "Playground", nav => "playground", event, chosen, subscriptions, examples, result };
    console.render(viewer, status, "playground.html", ctx)
}
