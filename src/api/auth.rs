//! Bearer-token checks: intake and admin each have their own token; a missing token means
//! that side is open (allowed only when listening on loopback, see `app`).

use std::sync::Arc;

use subtle::ConstantTimeEq;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use super::throttle::{peer, Throttle};
use crate::secret::Secret;

/// Passes when `token` is None or the request carries `Authorization: Bearer <token>`.
/// A client address that presented too many wrong tokens gets a 429 instead, the token
/// not compared (`throttle`).
pub fn bearer(
    token: Option<Secret>,
    side: &'static str,
    throttle: Arc<Throttle>,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |given: Option<String>| {
            let (token, throttle) = (token.clone(), throttle.clone());
            async move {
                let Some(token) = token else { return Ok(()) };
                let (addr, now) = (peer(), std::time::Instant::now());
                throttle.check(addr, now).map_err(warp::reject::custom)?;
                let presented = given.as_deref().and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
                if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
                    throttle.succeeded(addr);
                    Ok(())
                } else {
                    // A request without a token guesses nothing: only wrong ones count.
                    if given.is_some() {
                        throttle.failed(addr, now);
                    }
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
