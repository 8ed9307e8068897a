//! `POST /v1/events` and `POST /v1/events/batch`: validate, route and render, commit,
//! and only then answer. Intake never calls a receiver.

use bytes::Bytes;
use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{Accepted, BatchAnswer, BatchItem};
use super::error::{json, ApiError};
use super::ApiState;
use crate::accept;
use crate::event::{self, Event};
use crate::store::{DeliveryStatus, Inserted, NewEvent, PreLease, SEND_WITHIN_MS};
use crate::subscription::SubscriptionSet;

pub async fn post_event(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    one(state, body).await.unwrap_or_else(ApiError::into_response)
}

pub async fn post_batch(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    batch(state, body).await.unwrap_or_else(ApiError::into_response)
}

pub(super) fn answer(i: &Inserted) -> Accepted {
    Accepted { uuid: i.uuid.clone(), deliveries: i.deliveries, duplicate: i.duplicate }
}

pub(super) fn status_of(i: &Inserted) -> StatusCode {
    if i.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

/// What metrics need of a prepared event, taken before the event moves into the store.
pub(super) struct Counted {
    topic: String,
    /// Deliveries final from the start (render failures, shadow): usually none.
    finished: Vec<(String, &'static str)>,
}

impl Counted {
    pub(super) fn of(prepared: &crate::store::NewEvent, set: &crate::subscription::SubscriptionSet) -> Self {
        Self { topic: set.topic_label(&prepared.topic).to_string(), finished: finished_at_once(&prepared.deliveries) }
    }
}

/// The deliveries final from the start (a render failure, a shadow subscription's), as
/// (subscription, state) for `hookshape_deliveries_total`: intake's and a replay's.
pub(super) fn finished_at_once(deliveries: &[crate::store::NewDelivery]) -> Vec<(String, &'static str)> {
    deliveries
        .iter()
        .filter(|d| matches!(d.status, crate::store::DeliveryStatus::Failed | crate::store::DeliveryStatus::Shadow))
        .map(|d| (d.subscription.clone(), d.status.as_str()))
        .collect()
}

/// Counts what was accepted: events by topic, deliveries that are final from the start.
pub(super) fn record(state: &ApiState, counted: &Counted, inserted: &Inserted) {
    if inserted.duplicate {
        return;
    }
    state.metrics.events_accepted.with_label_values(&[&counted.topic]).inc();
    for (subscription, status) in &counted.finished {
        state.metrics.delivery_finished(subscription, status);
    }
}

/// Leases the fresh deliveries the dispatcher's queue has room for, as they are stored:
/// they go straight to the dispatcher, with no lease write of their own. The others (and
/// those of capped subscriptions, whose cap only the store can count) are stored pending.
fn pre_lease(state: &ApiState, set: &SubscriptionSet, events: &mut [NewEvent]) -> Vec<String> {
    let now = crate::now_ms();
    let mut reserved = Vec::new();
    for d in events.iter_mut().flat_map(|e| e.deliveries.iter_mut()) {
        if d.status != DeliveryStatus::Pending || set.caps().contains_key(&d.subscription) {
            continue;
        }
        let Some(&lease_ms) = set.lease_ms().get(&d.subscription) else { continue };
        if !state.queue.reserve(&d.subscription) {
            continue;
        }
        reserved.push(d.subscription.clone());
        d.lease = Some(PreLease { owner: state.node.clone(), until: now + lease_ms, send_by: now + SEND_WITHIN_MS });
    }
    reserved
}

/// Stores the events; hands what was leased to the dispatcher, and wakes it for the rest;
/// counts what was accepted.
///
/// The insert and the settling of the queue run in a task of their own: a producer that
/// hangs up drops this future, and with it anything it was awaiting. Were the reservations
/// settled here, a hang-up mid-insert would keep the dispatcher's room taken for good (the
/// subscription stalled until a restart) and what was committed leased to this node would
/// never reach the queue. The task finishes whatever happens to the request.
pub(super) async fn store(
    state: &ApiState,
    mut events: Vec<NewEvent>,
    set: &SubscriptionSet,
    counted: Vec<Counted>,
) -> Result<Vec<crate::store::Inserted>, ApiError> {
    let reserved = pre_lease(state, set, &mut events);
    // Per event, the deliveries stored pending (not leased as they are stored).
    let pending: Vec<u64> = events
        .iter()
        .map(|e| {
            e.deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending && d.lease.is_none()).count() as u64
        })
        .collect();
    let state = state.clone();
    let task = tokio::spawn(async move {
        let result = state.store.insert_events(events).await;
        settle(&state, &reserved, result, &pending, &counted)
    });
    task.await.unwrap_or_else(|e| {
        // Only a panic gets here (nothing aborts the task); its reservations went with it.
        tracing::error!(error = %e, "intake's store task failed");
        Err(ApiError::store(crate::store::StoreError::Corrupt("the insert did not finish".into())))
    })
}

/// What intake does once the store has answered, asked or not: the queue takes the leased
/// deliveries and gives back the other reservations; metrics count what was stored.
fn settle(
    state: &ApiState,
    reserved: &[String],
    result: crate::store::StoreResult<Vec<Inserted>>,
    pending: &[u64],
    counted: &[Counted],
) -> Result<Vec<Inserted>, ApiError> {
    match result {
        Ok(mut inserted) => {
            let leased = inserted.iter_mut().flat_map(|i| std::mem::take(&mut i.leased)).collect();
            state.queue.settle(reserved, leased);
            let stored_pending: u64 = inserted.iter().zip(pending).filter(|(i, _)| !i.duplicate).map(|(_, n)| n).sum();
            if stored_pending > 0 {
                // Counted at once, so `--max-pending` holds between the store's counts (each
                // refresh sets it to the store's own).
                state.pending.fetch_add(stored_pending, std::sync::atomic::Ordering::Relaxed);
                state.wake.notify_one();
            }
            for (c, i) in counted.iter().zip(&inserted) {
                record(state, c, i);
            }
            Ok(inserted)
        }
        Err(e) => {
            state.queue.settle(reserved, Vec::new());
            Err(ApiError::store(e))
        }
    }
}

/// A schema problem (`Payload: "Order" is a required property`) as the log may show it:
/// its path, and a missing field's name (the schema's word, not the event's data), so two
/// fields missing from one object are not logged as `Payload, Payload`.
fn logged_path(problem: &str) -> String {
    let (path, message) = problem.split_once(": ").unwrap_or((problem, ""));
    let missing = message.strip_suffix(" is a required property").map(|name| name.trim_matches('"'));
    match missing {
        Some(name) if !name.is_empty() => format!("{path}.{name} (missing)"),
        _ => path.to_string(),
    }
}

/// The catalog's check of an event (`validation: warn|enforce` topics): an `enforce`
/// topic's mismatch refuses it (422 naming the path); a `warn` topic's is counted and logged
/// (the paths only: values stay out of logs). Returns the `warn` problems, which mark the
/// stored event.
pub(super) fn check_schema(
    state: &ApiState,
    set: &SubscriptionSet,
    e: &mut Event,
) -> Result<Vec<String>, event::EventError> {
    let mut problems = Vec::new();
    for m in crate::catalog::check(&set.catalog, e)? {
        state.metrics.schema_mismatch.with_label_values(&[&m.topic]).inc();
        let paths: Vec<String> = m.problems.iter().map(|p| logged_path(p)).collect();
        tracing::warn!(event = %e.uuid, topic = %m.topic, paths = %paths.join(", "), "event does not conform to its topic's schema");
        for p in m.problems {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    Ok(problems)
}

/// The event prepared, marked with what its `warn` topics found.
fn prepared(e: &Event, schema_problems: &[String], set: &SubscriptionSet, now: i64) -> NewEvent {
    NewEvent { schema_problems: schema_problems.to_vec(), ..accept::prepare(e, set, now) }
}

async fn one(state: ApiState, body: Result<Bytes, ApiError>) -> Result<Response, ApiError> {
    state.check_accepting()?;
    state.check_capacity()?;
    let mut event = event::parse(&body?)?;
    let set = state.subscriptions.load_full();
    let schema_problems = check_schema(&state, &set, &mut event)?;
    let prepared = NewEvent { schema_problems, ..accept::prepare(&event, &set, crate::now_ms()) };
    let i = accept_one(&state, prepared, &set).await?;
    Ok(json(status_of(&i), &answer(&i)))
}

/// Stores one prepared event and counts it: what a single intake and a source share.
pub(super) async fn accept_one(
    state: &ApiState,
    prepared: NewEvent,
    set: &SubscriptionSet,
) -> Result<Inserted, ApiError> {
    let counted = vec![Counted::of(&prepared, set)];
    let inserted = store(state, vec![prepared], set, counted).await?;
    inserted
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::store(crate::store::StoreError::Corrupt("no insert result".into())))
}

async fn batch(state: ApiState, body: Result<Bytes, ApiError>) -> Result<Response, ApiError> {
    state.check_accepting()?;
    state.check_capacity()?;
    let items = event::parse_batch(&body?, state.max_batch_items)?;
    let set = state.subscriptions.load_full();
    let items: Vec<Result<(Event, Vec<String>), event::EventError>> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut e = item?;
            let problems = check_schema(&state, &set, &mut e).map_err(|refused| refused.in_item(i))?;
            Ok((e, problems))
        })
        .collect();
    let now = crate::now_ms();
    let prepared: Vec<_> =
        items.iter().filter_map(|i| i.as_ref().ok()).map(|(e, problems)| prepared(e, problems, &set, now)).collect();
    let counted: Vec<Counted> = prepared.iter().map(|p| Counted::of(p, &set)).collect();
    let expected = counted.len();
    let inserted = store(&state, prepared, &set, counted).await?;
    if inserted.len() != expected {
        return Err(ApiError::store(crate::store::StoreError::Corrupt("an insert result is missing".into())));
    }
    let mut inserted = inserted.into_iter();
    let results: Vec<BatchItem> = items
        .into_iter()
        .map(|item| match item.map(|_| inserted.next()) {
            Ok(Some(i)) => BatchItem {
                status: status_of(&i).as_u16(),
                uuid: Some(i.uuid),
                deliveries: Some(i.deliveries),
                duplicate: Some(i.duplicate),
                error: None,
            },
            // Counted above: every valid item has its result.
            Ok(None) => BatchItem::failed(503, "the store gave no result for this event; send it again".into()),
            Err(e) => BatchItem::failed(422, e.to_string()),
        })
        .collect();
    Ok(json(StatusCode::OK, &BatchAnswer { results }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_logged_schema_problem_names_a_missing_field_and_no_value() {
        assert_eq!(super::logged_path("Payload: \"Order\" is a required property"), "Payload.Order (missing)");
        assert_eq!(super::logged_path("Payload.Points: \"abc\" is not of type \"integer\""), "Payload.Points");
    }
}
