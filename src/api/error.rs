//! The one error type of the HTTP API: a status and a message saying what and where,
//! answered as `{"error": "..."}`. Also a warp `Reject`, so filters can fail with it.

use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::event::EventError;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for 503s.
    pub retry_after: Option<u64>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        Self { retry_after: Some(retry_after), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message) }
    }

    pub fn store(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store error");
        match e {
            StoreError::Unavailable(_) | StoreError::CannotWrite(_) => Self::unavailable(e.to_string(), 5),
            // The request's data cannot be stored: sending it again cannot help.
            StoreError::Rejected(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            StoreError::Corrupt(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }

    pub fn into_response(self) -> Response {
        let body = warp::reply::json(&super::answers::ErrorBody { error: self.message });
        let mut resp = warp::reply::with_status(body, self.status).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(warp::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        let status = match e {
            EventError::Syntax { .. } => StatusCode::BAD_REQUEST,
            EventError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            EventError::TooManyItems { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        };
        Self::new(status, e.to_string())
    }
}

/// Turns every rejection (ours, or warp's routing ones) into a JSON error.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let e = if let Some(e) = rejection.find::<ApiError>() {
        e.clone()
    } else if rejection.is_not_found() {
        ApiError::not_found("no such endpoint")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
    } else {
        ApiError::bad_request(format!("bad request: {rejection:?}"))
    };
    Ok(e.into_response())
}

/// A JSON reply with a status.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}
