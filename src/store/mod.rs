//! Durable state behind one trait: events, deliveries (a queue leased with expiry),
//! attempts, and each subscription's live state. This is the only module that speaks SQL;
//! SQLite is the embedded default (one node); PostgreSQL lets several nodes share one queue.

pub mod export;
pub mod pacing;
pub mod postgres;
mod query;
pub use query::zero_counts;
pub mod sqlite;
mod types;

use async_trait::async_trait;

pub use types::*;

/// What went wrong, typed by what retrying can do: the first two pass (intake answers 503
/// with Retry-After, the recorder keeps its results), the others do not.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take work right now (locked, busy, gone): intake answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's disk or file takes no writes (full, failing): 503 too, and `/readyz`
    /// says so at once.
    #[error("store unavailable: {0}")]
    CannotWrite(String),
    /// The store refuses this write whatever the moment (a constraint, a value it cannot
    /// hold): retrying cannot help, so it is answered, not retried.
    #[error("the store refused the write: {0}")]
    Rejected(String),
    /// Stored data that does not decode: a bug or a hand-edited database.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::CannotWrite(_))
    }

    /// The same error, its message preceded by `what` (a file, a host).
    pub fn context(self, what: &str) -> Self {
        match self {
            Self::Unavailable(m) => Self::Unavailable(format!("{what}: {m}")),
            Self::CannotWrite(m) => Self::CannotWrite(format!("{what}: {m}")),
            Self::Rejected(m) => Self::Rejected(format!("{what}: {m}")),
            Self::Corrupt(m) => Self::Corrupt(format!("{what}: {m}")),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The most deliveries one `retry_batch` makes due (one write transaction on SQLite).
pub const RETRY_BATCH: usize = 500;

/// What one `Store::retry_batch` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetriedBatch {
    pub retried: u64,
    /// The smallest id it made due: the next batch starts below it. None when it made none.
    pub last: Option<String>,
    /// Each delivery it made due: `pending`, or `held` (its subscription is disabled).
    pub made_due: Vec<MadeDue>,
}

/// One delivery a bulk retry made due, and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeDue {
    pub id: String,
    pub subscription: String,
    pub held: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Commits each event with its deliveries atomically; an event whose Uuid is already
    /// stored creates nothing and reports `duplicate`. A pending delivery for a disabled
    /// subscription is stored `held`; one with a `lease` is stored leased and returned in
    /// `Inserted::leased`. Returns only once durable.
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>>;

    /// Adds deliveries to a stored event (replay). Returns how many were added.
    async fn add_deliveries(&self, event_uuid: &str, topic: &str, deliveries: Vec<NewDelivery>) -> StoreResult<usize>;

    /// Leases up to `limit` due deliveries (pending ones whose time has come, and in-flight
    /// ones whose lease expired) to `owner`, each for its subscription's lease length, and
    /// never past a subscription's cap of live leases across the whole store. Leasing does
    /// not count an attempt: only a recorded result does.
    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>>;

    /// Due rows this store's leases have missed since it opened because another transaction
    /// held them (PostgreSQL's `SKIP LOCKED`; see `hookshape_lease_skipped_total`). SQLite
    /// has one writer, so its leases never miss a row: 0.
    fn lease_skipped(&self) -> u64 {
        0
    }

    /// Records an attempt, counts it, moves its delivery to the outcome's state and keeps
    /// the subscription's consecutive-failure count (disabling it when the report says so).
    /// An outcome for a lease that was lost (taken over by another) is kept in history only
    /// if nothing else recorded that attempt, and moves nothing.
    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()>;

    /// `finish_attempt` for many reports at once, committed together (group commit).
    async fn finish_attempts(&self, reports: Vec<AttemptReport>) -> StoreResult<()>;

    /// Says `node` is alive (a write, so it fails while the store cannot take writes) and
    /// makes the leases of nodes silent for `NODE_SILENCE_MS` due at once, once `node` has
    /// itself been writing for that long since a gap of `HEARTBEAT_GAP_MS` (a store outage
    /// silences everyone). Returns how many leases were taken back. SQLite has one node:
    /// any lease not `node`'s is a dead process's.
    async fn heartbeat(&self, node: &str, now: i64) -> StoreResult<u64>;

    /// Notes (on the store's clock) that `node` has the `loaded` subscriptions, then fails, as
    /// `SUBSCRIPTION_REMOVED`, the pending and in-flight deliveries of every subscription no
    /// node has noted for `grace_ms`; returns how many. A subscription noted again sooner
    /// keeps its deliveries. PostgreSQL judges only once `node` has written for
    /// `NODE_SILENCE_MS` since a store outage, so the others have noted theirs again.
    async fn keep_loaded(&self, node: &str, loaded: &[String], grace_ms: i64) -> StoreResult<u64>;

    /// Whether a live node other than `node` has `subscription` loaded now (as its last
    /// `keep_loaded` said): a resend asked of a node without it (a rolling deploy) is then
    /// made due for that node. One process serves a SQLite file: never.
    async fn loaded_elsewhere(&self, _node: &str, _subscription: &str) -> StoreResult<bool> {
        Ok(false)
    }

    /// Makes a delivery due now, whatever its state but `shadow` (never sent) and
    /// `in_flight` (leased to a node: its attempt goes first); a disabled subscription's
    /// delivery is `held` instead, to go when it is enabled.
    async fn retry_now(&self, id: &str) -> StoreResult<RetryNow>;

    /// Gives a delivery that never rendered (`failed`, never attempted) the request it
    /// renders to now, and makes it due (or `held`, its subscription disabled), as
    /// `retry_now` does. Its first request: a rendered delivery's never changes. Found
    /// otherwise (rendered meanwhile by another resend, or gone): `NotFound`, nothing changed.
    async fn render_again(&self, id: &str, request: StoredRequest, config_version: &str) -> StoreResult<RetryNow>;

    /// `retry_now` for every delivery `query` matches (newest first, at most `query.limit`),
    /// leaving out `in_flight` (being sent) and `shadow` ones; returns how many.
    ///
    /// A million rows in one statement would hold SQLite's one writer (and intake behind it)
    /// for as long as it takes, so this goes by `retry_batch`es of `RETRY_BATCH`, each one
    /// continuing below the smallest id the last one made due; where a batch holds up other
    /// writes, each is followed by a pause as long as it took, so intake has the writer at
    /// least half the time.
    async fn retry_matching(&self, query: DeliveryQuery) -> StoreResult<u64> {
        Ok(self.retry_matching_each(query).await?.len() as u64)
    }

    /// `retry_matching`, answering each delivery it made due and whether it went `held`.
    async fn retry_matching_each(&self, query: DeliveryQuery) -> StoreResult<Vec<MadeDue>> {
        let paced = self.prune_holds_writes();
        let mut made_due = Vec::new();
        let mut cursor = query.cursor.clone();
        while made_due.len() < query.limit {
            let limit = RETRY_BATCH.min(query.limit - made_due.len());
            let started = std::time::Instant::now();
            let batch = self.retry_batch(DeliveryQuery { limit, cursor, ..query.clone() }).await?;
            made_due.extend(batch.made_due);
            // None: nothing left below. (On PostgreSQL rows another node leased between a
            // batch's choice and its update are left out; they are being sent anyway.)
            let Some(last) = batch.last else { break };
            cursor = Some(last);
            if paced {
                tokio::time::sleep(started.elapsed().max(std::time::Duration::from_millis(1))).await;
            }
        }
        Ok(made_due)
    }

    /// One batch of `retry_matching`: at most `query.limit` of what `query` matches below
    /// `query.cursor`, newest first; how many it made due and the smallest id among them.
    async fn retry_batch(&self, query: DeliveryQuery) -> StoreResult<RetriedBatch>;

    /// Disables a subscription: its pending deliveries and new ones are `held`.
    async fn disable(&self, subscription: &str, reason: &str) -> StoreResult<()>;

    /// Enables a subscription and releases its held deliveries, oldest first; returns how many.
    async fn enable(&self, subscription: &str) -> StoreResult<u64>;

    /// Deletes up to `limit` finished deliveries (and their attempts, and events left without
    /// deliveries) last touched before `finished_before`. Returns how many deliveries went.
    async fn prune(&self, finished_before: i64, limit: usize) -> StoreResult<u64>;

    /// Folds the finished-delivery counters (kept by the hour, and on PostgreSQL by
    /// connection) so that reading them stays a few rows per subscription: hours older
    /// than the last 24 become one row. Housekeeping runs it with the prune.
    async fn compact_counts(&self, now: i64) -> StoreResult<()> {
        let _ = now;
        Ok(())
    }

    /// Whether a prune batch holds up every other write while it runs (SQLite's one
    /// writer): housekeeping then keeps each batch to a few milliseconds.
    fn prune_holds_writes(&self) -> bool {
        false
    }

    /// How long the recorder may wait for more attempt results before it commits a small
    /// batch (`dispatch::recorder`). Worth it where each commit costs the store much more
    /// than each result it carries (PostgreSQL's statement and WAL flush); nothing where
    /// the store batches its writes itself (SQLite's writer).
    fn results_linger(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// When the next pending delivery falls due, if any; of the `loaded` subscriptions only
    /// when given (what this node may lease).
    async fn next_due_at(&self, loaded: Option<&[String]>) -> StoreResult<Option<i64>>;

    async fn list_deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryPage>;

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryDetail>>;

    async fn get_event(&self, uuid: &str) -> StoreResult<Option<StoredEvent>>;

    /// Live state of every subscription the store knows, with delivery counts by status.
    async fn subscription_states(&self) -> StoreResult<Vec<SubscriptionState>>;

    /// Deliveries by status, the oldest pending one's creation time, disabled subscriptions.
    /// Without `finished`, only the active statuses (pending, in_flight, held) are counted:
    /// cheap enough for every second, where counting all history would not be.
    async fn queue_stats(&self, finished: bool) -> StoreResult<QueueStats>;

    /// Returns `owner`'s unfinished leases to the queue, due now: a node that is stopping
    /// hands its work to the others instead of leaving it until the leases expire.
    async fn release_leases(&self, owner: &str, now: i64) -> StoreResult<u64>;

    /// Returns the `leases` that `owner` took and will not send (they waited past their
    /// `send_by`) to the queue, due at `now`, so they are leased again at once rather than
    /// when they expire. A delivery no longer held under that very lease (leased since by
    /// anyone, `owner` included) is left alone: it may be on its way.
    async fn release_unsent(&self, owner: &str, leases: &[UnsentLease], now: i64) -> StoreResult<u64>;

    /// Signals `wake` whenever another node makes deliveries due, for as long as `wake`
    /// lives (PostgreSQL: LISTEN/NOTIFY). A single-node store has nobody to hear from.
    fn wake_on_work(&self, wake: &std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// Claims the next turn to send of a rate-limited `subscription`, shared by every node:
    /// the earliest time (µs, the store's clock) at least `interval_us` after the last turn
    /// any node claimed, not before `now_us` (idle time is not saved up for a burst) and
    /// not inside a pause. Granted only when it is at most `ahead_us` away; otherwise
    /// nothing is claimed and the answer says when to ask again.
    async fn claim_send_slot(
        &self,
        subscription: &str,
        now_us: i64,
        interval_us: i64,
        ahead_us: i64,
    ) -> StoreResult<SendSlot>;

    /// Pauses `subscription` until `until_ms` on every node (a 429 with `Retry-After`); a
    /// pause already set for longer stays.
    async fn pause_subscription(&self, subscription: &str, until_ms: i64) -> StoreResult<()>;

    /// The subscriptions paused at `now_ms`, with the end of each pause.
    async fn paused_subscriptions(&self, now_ms: i64) -> StoreResult<Vec<(String, i64)>>;

    /// Cheap liveness check.
    async fn ping(&self) -> StoreResult<()>;

    /// Records that the console session `nonce` was signed out; it is remembered until
    /// `until` (seconds, its expiry), so its cookie stops working on every node and after a
    /// restart. Sessions already expired at `now` are forgotten in the same write.
    async fn revoke_session(&self, nonce: &str, until: i64, now: i64) -> StoreResult<()>;

    /// The console sessions signed out that have not expired at `now` (seconds).
    async fn revoked_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>>;

    /// Why the last write failed for want of space or a writable file, until a write
    /// succeeds again: `/readyz` answers from it at once, not at the next heartbeat.
    fn write_problem(&self) -> Option<String> {
        None
    }
}
