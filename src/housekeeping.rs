//! Background upkeep beside intake and dispatch: the node's heartbeat (which also tells
//! whether the store takes writes, and takes over dead nodes' leases), queue statistics
//! (for backpressure and the metrics gauges), and pruning finished history past its
//! retention, in batches with pauses between them (on SQLite, where intake waits for a
//! batch, each sized to take about two milliseconds, then a pause four times as long),
//! then folding the store's counters of finished deliveries. Nothing here reads the
//! history: every statement's cost grows with the queue or a batch, at any history size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::store::Store;

const STATS_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A prune batch's deliveries where a batch does not hold up other writes (PostgreSQL),
/// and the most a paced batch grows to; the pause after each unpaced batch.
const PRUNE_BATCH: usize = 500;
const PRUNE_PAUSE: Duration = Duration::from_millis(20);
/// Where it does (SQLite, whose batch runs in the writer's transaction with the intakes
/// that share it waiting for its end), the batch is sized to take `PRUNE_BATCH_BUDGET`,
/// writer and commit included, between these bounds: 500 old deliveries at once (their
/// events' random uuids each a page of its own) put 20 ms on the p90 of 1,000 events/s,
/// and 33 ms on its p99, for as long as a prune ran.
const PRUNE_BATCH_FIRST: usize = 100;
const PRUNE_BATCH_MIN: usize = 10;
const PRUNE_BATCH_BUDGET: Duration = Duration::from_millis(2);
/// The pause after such a batch: four times the batch's own time, so a prune takes a fifth
/// of the writer at most, and at least this, so it still removes thousands of deliveries
/// a second when the writer is idle.
const PRUNE_PACED_PAUSE: Duration = Duration::from_millis(10);

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
    /// The subscriptions this node has loaded, noted in the store beside the heartbeat.
    pub subscriptions: Arc<arc_swap::ArcSwap<crate::subscription::SubscriptionSet>>,
    /// How long a subscription no node has loaded keeps its deliveries (`--orphan-grace`).
    pub orphan_grace: Duration,
}

impl Housekeeping {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut stats = tokio::time::interval(STATS_EVERY);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = stats.tick() => {
                    self.heartbeat().await;
                    self.refresh_stats().await;
                }
                _ = prune.tick() => {
                    self.prune(&mut shutdown).await;
                    self.compact_counts().await;
                }
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
                self.keep_loaded().await;
            }
            Err(e) => {
                if !self.health.failing() {
                    warn!(error = %e, "the store does not take writes");
                }
                self.health.set(Err(e.to_string()));
            }
        }
    }

    /// Notes in the store which subscriptions this node has loaded, and fails the deliveries
    /// of those no node has had loaded for the orphan grace.
    async fn keep_loaded(&self) {
        let loaded = crate::dispatch::loaded_names(&self.subscriptions.load());
        let grace = i64::try_from(self.orphan_grace.as_millis()).unwrap_or(i64::MAX);
        match self.store.keep_loaded(&self.node, &loaded, grace).await {
            Ok(0) => {}
            Ok(n) => info!(
                deliveries = n,
                grace = ?self.orphan_grace,
                "failed the deliveries of subscriptions no node has had loaded for the orphan grace"
            ),
            Err(e) => warn!(error = %e, "could not note the subscriptions loaded here"),
        }
    }

    /// Updates the gauges (finished deliveries' from the store's counters) and the pending
    /// count.
    pub async fn refresh_stats(&self) {
        match self.store.queue_stats(true).await {
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

    /// Deletes finished deliveries older than the retention, a batch at a time, each
    /// followed by a pause; on a store where a batch holds up other writes, each sized to
    /// take about `PRUNE_BATCH_BUDGET`.
    pub async fn prune(&self, shutdown: &mut watch::Receiver<bool>) {
        let before = crate::now_ms() - self.retention.as_millis() as i64;
        let mut total = 0;
        let paced = self.store.prune_holds_writes();
        let mut batch = if paced { PRUNE_BATCH_FIRST } else { PRUNE_BATCH };
        while !*shutdown.borrow() {
            let started = std::time::Instant::now();
            match self.store.prune(before, batch).await {
                Ok(n) => {
                    total += n;
                    if (n as usize) < batch {
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "pruning history failed");
                    break;
                }
            }
            let took = started.elapsed();
            if paced {
                batch = next_prune_batch(batch, took);
            }
            tokio::time::sleep(if paced { PRUNE_PACED_PAUSE.max(took * 4) } else { PRUNE_PAUSE }).await;
        }
        if total > 0 {
            info!(deliveries = total, "pruned history past its retention");
        }
    }

    /// Folds the store's counters of finished deliveries, so reading them stays a few rows
    /// per subscription (`Store::compact_counts`).
    pub async fn compact_counts(&self) {
        if let Err(e) = self.store.compact_counts(crate::now_ms()).await {
            warn!(error = %e, "could not fold the counters of finished deliveries");
        }
    }
}

/// The next prune batch's size after one of `batch` deliveries that took `took`: half past
/// the budget, twice well within it, within the bounds.
fn next_prune_batch(batch: usize, took: Duration) -> usize {
    if took > PRUNE_BATCH_BUDGET {
        (batch / 2).max(PRUNE_BATCH_MIN)
    } else if took < PRUNE_BATCH_BUDGET / 2 {
        (batch * 2).min(PRUNE_BATCH)
    } else {
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_batch_shrinks_past_its_budget_and_grows_well_within_it() {
        let ms = Duration::from_millis;
        assert_eq!(next_prune_batch(100, ms(30)), 50);
        assert_eq!(next_prune_batch(100, Duration::from_micros(500)), 200);
        assert_eq!(next_prune_batch(100, ms(3)), 50);
        assert_eq!(next_prune_batch(100, Duration::from_micros(1500)), 100, "near the budget it stays");
        assert_eq!(next_prune_batch(PRUNE_BATCH_MIN, ms(500)), PRUNE_BATCH_MIN);
        assert_eq!(next_prune_batch(PRUNE_BATCH, ms(0)), PRUNE_BATCH);
        // A slow store walks it down to the least in a few batches, never to none.
        let mut batch = PRUNE_BATCH_FIRST;
        for _ in 0..10 {
            batch = next_prune_batch(batch, ms(50));
        }
        assert_eq!(batch, PRUNE_BATCH_MIN);
    }

    /// Paced batches still catch up: a prune returns only once nothing past the retention
    /// is left.
    #[tokio::test]
    async fn a_paced_prune_removes_all_history_past_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        // Spread over the last 30 days: all but about a thirtieth are past one day.
        crate::store::sqlite::SqliteStore::prefill_finished(&path, 3000).unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::sqlite::SqliteStore::open(&path).unwrap());
        assert!(store.prune_holds_writes());
        let house = Housekeeping {
            store: store.clone(),
            node: "n".into(),
            health: Arc::default(),
            metrics: Arc::new(Metrics::new().unwrap()),
            pending: Arc::default(),
            retention: Duration::from_secs(86_400),
            wake: Arc::default(),
            subscriptions: Arc::default(),
            orphan_grace: Duration::from_secs(600),
        };
        let (_tx, mut shutdown) = watch::channel(false);
        house.prune(&mut shutdown).await;
        let kept = store.queue_stats(true).await.unwrap();
        let kept: u64 = kept.by_status.values().sum();
        assert!((50..=200).contains(&kept), "about a thirtieth of 3000 is within the day: {kept}");
        let day_ago = crate::now_ms() - 86_400_000;
        assert_eq!(store.prune(day_ago, 1000).await.unwrap(), 0, "nothing past the retention is left");
    }
}
