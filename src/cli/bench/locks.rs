//! `bench --store postgres://…`: lock waits sampled while a run goes, from
//! `pg_stat_activity`, so that contention between nodes (and commits queuing on the WAL)
//! shows beside the costs per delivery instead of hiding in them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

/// How often the sampler looks: often enough to see waits of a few milliseconds.
const EVERY: Duration = Duration::from_millis(20);

/// Backends of the bench's database that are active, and of those the ones waiting on a
/// heavyweight lock (a row or transaction another holds: what `SKIP LOCKED` avoids and an
/// update of a locked row waits on) or a lightweight one (WAL insertion and flush, buffer
/// mappings: what concurrent commits queue on).
const SAMPLE: &str = "SELECT count(*) FILTER (WHERE state = 'active'),
                             count(*) FILTER (WHERE wait_event_type = 'Lock'),
                             count(*) FILTER (WHERE wait_event_type = 'LWLock')
                        FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()";

/// What the samples of one run saw.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LockWaits {
    pub samples: u64,
    /// Active backends summed over the samples.
    pub active: u64,
    /// Backends waiting on a heavyweight lock, summed over the samples.
    pub waiting_lock: u64,
    /// Backends waiting on a lightweight lock, summed over the samples.
    pub waiting_lwlock: u64,
    /// The most waiting on a heavyweight lock in one sample.
    pub most_waiting_lock: u64,
}

impl LockWaits {
    /// The share of active backends' samples spent waiting on a heavyweight lock.
    pub fn lock_share(&self) -> f64 {
        self.waiting_lock as f64 / self.active.max(1) as f64
    }

    pub fn lwlock_share(&self) -> f64 {
        self.waiting_lwlock as f64 / self.active.max(1) as f64
    }
}

/// Samples until `done` is set. A sample that fails (the server busy, a setting hiding
/// other users' backends) is skipped: the counts are of the samples taken.
pub async fn sample_until(client: &tokio_postgres::Client, done: &AtomicBool) -> LockWaits {
    let mut seen = LockWaits::default();
    // Prepared once: the server's CPU is charged to the run's deliveries, so the sampler
    // should not parse and plan a query of a view 50 times a second on top of them.
    let Ok(sample) = client.prepare(SAMPLE).await else { return seen };
    while !done.load(Ordering::Relaxed) {
        if let Ok(row) = client.query_one(&sample, &[]).await {
            let n = |i: usize| row.try_get::<_, i64>(i).map_or(0, |v| v.max(0) as u64);
            seen.samples += 1;
            seen.active += n(0);
            seen.waiting_lock += n(1);
            seen.waiting_lwlock += n(2);
            seen.most_waiting_lock = seen.most_waiting_lock.max(n(1));
        }
        tokio::time::sleep(EVERY).await;
    }
    seen
}
