//! The first page: what is loaded, whether the last reload failed, the queue by state,
//! the oldest pending delivery's age, and events and deliveries per minute on this node.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{Console, Rates};
use super::session::Viewer;
use crate::api::{ApiError, ApiState};

pub async fn page(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    match overview(&state, &console.rates).await {
        Ok(ctx) => console.render(&viewer, StatusCode::OK, "overview.html", ctx),
        Err(e) => console.api_error(&viewer, e),
    }
}

async fn overview(state: &ApiState, rates: &Rates) -> Result<minijinja::Value, ApiError> {
    let set = state.subscriptions.load_full();
    let stats = state.store.queue_stats(false).await.map_err(ApiError::store)?;
    let now = crate::now_ms();
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
        rates => rates.per_minute(state.metrics.totals()).map(|(events, deliveries, over)| context! { events, deliveries, over }),
        store_problem => state.store_health.problem(),
    })
}
