//! `/healthz` (the process answers) and `/readyz` (the store answers and a subscription
//! set is loaded, with its version).

use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{Health, Ready};
use super::error::{json, ApiError};
use super::ApiState;

pub async fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok".into() })
}

pub async fn readyz(state: ApiState) -> Response {
    if let Err(e) = state.store.ping().await {
        return ApiError::unavailable(e.to_string(), 5).into_response();
    }
    if state.check_accepting().is_err() {
        return ApiError::unavailable("shutting down", 5).into_response();
    }
    let set = state.subscriptions.load();
    let last_reload_error = state.reload_error.lock().ok().and_then(|e| e.clone());
    let ready =
        Ready { status: "ready".into(), subscriptions: set.len(), version: set.version.clone(), last_reload_error };
    json(StatusCode::OK, &ready)
}
