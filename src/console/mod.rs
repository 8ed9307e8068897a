//! The web console (`/console/`): server-rendered pages for the people who run
//! integrations, over the same store and API functions as the HTTP API. Templates and
//! assets are compiled in; every value is HTML-escaped by minijinja; forms carry a CSRF
//! token; pages are served with `Content-Security-Policy: default-src 'self'`.

mod assets;
mod dates;
mod deliveries;
mod delivery;
mod event;
mod notice;
mod overview;
mod page;
mod playground;
mod session;
mod sign_in;
mod studio;
mod subscriptions;
mod topics;

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::api::body::Limit;
use crate::api::throttle::Throttle;
use crate::api::ApiState;
use crate::store::Store;
pub use page::Console;
use session::Viewer;

/// Every console route; rejections of its own (no session, a bad form token) become a
/// redirect to the sign-in page or an error page, any other answer under `/console` (a
/// path that is not a page, a form over the size limit) is the API's JSON error with the
/// console's headers. Forms are read as intake reads bodies (`limit`); `throttle` counts
/// wrong tokens at sign-in, as the API's bearer checks do.
pub fn routes(state: ApiState, limit: Limit, throttle: Arc<Throttle>) -> BoxedFilter<(Response,)> {
    let f = Shared::new(state, limit, throttle);
    let static_files = warp::path!("console" / "static" / String).and(warp::get()).map(assets::serve).boxed();
    let all = static_files.or(pages(&f)).unify().or(actions(&f)).unify().recover(recover_console).unify();
    under_console().and(all).boxed()
}

/// Passes requests under `/console` only: the others are not the console's to answer.
fn under_console() -> BoxedFilter<()> {
    warp::path::peek()
        .and_then(|path: warp::path::Peek| async move {
            if path.segments().next() == Some("console") {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .boxed()
}

/// A form's body, read under intake's limits and deadline into one buffer (a client
/// trickling a form is cut off as intake would cut it off), then decoded.
fn form(limit: Limit) -> BoxedFilter<(Form,)> {
    crate::api::body::capped(limit)
        .and_then(|body: Result<bytes::Bytes, crate::api::ApiError>| async move {
            let body = body.map_err(warp::reject::custom)?;
            Ok::<Form, Rejection>(url::form_urlencoded::parse(&body).into_owned().collect())
        })
        .boxed()
}

type Form = Vec<(String, String)>;

/// The filters every route is built from.
struct Shared {
    state: BoxedFilter<(ApiState,)>,
    console: BoxedFilter<(Arc<Console>,)>,
    query: BoxedFilter<(Form,)>,
    form: BoxedFilter<(Form,)>,
    /// A page: the console and its viewer (or a redirect to sign in).
    get: BoxedFilter<(Arc<Console>, Viewer)>,
    /// A form: the console, its viewer and the form, whose CSRF token was checked first.
    post: BoxedFilter<(Arc<Console>, Viewer, Form)>,
}

impl Shared {
    fn new(state: ApiState, limit: Limit, throttle: Arc<Throttle>) -> Self {
        let console = Arc::new(Console::new(state.admin_token.clone(), throttle));
        let viewer = viewer(console.clone(), state.store.clone());
        let with_console = warp::any().map(move || console.clone()).boxed();
        let form = form(limit);
        let get = warp::get().and(with_console.clone()).and(viewer.clone()).boxed();
        let post = warp::post()
            .and(with_console.clone())
            .and(viewer)
            .and(form.clone())
            .and_then(|console: Arc<Console>, viewer: Viewer, form: Form| async move {
                if viewer.accepts(field(&form, "csrf")) {
                    Ok((console, viewer, form))
                } else {
                    Err(warp::reject::custom(Forged { console, viewer }))
                }
            })
            .untuple_one()
            .boxed();
        Self {
            state: warp::any().map(move || state.clone()).boxed(),
            console: with_console,
            query: warp::query::<Form>().boxed(),
            form,
            get,
            post,
        }
    }
}

/// The pages (GET), each behind a session.
fn pages(f: &Shared) -> BoxedFilter<(Response,)> {
    let sign_in = warp::path!("console" / "signin").and(warp::get()).and(f.console.clone()).and(f.query.clone());
    // `/console` and `/console/` alike (warp's path end takes either).
    let overview = warp::path!("console").and(f.get.clone()).and(f.state.clone()).then(overview::page);
    let list = warp::path!("console" / "deliveries").and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let recover = warp::path!("console" / "recover").and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let delivery =
        warp::path!("console" / "deliveries" / String).and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let event = warp::path!("console" / "events" / String).and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let replay = warp::path!("console" / "events" / String / "replay")
        .and(f.get.clone())
        .and(f.state.clone())
        .and(f.query.clone());
    let subs = warp::path!("console" / "subscriptions").and(f.get.clone()).and(f.state.clone());
    let sub =
        warp::path!("console" / "subscriptions" / String).and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let sources = warp::path!("console" / "sources").and(f.get.clone()).and(f.state.clone());
    let topics = warp::path!("console" / "topics").and(f.get.clone()).and(f.state.clone());
    let playground = warp::path!("console" / "playground").and(f.get.clone()).and(f.state.clone()).and(f.query.clone());
    let studio = warp::path!("console" / "studio").and(f.get.clone()).and(f.state.clone());
    let studio_open = warp::path!("console" / "studio" / String).and(f.get.clone()).and(f.state.clone());
    sign_in
        .map(sign_in::form)
        .boxed()
        .or(overview.boxed())
        .unify()
        .or(list.then(deliveries::page).boxed())
        .unify()
        .or(recover.then(deliveries::recover_confirm).boxed())
        .unify()
        .or(delivery.then(delivery::page).boxed())
        .unify()
        .or(event.then(event::page).boxed())
        .unify()
        .or(replay.then(event::replay_confirm).boxed())
        .unify()
        .or(subs.then(subscriptions::list).boxed())
        .unify()
        .or(sub.then(subscriptions::show).boxed())
        .unify()
        .or(sources.then(subscriptions::sources).boxed())
        .unify()
        .or(topics.then(topics::list).boxed())
        .unify()
        .or(playground.then(playground::page).boxed())
        .unify()
        .or(studio.then(studio::index).boxed())
        .unify()
        .or(studio_open.then(studio::open).boxed())
        .unify()
        .boxed()
}

/// The forms (POST): sign-in, then everything that needs a session and a CSRF token.
fn actions(f: &Shared) -> BoxedFilter<(Response,)> {
    let sign_in = warp::path!("console" / "signin")
        .and(warp::post())
        .and(f.console.clone())
        .and(forwarded_tls())
        .and(f.form.clone());
    let sign_out = warp::path!("console" / "signout").and(f.post.clone()).and(cookie()).and(f.state.clone());
    let recover = warp::path!("console" / "recover").and(f.post.clone()).and(f.state.clone());
    let resend = warp::path!("console" / "deliveries" / String / "resend").and(f.post.clone()).and(f.state.clone());
    let replay = warp::path!("console" / "events" / String / "replay").and(f.post.clone()).and(f.state.clone());
    let switch = warp::path!("console" / "subscriptions" / String / String).and(f.post.clone()).and(f.state.clone());
    let render = warp::path!("console" / "playground").and(f.post.clone()).and(f.state.clone());
    let studio_check = warp::path!("console" / "studio" / "check").and(f.post.clone()).and(f.state.clone());
    sign_in
        .map(sign_in::submit)
        .boxed()
        .or(sign_out.then(sign_in::sign_out).boxed())
        .unify()
        .or(recover.then(deliveries::recover).boxed())
        .unify()
        .or(resend.then(delivery::resend).boxed())
        .unify()
        .or(replay.then(event::replay).boxed())
        .unify()
        .or(switch.then(subscriptions::switch).boxed())
        .unify()
        .or(render.then(playground::render).boxed())
        .unify()
        .or(studio_check.then(studio::check).boxed())
        .unify()
        .boxed()
}

/// A request that needs a session and has none.
#[derive(Debug)]
struct NeedsSignIn {
    next: String,
}

impl warp::reject::Reject for NeedsSignIn {}

/// The viewer behind a request, or a rejection that sends it to sign in.
fn viewer(console: Arc<Console>, store: Arc<dyn Store>) -> BoxedFilter<(Viewer,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::cookie::optional::<String>(session::COOKIE)
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and_then(move |cookie: Option<String>, method: Method, path: warp::path::FullPath, query: String| {
            let (console, store) = (console.clone(), store.clone());
            async move {
                learn_revoked_sessions(&console, store.as_ref()).await;
                let now = crate::now_ms() / 1000;
                console.sessions.viewer(cookie.as_deref(), now).ok_or_else(|| {
                    // Back to the page after signing in; a form's URL has no page, so the overview.
                    let next = match (method, query.is_empty()) {
                        (Method::GET, true) => path.as_str().to_string(),
                        (Method::GET, false) => format!("{}?{query}", path.as_str()),
                        _ => "/console/".to_string(),
                    };
                    warp::reject::custom(NeedsSignIn { next })
                })
            }
        })
        .boxed()
}

/// Reads the sessions signed out on any node, every `session::REFRESH_MS` at most. A store
/// that cannot answer now leaves what this node knows (it is asked again next time).
async fn learn_revoked_sessions(console: &Console, store: &dyn Store) {
    let now_ms = crate::now_ms();
    if !console.sessions.needs_sign_in() || !console.sessions.refresh_due(now_ms) {
        return;
    }
    match store.revoked_sessions(now_ms / 1000).await {
        Ok(revoked) => console.sessions.learn(revoked, now_ms / 1000),
        Err(e) => tracing::warn!(error = %e, "could not read the console's signed-out sessions"),
    }
}

/// The session cookie, when the request carries one.
fn cookie() -> BoxedFilter<(Option<String>,)> {
    warp::cookie::optional::<String>(session::COOKIE).boxed()
}

/// Whether a proxy in front says the console is reached over TLS (then the cookie is Secure).
fn forwarded_tls() -> BoxedFilter<(bool,)> {
    warp::header::optional::<String>("x-forwarded-proto")
        .map(|proto: Option<String>| proto.is_some_and(|p| p.eq_ignore_ascii_case("https")))
        .boxed()
}

/// No session: to the sign-in page (and back after it). A forged form: 403. Anything else
/// (no such page, a form too large or too slow): the API's error, with the console's
/// headers like every answer under `/console`.
async fn recover_console(rejection: Rejection) -> Result<Response, std::convert::Infallible> {
    if let Some(needs) = rejection.find::<NeedsSignIn>() {
        let next: String = url::form_urlencoded::byte_serialize(needs.next.as_bytes()).collect();
        return Ok(page::redirect(&format!("/console/signin?next={next}")));
    }
    if let Some(Forged { console, viewer }) = rejection.find::<Forged>() {
        let why = "This form was not sent from a page of this console (its security token is missing or \
                   stale). Reload the page and try again.";
        return Ok(console.error_page(viewer, StatusCode::FORBIDDEN, why));
    }
    let mut resp = crate::api::error::recover(rejection).await?;
    page::secure_headers(resp.headers_mut());
    Ok(resp)
}

/// A form without this viewer's CSRF token: a cross-site post, or a stale page.
struct Forged {
    console: Arc<Console>,
    viewer: Viewer,
}

impl std::fmt::Debug for Forged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forged")
    }
}

impl warp::reject::Reject for Forged {}

/// A form's value by name (the first one).
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
