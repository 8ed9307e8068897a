//! The running service: builds the store, loads subscriptions, binds the listener, and runs
//! the HTTP API beside the dispatcher until a shutdown signal arrives.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::sync::{watch, Notify};
use tracing::info;

use crate::api::ApiState;
use crate::config::{ServeConfig, StoreUrl};
use crate::dispatch::{sender, Dispatcher};
use crate::housekeeping::Housekeeping;
use crate::metrics::Metrics;
use crate::reload::Reloader;
use crate::store::{postgres::PostgresStore, sqlite::SqliteStore, Store};

pub struct Application {
    listener: tokio::net::TcpListener,
    recording: crate::dispatch::recorder::Recording,
    limits: crate::server::Limits,
    state: ApiState,
    dispatcher: Dispatcher,
    housekeeping: Housekeeping,
    reloader: Reloader,
}

pub async fn open_store(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path)?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(PostgresStore::open(url).await?)),
    }
}

/// At shutdown, the least time open connections get to finish the answers under way,
/// even when the attempts in flight took the whole grace.
const LAST_ANSWERS: std::time::Duration = std::time::Duration::from_millis(500);

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        config.check_exposure()?;
        let set = crate::reload::load_subscriptions(&config)?;
        info!(subscriptions = set.len(), version = %set.version, "subscriptions loaded");
        let store = open_store(&config.store).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let subscriptions = Arc::new(ArcSwap::from_pointee(set));
        let client = sender::client(&config.egress);
        let wake = Arc::new(Notify::new());
        store.wake_on_work(&wake);
        let metrics = Arc::new(Metrics::new().context("cannot register metrics")?);
        let pending = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let node: Arc<str> = format!("node-{}", uuid::Uuid::new_v4().simple()).into();
        let queue = Arc::new(crate::dispatch::queue::WorkQueue::new(config.concurrency));
        let health = Arc::new(crate::housekeeping::StoreHealth::default());
        let reloader = Reloader {
            config: config.clone(),
            live: subscriptions.clone(),
            metrics: metrics.clone(),
            last_error: Arc::new(std::sync::Mutex::new(None)),
        };
        let state = ApiState::new(crate::api::Shared {
            store: store.clone(),
            subscriptions: subscriptions.clone(),
            wake: wake.clone(),
            intake_token: config.intake_token.clone(),
            admin_token: config.admin_token.clone(),
            max_body_bytes: config.max_body_bytes,
            body_read_timeout: config.body_read_timeout,
            max_batch_items: config.max_batch_items,
            client: client.clone(),
            accepting: Arc::new(AtomicBool::new(true)),
            metrics: metrics.clone(),
            pending: pending.clone(),
            max_pending: config.max_pending,
            reload_error: reloader.last_error.clone(),
            store_health: health.clone(),
            queue: queue.clone(),
            node: node.clone(),
        });
        let housekeeping = Housekeeping {
            store: store.clone(),
            node: node.to_string(),
            health: health.clone(),
            metrics: metrics.clone(),
            pending,
            retention: config.retention,
            wake: wake.clone(),
            subscriptions: subscriptions.clone(),
            orphan_grace: config.orphan_grace,
        };
        // Before serving: readiness is known from the start, the leases a previous process
        // left are due again, and this node is alive in the store before it leases anything.
        housekeeping.heartbeat().await;
        let max_unrecorded = config.concurrency.saturating_mul(crate::dispatch::recorder::UNRECORDED_PER_PERMIT);
        let (recorder, recording) =
            crate::dispatch::recorder::recorder(store.clone(), max_unrecorded, store.results_linger());
        let dispatcher = Dispatcher {
            store,
            subscriptions,
            client,
            owner: node,
            wake,
            concurrency: config.concurrency,
            grace: config.shutdown_grace,
            metrics,
            recorder,
            queue,
            unsent: Default::default(),
            started: Default::default(),
        };
        let mut limits = config.limits;
        crate::server::fit_to_file_limit(&mut limits, config.concurrency);
        Ok(Self { listener, recording, limits, state, dispatcher, housekeeping, reloader })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Reloads subscriptions and templates on demand (SIGHUP).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` completes, then stops taking events, lets attempts in flight
    /// finish within the grace period, and returns. Pending work stays in the store.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_work, work_stopped) = watch::channel(false);
        let (stop_server, server_stopped) = watch::channel(false);
        let accepting = self.state.accepting.clone();
        let (stop_recording, recording_stopped) = tokio::sync::oneshot::channel();
        // The heartbeat goes on until the attempts in flight are finished and recorded: a
        // node that went silent at SIGTERM was taken for dead 10 s into its grace, and its
        // attempts still under way were sent again by the others.
        let (stop_upkeep, upkeep_stopped) = watch::channel(false);
        let grace = self.dispatcher.grace;
        let recorder = tokio::spawn(self.recording.run(recording_stopped));
        let dispatcher = tokio::spawn(self.dispatcher.run(work_stopped.clone()));
        let housekeeping = tokio::spawn(self.housekeeping.run(upkeep_stopped));
        let watcher = tokio::spawn(self.reloader.watch(work_stopped));
        let server = tokio::spawn(crate::server::serve(
            self.listener,
            crate::http::routes(self.state),
            self.limits,
            server_stopped,
        ));
        shutdown.await;
        let stop_by = tokio::time::Instant::now() + grace;
        // Intake answers 503 (not a refused connection) while attempts in flight finish.
        info!("shutting down: no new events; attempts in flight may finish");
        accepting.store(false, Ordering::Relaxed);
        let _ = stop_work.send(true);
        dispatcher.await.context("dispatcher task failed")?;
        let _ = stop_recording.send(());
        recorder.await.context("recorder task failed")?;
        let _ = stop_upkeep.send(true);
        housekeeping.await.context("housekeeping task failed")?;
        watcher.await.context("file watcher task failed")?;
        let _ = stop_server.send(true);
        // Requests still under way (a body still arriving) get what is left of the grace, so
        // the process stops within it: they were waited for up to 10 s more, past a
        // service manager's stop timeout sized to the grace. Those cut were never accepted.
        let left = stop_by.saturating_duration_since(tokio::time::Instant::now()).max(LAST_ANSWERS);
        let cut = server.abort_handle();
        match tokio::time::timeout(left, server).await {
            Ok(finished) => finished.context("server task failed")?,
            Err(_) => {
                // Dropping the handle would leave the task draining on: end it, and with it
                // every connection it holds.
                cut.abort();
                info!("closed the connections still open at the end of the shutdown grace");
            }
        }
        info!("stopped; anything not delivered stays pending in the store");
        Ok(())
    }
}
