//! `/healthz` (the process answers) and `/readyz` (the store takes writes and a
//! subscription set is loaded, with its version).

use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{Health, Ready};
use super::error::{json, ApiError};
use super::ApiState;

pub async fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok".into() })
}

pub async fn readyz(state: ApiState) -> Response {
    // The heartbeat writes every second: a store that answers reads but cannot take
    // writes (a full disk) is not ready.
    // A write that failed for want of space says so at once (intake refuses from then on).
    if let Some(why) = state.store.write_problem().or_else(|| state.store_health.problem()) {
        return ApiError::unavailable(format!("the store does not take writes: {why}"), 5).into_response();
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
