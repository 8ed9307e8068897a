//! What the work a timer or a page does costs on a SQLite file, in SQLite virtual-machine
//! steps (every statement's, its triggers' included), measured on the real statements: the
//! scale tests' bound in rows examined rather than time (issue 28, tests/it/sqlite_scale.rs).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;

use super::{counts, open_connection, sql, unavailable};
use crate::store::{DeliveryQuery, LeaseRequest, StoreResult, SubscriptionState};

/// Steps between two calls of the counting handler: the count is exact to this many.
const STEP_GRAIN: i32 = 10;

/// A connection of its own to the file, counting the steps of everything run on it.
pub struct Probe {
    conn: Connection,
    steps: Arc<AtomicU64>,
}

impl Probe {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = open_connection(path)?;
        let steps = Arc::new(AtomicU64::new(0));
        let counter = steps.clone();
        conn.progress_handler(
            STEP_GRAIN,
            Some(move || {
                counter.fetch_add(STEP_GRAIN as u64, Ordering::Relaxed);
                false
            }),
        );
        Ok(Self { conn, steps })
    }

    /// Runs `f`, answering what it returned and the steps it took.
    pub fn steps<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<(T, u64)> {
        let before = self.steps.load(Ordering::Relaxed);
        let out = f(&self.conn)?;
        Ok((out, self.steps.load(Ordering::Relaxed) - before))
    }

    /// Housekeeping's tick and an idle dispatcher's wait, as a node with `loaded` runs them:
    /// the heartbeat, the loaded subscriptions noted, the queue statistics (finished counts
    /// too), the next due time and a lease (of at most 128 due deliveries).
    pub fn tick(&self, node: &str, loaded: &[String], now: i64) -> StoreResult<u64> {
        let lease = LeaseRequest {
            owner: node.to_string(),
            now,
            lease_ms: Default::default(),
            default_lease_ms: 60_000,
            limit: 128,
            caps: Default::default(),
            exclude: Vec::new(),
            sweep_held: true,
            loaded: Some(loaded.to_vec()),
        };
        let ((), steps) = self.steps(|c| {
            sql::heartbeat(c, node, now)?;
            sql::keep_loaded(c, loaded, 600_000, now)?;
            sql::queue_stats(c, true)?;
            sql::next_due_at(c, Some(loaded))?;
            sql::lease(c, &lease)?;
            Ok(())
        })?;
        Ok(steps)
    }

    /// One prune batch of at most `limit` deliveries finished before `before`, then the
    /// counters folded: housekeeping's minute.
    pub fn prune(&self, before: i64, limit: usize, now: i64) -> StoreResult<(u64, u64)> {
        self.steps(|c| {
            let pruned = sql::prune(c, before, limit)?;
            counts::compact(c, now)?;
            Ok(pruned)
        })
    }

    /// The subscriptions view (`/v1/subscriptions`, the console's subscriptions page).
    pub fn subscriptions(&self, now: i64) -> StoreResult<(Vec<SubscriptionState>, u64)> {
        self.steps(|c| sql::subscription_states(c, now))
    }

    /// A history page of `query`, then the first delivery's page.
    pub fn history(&self, query: &DeliveryQuery) -> StoreResult<u64> {
        let ((), steps) = self.steps(|c| {
            let page = sql::list(c, query)?;
            if let Some(first) = page.deliveries.first() {
                sql::detail(c, &first.id)?.ok_or_else(|| unavailable("the listed delivery is gone"))?;
            }
            Ok(())
        })?;
        Ok(steps)
    }
}
