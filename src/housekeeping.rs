//! Background upkeep beside intake and dispatch: the node's heartbeat (which also tells
//! whether the store takes writes, and takes over dead nodes' leases), queue statistics
//! (for backpressure and the metrics gauges), and pruning finished history past its
//! retention, in small batches so neither intake nor dispatch ever waits on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::store::Store;

const STATS_EVERY: Duration = Duration::from_secs(1);
/// Finished deliveries (all of history) are counted this many stats ticks apart, the first
/// time one interval after start: the count reads the whole history (seconds of CPU at
/// 10,000,000 deliveries), which a node should not spend the moment it starts.
const FINISHED_EVERY_TICKS: u64 = 300;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_BATCH: usize = 500;

/// Whether the store took the last heartbeat: `/readyz` answers from it.
#[derive(Debug, Default)]
pub struct StoreHealth {
    writable: std::sync::atomic::AtomicBool,
    last_error: std::sync::Mutex<Option<String>>,
}

impl StoreHealth {
    /// None when the store takes writes; else why it did not.
    pub fn problem(&self) -> Option<String> {
        if self.writable.load(Ordering::Relaxed) {
            return None;
        }
        let why = self.last_error.lock().ok().and_then(|e| e.clone());
        Some(why.unwrap_or_else(|| "the store has not taken a write yet".into()))
    }

    /// Whether the last write the store was offered failed (not merely: none yet).
    fn failing(&self) -> bool {
        self.last_error.lock().is_ok_and(|e| e.is_some())
    }

    fn set(&self, result: Result<(), String>) {
        self.writable.store(result.is_ok(), Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = result.err();
        }
    }
}

pub struct Housekeeping {
    pub store: Arc<dyn Store>,
    /// This node's name in the store (its leases' owner).
    pub node: String,
    pub health: Arc<StoreHealth>,
    pub metrics: Arc<Metrics>,
    /// Pending deliveries as last counted; intake compares it with its bound.
    pub pending: Arc<AtomicU64>,
    pub retention: Duration,
    /// Signalled when leases come back, so they are sent at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Housekeeping {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut stats = tokio::time::interval(STATS_EVERY);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = stats.tick() => {
                    self.heartbeat().await;
                    ticks += 1;
                    self.refresh_stats(ticks.is_multiple_of(FINISHED_EVERY_TICKS)).await;
                }
                _ = prune.tick() => self.prune(&mut shutdown).await,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Says this node is alive; notes whether the store took the write, and wakes the
    /// dispatcher when dead nodes' leases came back.
    pub async fn heartbeat(&self) {
        match self.store.heartbeat(&self.node, crate::now_ms()).await {
            Ok(taken_back) => {
                if self.health.failing() {
                    info!("the store takes writes again");
                }
                self.health.set(Ok(()));
                if taken_back > 0 {
                    info!(deliveries = taken_back, "took back the leases of a node that stopped answering");
                    self.wake.notify_one();
                }
            }
            Err(e) => {
                if !self.health.failing() {
                    warn!(error = %e, "the store does not take writes");
                }
                self.health.set(Err(e.to_string()));
            }
        }
    }

    /// Updates the gauges and the pending count; `finished` also counts all history.
    pub async fn refresh_stats(&self, finished: bool) {
        match self.store.queue_stats(finished).await {
            Ok(stats) => {
                for (state, n) in &stats.by_status {
                    self.metrics.queue_depth.with_label_values(&[state]).set(*n as i64);
                }
                let pending = stats.by_status.get("pending").copied().unwrap_or(0);
                self.pending.store(pending, Ordering::Relaxed);
                let age = stats.oldest_pending_created_at.map_or(0.0, |t| (crate::now_ms() - t).max(0) as f64 / 1000.0);
                self.metrics.oldest_pending_seconds.set(age);
                self.metrics.disabled_subscriptions.set(stats.disabled_subscriptions as i64);
            }
            Err(e) => warn!(error = %e, "could not read queue statistics"),
        }
    }

    /// Deletes finished deliveries older than the retention, a batch at a time.
    pub async fn prune(&self, shutdown: &mut watch::Receiver<bool>) {
        let before = crate::now_ms() - self.retention.as_millis() as i64;
        let mut total = 0;
        while !*shutdown.borrow() {
            match self.store.prune(before, PRUNE_BATCH).await {
                Ok(n) => {
                    total += n;
                    if (n as usize) < PRUNE_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "pruning history failed");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if total > 0 {
            info!(deliveries = total, "pruned history past its retention");
        }
    }
}
