//! Acting on history: `POST /v1/deliveries/{id}/retry`, `POST /v1/events/{uuid}/replay`,
//! and `POST /v1/render` (the request a subscription would send; sends nothing).

use bytes::Bytes;
use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{MadeDelivery, Outcome, Rendered, ReplayChoice, Replayed, Retried, ShownRequest, Skipped};
use super::error::{json, ApiError};
use super::ApiState;
use crate::event::Event;
use crate::store::{DeliveryQuery, DeliveryStatus, DeliverySummary, StoredEvent};

pub async fn retry(id: String, state: ApiState) -> Response {
    match retry_delivery(&state, &id).await {
        // Nothing was done: a conflict, answered with the outcome (and `error`, as errors are).
        Ok(retried) if retried.outcome == Outcome::NotSendable => {
            let mut body = serde_json::to_value(&retried).unwrap_or_default();
            body["error"] = serde_json::Value::from(retried.reason.clone().unwrap_or_default());
            json(StatusCode::CONFLICT, &body)
        }
        Ok(retried) => json(StatusCode::ACCEPTED, &retried),
        Err(e) => e.into_response(),
    }
}

/// Resends one delivery and says what happened (`super::outcomes`).
pub(crate) async fn retry_delivery(state: &ApiState, id: &str) -> Result<Retried, ApiError> {
    super::outcomes::retry_one(state, id).await
}

pub async fn replay(uuid: String, state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    let run = async {
        let choice = replay_choice(&body?)?;
        replay_event(uuid, &state, &choice).await
    };
    match run.await {
        Ok(replayed) => json(StatusCode::ACCEPTED, &replayed),
        Err(e) => e.into_response(),
    }
}

/// The optional body of a replay: none (or empty) is every subscription.
fn replay_choice(body: &[u8]) -> Result<ReplayChoice, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReplayChoice::default());
    }
    crate::json::parse(body).map_err(crate::event::EventError::from)?;
    let choice: ReplayChoice = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("body: {e} (takes subscriptions or failed_only)"))
    })?;
    if choice.subscriptions.is_some() && choice.failed_only {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body: give subscriptions or failed_only, not both",
        ));
    }
    Ok(choice)
}

/// Which subscriptions a replay of `uuid` would render for, by name, and those chosen that
/// would make nothing (and why): the console's confirmation, and the replay itself.
pub(crate) async fn replay_plan(
    state: &ApiState,
    uuid: &str,
    choice: &ReplayChoice,
) -> Result<(StoredEvent, Event, Vec<String>, Vec<Skipped>), ApiError> {
    let (stored, event) =
        super::events::load_event(state, uuid).await?.ok_or_else(|| ApiError::not_found(format!("no event {uuid}")))?;
    let set = state.subscriptions.load_full();
    let taking: Vec<String> = set.routes(&event.topic).filter(|s| s.enabled).map(|s| s.name.clone()).collect();
    let chosen: (Vec<String>, Vec<Skipped>) = match (&choice.subscriptions, choice.failed_only) {
        (Some(names), _) => {
            if let Some(unknown) = names.iter().find(|n| set.get(n).is_none()) {
                let why = format!("subscriptions: no subscription named {unknown:?} is loaded");
                return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why));
            }
            (names.clone(), Vec::new())
        }
        (None, true) => failed_subscriptions(state, &stored.uuid).await?,
        (None, false) => (taking.clone(), Vec::new()),
    };
    let (chosen, not_failed) = chosen;
    let (take, skipped): (Vec<String>, Vec<String>) = chosen.into_iter().partition(|n| taking.contains(n));
    let skipped = skipped
        .into_iter()
        .map(|name| {
            let reason = match set.get(&name) {
                Some(s) if !s.enabled => "enabled: false in its file".to_string(),
                Some(_) => format!("it does not take Topic {}", event.topic),
                None => "it is no longer loaded".to_string(),
            };
            Skipped { subscription: name, reason }
        })
        .chain(not_failed)
        .collect();
    Ok((stored, event, take, skipped))
}

/// The subscriptions whose every delivery of the event failed: none succeeded, none is
/// still on its way (pending, in flight, held); and the others, skipped with their state,
/// so that a replay of failed deliveries that finds none says why.
async fn failed_subscriptions(state: &ApiState, uuid: &str) -> Result<(Vec<String>, Vec<Skipped>), ApiError> {
    let query = DeliveryQuery { event: vec![uuid.to_string()], limit: 1000, ..DeliveryQuery::default() };
    let deliveries = state.store.list_deliveries(query).await.map_err(ApiError::store)?.deliveries;
    let failed = failed_among(&deliveries);
    let mut others: Vec<Skipped> = Vec::new();
    for d in deliveries.iter().filter(|d| d.status != DeliveryStatus::Failed) {
        if !others.iter().any(|s| s.subscription == d.subscription) {
            let reason = format!("not failed: its delivery {} is {}", d.id, d.status.as_str());
            others.push(Skipped { subscription: d.subscription.clone(), reason });
        }
    }
    Ok((failed, others))
}

/// `failed_only`'s subscriptions among an event's deliveries (the console's event page
/// shows them from the deliveries it has read).
pub(crate) fn failed_among(deliveries: &[DeliverySummary]) -> Vec<String> {
    let mut failed: Vec<String> = Vec::new();
    for d in deliveries.iter().filter(|d| d.status == DeliveryStatus::Failed) {
        let fine = deliveries.iter().any(|o| o.subscription == d.subscription && o.status != DeliveryStatus::Failed);
        if !fine && !failed.contains(&d.subscription) {
            failed.push(d.subscription.clone());
        }
    }
    failed
}

/// Renders a stored event again for today's subscriptions (those `choice` names): new deliveries.
pub(crate) async fn replay_event(uuid: String, state: &ApiState, choice: &ReplayChoice) -> Result<Replayed, ApiError> {
    let (stored, event, take, mut skipped) = replay_plan(state, &uuid, choice).await?;
    let set = state.subscriptions.load_full();
    let ctx = crate::render::context(&event);
    let mut made = Vec::new();
    for name in take {
        let Some(sub) = set.get(&name) else { continue };
        match crate::accept::delivery_for(sub, &ctx, &set.version) {
            Some(d) => made.push(d),
            None => skipped.push(Skipped { subscription: name, reason: "its filter leaves the event out".into() }),
        }
    }
    let ids: Vec<(String, String)> = made.iter().map(|d| (d.id.clone(), d.subscription.clone())).collect();
    let finished = super::intake::finished_at_once(&made);
    let added = state.store.add_deliveries(&stored.uuid, &stored.topic, made).await.map_err(ApiError::store)?;
    if added == ids.len() {
        finished.iter().for_each(|(sub, status)| state.metrics.delivery_finished(sub, status));
    }
    state.wake.notify_one();
    let mut new_deliveries: Vec<MadeDelivery> = Vec::new();
    for (id, sub) in &ids {
        new_deliveries.push(super::outcomes::made_delivery(state, id, sub).await?);
    }
    if new_deliveries.iter().any(|d| d.held_by.is_some()) {
        let states = state.store.subscription_states().await.map_err(ApiError::store)?;
        for d in new_deliveries.iter_mut().filter(|d| d.held_by.is_some()) {
            d.held_by = super::outcomes::held_by(&states, &d.subscription);
        }
    }
    Ok(Replayed { uuid: stored.uuid, deliveries: added, new_deliveries, skipped })
}

pub async fn render(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    render_request(state, body).unwrap_or_else(ApiError::into_response)
}

fn render_request(state: ApiState, body: Result<Bytes, ApiError>) -> Result<Response, ApiError> {
    let body = crate::json::parse(&body?).map_err(crate::event::EventError::from)?;
    let name = body["subscription"].as_str().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "subscription: a subscription name is required")
    })?;
    let event = body.get("event").cloned().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "event: the canonical event to render is required")
    })?;
    let answer = render_preview(&state, name, event)?;
    Ok(json(StatusCode::OK, &answer))
}

/// The request subscription `name` would send for `event` (secrets and signature `***`):
/// the API's render and the console's playground.
pub(crate) fn render_preview(state: &ApiState, name: &str, event: serde_json::Value) -> Result<Rendered, ApiError> {
    let event = crate::event::from_value(event).map_err(|e| match e {
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
    Ok(Rendered { subscription: sub.name.clone(), matches_topic, matches_filter, request })
}
