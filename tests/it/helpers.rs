//! Test fixtures: a receiver on port 0 whose answers a test controls, an app built from
//! subscription files in a temp dir, and polling helpers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookshape::app::Application;
use hookshape::config::{ServeConfig, StoreUrl};
use hookshape::secret::Secret;
use warp::http::{HeaderMap, Method};
use warp::Filter;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived (before any delay).
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("receiver got JSON")
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    /// When set, the delay applies only to paths with this prefix.
    delay_prefix: Mutex<Option<String>>,
    /// What the receiver answers with (default `received`).
    body: Mutex<Option<String>>,
    /// Paths with this prefix are answered with this status instead (one failing customer).
    status_for: Mutex<Option<(String, u16)>>,
    /// First path segment → (requests being answered now, the most at once).
    concurrency: Mutex<std::collections::HashMap<String, (u32, u32)>>,
    /// A `Retry-After` value sent with every answer, when set.
    retry_after: Mutex<Option<String>>,
}

fn first_segment(path: &str) -> String {
    path.trim_start_matches('/').split(['/', '?']).next().unwrap_or("").to_string()
}

/// A real HTTP receiver on a port-0 listener that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// A receiver on a given port (to take over from another listener on it).
    pub async fn start_on(port: u16) -> Self {
        let state = Arc::new(ReceiverState { status: AtomicU16::new(200), ..Default::default() });
        let s = state.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(move |method, path: warp::path::FullPath, query: String, headers, body| {
                let s = s.clone();
                async move {
                    let path =
                        if query.is_empty() { path.as_str().to_string() } else { format!("{}?{query}", path.as_str()) };
                    let segment = first_segment(&path);
                    {
                        let mut c = s.concurrency.lock().unwrap();
                        let entry = c.entry(segment.clone()).or_default();
                        entry.0 += 1;
                        entry.1 = entry.1.max(entry.0);
                    }
                    let failing = match &*s.status_for.lock().unwrap() {
                        Some((prefix, code)) if path.starts_with(prefix.as_str()) => Some(*code),
                        _ => None,
                    };
                    let delayed = s.delay_prefix.lock().unwrap().as_ref().is_none_or(|p| path.starts_with(p.as_str()));
                    s.requests.lock().unwrap().push(Received { method, path, headers, body, at: Instant::now() });
                    let delay = s.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 && delayed {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    s.concurrency.lock().unwrap().entry(segment).or_default().0 -= 1;
                    let status = failing.unwrap_or_else(|| s.status.load(Ordering::SeqCst));
                    let status = warp::http::StatusCode::from_u16(status).unwrap();
                    let body = s.body.lock().unwrap().clone().unwrap_or_else(|| "received".into());
                    let reply = warp::reply::with_status(body, status);
                    let mut reply = warp::Reply::into_response(warp::reply::with_header(
                        reply,
                        "Location",
                        "http://127.0.0.1:1/elsewhere",
                    ));
                    if let Some(after) = s.retry_after.lock().unwrap().clone() {
                        reply.headers_mut().insert("Retry-After", after.parse().unwrap());
                    }
                    reply
                }
            });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answers requests whose path starts with `prefix` with `status`, the others as usual.
    pub fn set_status_for(&self, prefix: &str, status: u16) {
        *self.state.status_for.lock().unwrap() = Some((prefix.to_string(), status));
    }

    /// Sends `Retry-After: value` with every answer from now on (None: stops).
    pub fn set_retry_after(&self, value: Option<&str>) {
        *self.state.retry_after.lock().unwrap() = value.map(str::to_string);
    }

    /// Answers every request with `body` from now on.
    pub fn set_body(&self, body: &str) {
        *self.state.body.lock().unwrap() = Some(body.to_string());
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Delays only requests whose path starts with `prefix`.
    pub fn set_delay_for(&self, prefix: &str, delay: Duration) {
        *self.state.delay_prefix.lock().unwrap() = Some(prefix.to_string());
        self.set_delay(delay);
    }

    /// The most requests under `/segment` answered at once so far.
    pub fn max_concurrency(&self, segment: &str) -> u32 {
        self.state.concurrency.lock().unwrap().get(segment).map_or(0, |c| c.1)
    }

    pub fn requests_to(&self, prefix: &str) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; panics with what did arrive otherwise.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} requests within {within:?}, got {}: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls `check` until it returns Some, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A directory laid out like a hookshape checkout: subscriptions/, templates/, data/.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("subscriptions")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn subscription(&self, file: &str, yaml: &str) -> &Self {
        std::fs::write(self.path().join("subscriptions").join(file), yaml).unwrap();
        self
    }

    /// A topic file of the event catalog (`topics/FILE`).
    pub fn topic(&self, file: &str, yaml: &str) -> &Self {
        std::fs::create_dir_all(self.path().join("topics")).unwrap();
        std::fs::write(self.path().join("topics").join(file), yaml).unwrap();
        self
    }

    pub fn template(&self, file: &str, text: &str) -> &Self {
        let path = self.path().join("templates").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("data").join("hookshape.db")
    }

    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            store: StoreUrl::Sqlite(self.db()),
            subscriptions_dir: self.path().join("subscriptions"),
            templates_dir: self.path().join("templates"),
            sources_dir: self.path().join("sources"),
            topics_dir: self.path().join("topics"),
            max_body_bytes: 1024 * 1024,
            concurrency: 64,
            shutdown_grace: Duration::from_secs(5),
            retention: Duration::from_secs(30 * 86_400),
            orphan_grace: hookshape::config::DEFAULT_ORPHAN_GRACE,
            max_pending: 1_000_000,
            limits: hookshape::server::Limits::default(),
            body_read_timeout: Duration::from_secs(30),
            max_batch_items: 1000,
            egress: hookshape::egress::EgressPolicy::default(),
            intake_token: None,
            admin_token: None,
        }
    }
}

/// An app serving on port 0 until dropped.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(config: ServeConfig) -> Self {
        let app = Application::build(config).await.expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self { base, http: reqwest::Client::new(), stop: Some(tx), handle: Some(handle) }
    }

    pub async fn post_event(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_raw("/v1/events", body.to_string(), None).await
    }

    pub async fn post_raw(&self, path: &str, body: String, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req =
            self.http.post(format!("{}{path}", self.base)).header("Content-Type", "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        self.post_raw(path, String::new(), None).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_as(path, None).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.get_as(path, Some(token)).await
    }

    async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Waits for the delivery history to show `n` deliveries in `status`.
    pub async fn wait_for_status(&self, status: &str, n: usize) -> Vec<serde_json::Value> {
        eventually(Duration::from_secs(15), &format!("{n} {status} deliveries"), || async {
            let (_, page) = self.get(&format!("/v1/deliveries?status={status}&limit=1000")).await;
            let list = page["deliveries"].as_array().cloned().unwrap_or_default();
            (list.len() >= n).then_some(list)
        })
        .await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn with_tokens(mut config: ServeConfig, intake: &str, admin: &str) -> ServeConfig {
    config.intake_token = Some(Secret::new(intake));
    config.admin_token = Some(Secret::new(admin));
    config
}

/// A canonical loyalty event for `customer`.
pub fn loyalty_event(uuid: &str, customer: &str) -> serde_json::Value {
    serde_json::json!({
        "Uuid": uuid,
        "Date": "2025-04-15T14:30:00.123Z",
        "Topic": "Communication_EarnPurchasePoints",
        "Payload": {
            "Customer": { "Id": customer, "Email": "joao@exemplo.com", "Name": "João da Silva" },
            "Points": 120
        }
    })
}

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs the real binary's `hookshape bench ARGS --json`, fails the test unless it succeeds,
/// and returns its report.
pub async fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookshape"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap()
}

pub fn hookshape() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookshape"))
}

/// Runs an offline command (`validate`, `test`) on a workspace's files.
pub fn on_workspace(command: &str, ws: &Workspace) -> std::process::Output {
    on_workspace_with(command, &[], ws)
}

/// `on_workspace` with more arguments after the command's name.
pub fn on_workspace_with(command: &str, extra: &[&str], ws: &Workspace) -> std::process::Output {
    on_workspace_env(command, extra, &[], ws)
}

/// `on_workspace_with`, with environment variables set (`${VAR}`s of the files).
pub fn on_workspace_env(command: &str, extra: &[&str], env: &[(&str, &str)], ws: &Workspace) -> std::process::Output {
    hookshape()
        .arg(command)
        .args(extra)
        .envs(env.iter().copied())
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .arg("--templates")
        .arg(ws.path().join("templates"))
        .arg("--sources")
        .arg(ws.path().join("sources"))
        .arg("--topics")
        .arg(ws.path().join("topics"))
        .output()
        .unwrap()
}

/// The real `hookshape serve`, as a separate process; killed when dropped. What it logs
/// is kept in a file, for tests that read it.
pub struct ServeProcess {
    child: std::process::Child,
    pub base: String,
    log: tempfile::NamedTempFile,
}

impl ServeProcess {
    /// Serves `subscriptions` and `templates` with `store` (a store URL), on `port`.
    pub fn start(
        port: u16,
        store: &str,
        subscriptions: &Path,
        templates: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = hookshape()
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", store])
            .arg("--subscriptions")
            .arg(subscriptions)
            .arg("--templates")
            .arg(templates)
            // The workspace's own catalog (none unless a test writes one), not the repository's.
            .arg("--topics")
            .arg(subscriptions.with_file_name("topics"))
            .args(args)
            .envs(envs.iter().copied())
            .env_remove("HOOKSHAPE_INTAKE_TOKEN")
            .env_remove("HOOKSHAPE_ADMIN_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Self { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    /// Serves a workspace's own files.
    pub fn in_workspace(ws: &Workspace, port: u16, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let store = format!("sqlite://{}", ws.db().display());
        Self::start(port, &store, &ws.path().join("subscriptions"), &ws.path().join("templates"), args, envs)
    }

    /// Serves a workspace's own files with another store (a cluster node on PostgreSQL).
    pub fn on_store(ws: &Workspace, store: &str, port: u16, args: &[&str]) -> Self {
        Self::start(port, store, &ws.path().join("subscriptions"), &ws.path().join("templates"), args, &[])
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(20), "the server to answer /healthz", || async {
            http.get(format!("{}/healthz", self.base)).send().await.ok().filter(|r| r.status().is_success())
        })
        .await;
    }

    pub fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(ok.unwrap().success(), "kill -{name}");
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the process to exit without blocking the test's runtime.
    pub async fn exit_code(mut self) -> Option<i32> {
        let mut child = std::mem::replace(&mut self.child, std::process::Command::new("true").spawn().unwrap());
        tokio::task::spawn_blocking(move || child.wait().unwrap().code()).await.unwrap()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small tmpfs of the test's own, unmounted when dropped.
pub struct Tmpfs(pub tempfile::TempDir);

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Self> {
        if !crate::pg::running_as_root() {
            eprintln!("NOTE: not root, so the full-disk test was SKIPPED (it mounts a tmpfs)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs");
        Some(Self(dir))
    }

    /// Writes a file until the file system is full.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// A subscription to the loyalty topics posting points to `RECEIVER` (replace it with a
/// receiver's URL), keyed by customer.
pub const POINTS: &str = r#"
topics: ["Communication_Earn*"]
request:
  url: "RECEIVER/points/{{ Customer.Id }}"
  body: { points: "{{ Points }}" }
"#;

/// Asserts that `validate` printed one line per expected mistake, in order, each naming its
/// `file:line:` and the words that say what is wrong.
pub fn assert_one_line_per_mistake(out: &std::process::Output, expect: &[(&str, &str)]) {
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), expect.len(), "one line per mistake:\n{stdout}");
    for (line, (location, words)) in lines.iter().zip(expect) {
        assert!(line.contains(location) && line.contains(words), "{line:?} should name {location} and {words:?}");
    }
}
