//! The web console (`/console/`): server-rendered pages for the people who run
//! integrations, over the same store and API functions as the HTTP API. Templates and
//! assets are compiled in; every value is HTML-escaped by minijinja; forms carry a CSRF
//! token; pages are served with `Content-Security-Policy: default-src 'self'`.

mod assets;
mod deliveries;
mod delivery;
mod event;
mod overview;
mod page;
mod playground;
mod session;
mod sign_in;
mod subscriptions;

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::api::ApiState;
pub use page::Console;
use session::Viewer;

/// The largest form the console takes (the playground's event is the big one).
const MAX_FORM_BYTES: u64 = 1024 * 1024;

/// Every console route; rejections of its own (no session, a bad form token) become a
/// redirect to the sign-in page or an error page, others pass on to the API's handling.
pub fn routes(state: ApiState) -> BoxedFilter<(Response,)> {
    let console = Arc::new(Console::new(state.admin_token.clone()));
    let with_state = warp::any().map(move || state.clone());
    let with_console = {
        let console = console.clone();
        warp::any().map(move || console.clone())
    };
    let viewer = viewer(console.clone());
    let form = warp::body::content_length_limit(MAX_FORM_BYTES).and(warp::body::form::<Vec<(String, String)>>());
    let query = warp::query::<Vec<(String, String)>>();
    let get = || warp::get().and(with_console.clone()).and(viewer.clone());
    // Every POST: a session (or an open console), and the form's CSRF token checked first.
    let post = || {
        warp::post()
            .and(with_console.clone())
            .and(viewer.clone())
            .and(form)
            .and_then(|console: Arc<Console>, viewer: Viewer, form: Vec<(String, String)>| async move {
                if viewer.accepts(field(&form, "csrf")) {
                    Ok((console, viewer, form))
                } else {
                    Err(warp::reject::custom(Forged { console, viewer }))
                }
            })
            .untuple_one()
    };

    let static_files = warp::path!("console" / "static" / String).and(warp::get()).map(assets::serve).boxed();
    let sign_in_form = warp::path!("console" / "signin")
        .and(warp::get())
        .and(with_console.clone())
        .and(query)
        .map(sign_in::form)
        .boxed();
    let sign_in = warp::path!("console" / "signin")
        .and(warp::post())
        .and(with_console.clone())
        .and(forwarded_tls())
        .and(form)
        .map(sign_in::submit)
        .boxed();
    let sign_out = warp::path!("console" / "signout").and(post()).map(sign_in::sign_out).boxed();
    // `/console` and `/console/` alike (warp's path end takes either).
    let overview = warp::path!("console").and(get()).and(with_state.clone()).then(overview::page).boxed();
    let list = warp::path!("console" / "deliveries")
        .and(get())
        .and(with_state.clone())
        .and(query)
        .then(deliveries::page)
        .boxed();
    let recover_ask = warp::path!("console" / "recover")
        .and(get())
        .and(with_state.clone())
        .and(query)
        .then(deliveries::recover_confirm)
        .boxed();
    let recover =
        warp::path!("console" / "recover").and(post()).and(with_state.clone()).then(deliveries::recover).boxed();
    let show =
        warp::path!("console" / "deliveries" / String).and(get()).and(with_state.clone()).then(delivery::page).boxed();
    let resend = warp::path!("console" / "deliveries" / String / "resend")
        .and(post())
        .and(with_state.clone())
        .then(delivery::resend)
        .boxed();
    let event = warp::path!("console" / "events" / String).and(get()).and(with_state.clone()).then(event::page).boxed();
    let replay = warp::path!("console" / "events" / String / "replay")
        .and(post())
        .and(with_state.clone())
        .then(event::replay)
        .boxed();
    let subs =
        warp::path!("console" / "subscriptions").and(get()).and(with_state.clone()).then(subscriptions::list).boxed();
    let sub = warp::path!("console" / "subscriptions" / String)
        .and(get())
        .and(with_state.clone())
        .then(subscriptions::show)
        .boxed();
    let switch = warp::path!("console" / "subscriptions" / String / String)
        .and(post())
        .and(with_state.clone())
        .then(subscriptions::switch)
        .boxed();
    let sources =
        warp::path!("console" / "sources").and(get()).and(with_state.clone()).then(subscriptions::sources).boxed();
    let playground = warp::path!("console" / "playground")
        .and(get())
        .and(with_state.clone())
        .and(query)
        .then(playground::page)
        .boxed();
    let try_it = warp::path!("console" / "playground").and(post()).and(with_state).then(playground::render).boxed();

    static_files
        .or(sign_in_form)
        .unify()
        .or(sign_in)
        .unify()
        .or(sign_out)
        .unify()
        .or(overview)
        .unify()
        .or(list)
        .unify()
        .or(recover_ask)
        .unify()
        .or(recover)
        .unify()
        .or(resend)
        .unify()
        .or(show)
        .unify()
        .or(replay)
        .unify()
        .or(event)
        .unify()
        .or(subs)
        .unify()
        .or(switch)
        .unify()
        .or(sub)
        .unify()
        .or(sources)
        .unify()
        .or(playground)
        .unify()
        .or(try_it)
        .unify()
        .recover(recover_sign_in)
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
fn viewer(console: Arc<Console>) -> BoxedFilter<(Viewer,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::cookie::optional::<String>(session::COOKIE)
        .and(warp::path::full())
        .and(query)
        .and_then(move |cookie: Option<String>, path: warp::path::FullPath, query: String| {
            let console = console.clone();
            async move {
                let now = crate::now_ms() / 1000;
                console.sessions.viewer(cookie.as_deref(), now).ok_or_else(|| {
                    let next =
                        if query.is_empty() { path.as_str().to_string() } else { format!("{}?{query}", path.as_str()) };
                    warp::reject::custom(NeedsSignIn { next })
                })
            }
        })
        .boxed()
}

/// Whether a proxy in front says the console is reached over TLS (then the cookie is Secure).
fn forwarded_tls() -> BoxedFilter<(bool,)> {
    warp::header::optional::<String>("x-forwarded-proto")
        .map(|proto: Option<String>| proto.is_some_and(|p| p.eq_ignore_ascii_case("https")))
        .boxed()
}

/// No session: to the sign-in page (and back after it). A forged form: 403.
async fn recover_sign_in(rejection: Rejection) -> Result<Response, Rejection> {
    if let Some(needs) = rejection.find::<NeedsSignIn>() {
        let next: String = url::form_urlencoded::byte_serialize(needs.next.as_bytes()).collect();
        return Ok(page::redirect(&format!("/console/signin?next={next}")));
    }
    if let Some(Forged { console, viewer }) = rejection.find::<Forged>() {
        let why = "This form was not sent from a page of this console (its security token is missing or \
                   stale). Reload the page and try again.";
        return Ok(console.error_page(viewer, StatusCode::FORBIDDEN, why));
    }
    Err(rejection)
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
