//! Delivery history: `GET /v1/deliveries` (filters and a cursor), `GET /v1/deliveries/{id}`
//! (the redacted request and every attempt), and `POST /v1/deliveries/retry` (resend every
//! delivery a filter matches).

use bytes::Bytes;
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::{json, ApiError};
use super::ApiState;
use crate::store::{DeliveryQuery, DeliveryStatus};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// Resent at most by one `POST /v1/deliveries/retry` unless it says `limit`.
pub const DEFAULT_RETRY_LIMIT: usize = 10_000;
/// The largest `limit` one bulk retry takes (SQL's LIMIT is a signed 64-bit number).
const MAX_RETRY_LIMIT: usize = 1_000_000;

pub async fn list(state: ApiState, params: Vec<(String, String)>) -> Response {
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
    match delivery_answer(&state, &id).await {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(e) => e.into_response(),
    }
}

/// One delivery and why it is where it is: the API's answer and the console's page.
pub(crate) async fn delivery_answer(state: &ApiState, id: &str) -> Result<super::answers::DeliveryAnswer, ApiError> {
    let detail = state.store.get_delivery(id).await.map_err(ApiError::store)?;
    let mut detail = detail.ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))?;
    // A delivery that never rendered has no request to show headers of.
    if !detail.request.url.is_empty() {
        let (s, set) = (&detail.summary, state.subscriptions.load());
        let sub = set.get(&s.subscription).map(|sub| &**sub);
        detail.request.headers = crate::headers::recorded(&s.id, &s.topic, s.attempts.max(1), &detail.request, sub);
        // The headers whose whole value is a secret, by name, as the field promises.
        let hidden = detail.request.headers.iter().filter(|(_, v)| v == crate::secret::MASK);
        detail.request.sensitive = hidden.map(|(k, _)| k.to_ascii_lowercase()).collect();
    }
    let reasons = super::reasons::reasons(state, &detail).await?;
    Ok(super::answers::DeliveryAnswer { detail, reasons })
}

/// Events one history filter names at most (`event=A,B,…`).
const MAX_EVENTS: usize = 100;

/// A history filter from query parameters. A filter given several times, or with values
/// separated by commas (`status=failed,held`, `event=A,B`), matches any of them; `key`,
/// a search, is given once.
pub fn parse_query(params: &[(String, String)]) -> Result<DeliveryQuery, ApiError> {
    let mut q = DeliveryQuery { limit: DEFAULT_LIMIT, ..DeliveryQuery::default() };
    let mut given_once: Vec<&str> = Vec::new();
    for (key, value) in params {
        let bad = |why: &str| ApiError::bad_request(format!("query parameter {key}: {why}"));
        // One value each: the last taken quietly would not be what the asker meant.
        if ["since", "until", "limit", "cursor"].contains(&key.as_str()) {
            if given_once.contains(&key.as_str()) {
                return Err(bad(&format!("give {key} once")));
            }
            given_once.push(key);
        }
        let values = || value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        match key.as_str() {
            "status" => {
                for v in values() {
                    q.status.push(DeliveryStatus::parse(&v).ok_or_else(|| {
                        bad(&format!("{v:?} is not one of pending, in_flight, succeeded, failed, held, shadow"))
                    })?)
                }
            }
            "subscription" => q.subscription.extend(values()),
            "topic" => q.topic.extend(values()),
            "source" => q.source.extend(values()),
            "event" => {
                for v in values() {
                    let uuid = uuid::Uuid::parse_str(&v).map_err(|_| bad(&format!("{v:?} is not an event's UUID")))?;
                    q.event.push(uuid.hyphenated().to_string());
                }
                if q.event.len() > MAX_EVENTS {
                    return Err(bad(&format!("at most {MAX_EVENTS} events at once")));
                }
            }
            "key" if value.trim().is_empty() => q.key = None,
            // A search reads its own index per value: one at a time, said rather than
            // the last one taken quietly.
            "key" if q.key.is_some() => return Err(bad("one search at a time: give key once")),
            "key" => {
                q.key = Some(crate::search::Term::parse(value).ok_or_else(|| {
                    bad(&format!(
                        "longer than {} characters: no value that long is indexed",
                        crate::search::MAX_VALUE_CHARS
                    ))
                })?)
            }
            "since" => {
                q.since = Some(parse_time(value).ok_or_else(|| bad("must be an RFC 3339 time or milliseconds"))?)
            }
            "until" => {
                q.until = Some(parse_time(value).ok_or_else(|| bad("must be an RFC 3339 time or milliseconds"))?)
            }
            "limit" => {
                q.limit = parse_limit(value, MAX_LIMIT)
                    .ok_or_else(|| bad(&format!("must be a number from 1 to {MAX_LIMIT}")))?
            }
            "cursor" if value.is_empty() => q.cursor = None,
            "cursor" if crate::accept::is_delivery_id(value) => q.cursor = Some(value.clone()),
            "cursor" => return Err(bad("must be the next_cursor of a previous page (a delivery id, dlv_…)")),
            _ => {
                return Err(bad(
                    "unknown; use status, subscription, topic, event, key, source, since, until, limit or cursor",
                ))
            }
        }
    }
    Ok(q)
}

fn parse_limit(text: &str, max: usize) -> Option<usize> {
    text.parse().ok().filter(|n| (1..=max).contains(n))
}

pub async fn retry_matching(state: ApiState, body: Result<Bytes, ApiError>) -> Response {
    let run = async {
        let query = retry_query(&body?)?;
        let answer = resend_matching(&state, query).await?;
        Ok::<_, ApiError>(json(StatusCode::OK, &answer))
    };
    run.await.unwrap_or_else(ApiError::into_response)
}

/// Resends what `query` matches, saying what happened to each (`super::outcomes`): the
/// API's and the console's recover.
pub async fn resend_matching(state: &ApiState, query: DeliveryQuery) -> Result<super::answers::RetriedMany, ApiError> {
    super::outcomes::retry_many(state, query).await
}

/// `{"status", "subscription", "topic", "event", "key", "source", "since", "until",
/// "limit"}`, each as its query parameter takes it (what the console's recover takes); `status` defaults to `failed`. Deliveries being sent
/// (`in_flight`) and `shadow` ones are never resent, so asking for them is an error.
fn retry_query(body: &[u8]) -> Result<DeliveryQuery, ApiError> {
    let value = crate::json::parse(body).map_err(crate::event::EventError::from)?;
    let object = value.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object of filters"))?;
    let mut pairs = Vec::new();
    let mut limit = DEFAULT_RETRY_LIMIT;
    for (key, v) in object {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Array(items) if items.iter().all(|i| i.is_string()) => {
                items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(",")
            }
            _ => return Err(ApiError::bad_request(format!("{key}: must be a string, a list of strings or a number"))),
        };
        match key.as_str() {
            "limit" => {
                limit = parse_limit(&text, MAX_RETRY_LIMIT).ok_or_else(|| {
                    ApiError::bad_request(format!("limit: must be a number from 1 to {MAX_RETRY_LIMIT}"))
                })?
            }
            "status" | "subscription" | "topic" | "event" | "key" | "source" | "since" | "until" => {
                pairs.push((key.clone(), text))
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{key}: unknown; use status, subscription, topic, event, key, source, since, until or limit"
                )))
            }
        }
    }
    let mut query =
        parse_query(&pairs).map_err(|e| ApiError::bad_request(e.message.replace("query parameter ", "")))?;
    query.limit = limit;
    if query.status.is_empty() {
        query.status.push(DeliveryStatus::Failed);
    }
    if let Some(s) = query.status.iter().find(|s| matches!(s, DeliveryStatus::InFlight | DeliveryStatus::Shadow)) {
        return Err(ApiError::bad_request(format!(
            "status: {} deliveries are not resent (in_flight ones are being sent, shadow ones never are)",
            s.as_str()
        )));
    }
    Ok(query)
}

fn parse_time(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|d| d.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    fn query(pairs: &[(&str, &str)]) -> Result<crate::store::DeliveryQuery, String> {
        let params: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_query(&params).map_err(|e| e.message)
    }

    #[test]
    fn an_event_is_a_uuid_in_any_spelling_and_a_single_valued_filter_is_given_once() {
        let q = query(&[("event", "{6F1B0C8E-7A5D-4E7B-9C59-2B1D7C3A9F10},6f1b0c8e7a5d4e7b9c592b1d7c3a9f11")]).unwrap();
        assert_eq!(q.event, ["6f1b0c8e-7a5d-4e7b-9c59-2b1d7c3a9f10", "6f1b0c8e-7a5d-4e7b-9c59-2b1d7c3a9f11"]);
        let refused = query(&[("event", "not-a-uuid")]).unwrap_err();
        assert_eq!(refused, "query parameter event: \"not-a-uuid\" is not an event's UUID");
        let twice = query(&[("limit", "1"), ("limit", "2")]).unwrap_err();
        assert_eq!(twice, "query parameter limit: give limit once");
        assert!(query(&[("status", "failed"), ("status", "held")]).is_ok(), "a filter of several values may repeat");
    }
}
