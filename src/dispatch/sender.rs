//! Sending one leased delivery: the always-sent headers (`crate::headers`), the
//! subscription's headers, signature and `auth:` (`authorize.rs`), one shared HTTP client
//! (one more per distinct `tls:`) that connects only where the egress policy allows, and a
//! response read no further than 16 KiB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::authorize::{self, Authorization};
use super::retry::{parse_retry_after, AttemptResult};
use crate::egress::{check_uri_host, refusal_in, EgressPolicy, GuardedResolver};
use crate::headers::{always_sent, default_content_type};
use crate::store::Leased;
use crate::subscription::Subscription;

/// How much of a response body an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 16 * 1024;
/// What is read of a response past `RESPONSE_BODY_LIMIT`: room for a secret echoed across
/// the limit in its longest spelling (`\u00XX` is six bytes a byte, an HTML reference up to
/// ten), so that it is there whole to be masked.
const SECRET_MARGIN: usize = 16 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;
pub(super) type Client = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// The one HTTP client and the egress policy it connects under, the clients of
/// subscriptions with `tls:` (one per distinct set of files, made when first needed), and
/// the OAuth2 tokens this node holds.
#[derive(Clone)]
pub struct HttpClient {
    client: Clients,
    pub(super) egress: Arc<EgressPolicy>,
    tls_clients: Arc<Mutex<HashMap<String, Clients>>>,
    pub(super) tokens: Arc<crate::auth::Tokens>,
}

/// A pooled client, and one under the same settings that keeps no connection: for a
/// request sent again at once because the pooled connection it went on was dead.
#[derive(Clone)]
pub(super) struct Clients {
    pub(super) pooled: Client,
    fresh: Client,
}

impl Clients {
    fn new(egress: &Arc<EgressPolicy>, tls: Option<rustls::ClientConfig>) -> Self {
        Self { pooled: build(egress, tls.clone(), POOL_IDLE_TIMEOUT), fresh: build(egress, tls, Duration::ZERO) }
    }
}

impl HttpClient {
    /// The clients for `sub`'s deliveries: the shared ones, or its `tls:` settings' own.
    pub(super) fn client_for(&self, sub: &Subscription) -> Clients {
        let Some(tls) = &sub.tls else { return self.client.clone() };
        // A poisoned map only means a panic elsewhere mid-insert; its entries are whole.
        let mut clients = self.tls_clients.lock().unwrap_or_else(|p| p.into_inner());
        let make = || Clients::new(&self.egress, Some(tls.config.as_ref().clone()));
        clients.entry(tls.key.clone()).or_insert_with(make).clone()
    }
}

/// The one HTTP client: connection reuse across deliveries, redirects never followed (hyper
/// follows none), and every address it connects to checked against `egress`: names when
/// they resolve (so a name cannot resolve to a refused address later), literal addresses
/// before sending. No proxy: the address connected to must be the receiver's. HTTP/1.1,
/// TLS by rustls with the webpki roots.
pub fn client(egress: &EgressPolicy) -> HttpClient {
    let egress = Arc::new(egress.clone());
    let client = Clients::new(&egress, None);
    HttpClient { client, egress, tls_clients: Arc::default(), tokens: Arc::default() }
}

/// A client under `egress`, with rustls' web roots or the TLS settings given, that keeps
/// idle connections for `idle` (none when zero).
fn build(egress: &Arc<EgressPolicy>, tls: Option<rustls::ClientConfig>, idle: Duration) -> Client {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(egress.clone()));
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let builder = HttpsConnectorBuilder::new();
    let builder = match tls {
        Some(config) => builder.with_tls_config(config),
        None => builder.with_webpki_roots(),
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
    builder.pool_timer(TokioTimer::new());
    match idle.is_zero() {
        true => builder.pool_max_idle_per_host(0),
        false => builder.pool_idle_timeout(idle),
    };
    builder.build(https)
}

pub struct Sent {
    pub result: AttemptResult,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    /// True when no connection could be made at all (the receiver is down or unknown):
    /// what opens the subscription's breaker.
    pub unreachable: bool,
}

/// Why an attempt got no response.
enum Failure {
    /// Not sent: a URL that does not parse, an address the egress rules refuse.
    Refused(String),
    Timeout,
    Client(hyper_util::client::legacy::Error),
}

/// Waiting this long or more for the Authorization (a token fetched, or another
/// attempt's fetch waited for) spends a rate limit's turn: a cached token takes
/// microseconds.
const TURN_SPENT_WAITING: Duration = Duration::from_millis(1);

/// One attempt. With `auth.oauth2`, the token is fetched first when none is held (within
/// the same deadline), and a 401 renews it once and sends again: still the same attempt,
/// once `fresh_turn` (given the deadline) says a rate limit has a turn for it. A turn
/// is also spent by waiting for the token: the request then waits for a fresh one, and
/// is not sent at all (None: its lease goes back) if none comes before the deadline.
/// Sent on the turn it was given, every delivery that waited for one slow token fetch
/// went at once when it came, a burst past the limit.
pub async fn send<F, T>(http: &HttpClient, d: &Leased, sub: &Subscription, fresh_turn: F) -> Option<Sent>
where
    F: Fn(tokio::time::Instant) -> T,
    T: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + sub.timeout;
    let client = http.client_for(sub);
    let authorizing = Instant::now();
    let (result, response_body, unreachable) = match authorize::authorization(http, &client.pooled, sub, deadline).await
    {
        Err(result) => (result, None, false),
        Ok(auth) => {
            // Only a token endpoint's token is waited for; a cached one takes microseconds.
            let waited = auth.as_ref().is_some_and(Authorization::is_oauth2_token)
                && authorizing.elapsed() >= TURN_SPENT_WAITING;
            if sub.rate_limit.is_some() && waited && !fresh_turn(deadline).await {
                return None;
            }
            let first = exchange(http, &client, d, sub, auth.as_ref(), deadline, &fresh_turn).await;
            match authorize::after_refusal(http, &client.pooled, sub, auth.as_ref(), &first.0, deadline).await {
                None => first,
                Some(Err(result)) => (result, None, false),
                Some(Ok(renewed)) => match fresh_turn(deadline).await {
                    true => exchange(http, &client, d, sub, Some(&renewed), deadline, &fresh_turn).await,
                    false => first,
                },
            }
        }
    };
    Some(Sent { result, response_body, duration_ms: started.elapsed().as_millis() as i64, unreachable })
}

/// One request and its response: the result, the response body (masked) and whether no
/// connection could be made.
async fn exchange<F, T>(
    http: &HttpClient,
    client: &Clients,
    d: &Leased,
    sub: &Subscription,
    auth: Option<&Authorization>,
    deadline: tokio::time::Instant,
    fresh_turn: &F,
) -> (AttemptResult, Option<String>, bool)
where
    F: Fn(tokio::time::Instant) -> T,
    T: std::future::Future<Output = bool>,
{
    let send = |client: &Client| {
        let request = request(http, d, sub, auth);
        let client = client.clone();
        async move {
            let request = request.map_err(Failure::Refused)?;
            match tokio::time::timeout_at(deadline, client.request(request)).await {
                Err(_) => Err(Failure::Timeout),
                Ok(result) => result.map_err(Failure::Client),
            }
        }
    };
    // A pooled connection can be dead without the pool knowing (a receiver restarted after
    // its accept queue overflowed): the request then fails at once, reset or closed before
    // a whole answer came, and every attempt for as long as such connections last (90 s) did the
    // same, spending the whole retry schedule on a receiver that was up. Sent again at
    // once on a new connection, as the same attempt (same webhook-id: a receiver that did
    // get it dedupes it).
    // To the receiver that is one more request: with a rate limit, on a turn of its own.
    let response = match send(&client.pooled).await {
        Err(Failure::Client(e)) if closed_before_answer(&e) => {
            match sub.rate_limit.is_none() || fresh_turn(deadline).await {
                true => send(&client.fresh).await,
                false => Err(Failure::Client(e)),
            }
        }
        other => other,
    };
    let mut unreachable = false;
    let (result, response_body) = match response {
        Err(Failure::Refused(why)) => (AttemptResult::Refused(why), None),
        Err(Failure::Timeout) => {
            let within = crate::duration::format(sub.timeout);
            (AttemptResult::Error(format!("timeout: no answer within {within} (request.timeout)")), None)
        }
        Err(Failure::Client(e)) => match refusal_in(&e) {
            Some(why) => (AttemptResult::Refused(why.to_string()), None),
            None => {
                unreachable = e.is_connect();
                (AttemptResult::Error(sub.secrets.mask(&describe(&e))), None)
            }
        },
        Ok(response) => {
            let (result, body) = read_response(response, deadline).await;
            (result, Some(kept_body(body, sub, auth)))
        }
    };
    (result, response_body, unreachable)
}

/// The request for delivery `d`, or why it may not be sent: a URL that does not parse, or
/// a literal address the egress policy refuses.
fn request(
    http: &HttpClient,
    d: &Leased,
    sub: &Subscription,
    auth: Option<&Authorization>,
) -> Result<Request<Full<Bytes>>, String> {
    let (uri, credentials) = target(&d.request.url)?;
    check_uri_host(&http.egress, &uri).map_err(|why| why.to_string())?;
    let method = Method::from_bytes(d.request.method.as_bytes()).unwrap_or(Method::POST);
    let body = d.request.body.as_ref().map_or_else(Bytes::new, |b| Bytes::copy_from_slice(b.as_bytes()));
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    if let Some(credentials) = credentials {
        map.insert(AUTHORIZATION, credentials);
    }
    // The same headers as `crate::headers::headers`, in the same order, without spelling the always-sent
    // names out as text only to parse them again.
    for (_, k, v) in always_sent(&d.id, &d.topic, d.attempt, default_content_type(&d.request)) {
        // Ids and attempt numbers are ASCII; a topic is free of control characters (intake).
        if let Ok(v) = HeaderValue::try_from(v) {
            map.insert(k, v);
        }
    }
    let r = &d.request;
    let signed = sub.signature.as_ref().map(|signer| {
        signer.headers(&d.id, chrono::Utc::now().timestamp(), r.body.as_deref().unwrap_or_default().as_bytes())
    });
    for (k, v) in r.headers.iter().chain(signed.iter().flatten()) {
        // Names and values were validated at load and render; a bad one is skipped, not fatal.
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            map.insert(k, v);
        }
    }
    // Last: `auth:` is the subscription's word on Authorization (a header of the same
    // name is a load error), over URL userinfo.
    if let Some(auth) = auth {
        map.insert(AUTHORIZATION, auth.header.clone());
    }
    Ok(request)
}

/// The URI a stored URL names, and the Basic credentials of its userinfo, if it has any:
/// sent as `Authorization` (unless the subscription sets that header), and not in the URI,
/// as browsers and curl do. Rendering stored the URL normalised (WHATWG, as a browser
/// reads it), which hyper's stricter parser takes as it is; anything else is normalised
/// first.
fn target(url: &str) -> Result<(Uri, Option<HeaderValue>), String> {
    if let Ok(uri) = url.parse::<Uri>() {
        if !uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Ok((uri, None));
        }
    }
    let mut url = url::Url::parse(url).map_err(|e| format!("the URL does not parse: {e}"))?;
    let credentials = crate::secret::userinfo_credentials(&url).map(|pair| basic_credentials(&pair));
    // Only fails for URLs that cannot have userinfo, which these just had.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let uri = url.as_str().parse().map_err(|e| format!("the URL does not parse: {e}"))?;
    Ok((uri, credentials))
}

/// `Basic base64(user:password)`, marked sensitive.
fn basic_credentials(pair: &str) -> HeaderValue {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    // base64 is always a valid header value.
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap_or(HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// What history keeps of a response body: a receiver that echoes what it got must not put
/// our secrets into it, the access token included. Masked whole, before the body is cut to
/// `RESPONSE_BODY_LIMIT`, and then, when something was cut, what the cut left of one.
fn kept_body(body: String, sub: &Subscription, auth: Option<&Authorization>) -> String {
    let read_all_it_may = body.len() >= RESPONSE_BODY_LIMIT + SECRET_MARGIN;
    let masked = sub.secrets.mask(&body);
    let masked = match auth {
        Some(a) => a.mask(&masked),
        None => masked,
    };
    if masked.len() <= RESPONSE_BODY_LIMIT && !read_all_it_may {
        return masked;
    }
    let kept = sub.secrets.mask_cut_end(crate::secret::cut_to(masked, RESPONSE_BODY_LIMIT));
    match auth {
        Some(a) => a.mask_cut_end(kept),
        None => kept,
    }
}

/// The attempt's result from its response, and the first 16 KiB of the body as text, with
/// a margin past them so that a secret echoed across the 16 KiB is there whole to be
/// masked (the caller cuts it to the limit after). The body is read until `deadline`,
/// like the rest of the attempt.
pub(super) async fn read_response(
    response: Response<Incoming>,
    deadline: tokio::time::Instant,
) -> (AttemptResult, String) {
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let mut body = response.into_body();
    let mut kept = Vec::new();
    let mut read_error = None;
    while kept.len() < RESPONSE_BODY_LIMIT + SECRET_MARGIN {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => read_error = Some("timeout".to_string()),
            Ok(None) => {}
            Ok(Some(Err(e))) => read_error = Some(describe(&e)),
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    kept.extend_from_slice(data);
                }
                continue;
            }
        }
        break;
    }
    kept.truncate(RESPONSE_BODY_LIMIT + SECRET_MARGIN);
    // A 2xx whose body then timed out still told us the receiver accepted it.
    let result = match read_error {
        Some(e) if !(200..300).contains(&code) => AttemptResult::Error(format!("status {code}, then {e}")),
        _ => AttemptResult::Status { code, retry_after },
    };
    (result, String::from_utf8_lossy(&kept).into_owned())
}

/// Whether a request failed because its connection was closed or reset before any answer
/// came, rather than never made (`is_connect`) or refused by the egress rules.
fn closed_before_answer(e: &hyper_util::client::legacy::Error) -> bool {
    if e.is_connect() || refusal_in(e).is_some() {
        return false;
    }
    std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |&e| e.source()).any(|cause| {
        let closed = cause.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_incomplete_message() || h.is_canceled());
        let reset = cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            use std::io::ErrorKind::*;
            matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted | UnexpectedEof)
        });
        closed || reset
    })
}

/// An error in words, without its URL: that may hold secrets (userinfo, a token in the
/// query), and the delivery's history shows its URL already, masked.
pub(super) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let connect = e.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|e| e.is_connect());
    let mut text = if connect { "connection failed" } else { "request failed" }.to_string();
    // hyper's errors carry no URL; the chain says what went wrong, outermost first.
    for cause in std::iter::successors(Some(e), |&e| e.source()) {
        text.push_str(&format!(": {cause}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::AddressClass;

    #[tokio::test]
    async fn a_name_the_policy_refuses_fails_with_the_refusal_and_nothing_is_dialled() {
        let http = client(&EgressPolicy::new(true, vec![]));
        // The resolver refuses every address localhost has, so nothing is sent.
        let request = Request::get("http://localhost:9/").body(Full::new(Bytes::new())).unwrap();
        let err = http.client.pooled.request(request).await.unwrap_err();
        assert_eq!(refusal_in(&err).map(|r| r.class), Some(AddressClass::Loopback), "{err:?}");
        assert!(err.is_connect());
    }

    #[test]
    fn userinfo_leaves_the_uri_for_basic_credentials() {
        let (uri, credentials) = target("https://a%20b:c@hooks.example.com:8443/x?y=1").unwrap();
        assert_eq!(uri.to_string(), "https://hooks.example.com:8443/x?y=1");
        assert_eq!(credentials.unwrap(), "Basic YSBiOmM=");
        let (uri, credentials) = target("http://user@h/").unwrap();
        assert_eq!(uri.to_string(), "http://h/");
        assert_eq!(credentials.unwrap(), "Basic dXNlcjo=");
        let (uri, credentials) = target("http://h/a?b").unwrap();
        assert_eq!((uri.to_string(), credentials), ("http://h/a?b".to_string(), None));
        assert!(target("not a url").unwrap_err().starts_with("the URL does not parse"));
    }
}
