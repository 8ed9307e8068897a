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
    match state.store.retry_now(&id).await {
        Ok(RetryNow::Scheduled) => {
            state.wake.notify_one();
            json(StatusCode::ACCEPTED, &Retried { id, status: RetryState::Pending })
        }
        Ok(RetryNow::Held) => {
            // Accepted: it goes once the subscription is enabled, not before.
            json(StatusCode::ACCEPTED, &Retried { id, status: RetryState::Held })
        }
        Ok(RetryNow::NotFound) => ApiError::not_found(format!("no delivery {id}")).into_response(),
        Ok(RetryNow::Shadow) => {
            ApiError::new(StatusCode::CONFLICT, format!("{id} is a shadow delivery; shadow deliveries are never sent"))
                .into_response()
        }
        Err(e) => ApiError::store(e).into_response(),
    }
}

pub async fn replay(uuid: String, state: ApiState) -> Response {
    replay_event(uuid, state).await.unwrap_or_else(ApiError::into_response)
}

async fn replay_event(uuid: String, state: ApiState) -> Result<Response, ApiError> {
    let uuid = uuid.to_ascii_lowercase();
    let stored = state.store.get_event(&uuid).await.map_err(ApiError::store)?;
    let stored = stored.ok_or_else(|| ApiError::not_found(format!("no event {uuid}")))?;
    let value: serde_json::Value = serde_json::from_str(&stored.body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("stored event {uuid}: {e}")))?;
    let event = crate::event::from_value(value)?;
    let prepared = crate::accept::prepare(&event, &state.subscriptions.load(), crate::now_ms());
    let added =
        state.store.add_deliveries(&stored.uuid, &stored.topic, prepared.deliveries).await.map_err(ApiError::store)?;
    state.wake.notify_one();
    Ok(json(StatusCode::ACCEPTED, &Replayed { uuid, deliveries: added }))
}

pub async fn render(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    render_request(state, body).unwrap_or_else(ApiError::into_response)
}

fn render_request(state: ApiState, body: Result<Bytes, ApiError>) -> Result<Response, ApiError> {
    let body = crate::json::parse(&body?).map_err(crate::event::EventError::from)?;
    let name = body["subscription"].as_str().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "subscription: a subscription name is required")
    })?;
    let event = crate::event::from_value(body["event"].clone()).map_err(|e| match e {
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
    let answer = Rendered { subscription: sub.name.clone(), matches_topic, matches_filter, request };
    Ok(json(StatusCode::OK, &answer))
}
