//! Subscriptions (state, counts, success over the last 24 h, the loaded file with secrets
//! `***`; enable with the ping's answer shown, and disable) and sources.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{redirect, value, Console};
use super::session::Viewer;
use crate::api::subscriptions::{disable_subscription, enable_subscription, views_and_states};
use crate::api::{ApiError, ApiState};
use crate::store::{RecentOutcomes, SubscriptionState};

pub async fn list(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let (list, states) = match views_and_states(&state).await {
        Ok(found) => found,
        Err(e) => return console.api_error(&viewer, e),
    };
    let rows: Vec<minijinja::Value> = list
        .subscriptions
        .iter()
        .map(|view| context! { rate => success_rate(&states, &view.name), ..value(view) })
        .collect();
    // The directory as `serve` was given it (`--subscriptions`), read off a file loaded from it.
    let dir = state.subscriptions.load().iter().next().and_then(|s| s.file.parent().map(|d| d.display().to_string()));
    let ctx = context! {
        title => "Subscriptions", nav => "subscriptions", version => list.version, subscriptions => rows, dir,
    };
    console.render(&viewer, StatusCode::OK, "subscriptions.html", ctx)
}

/// `GET /console/subscriptions/{name}`; after an enable or a disable, with what happened
/// (`?enabled=<the ping's status>&released=<n>` or `?disabled`).
pub async fn show(
    name: String,
    console: Arc<Console>,
    viewer: Viewer,
    state: ApiState,
    query: Vec<(String, String)>,
) -> Response {
    let said = super::notice::believed(&viewer, &format!("subscription:{name}"), &query, &NOTICE_KEYS);
    let notice = done_notice(&said).map(|text| context! { text, ok => true });
    subscription_page(&name, &console, &viewer, &state, notice, StatusCode::OK).await
}

/// `POST /console/subscriptions/{name}/enable` or `/disable`. Done, it redirects (303) to
/// the subscription's page saying so, where a reload sends nothing again; refused, it
/// answers the page with why (the ping's answer, or the error) and the error's status.
pub async fn switch(
    name: String,
    action: String,
    console: Arc<Console>,
    viewer: Viewer,
    _form: Vec<(String, String)>,
    state: ApiState,
) -> Response {
    let done = match action.as_str() {
        "enable" => enable_subscription(&state, &name).await.map(|e| {
            let pinged = e.ping_status.map_or_else(|| "shadow".to_string(), |s| s.to_string());
            vec![("enabled", pinged), ("released", e.released.to_string())]
        }),
        "disable" => disable_subscription(&state, &name).await.map(|_| vec![("disabled", String::new())]),
        _ => return console.api_error(&viewer, ApiError::not_found(format!("no action {action:?}"))),
    };
    match done {
        Ok(pairs) => {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let said = super::notice::query(&viewer, &format!("subscription:{name}"), &pairs);
            redirect(&format!("{}?{said}", page_path(&name)))
        }
        Err(e) => {
            let notice = context! { text => e.message, ok => false };
            subscription_page(&name, &console, &viewer, &state, Some(notice), e.status).await
        }
    }
}

/// The subscription's page, its name encoded as one path segment.
fn page_path(name: &str) -> String {
    format!("/console/subscriptions/{}", url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>())
}

/// What an enable or a disable may say on the page it redirects to.
const NOTICE_KEYS: [&str; 3] = ["enabled", "released", "disabled"];

/// What an enable or a disable that redirected here did, from the query it left (the
/// viewer's own: `notice`); numbers only are taken from it.
fn done_notice(query: &[(&str, &str)]) -> Option<String> {
    let get = |key: &str| query.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let released = || get("released").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    if let Some(status) = get("enabled").and_then(|s| s.parse::<u16>().ok()) {
        return Some(format!("Enabled: the ping was answered {status}; {} held deliveries released.", released()));
    }
    if get("enabled") == Some("shadow") {
        return Some(format!(
            "Enabled, without a ping (a subscription in shadow mode pings no receiver); {} held deliveries released.",
            released()
        ));
    }
    get("disabled").map(|_| "Disabled: new deliveries are held until it is enabled again.".to_string())
}

async fn subscription_page(
    name: &str,
    console: &Console,
    viewer: &Viewer,
    state: &ApiState,
    notice: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let set = state.subscriptions.load_full();
    let Some(sub) = set.get(name) else {
        return console.api_error(viewer, ApiError::not_found(format!("There is no subscription named {name:?}.")));
    };
    let (list, states) = match views_and_states(state).await {
        Ok(found) => found,
        Err(e) => return console.api_error(viewer, e),
    };
    let Some(view) = list.subscriptions.into_iter().find(|s| s.name == name) else {
        return console.api_error(viewer, ApiError::not_found(format!("no subscription {name:?}")));
    };
    let rate = success_rate(&states, name);
    let file = std::fs::read_to_string(&sub.file)
        .map(|text| sub.secrets.mask(&text))
        .unwrap_or_else(|e| format!("({} cannot be read now: {e})", sub.file.display()));
    let ctx = context! {
        title => format!("Subscription {name}"),
        nav => "subscriptions",
        s => value(&view),
        rate,
        file,
        notice,
        catalog => super::topics::links(&set, &sub.topics),
    };
    console.render(viewer, status, "subscription.html", ctx)
}

/// Succeeded among the deliveries that finished in the last 24 h (this hour and the 24
/// before it, from the store's counters), or None when none did.
fn success_rate(states: &[SubscriptionState], name: &str) -> Option<minijinja::Value> {
    let recent = states.iter().find(|s| s.name == name).map_or(RecentOutcomes::default(), |s| s.last_24h);
    let RecentOutcomes { succeeded: ok, failed } = recent;
    (ok + failed > 0).then(|| {
        let percent = (100 * ok) as f64 / (ok + failed) as f64;
        context! { percent => format!("{percent:.1}"), ok, failed }
    })
}

pub async fn sources(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    let refused = super::overview::refused_by_source(&state.metrics);
    let sources: Vec<minijinja::Value> = set
        .sources
        .iter()
        .map(|s| {
            let file = std::fs::read_to_string(&s.file)
                .map(|text| s.secrets.mask(&text))
                .unwrap_or_else(|e| format!("({} cannot be read now: {e})", s.file.display()));
            context! {
                name => s.name.clone(),
                description => s.description.clone(),
                // As the files write it (`hmac-sha256-prefixed`), not the Rust name.
                scheme => serde_json::to_value(s.verifier.scheme).ok().and_then(|v| v.as_str().map(str::to_string)),
                refused => refused.get(&s.name).cloned().unwrap_or_default(),
                header => s.verifier.proof_header().map(str::to_string),
                secrets => s.verifier.secrets.len(),
                file_name => s.file.display().to_string(),
                file,
                history => format!("/console/deliveries?source={}", url::form_urlencoded::byte_serialize(s.name.as_bytes()).collect::<String>()),
            }
        })
        .collect();
    let ctx = context! { title => "Sources", nav => "sources", sources };
    console.render(&viewer, StatusCode::OK, "sources.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_after_a_redirect_takes_numbers_only() {
        let enabled = done_notice(&[("enabled", "200"), ("released", "3")]);
        assert_eq!(enabled.as_deref(), Some("Enabled: the ping was answered 200; 3 held deliveries released."));
        assert!(done_notice(&[("disabled", "")]).unwrap().starts_with("Disabled:"));
        assert_eq!(done_notice(&[("enabled", "<b>pwned</b>")]), None);
        assert!(done_notice(&[("enabled", "shadow")]).is_some_and(|n| n.contains("without a ping")));
        let crafted = done_notice(&[("enabled", "204"), ("released", "all of them")]);
        assert_eq!(crafted.as_deref(), Some("Enabled: the ping was answered 204; 0 held deliveries released."));
        assert_eq!(done_notice(&[]), None);
    }
}
