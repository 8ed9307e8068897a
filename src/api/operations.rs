//! Acting on history: `POST /v1/deliveries/{id}/retry`, `POST /v1/events/{uuid}/replay`,
//! and `POST /v1/render` (the request a subscription would send; sends nothing).

use bytes::Bytes;
use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{Rendered, Replayed, Retried, RetryState, ShownRequest};
use super::error::{json, ApiError};
use super::ApiState;
use crate::store::RetryNow;

pub async fn retry(id: String, state: ApiState) -> Response {
    match retry_delivery(&state, &id).await {
        Ok(retried) => json(StatusCode::ACCEPTED, &retried),
        Err(e) => e.into_response(),
    }
}

/// Makes one delivery due now (or held, when its subscription is disabled).
pub(crate) async fn retry_delivery(state: &ApiState, id: &str) -> Result<Retried, ApiError> {
    let id = id.to_string();
    match state.store.retry_now(&id).await.map_err(ApiError::store)? {
        RetryNow::Scheduled => {
            state.wake.notify_one();
            Ok(Retried { id, status: RetryState::Pending })
        }
        // Accepted: it goes once the subscription is enabled, not before.
        RetryNow::Held => Ok(Retried { id, status: RetryState::Held }),
        RetryNow::NotFound => Err(ApiError::not_found(format!("no delivery {id}"))),
        RetryNow::Shadow => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{id} is a shadow delivery; shadow deliveries are never sent"),
        )),
    }
}

pub async fn replay(uuid: String, state: ApiState) -> Response {
    match replay_event(uuid, &state).await {
        Ok(replayed) => json(StatusCode::ACCEPTED, &replayed),
        Err(e) => e.into_response(),
    }
}

/// Renders a stored event again for today's subscriptions: new deliveries.
pub(crate) async fn replay_event(uuid: String, state: &ApiState) -> Result<Replayed, ApiError> {
    let uuid = uuid.to_ascii_lowercase();
    let stored = state.store.get_event(&uuid).await.map_err(ApiError::store)?;
    let stored = stored.ok_or_else(|| ApiError::not_found(format!("no event {uuid}")))?;
    // Parsed as intake parses it, so a replay sends numbers as they were stored (`1E2`).
    let value = crate::json::parse(stored.body.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("stored event {uuid}: {e}")))?;
    let event = crate::event::from_stored(value)?;
    let prepared = crate::accept::prepare(&event, &state.subscriptions.load(), crate::now_ms());
    let added =
        state.store.add_deliveries(&stored.uuid, &stored.topic, prepared.deliveries).await.map_err(ApiError::store)?;
    state.wake.notify_one();
    Ok(Replayed { uuid, deliveries: added })
}

pub async fn render(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    render_request(state, body).unwrap_or_else(ApiError::into_response)
}

fn render_request(state: ApiState, body: Result<Bytes, ApiError>) -> Result<Response, ApiError> {
    let body = crate::json::parse(&body?).map_err(crate::event::EventError::from)?;
    let name = body["subscription"].as_str().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "subscription: a subscription name is required")
    })?;
    let answer = render_preview(&state, name, body["event"].clone())?;
    Ok(json(StatusCode::OK, &answer))
}

/// The request subscription `name` would send for `event` (secrets and signature `***`):
/// the API's render and the console's playground.
pub(crate) fn render_preview(state: &ApiState, name: &str, event: serde_json::Value) -> Result<Rendered, ApiError> {
    let event = crate::event::from_value(event).map_err(|e| match e {
        crate::event::EventError::Invalid { field, message } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("event.{field}: {message}"))
        }
        other => other.into(),
    })?;
    let set = state.subscriptions.load();
    let sub = set.get(name).ok_or_else(|| ApiError::not_found(format!("no subscription named {name:?}")))?;
    let ctx = crate::render::context(&event);
    let matches_topic = set.routes(&event.topic).any(|s| s.name == sub.name);
    let matches_filter = sub
        .template
        .matches(&ctx)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, sub.secrets.mask(&format!("filter: {e}"))))?;
    let request = crate::accept::preview(sub, &event, &ctx, "dlv_render", crate::accept::Shown::Masked)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("render failed: {e}")))?
        .redacted();
    let request =
        ShownRequest { method: request.method, url: request.url, headers: request.headers, body: request.body };
    Ok(Rendered { subscription: sub.name.clone(), matches_topic, matches_filter, request })
}
