//! `GET /v1/events/{uuid}`: a stored event as it was accepted (the canonical envelope), the
//! source it came through, and its deliveries; and a stored event parsed again (replay,
//! and the resend of a delivery that never rendered).

use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::EventView;
use super::error::{json, ApiError};
use super::ApiState;
use crate::event::Event;
use crate::store::{DeliveryQuery, StoredEvent};

/// Deliveries shown with an event, at most (replays add some; a thousand is plenty).
const MAX_DELIVERIES: usize = 1000;

pub async fn show(uuid: String, state: ApiState) -> Response {
    match event_view(uuid, &state).await {
        Ok(view) => json(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

/// The event, its source and its deliveries: the API's answer and the console's page.
pub(crate) async fn event_view(uuid: String, state: &ApiState) -> Result<EventView, ApiError> {
    let uuid = uuid.to_ascii_lowercase();
    let stored = state.store.get_event(&uuid).await.map_err(ApiError::store)?;
    let stored = stored.ok_or_else(|| ApiError::not_found(format!("no event {uuid}")))?;
    let event: serde_json::Value = crate::json::parse(stored.body.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("stored event {uuid}: {e}")))?;
    let query = DeliveryQuery { event: vec![uuid.clone()], limit: MAX_DELIVERIES, ..DeliveryQuery::default() };
    let page = state.store.list_deliveries(query).await.map_err(ApiError::store)?;
    let schema_problems = stored.schema_problems;
    Ok(EventView { uuid, source: stored.source, event, schema_problems, deliveries: page.deliveries })
}

/// A stored event, parsed as intake parsed it (so numbers keep their spelling); None when
/// it is not stored.
pub(crate) async fn load_event(state: &ApiState, uuid: &str) -> Result<Option<(StoredEvent, Event)>, ApiError> {
    let uuid = uuid.to_ascii_lowercase();
    let Some(stored) = state.store.get_event(&uuid).await.map_err(ApiError::store)? else { return Ok(None) };
    let value = crate::json::parse(stored.body.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("stored event {uuid}: {e}")))?;
    let event = crate::event::from_stored(value)?;
    Ok(Some((stored, event)))
}
