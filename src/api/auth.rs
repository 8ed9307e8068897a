//! Bearer-token checks: intake and admin each have their own token; a missing token means
//! that side is open (allowed only when listening on loopback, see `app`).

use subtle::ConstantTimeEq;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use crate::secret::Secret;

/// Passes when `token` is None or the request carries `Authorization: Bearer <token>`.
pub fn bearer(token: Option<Secret>, side: &'static str) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |given: Option<String>| {
            let token = token.clone();
            async move {
                let Some(token) = token else { return Ok(()) };
                let presented = given.as_deref().and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
                if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
                    Ok(())
                } else {
                    let what = if given.is_some() { "wrong" } else { "missing" };
                    Err(warp::reject::custom(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        format!("{what} bearer token: this endpoint needs the {side} token"),
                    )))
                }
            }
        })
        .untuple_one()
}
