//! One client connection: hyper's HTTP/1 state machine, watched for the header-read and idle
//! timeouts, with hyper's own bodiless error answers (a request it cannot parse) rewritten
//! into the API's JSON errors.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use super::Limits;
use crate::api::body::{BodyProgress, PROGRESS};
use crate::api::throttle::PEER;

/// How often a connection with a request under way looks at its clock again.
const RECHECK: Duration = Duration::from_secs(1);
/// At the connection cap, an idle connection gets this long before it makes room, and so
/// does a request head that is still arriving: a client sending it a line at a time
/// would otherwise hold its slot for the whole header timeout, and a few hundred such
/// sockets would take intake away from everyone (a head fits in one packet).
const PRESSURE_IDLE: Duration = Duration::from_secs(1);
/// At the connection cap, the longest a request body may take to arrive (and it may pause
/// no longer than `PRESSURE_IDLE`): a client sending bodies a byte at a time would
/// otherwise hold its slots for the whole body timeout (30 s).
const PRESSURE_BODY: Duration = Duration::from_secs(5);

/// What the watchdog needs to know about a connection, updated by its reads, its writes
/// and its requests.
#[derive(Debug)]
struct Times {
    /// When the connection last had nothing to do (opened, or a response was produced).
    idle_since: Instant,
    /// When the first byte of a request head arrived, while no request was under way.
    head_started: Option<Instant>,
    /// When the API began reading the body of the request under way, until it has it all.
    body_since: Option<Instant>,
    /// When the last bytes arrived.
    last_read: Instant,
    /// Requests handed to the API, answers produced, and response heads written.
    started: u64,
    answered: u64,
    heads_written: u64,
}

#[derive(Debug)]
struct ConnState(Mutex<Times>);

impl ConnState {
    fn new() -> Self {
        let now = Instant::now();
        let times = Times {
            idle_since: now,
            head_started: None,
            body_since: None,
            last_read: now,
            started: 0,
            answered: 0,
            heads_written: 0,
        };
        Self(Mutex::new(times))
    }

    fn times(&self) -> MutexGuard<'_, Times> {
        // No code panics while holding this lock; a poisoned one still holds valid numbers.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bytes_arrived(&self) {
        let mut t = self.times();
        t.last_read = Instant::now();
        if t.answered == t.started && t.head_started.is_none() {
            t.head_started = Some(t.last_read);
        }
    }

    fn request_started(&self) {
        let mut t = self.times();
        t.started += 1;
        t.head_started = None;
    }

    fn request_answered(&self) {
        let mut t = self.times();
        t.answered += 1;
        t.idle_since = Instant::now();
        t.body_since = None;
    }

    /// Whether a final response head about to be written is hyper's own (for a request that
    /// never reached the API) rather than the answer to a request the API took. Interim
    /// heads (`100 Continue`) are not asked about: they precede the API's answer.
    fn head_is_hypers_own(&self) -> bool {
        let mut t = self.times();
        if t.heads_written < t.started {
            t.heads_written += 1;
            false
        } else {
            true
        }
    }

    /// The API reads the body now: from here it must keep arriving (the time it waited to
    /// be read, on the store say, is not the client's).
    fn body_reading(&self) {
        let mut t = self.times();
        let now = Instant::now();
        t.body_since = Some(now);
        t.last_read = now;
    }

    /// How long until this connection has overstayed, or None when it already has.
    fn until_expiry(&self, limits: &Limits, at_capacity: bool) -> Option<Duration> {
        let t = self.times();
        if t.answered < t.started {
            return match t.body_since {
                // A body still arriving at the cap: it must keep coming, and soon be in.
                Some(since) if at_capacity => {
                    let paused = (t.last_read + PRESSURE_IDLE).checked_duration_since(Instant::now());
                    let taking = (since + PRESSURE_BODY).checked_duration_since(Instant::now());
                    Some(paused?.min(taking?).min(RECHECK))
                }
                _ => Some(RECHECK), // the handler's own timeouts (body read, store) apply
            };
        }
        let idle = if at_capacity { PRESSURE_IDLE } else { limits.idle_timeout };
        let (since, allowed) = match t.head_started {
            Some(at) if at_capacity => (at, PRESSURE_IDLE.min(limits.header_read_timeout)),
            Some(at) => (at, limits.header_read_timeout),
            None if t.started == 0 => (t.idle_since, idle.min(limits.header_read_timeout)),
            None => (t.idle_since, idle),
        };
        (since + allowed).checked_duration_since(Instant::now())
    }
}

pub struct Connection<S> {
    stream: TcpStream,
    service: S,
    limits: Limits,
    /// The server's connection slots: none left means idle connections should make room.
    slots: Arc<Semaphore>,
    permit: OwnedSemaphorePermit,
}

impl<S> Connection<S>
where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = warp::reply::Response> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub fn new(
        stream: TcpStream,
        service: S,
        limits: Limits,
        slots: Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self { stream, service, limits, slots, permit }
    }

    /// Serves requests until the client leaves, a timeout passes (the socket is dropped:
    /// a client that is slow on purpose gets no answer), or the server stops.
    pub async fn run(self, mut stop: watch::Receiver<bool>, drain: Duration) {
        let Self { stream, service, limits, slots, permit } = self;
        let stream_peer = stream.peer_addr().ok();
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(Watched { inner: stream, state: state.clone(), replacement: None });
        let service = Tracked { inner: service, state: state.clone(), peer: stream_peer };
        let conn = http1::Builder::new().header_read_timeout(None).serve_connection(io, service);
        tokio::pin!(conn);
        while let Some(wait) = state.until_expiry(&limits, slots.available_permits() == 0) {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = tokio::time::sleep(wait.min(RECHECK)) => {}
                _ = super::stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(drain, conn.as_mut()).await;
                    break;
                }
            }
        }
        drop(permit);
    }
}

/// The API service, noting when each request starts and when its answer is ready, and
/// telling it the client's address (`api::throttle::PEER`).
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
    peer: Option<std::net::SocketAddr>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<hyper::Request<Incoming>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.state.request_started();
        let peer = self.peer;
        let answer = match peer {
            Some(p) => PEER.sync_scope(p, || self.inner.call(request)),
            None => self.inner.call(request),
        };
        let state = self.state.clone();
        Box::pin(async move {
            // The connection's own state, shared: no allocation per request.
            let progress: Arc<dyn BodyProgress> = state.clone();
            let answer = PROGRESS.scope(progress, answer);
            let result = match peer {
                Some(p) => PEER.scope(p, answer).await,
                None => answer.await,
            };
            state.request_answered();
            result
        })
    }
}

/// The connection's times, as the API's body reader tells them.
impl BodyProgress for ConnState {
    fn reading(&self) {
        self.body_reading();
    }

    fn arrived(&self) {
        self.times().body_since = None;
    }
}

/// The socket, with its reads timed and hyper's own error answers replaced.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    /// A replacement answer still being written.
    replacement: Option<Bytes>,
}

impl Watched {
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(pending) = self.replacement.as_mut() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let _ = pending.split_to(n);
            if pending.is_empty() {
                self.replacement = None;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// When `first` starts hyper's own answer, queues the JSON one instead; true if it did.
    fn replace_hypers_answer(&mut self, first: &[u8]) -> bool {
        if is_interim(first) {
            // hyper may write the answer's head in the same buffer, after the interim one:
            // it is the answer to the request that asked to continue, counted as such.
            let end = first.windows(4).position(|w| w == b"\r\n\r\n").map_or(first.len(), |i| i + 4);
            if first[end..].starts_with(b"HTTP/1.") {
                self.state.head_is_hypers_own();
            }
            return false;
        }
        if !first.starts_with(b"HTTP/1.") || !self.state.head_is_hypers_own() {
            return false;
        }
        self.replacement = Some(json_error_answer(first));
        true
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_arrived();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if this.replace_hypers_answer(buf) {
            // hyper's bytes count as written; the replacement goes out on this call or the flush.
            if let Poll::Ready(Err(e)) = this.poll_replacement(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if this.replace_hypers_answer(first) {
            if let Poll::Ready(Err(e)) = this.poll_replacement(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Whether `head` is an interim answer (1xx), which hyper writes for `Expect: 100-continue`
/// before the request's own answer.
fn is_interim(head: &[u8]) -> bool {
    head.get(8..10) == Some(b" 1")
}

/// The JSON answer standing in for hyper's bodiless one (`HTTP/1.1 400 Bad Request`…).
fn json_error_answer(hypers_head: &[u8]) -> Bytes {
    let status = hypers_head.get(9..12).and_then(|s| std::str::from_utf8(s).ok()).unwrap_or("400");
    let (reason, message) = match status {
        "431" => ("Request Header Fields Too Large", "the request's headers are too large"),
        "414" => ("URI Too Long", "the request's URI is too long"),
        "505" => ("HTTP Version Not Supported", "only HTTP/1.0 and HTTP/1.1 are served"),
        _ => ("Bad Request", "the request is not valid HTTP/1.1: its request line or a header could not be parsed"),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    Bytes::from(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_answers_become_json_errors_with_their_status() {
        for (head, status) in [
            (&b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..], "400"),
            (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n", "431"),
        ] {
            let answer = json_error_answer(head);
            let text = std::str::from_utf8(&answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        }
    }

    #[test]
    fn a_head_is_hypers_own_only_when_no_request_awaits_its_answer() {
        let state = ConnState::new();
        assert!(state.head_is_hypers_own(), "nothing was asked yet");
        state.request_started();
        assert!(!state.head_is_hypers_own(), "the API's answer");
        assert!(state.head_is_hypers_own(), "the one request was answered already");
    }

    #[test]
    fn only_1xx_heads_are_interim() {
        assert!(is_interim(b"HTTP/1.1 100 Continue\r\n\r\n"));
        for head in [&b"HTTP/1.1 202 Accepted\r\n"[..], b"HTTP/1.1 400 Bad Request\r\n", b"HTTP/1.1 ", b"{}"] {
            assert!(!is_interim(head), "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn timeouts_follow_the_connection_phase() {
        let limits = Limits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let state = ConnState::new();
        let left = state.until_expiry(&limits, false).unwrap();
        assert!(left <= Duration::from_secs(10), "a new connection must send its head in time: {left:?}");
        state.request_started();
        assert_eq!(state.until_expiry(&limits, false), Some(RECHECK), "a request under way is not timed here");
        assert_eq!(state.until_expiry(&limits, true), Some(RECHECK), "nor one waiting on the server at the cap");
        state.request_answered();
        let left = state.until_expiry(&limits, false).unwrap();
        assert!(left > Duration::from_secs(50), "idle keep-alive: {left:?}");
        assert!(state.until_expiry(&limits, true).unwrap() <= PRESSURE_IDLE, "at the cap idle ones make room");
        state.bytes_arrived();
        let left = state.until_expiry(&limits, false).unwrap();
        assert!(left <= Duration::from_secs(10) && left > PRESSURE_IDLE, "a head under way: {left:?}");
        assert!(state.until_expiry(&limits, true).unwrap() <= PRESSURE_IDLE, "at the cap a slow head makes room");
        // A body being read: timed by its handler, but at the cap it must keep coming.
        state.request_started();
        state.times().last_read -= PRESSURE_IDLE * 3;
        assert_eq!(state.until_expiry(&limits, true), Some(RECHECK), "waiting before its body is read");
        state.body_reading();
        assert_eq!(state.until_expiry(&limits, false), Some(RECHECK));
        assert!(state.until_expiry(&limits, true).unwrap() <= PRESSURE_IDLE, "at the cap a paused body makes room");
        state.times().last_read -= PRESSURE_IDLE;
        assert_eq!(state.until_expiry(&limits, true), None, "a body paused for a second at the cap is cut");
        assert!(state.until_expiry(&limits, false).is_some(), "below the cap it has the body timeout");
        state.bytes_arrived();
        {
            let mut t = state.times();
            t.body_since = t.body_since.map(|at| at - PRESSURE_BODY);
        }
        assert_eq!(state.until_expiry(&limits, true), None, "a body arriving for 5 s at the cap is cut");
        ConnState::new().arrived(); // another connection's
        assert_eq!(state.until_expiry(&limits, true), None, "this one's body is still due");
        state.arrived();
        assert_eq!(state.until_expiry(&limits, true), Some(RECHECK), "all in: it waits on the server");
    }
}
