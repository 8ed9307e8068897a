//! The HTTP API: intake, delivery history, health. Handlers parse and answer; the work is
//! in `accept`, `store` and `dispatch`. `crate::http` composes these routes with the
//! console's into the one router.

pub(crate) mod answers;
mod auth;
pub(crate) mod body;
pub(crate) mod deliveries;
pub mod error;
pub(crate) mod events;
pub(crate) mod guard;
mod health;
mod intake;
mod openapi;
pub(crate) mod operations;
pub(crate) mod outcomes;
pub(crate) mod reasons;
mod sources;
pub(crate) mod subscriptions;
pub(crate) mod throttle;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use warp::reply::Response;
use warp::Filter;

use crate::secret::Secret;
use crate::store::Store;
use crate::subscription::SubscriptionSet;
pub use error::ApiError;

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
pub const DEFAULT_MAX_BATCH_ITEMS: usize = 1000;

/// What every request shares, behind one `Arc`: warp clones the state for each request,
/// and a clone of the fields themselves (a dozen `Arc`s, the client, the tokens) cost more
/// than the smaller handlers do.
#[derive(Clone)]
pub struct ApiState(Arc<Shared>);

impl ApiState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for ApiState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub subscriptions: Arc<ArcSwap<SubscriptionSet>>,
    pub wake: Arc<Notify>,
    pub intake_token: Option<Secret>,
    pub admin_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub body_read_timeout: std::time::Duration,
    pub max_batch_items: usize,
    /// For enable's ping: the same client the dispatcher uses.
    pub client: crate::dispatch::sender::HttpClient,
    /// Cleared when shutdown begins: intake then answers 503.
    pub accepting: Arc<AtomicBool>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Pending deliveries as housekeeping last counted them, and the bound for intake.
    pub pending: Arc<std::sync::atomic::AtomicU64>,
    pub max_pending: u64,
    /// Why the last reload was refused, if it was.
    pub reload_error: Arc<std::sync::Mutex<Option<String>>>,
    /// Whether the store takes writes, as the last heartbeat found.
    pub store_health: Arc<crate::housekeeping::StoreHealth>,
    /// The dispatcher's queue, which takes fresh deliveries leased as intake stores them.
    pub queue: Arc<crate::dispatch::queue::WorkQueue>,
    /// This node's name: the owner of the leases intake takes.
    pub node: Arc<str>,
}

impl Shared {
    fn check_accepting(&self) -> Result<(), ApiError> {
        if self.accepting.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(ApiError::unavailable("hookshape is shutting down; send this event again shortly", 5))
        }
    }

    /// Backpressure: refuse events while the queue is past its bound, rather than grow it.
    fn check_capacity(&self) -> Result<(), ApiError> {
        let pending = self.pending.load(Ordering::Relaxed);
        if pending >= self.max_pending {
            return Err(ApiError::unavailable(
                format!(
                    "{pending} deliveries are pending (the bound is {}); send this event again later",
                    self.max_pending
                ),
                10,
            ));
        }
        Ok(())
    }
}

/// The API's routes (`crate::http` puts the console's beside them), in the order they are
/// tried. Every route is boxed: without it the `or` chain's type is deep enough to
/// overflow the compiler's recursion limit in release builds.
pub fn routes(
    state: ApiState,
    limit: body::Limit,
    throttle: Arc<throttle::Throttle>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let intake_auth = auth::bearer(state.intake_token.clone(), "intake", throttle.clone());
    let admin_auth = auth::bearer(state.admin_token.clone(), "admin", throttle);
    intake_routes(&state, limit, intake_auth)
        .or(history_routes(&state, admin_auth.clone()))
        .unify()
        .or(operation_routes(&state, limit, admin_auth.clone()))
        .unify()
        .or(subscription_routes(&state, admin_auth.clone()))
        .unify()
        .or(service_routes(&state, admin_auth))
        .unify()
}

/// A token check: passes the request on, or rejects it.
trait Check: Filter<Extract = (), Error = warp::Rejection> + Clone + Send + Sync + 'static {}
impl<T: Filter<Extract = (), Error = warp::Rejection> + Clone + Send + Sync + 'static> Check for T {}

/// A filter that hands each request the shared state.
fn with(state: &ApiState) -> impl Filter<Extract = (ApiState,), Error = Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

/// Events in: one, a batch, or a platform's own format through a source.
fn intake_routes(
    state: &ApiState,
    limit: body::Limit,
    intake_auth: impl Check,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let event = warp::path!("v1" / "events")
        .and(warp::post())
        .and(intake_auth.clone())
        .and(guard::json_body())
        .and(with(state))
        .and(body::capped(limit))
        .then(intake::post_event)
        .boxed();
    let batch = warp::path!("v1" / "events" / "batch")
        .and(warp::post())
        .and(intake_auth)
        .and(guard::json_body())
        .and(with(state))
        .and(body::capped(limit))
        .then(intake::post_batch)
        .boxed();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify().map(sources::UrlToken::Query);
    let source = warp::path!("v1" / "sources" / String)
        .and(query)
        .and(warp::post())
        .and(with(state))
        .and(warp::header::headers_cloned())
        .and(body::capped(limit))
        .then(sources::post)
        .boxed();
    // Scheme token: the secret as the last segment, for platforms that take only a URL.
    let source_token = warp::path!("v1" / "sources" / String / String)
        .and(warp::post())
        .map(|name, token| (name, sources::UrlToken::Path(token)))
        .untuple_one()
        .and(with(state))
        .and(warp::header::headers_cloned())
        .and(body::capped(limit))
        .then(sources::post)
        .boxed();
    event.or(batch).unify().or(source).unify().or(source_token).unify()
}

/// What was received and sent: an event, the deliveries, one delivery.
fn history_routes(
    state: &ApiState,
    admin_auth: impl Check,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let event_show = warp::path!("v1" / "events" / String)
        .and(warp::get())
        .and(admin_auth.clone())
        .and(with(state))
        .then(events::show)
        .boxed();
    let list = warp::path!("v1" / "deliveries")
        .and(warp::get())
        .and(admin_auth.clone())
        .and(with(state))
        .and(warp::query::<Vec<(String, String)>>())
        .then(deliveries::list)
        .boxed();
    let show = warp::path!("v1" / "deliveries" / String)
        .and(warp::get())
        .and(admin_auth)
        .and(with(state))
        .then(deliveries::show)
        .boxed();
    event_show.or(list).unify().or(show).unify()
}

/// What an operator does to deliveries and events: retry, replay, render a preview.
fn operation_routes(
    state: &ApiState,
    limit: body::Limit,
    admin_auth: impl Check,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let retry_many = warp::path!("v1" / "deliveries" / "retry")
        .and(warp::post())
        .and(admin_auth.clone())
        .and(guard::json_body())
        .and(with(state))
        .and(body::capped(limit))
        .then(deliveries::retry_matching)
        .boxed();
    let retry = warp::path!("v1" / "deliveries" / String / "retry")
        .and(warp::post())
        .and(admin_auth.clone())
        .and(with(state))
        .then(operations::retry)
        .boxed();
    let replay = warp::path!("v1" / "events" / String / "replay")
        .and(warp::post())
        .and(admin_auth.clone())
        .and(guard::json_body())
        .and(with(state))
        .and(body::capped(limit))
        .then(operations::replay)
        .boxed();
    let render = warp::path!("v1" / "render")
        .and(warp::post())
        .and(admin_auth)
        .and(guard::json_body())
        .and(with(state))
        .and(body::capped(limit))
        .then(operations::render)
        .boxed();
    retry_many.or(retry).unify().or(replay).unify().or(render).unify()
}

/// The subscriptions: their state, one of them, enable (after a ping) and disable.
fn subscription_routes(
    state: &ApiState,
    admin_auth: impl Check,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let subs = warp::path!("v1" / "subscriptions")
        .and(warp::get())
        .and(admin_auth.clone())
        .and(with(state))
        .then(subscriptions::list)
        .boxed();
    let sub = warp::path!("v1" / "subscriptions" / String)
        .and(warp::get())
        .and(admin_auth.clone())
        .and(with(state))
        .then(subscriptions::show)
        .boxed();
    let enable = warp::path!("v1" / "subscriptions" / String / "enable")
        .and(warp::post())
        .and(admin_auth.clone())
        .and(with(state))
        .then(subscriptions::enable)
        .boxed();
    let disable = warp::path!("v1" / "subscriptions" / String / "disable")
        .and(warp::post())
        .and(admin_auth)
        .and(with(state))
        .then(subscriptions::disable)
        .boxed();
    subs.or(sub).unify().or(enable).unify().or(disable).unify()
}

/// The service itself: metrics, the OpenAPI document, liveness and readiness.
fn service_routes(
    state: &ApiState,
    admin_auth: impl Check,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(admin_auth)
        .and(with(state))
        .then(|state: ApiState| async move {
            let mut resp = warp::reply::Response::new(state.metrics.render().into());
            resp.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            resp
        })
        .boxed();
    let openapi_json = bytes::Bytes::from(openapi::document(state.max_batch_items).to_string());
    let openapi = warp::path!("v1" / "openapi.json")
        .and(warp::get())
        .map(move || {
            let mut resp = Response::new(openapi_json.clone().into());
            resp.headers_mut()
                .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
            resp
        })
        .boxed();
    let healthz = warp::path!("healthz").and(warp::get()).then(health::healthz).boxed();
    let readyz = warp::path!("readyz").and(warp::get()).and(with(state)).then(health::readyz).boxed();
    metrics.or(openapi).unify().or(healthz).unify().or(readyz).unify()
}
