//! The first page: what is loaded, whether the last reload failed, the queue by state,
//! the oldest pending delivery's age, events and deliveries per minute on this node, failed
//! deliveries by subscription, the disabled subscriptions by name and the sources' refused
//! requests by reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{Console, Rates};
use super::session::Viewer;
use crate::api::answers::{LiveState, SubscriptionView};
use crate::api::subscriptions::views_and_states;
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
    // The subscriptions' counts: live rows off their indexes, finished ones from the
    // store's counters (never a scan of the history).
    let (list, _) = views_and_states(state).await?;
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
        failed => failed_by_subscription(&list.subscriptions),
        disabled => disabled_subscriptions(&list.subscriptions),
        refused => refused_by_source(&state.metrics),
        oldest_pending_secs,
        rates => rates.per_minute(state.metrics.totals()).map(|(events, deliveries, over)| context! { events, deliveries, over }),
        store_problem => state.store_health.problem(),
    })
}

/// The subscriptions with failed deliveries, most first, each with its filtered history.
fn failed_by_subscription(views: &[SubscriptionView]) -> Vec<minijinja::Value> {
    let mut failed: Vec<(&str, u64)> = views
        .iter()
        .filter_map(|v| v.counts.get("failed").filter(|n| **n > 0).map(|n| (v.name.as_str(), *n)))
        .collect();
    failed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    failed
        .into_iter()
        .map(|(name, n)| {
            let q = encode(name);
            context! { name, n, page => format!("/console/subscriptions/{q}"), history => format!("/console/deliveries?status=failed&subscription={q}") }
        })
        .collect()
}

/// The subscriptions that send nothing now (disabled in the store, or `enabled: false` in
/// their file), by name, with why.
fn disabled_subscriptions(views: &[SubscriptionView]) -> Vec<minijinja::Value> {
    views
        .iter()
        .filter(|v| !matches!(v.state, LiveState::Enabled))
        .map(|v| {
            let why = match v.state {
                LiveState::Off => Some("enabled: false in its file".to_string()),
                _ => v.disabled_reason.clone(),
            };
            context! { name => v.name.clone(), why, page => format!("/console/subscriptions/{}", encode(&v.name)) }
        })
        .collect()
}

/// What a refusal's reason (the metric's `refused_` suffix) means, in words.
pub(super) fn reason_words(reason: &str) -> String {
    match reason {
        "signature" => "bad signature".into(),
        "json" => "not JSON".into(),
        "mapping" => "mapping failed".into(),
        other => other.replace('_', " "),
    }
}

/// Refused requests since this node started, by source, each source's reasons in words:
/// from the `hookshape_source_requests_total` counter (in memory, per node).
pub(super) fn refused_by_source(metrics: &crate::metrics::Metrics) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut by_source: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (source, reason, n) in metrics.source_refusals() {
        if n > 0 {
            by_source.entry(source).or_default().push((reason_words(&reason), n));
        }
    }
    for reasons in by_source.values_mut() {
        reasons.sort();
    }
    by_source
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_reasons_are_said_in_words() {
        assert_eq!(reason_words("signature"), "bad signature");
        assert_eq!(reason_words("json"), "not JSON");
        assert_eq!(reason_words("mapping"), "mapping failed");
        assert_eq!(reason_words("rate_limited"), "rate limited");
    }

    #[test]
    fn refused_requests_are_counted_by_source_and_reason_without_zero_rows() {
        let metrics = crate::metrics::Metrics::new().unwrap();
        metrics.source_refused("eduzz", "signature");
        metrics.source_refused("eduzz", "signature");
        metrics.source_refused("eduzz", "json");
        metrics.source_accepted("themembers", false);
        let refused = refused_by_source(&metrics);
        let eduzz = vec![("bad signature".to_string(), 2), ("not JSON".to_string(), 1)];
        assert_eq!(refused, BTreeMap::from([("eduzz".to_string(), eduzz)]));
        assert!(!metrics.render().contains("outcome=\"refused_mapping\""), "reading adds no series");
    }
}
