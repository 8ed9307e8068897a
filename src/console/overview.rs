//! The first page: what is loaded, whether the last reload failed, the queue by state,
//! the oldest pending delivery's age, and events and deliveries per minute on this node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::Console;
use super::session::Viewer;
use crate::api::{ApiError, ApiState};

/// How far back the rates look, and the shortest span they are given for.
const WINDOW: Duration = Duration::from_secs(60);
const SHORTEST: Duration = Duration::from_secs(2);

/// This node's counters as the overview saw them (it refreshes every few seconds while
/// open), so it can say how many events and deliveries the last minute brought without
/// counting rows in the history.
#[derive(Default)]
pub struct Rates {
    samples: Mutex<VecDeque<(Instant, u64, u64)>>,
}

impl Rates {
    /// Records `totals` now; returns events and deliveries per minute over the window, once
    /// there is a span long enough to tell.
    fn per_minute(&self, totals: (u64, u64)) -> Option<(u64, u64, u64)> {
        let now = Instant::now();
        let mut samples = self.samples.lock().ok()?;
        samples.push_back((now, totals.0, totals.1));
        while samples.len() > 2 && samples.get(1).is_some_and(|(t, _, _)| now - *t >= WINDOW) {
            samples.pop_front();
        }
        let (then, events, deliveries) = *samples.front()?;
        let span = now - then;
        (span >= SHORTEST).then(|| {
            let per_minute = |n: u64| (n as f64 * 60.0 / span.as_secs_f64()).round() as u64;
            (per_minute(totals.0 - events), per_minute(totals.1 - deliveries), span.as_secs())
        })
    }
}

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
