//! One event: the canonical envelope as accepted, the source it came through, its
//! deliveries; replay: choose the subscriptions (those whose delivery failed, all, or
//! picked), confirm naming how many, then the new deliveries, linked.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{redirect, shown_json, value, Console};
use super::session::Viewer;
use crate::api::answers::ReplayChoice;
use crate::api::events::event_view;
use crate::api::operations::{failed_among, replay_event, replay_plan};
use crate::api::{ApiError, ApiState};
use crate::store::{DeliveryStatus, DeliverySummary};

/// `GET /console/events/{uuid}`; after a replay, `?replayed=<ids>` lists the new
/// deliveries (only ids among this event's deliveries are shown, read from the store).
pub async fn page(
    uuid: String,
    console: Arc<Console>,
    viewer: Viewer,
    state: ApiState,
    query: Vec<(String, String)>,
) -> Response {
    let view = match event_view(uuid, &state).await {
        Ok(view) => view,
        Err(e) => return console.api_error(&viewer, e),
    };
    let topic = view.event.get("Topic").and_then(|t| t.as_str()).map(str::to_string);
    let takers: Vec<String> = {
        let set = state.subscriptions.load();
        topic
            .as_deref()
            .map(|t| set.routes(t).filter(|s| s.enabled).map(|s| s.name.clone()).collect())
            .unwrap_or_default()
    };
    let failed = failed_among(&view.deliveries);
    let said = super::notice::believed(&viewer, &format!("event:{}", view.uuid), &query, &["replayed"]);
    let replayed = replayed(&said, &view.deliveries);
    let states = match replayed.iter().any(|d| d.status == DeliveryStatus::Held) {
        true => state.store.subscription_states().await.unwrap_or_default(),
        false => Vec::new(),
    };
    let replayed: Vec<minijinja::Value> = replayed
        .iter()
        .map(|d| {
            let held_by = (d.status == DeliveryStatus::Held)
                .then(|| crate::api::outcomes::held_by(&states, &d.subscription))
                .flatten();
            context! { held_by => value(&held_by), ..value(d) }
        })
        .collect();
    let ctx = context! {
        title => format!("Event {}", view.uuid),
        nav => "deliveries",
        uuid => view.uuid,
        source => view.source,
        schema_problems => view.schema_problems,
        topic,
        event => shown_json(&view.event.to_string()),
        deliveries => value(&view.deliveries),
        takers,
        failed,
        replayed,
        asked_replay => !said.is_empty(),
    };
    console.render(&viewer, StatusCode::OK, "event.html", ctx)
}

fn replayed<'a>(query: &[(&str, &str)], deliveries: &'a [DeliverySummary]) -> Vec<&'a DeliverySummary> {
    let ids: Vec<&str> =
        query.iter().filter(|(k, _)| *k == "replayed").flat_map(|(_, v)| v.split(',')).map(str::trim).collect();
    deliveries.iter().filter(|d| ids.contains(&d.id.as_str())).collect()
}

/// The replay a form asks for: `which=failed|all|pick`, and `subscription=` for each picked.
fn choice_of(form: &[(String, String)]) -> Result<ReplayChoice, ApiError> {
    let which = form.iter().find(|(k, _)| k == "which").map(|(_, v)| v.as_str()).unwrap_or("all");
    Ok(match which {
        "failed" => ReplayChoice { subscriptions: None, failed_only: true },
        "pick" => ReplayChoice {
            subscriptions: Some(form.iter().filter(|(k, _)| k == "subscription").map(|(_, v)| v.clone()).collect()),
            failed_only: false,
        },
        "all" => ReplayChoice::default(),
        // Not taken for "all": a replay to every subscription is not a default to fall into.
        other => return Err(ApiError::bad_request(format!("which: {other:?} is not failed, all or pick"))),
    })
}

/// `GET /console/events/{uuid}/replay?which=…`: the confirmation, naming how many
/// subscriptions (and which) a replay would render the event for.
pub async fn replay_confirm(
    uuid: String,
    console: Arc<Console>,
    viewer: Viewer,
    state: ApiState,
    query: Vec<(String, String)>,
) -> Response {
    let choice = match choice_of(&query) {
        Ok(choice) => choice,
        Err(e) => return console.api_error(&viewer, e),
    };
    let (stored, _, take, skipped) = match replay_plan(&state, &uuid, &choice).await {
        Ok(plan) => plan,
        Err(e) => return console.api_error(&viewer, e),
    };
    let fields: Vec<(String, String)> =
        query.iter().filter(|(k, _)| k == "which" || k == "subscription").cloned().collect();
    // Recorded, never sent: said apart from those that go out.
    let shadow: Vec<String> = {
        let set = state.subscriptions.load();
        let is_shadow = |name: &String| set.get(name).is_some_and(|s| s.mode == crate::subscription::Mode::Shadow);
        take.iter().filter(|name| is_shadow(name)).cloned().collect()
    };
    let ctx = context! {
        title => "Replay an event",
        nav => "deliveries",
        uuid => stored.uuid,
        topic => stored.topic,
        failed_only => choice.failed_only,
        take,
        shadow,
        skipped => value(&skipped),
        fields,
    };
    console.render(&viewer, StatusCode::OK, "replay.html", ctx)
}

/// `POST /console/events/{uuid}/replay`: done, it redirects (303) to the event's page,
/// which lists the new deliveries; a reload replays nothing again.
pub async fn replay(
    uuid: String,
    console: Arc<Console>,
    viewer: Viewer,
    form: Vec<(String, String)>,
    state: ApiState,
) -> Response {
    let choice = match choice_of(&form) {
        Ok(choice) => choice,
        Err(e) => return console.api_error(&viewer, e),
    };
    match replay_event(uuid, &state, &choice).await {
        Ok(replayed) if replayed.new_deliveries.is_empty() => console.api_error(
            &viewer,
            ApiError::new(StatusCode::CONFLICT, "Nothing was replayed: no chosen subscription takes this event now."),
        ),
        Ok(replayed) => {
            let ids: Vec<&str> = replayed.new_deliveries.iter().map(|d| d.id.as_str()).collect();
            let said =
                super::notice::query(&viewer, &format!("event:{}", replayed.uuid), &[("replayed", &ids.join(","))]);
            redirect(&format!("/console/events/{}?{said}", replayed.uuid))
        }
        Err(e) => console.api_error(&viewer, e),
    }
}
