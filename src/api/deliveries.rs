//! The read side of delivery history: `GET /v1/deliveries` (filters and a cursor) and
//! `GET /v1/deliveries/{id}` (the redacted request and every attempt).

use std::collections::HashMap;

use warp::http::StatusCode;
use warp::reply::Response;

use super::error::{json, ApiError};
use super::ApiState;
use crate::store::{DeliveryQuery, DeliveryStatus};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

pub async fn list(state: ApiState, params: HashMap<String, String>) -> Response {
    let run = async {
        let query = parse_query(&params)?;
        state.store.list_deliveries(query).await.map_err(ApiError::store)
    };
    match run.await {
        Ok(page) => json(StatusCode::OK, &page),
        Err(e) => e.into_response(),
    }
}

pub async fn show(id: String, state: ApiState) -> Response {
    match state.store.get_delivery(&id).await {
        Ok(Some(d)) => json(StatusCode::OK, &d),
        Ok(None) => ApiError::not_found(format!("no delivery {id}")).into_response(),
        Err(e) => ApiError::store(e).into_response(),
    }
}

pub fn parse_query(params: &HashMap<String, String>) -> Result<DeliveryQuery, ApiError> {
    let mut q = DeliveryQuery { limit: DEFAULT_LIMIT, ..DeliveryQuery::default() };
    for (key, value) in params {
        let bad = |why: &str| ApiError::bad_request(format!("query parameter {key}: {why}"));
        match key.as_str() {
            "status" => {
                q.status = Some(
                    DeliveryStatus::parse(value)
                        .ok_or_else(|| bad("must be one of pending, in_flight, succeeded, failed, held, shadow"))?,
                )
            }
            "subscription" => q.subscription = Some(value.clone()),
            "topic" => q.topic = Some(value.clone()),
            "event" => q.event = Some(value.clone()),
            "source" => q.source = Some(value.clone()),
            "since" => {
                q.since = Some(parse_time(value).ok_or_else(|| bad("must be an RFC 3339 time or milliseconds"))?)
            }
            "until" => {
                q.until = Some(parse_time(value).ok_or_else(|| bad("must be an RFC 3339 time or milliseconds"))?)
            }
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad(&format!("must be a number from 1 to {MAX_LIMIT}")))?
            }
            "cursor" => q.cursor = Some(value.clone()),
            _ => {
                return Err(bad(
                    "unknown; use status, subscription, topic, event, source, since, until, limit or cursor",
                ))
            }
        }
    }
    Ok(q)
}

fn parse_time(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|d| d.timestamp_millis()))
}
