//! The playground: an event (pasted, or picked from history) and a subscription, and the
//! exact request it would send, as `POST /v1/render` answers (secrets `***`).

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::field;
use super::page::{pretty_json, shown_body, value, Console};
use super::session::Viewer;
use crate::api::operations::render_preview;
use crate::api::{ApiError, ApiState};

const EXAMPLE: &str = r#"{
  "Topic": "customer.updated",
  "Payload": { "Customer": { "Id": "c-1" } }
}"#;

/// The form; `?event=UUID` fills it with a stored event.
pub async fn page(console: Arc<Console>, viewer: Viewer, state: ApiState, query: Vec<(String, String)>) -> Response {
    let event = match field(&query, "event").filter(|u| !u.is_empty()) {
        Some(uuid) => match state.store.get_event(&uuid.to_ascii_lowercase()).await {
            Ok(Some(stored)) => pretty_json(&stored.body),
            Ok(None) => return console.api_error(&viewer, ApiError::not_found(format!("There is no event {uuid}."))),
            Err(e) => return console.api_error(&viewer, ApiError::store(e)),
        },
        None => EXAMPLE.to_string(),
    };
    let chosen = field(&query, "subscription").cloned();
    show(&console, &viewer, &state, event, chosen, None, StatusCode::OK)
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
    let subscriptions: Vec<String> = state.subscriptions.load().iter().map(|s| s.name.clone()).collect();
    let ctx = context! { title => "Playground", nav => "playground", event, chosen, subscriptions, result };
    console.render(viewer, status, "playground.html", ctx)
}
