//! `POST /v1/sources/{name}`: a platform's own webhook. The source checks the platform's
//! proof over the raw bytes (401, nothing stored, when it fails), maps the body to a
//! canonical event (400 or 422 naming the field), and the event is accepted as intake
//! accepts any: the same answer, 202 or 200 for a duplicate. No bearer token: the proof is
//! the signature, or for scheme token a secret in the URL (`/v1/sources/{name}/{token}` or
//! `?token=`), which no answer, log or metric repeats.

use bytes::Bytes;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::error::{json, ApiError};
use super::intake::{accept_one, answer, status_of};
use super::ApiState;
use crate::source::Refused;

/// Where a request's token was, if anywhere.
pub enum UrlToken {
    /// `/v1/sources/{name}/{token}`: the segment as received (percent-encoded).
    Path(String),
    /// The raw query, which may hold `token=`.
    Query(String),
}

impl UrlToken {
    /// The token, decoded; None when the URL carries none.
    fn decoded(&self) -> Option<String> {
        match self {
            Self::Path(segment) => Some(percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()),
            Self::Query(query) => {
                url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
            }
        }
    }
}

pub async fn post(
    name: String,
    token: UrlToken,
    state: ApiState,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    receive(name, token, state, headers, body).await.unwrap_or_else(ApiError::into_response)
}

async fn receive(
    name: String,
    token: UrlToken,
    state: ApiState,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    state.check_accepting()?;
    let set = state.subscriptions.load_full();
    let source = set.sources.get(&name).ok_or_else(|| ApiError::not_found(format!("no source named {name:?}")))?;
    if matches!(token, UrlToken::Path(_)) && source.verifier.scheme != crate::source::VerifyScheme::Token {
        return Err(ApiError::not_found(format!("source {name} takes no token in its path: POST /v1/sources/{name}")));
    }
    state.check_capacity()?;
    let body = body?;
    let header = |wanted: &str| headers.get(wanted).and_then(|v| v.to_str().ok()).map(str::to_string);
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let token = token.decoded();
    let verified = source.verify(&crate::source::Given { header: &header, token: token.as_deref() }, &body);
    let event = verified.and_then(|()| source.event(&body, &pairs)).map_err(|refused| {
        state.metrics.source_refused(&source.name, refused.reason());
        match refused {
            Refused::Proof(why) => ApiError::new(StatusCode::UNAUTHORIZED, format!("source {name}: {why}")),
            Refused::Json(e) => ApiError::from(e),
            Refused::Mapping { field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {message}"))
            }
        }
    })?;
    let mut event = event;
    let schema_problems = super::intake::check_schema(&state, &set, &mut event).map_err(|e| {
        state.metrics.source_refused(&source.name, "schema");
        ApiError::from(e)
    })?;
    let mut prepared = crate::accept::prepare(&event, &set, crate::now_ms());
    prepared.schema_problems = schema_problems;
    prepared.source = Some(source.name.clone());
    let i = accept_one(&state, prepared, &set).await?;
    state.metrics.source_accepted(&source.name, i.duplicate);
    Ok(json(status_of(&i), &answer(&i)))
}
