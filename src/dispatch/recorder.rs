//! Recording attempt results so that none is lost: a result the store cannot take now (it
//! is down, its disk is full) is kept in memory and recorded when the store is back, and
//! meanwhile its delivery is not sent again by this node, though it may be leased again.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::store::{AttemptReport, Store, StoreError};

/// Results kept at most. Reaching it takes a store that leases but cannot record for long;
/// past it the oldest is dropped, and its delivery will be sent again (at-least-once).
const MAX_KEPT: usize = 4096;
/// How often kept results are offered to the store again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Recorder {
    store: Arc<dyn Store>,
    kept: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    reports: VecDeque<AttemptReport>,
    /// The deliveries of `reports`: their results are known.
    ids: HashSet<String>,
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, kept: Arc::default() }
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        // Nothing panics while holding the lock; a poisoned one still holds valid data.
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `report`, or keeps it to record later when the store cannot take it now.
    pub async fn record(&self, report: AttemptReport) {
        match self.store.finish_attempt(report.clone()).await {
            Ok(()) => {}
            Err(StoreError::Unavailable(why)) => {
                warn!(delivery = %report.delivery_id, error = %why, "cannot record an attempt yet; keeping it");
                self.keep(report);
            }
            Err(e) => warn!(delivery = %report.delivery_id, error = %e, "dropping an attempt that cannot be recorded"),
        }
    }

    fn keep(&self, report: AttemptReport) {
        let mut kept = self.kept();
        if kept.reports.len() >= MAX_KEPT {
            if let Some(dropped) = kept.reports.pop_front() {
                warn!(delivery = %dropped.delivery_id, "too many unrecorded results; this delivery will be sent again");
                kept.ids.remove(&dropped.delivery_id);
            }
        }
        kept.ids.insert(report.delivery_id.clone());
        kept.reports.push_back(report);
    }

    /// Whether this node knows the result of `delivery` but has not recorded it yet: then
    /// it must not be sent again.
    pub fn knows(&self, delivery: &str) -> bool {
        self.kept().ids.contains(delivery)
    }

    pub fn unrecorded(&self) -> usize {
        self.kept().reports.len()
    }

    /// Offers every kept result to the store again, oldest first, stopping at the first
    /// the store still cannot take. Returns how many remain.
    pub async fn flush(&self) -> usize {
        let mut recorded = 0;
        loop {
            let Some(report) = self.kept().reports.front().cloned() else { break };
            match self.store.finish_attempt(report.clone()).await {
                Err(StoreError::Unavailable(_)) => break,
                result => {
                    if let Err(e) = result {
                        warn!(delivery = %report.delivery_id, error = %e, "dropping an attempt that cannot be recorded");
                    }
                    let mut kept = self.kept();
                    kept.reports.pop_front();
                    kept.ids.remove(&report.delivery_id);
                    recorded += 1;
                }
            }
        }
        if recorded > 0 {
            info!(recorded, "recorded attempt results kept while the store was unavailable");
        }
        self.unrecorded()
    }

    /// Offers kept results to the store again until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RETRY_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            if self.unrecorded() > 0 {
                self.flush().await;
            }
        }
    }
}
