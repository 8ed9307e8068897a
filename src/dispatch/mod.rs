//! Dispatch: workers lease due deliveries from the store and send them, recording every
//! attempt. All state is in the store; this loop holds only the leases it is working on.

pub mod ping;
pub mod recorder;
pub mod retry;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{info, warn};

use crate::store::{AttemptReport, LeaseRequest, Leased, Outcome, Store};
use crate::subscription::SubscriptionSet;
use retry::{AttemptResult, Decision};

pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub subscriptions: Arc<ArcSwap<SubscriptionSet>>,
    pub client: sender::HttpClient,
    /// Identifies this node's leases.
    pub owner: String,
    /// Signalled by intake when new deliveries are committed.
    pub wake: Arc<Notify>,
    /// Requests in flight at once, across all subscriptions.
    pub concurrency: usize,
    /// How long attempts in flight may finish after shutdown begins.
    pub grace: Duration,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Records results, keeping those the store cannot take yet.
    pub recorder: recorder::Recorder,
}

/// The longest an idle loop sleeps before looking at the store again.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The shortest wait when due deliveries exist but none could be leased (their
/// subscriptions are at `max_in_flight`, or another node holds them): no busy loop.
const BLOCKED_POLL: Duration = Duration::from_millis(20);
const LEASE_BATCH: usize = 128;

impl Dispatcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let permits = Arc::new(Semaphore::new(me.concurrency));
        while !*shutdown.borrow() {
            let free = permits.available_permits().min(LEASE_BATCH);
            if free == 0 {
                tokio::select! {
                    p = permits.clone().acquire_owned() => drop(p),
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            let set = me.subscriptions.load();
            let request = LeaseRequest {
                owner: me.owner.clone(),
                now: crate::now_ms(),
                lease_ms: set.lease_ms().clone(),
                default_lease_ms: crate::subscription::lease_length(crate::subscription::raw::DEFAULT_TIMEOUT),
                limit: free,
                caps: set.caps().clone(),
            };
            drop(set);
            let leased = match me.store.lease(request).await {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, "leasing deliveries failed; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let (full, none) = (leased.len() == free, leased.is_empty());
            // A delivery whose result this node knows but could not record is not sent
            // again: it stays leased here until the result is recorded.
            for d in leased.into_iter().filter(|d| !me.recorder.knows(&d.id)) {
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let me = me.clone();
                tokio::spawn(async move {
                    me.attempt(d).await;
                    drop(permit);
                });
            }
            if !full {
                me.idle(&mut shutdown, none).await;
            }
        }
        // Let attempts in flight finish; whatever does not goes back to the queue now, for
        // another node (PostgreSQL) or the next start (SQLite), rather than when its lease expires.
        let all = me.concurrency as u32;
        let finished = tokio::time::timeout(me.grace, permits.acquire_many(all)).await.is_ok();
        // One more try at results the store could not take; whatever stays unrecorded is
        // sent again by whoever leases it next (at-least-once).
        if me.recorder.unrecorded() > 0 && me.recorder.flush().await > 0 {
            warn!(unrecorded = me.recorder.unrecorded(), "stopping with attempt results the store could not take");
        }
        if !finished {
            match me.store.release_leases(&me.owner, crate::now_ms()).await {
                Ok(n) => {
                    warn!(deliveries = n, "shutdown grace period ended with attempts in flight; they are due again")
                }
                Err(e) => warn!(error = %e, "could not release leases at shutdown; they fall due when they expire"),
            }
        }
    }

    async fn idle(&self, shutdown: &mut watch::Receiver<bool>, leased_none: bool) {
        let now = crate::now_ms();
        let mut wait = match self.store.next_due_at().await {
            Ok(Some(at)) => Duration::from_millis(at.saturating_sub(now).max(0) as u64).min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        if wait.is_zero() {
            if !leased_none {
                return;
            }
            wait = BLOCKED_POLL;
        }
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }

    async fn attempt(&self, d: Leased) {
        let started_at = crate::now_ms();
        let set = self.subscriptions.load_full();
        let sub = set.get(&d.subscription);
        let disable_after = sub.map_or(0, |s| s.delivery.disable_after_failures);
        let (result, response_body, duration_ms, outcome) = match sub {
            None => {
                let why = format!("subscription {} is no longer configured", d.subscription);
                (AttemptResult::Error(why.clone()), None, 0, (Outcome::Failed, Some(why)))
            }
            Some(sub) => {
                let sent = sender::send(&self.client, &d, sub).await;
                let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
                let outcome = match retry::decide(d.attempt, &sub.retry, &sent.result, jitter) {
                    Decision::Succeeded => (Outcome::Succeeded, None),
                    Decision::Retry(wait) => (Outcome::Retry { at: crate::now_ms() + wait.as_millis() as i64 }, None),
                    Decision::GiveUp(why) => (Outcome::Failed, Some(why)),
                };
                (sent.result, sent.response_body, sent.duration_ms, outcome)
            }
        };
        let (status_code, error) = match &result {
            AttemptResult::Status { code, .. } => (Some(*code), None),
            AttemptResult::Error(e) | AttemptResult::Refused(e) => (None, Some(e.clone())),
        };
        let (outcome, give_up_reason) = outcome;
        self.metrics.attempt_seconds.with_label_values(&[&d.subscription]).observe(duration_ms as f64 / 1000.0);
        match outcome {
            Outcome::Succeeded => self.metrics.delivery_finished(&d.subscription, "succeeded"),
            Outcome::Failed => self.metrics.delivery_finished(&d.subscription, "failed"),
            Outcome::Retry { .. } => {}
        }
        info!(
            delivery = %d.id, subscription = %d.subscription, attempt = d.attempt,
            status = status_code, duration_ms, outcome = ?outcome, error = error.as_deref(),
            "attempt"
        );
        let error = match (error, give_up_reason) {
            (Some(e), Some(why)) => Some(format!("{e}; {why}")),
            (e, why) => e.or(why),
        };
        let report = AttemptReport {
            delivery_id: d.id.clone(),
            subscription: d.subscription.clone(),
            disable_after,
            disable_now: status_code == Some(410),
            owner: self.owner.clone(),
            attempt: d.attempt,
            started_at,
            duration_ms,
            status_code,
            response_body,
            error,
            outcome,
        };
        self.recorder.record(report).await;
        if set.caps().contains_key(&d.subscription) {
            // Room under this subscription's cap: deliveries waiting for it can go now.
            self.wake.notify_one();
        }
    }
}
