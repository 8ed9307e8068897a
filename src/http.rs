//! The one router: the API's routes and the console's side by side, behind the
//! same-machine guard, every rejection answered as JSON. It stands above `api` and
//! `console`, so neither mounts the other: the console uses the API's state and
//! functions, and the API knows nothing of the console.

use std::convert::Infallible;
use std::sync::Arc;

use warp::reply::Response;
use warp::Filter;

use crate::api::{self, body::Limit, throttle::Throttle, ApiState};

pub fn routes(state: ApiState) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let limit = Limit { bytes: state.max_body_bytes, within: state.body_read_timeout };
    // One count of wrong tokens per client address, for both tokens and the console's sign-in.
    let throttle = Arc::new(Throttle::default());
    let open = state.intake_token.is_none() || state.admin_token.is_none();
    let console = crate::console::routes(state.clone(), limit, throttle.clone());
    api::guard::same_machine(open)
        .and(api::routes(state, limit, throttle).or(console).unify())
        .recover(api::error::recover)
        .unify()
}
