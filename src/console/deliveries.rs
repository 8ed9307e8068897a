//! The deliveries page (every history filter, several values at once, newest first, paged
//! by cursor, refreshed live) and recover: resend every failed delivery a filter matches,
//! after a confirmation that says how many.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::field;
use super::page::{value, Console};
use super::session::Viewer;
use crate::api::deliveries::{parse_query, resend_matching, DEFAULT_RETRY_LIMIT};
use crate::api::{ApiError, ApiState};
use crate::store::{DeliveryQuery, DeliveryStatus};

/// Parameters of the page itself, not filters.
const PAGE_ONLY: &[&str] = &["resent", "csrf"];

pub async fn page(console: Arc<Console>, viewer: Viewer, state: ApiState, query: Vec<(String, String)>) -> Response {
    let filters = filters_of(&query);
    let set = state.subscriptions.load_full();
    let options = context! {
        statuses => DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        subscriptions => set.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        sources => set.sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    };
    let chosen = chosen(&filters);
    let listed = match parse_query(&filters) {
        Ok(q) => state.store.list_deliveries(q).await.map_err(ApiError::store),
        Err(e) => Err(e),
    };
    let (deliveries, next, error, status) = match listed {
        Ok(page) => (page.deliveries, page.next_cursor, None, StatusCode::OK),
        Err(e) => (Vec::new(), None, Some(e.message), e.status),
    };
    let without_cursor: Vec<(String, String)> = filters.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    let next_url = next.map(|c| {
        let mut pairs = without_cursor.clone();
        pairs.push(("cursor".into(), c));
        format!("/console/deliveries?{}", encode(&pairs))
    });
    let recover_filters: Vec<(String, String)> =
        without_cursor.iter().filter(|(k, _)| k != "status" && k != "limit").cloned().collect();
    let ctx = context! {
        title => "Deliveries",
        nav => "deliveries",
        deliveries => value(&deliveries),
        next_url,
        error,
        chosen,
        options,
        filtered => !without_cursor.is_empty(),
        paged => filters.iter().any(|(k, _)| k == "cursor"),
        recover_url => format!("/console/recover?{}", encode(&recover_filters)),
        resent => field(&query, "resent").and_then(|n| n.parse::<u64>().ok()),
    };
    console.render(&viewer, status, "deliveries.html", ctx)
}

/// The confirmation: how many failed deliveries the filter matches, and the button.
pub async fn recover_confirm(
    console: Arc<Console>,
    viewer: Viewer,
    state: ApiState,
    query: Vec<(String, String)>,
) -> Response {
    let (filters, query) = match recover_query(&query) {
        Ok(found) => found,
        Err(e) => return console.api_error(&viewer, e),
    };
    let matched = match state.store.list_deliveries(query).await {
        Ok(page) => page.deliveries.len(),
        Err(e) => return console.api_error(&viewer, ApiError::store(e)),
    };
    let ctx = context! {
        title => "Recover failed deliveries",
        nav => "deliveries",
        matched,
        capped => matched >= DEFAULT_RETRY_LIMIT,
        filters => filters.iter().filter(|(k, _)| k != "status").cloned().collect::<Vec<_>>(),
        back => format!("/console/deliveries?{}", encode(&filters)),
    };
    console.render(&viewer, StatusCode::OK, "recover.html", ctx)
}

pub async fn recover(console: Arc<Console>, viewer: Viewer, form: Vec<(String, String)>, state: ApiState) -> Response {
    let (filters, query) = match recover_query(&form) {
        Ok(found) => found,
        Err(e) => return console.api_error(&viewer, e),
    };
    // What happened to each is answered here (sent, held and why, rendered again, not
    // sendable and why), not behind a redirect that could carry only numbers.
    match resend_matching(&state, query).await {
        Ok(done) => {
            let ctx = context! {
                title => "Recovered failed deliveries",
                nav => "deliveries",
                done => value(&done),
                back => format!("/console/deliveries?{}", encode(&filters)),
            };
            console.render(&viewer, StatusCode::OK, "recover.html", ctx)
        }
        Err(e) => console.api_error(&viewer, e),
    }
}

/// What recover acts on: the failed deliveries the page's filters match (as many as one
/// bulk retry takes), and those filters, `status=failed` first.
fn recover_query(params: &[(String, String)]) -> Result<(Vec<(String, String)>, DeliveryQuery), ApiError> {
    let filters = failed_only(&filters_of(params));
    let query = parse_query(&filters)?;
    Ok((filters, DeliveryQuery { limit: DEFAULT_RETRY_LIMIT, cursor: None, ..query }))
}

/// The filters a query string holds: empty fields (an untouched form input) and the
/// page's own parameters left out, the date pickers' times made RFC 3339 (UTC).
fn filters_of(query: &[(String, String)]) -> Vec<(String, String)> {
    query
        .iter()
        .filter(|(k, v)| !v.trim().is_empty() && !PAGE_ONLY.contains(&k.as_str()))
        .map(|(k, v)| match k.as_str() {
            "since" | "until" => (k.clone(), super::dates::from_picker(v)),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

fn failed_only(filters: &[(String, String)]) -> Vec<(String, String)> {
    let mut only: Vec<(String, String)> =
        filters.iter().filter(|(k, _)| k != "status" && k != "cursor" && k != "limit").cloned().collect();
    only.insert(0, ("status".into(), "failed".into()));
    only
}

/// What the form shows as chosen: every value of each filter, commas split.
fn chosen(filters: &[(String, String)]) -> minijinja::Value {
    let all = |key: &str| -> Vec<String> {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
            .collect()
    };
    let one = |key: &str| filters.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    context! {
        status => all("status"),
        subscription => all("subscription"),
        source => all("source"),
        topic => all("topic").join(", "),
        event => all("event").join(", "),
        key => one("key"),
        since => super::dates::to_picker(&one("since")),
        until => super::dates::to_picker(&one("until")),
    }
}

pub fn encode(pairs: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}
