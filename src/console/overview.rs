//! The first page: what is loaded, whether the last reload failed, the queue by state,
//! the oldest pending delivery's age, and what the last minute brought.

use std::collections::BTreeSet;
use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::Console;
use super::session::Viewer;
use crate::api::{ApiError, ApiState};
use crate::store::DeliveryQuery;

/// Deliveries counted for "the last minute", at most (the page says "or more" past it).
const MINUTE_SAMPLE: usize = 5000;

pub async fn page(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    match overview(&state).await {
        Ok(ctx) => console.render(&viewer, StatusCode::OK, "overview.html", ctx),
        Err(e) => console.api_error(&viewer, e),
    }
}

async fn overview(state: &ApiState) -> Result<minijinja::Value, ApiError> {
    let set = state.subscriptions.load_full();
    let stats = state.store.queue_stats(false).await.map_err(ApiError::store)?;
    let now = crate::now_ms();
    let recent = DeliveryQuery { since: Some(now - 60_000), limit: MINUTE_SAMPLE, ..DeliveryQuery::default() };
    let recent = state.store.list_deliveries(recent).await.map_err(ApiError::store)?;
    let events: BTreeSet<&str> = recent.deliveries.iter().map(|d| d.event.as_str()).collect();
    let oldest_pending_secs = stats.oldest_pending_created_at.map(|t| (now - t).max(0) / 1000);
    let reload_error = state.reload_error.lock().ok().and_then(|e| e.clone());
    Ok(context! {
        title => "Overview",
        nav => "overview",
        version => set.version.clone(),
        subscriptions => set.len(),
        sources => set.sources.len(),
        reload_error,
        queue => stats.by_status,
        disabled_subscriptions => stats.disabled_subscriptions,
        oldest_pending_secs,
        deliveries_last_minute => recent.deliveries.len(),
        events_last_minute => events.len(),
        capped => recent.next_cursor.is_some(),
        store_problem => state.store_health.problem(),
    })
}
