//! Dispatch: deliveries this node has leased (fresh ones handed over by intake, leased as
//! they were stored; the rest leased from the store) wait in a fair queue and are sent
//! under a global concurrency limit; every result goes to the recorder. All state is in
//! the store; memory holds only leases.

mod authorize;
pub mod breaker;
pub mod pace;
pub mod pause;
pub mod ping;
pub mod queue;
pub mod recorder;
pub mod retry;
pub mod sender;
pub mod started;
pub mod unsent;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{debug, warn};

use crate::store::{AttemptReport, LeaseRequest, Leased, Outcome, Store, UnsentLease};
use crate::subscription::SubscriptionSet;
use queue::WorkQueue;
use retry::{AttemptResult, Decision};

pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub subscriptions: Arc<ArcSwap<SubscriptionSet>>,
    pub client: sender::HttpClient,
    /// Identifies this node's leases.
    pub owner: Arc<str>,
    /// Signalled when deliveries may be due in the store (stored pending, retried, released).
    pub wake: Arc<Notify>,
    /// Requests in flight at once, across all subscriptions.
    pub concurrency: usize,
    /// How long attempts in flight may finish after shutdown begins.
    pub grace: Duration,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Records results, keeping those the store cannot take yet.
    pub recorder: recorder::Recorder,
    /// What this node has leased and not sent yet; intake adds fresh deliveries to it.
    pub queue: Arc<WorkQueue>,
    /// Leases queued past their `send_by`, on their way back to the store.
    pub unsent: Arc<unsent::Unsent>,
    /// Attempts under way, recorded as interrupted if the shutdown grace runs out on them.
    pub started: started::Started,
}

/// The longest an idle loop sleeps before looking at the store again.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The shortest wait when due deliveries exist but none could be leased (their
/// subscriptions are at `max_in_flight`, or another node holds them): no busy loop.
const BLOCKED_POLL: Duration = Duration::from_millis(20);
const LEASE_BATCH: usize = 128;
/// While a receiver is unreachable its due deliveries stay in the store, and a lease must
/// read past them to find others': found nothing then, the loop waits this long (woken
/// by nothing) rather than scan again at every intake.
const UNREACHABLE_POLL: Duration = Duration::from_millis(500);

impl Dispatcher {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let permits = Arc::new(Semaphore::new(me.concurrency));
        let leasing = tokio::spawn(me.clone().lease_loop(shutdown.clone()));
        me.send_loop(&permits, shutdown).await;
        let _ = leasing.await;
        me.stop(&permits).await;
    }

    /// Sends queued deliveries, a permit each, in the queue's fair order.
    async fn send_loop(self: &Arc<Self>, permits: &Arc<Semaphore>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = shutdown.changed() => return,
            };
            let d = loop {
                if *shutdown.borrow() {
                    return;
                }
                let next = self.queue.next();
                self.give_back_stale();
                if let Some(d) = next {
                    break d;
                }
                tokio::select! {
                    _ = self.queue.work_arrived() => {}
                    _ = shutdown.changed() => return,
                }
            };
            if crate::now_ms() > d.send_by {
                self.give_back(&d);
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let sub = d.subscription.clone();
                me.attempt(d).await;
                me.queue.done(&sub);
                drop(permit);
            });
        }
    }

    /// Queued too long: a delivery's lease could expire mid-attempt and another node send
    /// it too. It goes back to the store, due now, and is leased afresh.
    fn give_back(&self, d: &Leased) {
        debug!(delivery = %d.id, "a queued delivery's lease is too old to send on");
        self.queue.done(&d.subscription);
        self.unsent.give_back(UnsentLease::from(d), &self.store, &self.owner, &self.wake);
    }

    /// Gives back what the queue set aside as queued too long.
    fn give_back_stale(&self) {
        for d in self.queue.take_stale() {
            self.give_back(&d);
        }
    }

    /// Leases due deliveries from the store while the queue has room.
    async fn lease_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut pauses_read = i64::MIN;
        while !*shutdown.borrow() {
            self.read_pauses(&mut pauses_read).await;
            let room = self.queue.room().min(LEASE_BATCH);
            if room == 0 {
                tokio::select! {
                    _ = self.queue.room_freed() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            self.recorder.lease_begins();
            let leased = match self.store.lease(self.lease_request(room)).await {
                Ok(l) => l,
                Err(e) => {
                    self.recorder.lease_ends(Vec::new());
                    warn!(error = %e, "leasing deliveries failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            self.count_skipped();
            let none = leased.is_empty();
            // A delivery whose result this node knows (unrecorded, or recorded while this
            // lease was taken) is not sent again: it stays leased here until it is recorded.
            self.queue_leased(self.recorder.lease_ends(leased));
            // A lease that found some due rows but fewer than room leases again at once: more
            // have mostly arrived meanwhile (at fan-out 10, asking the store when the next is
            // due first cost a statement per lease that nearly always answered "now"). One
            // that found none waits for the next due row.
            if none {
                self.idle(&mut shutdown).await;
            }
        }
    }

    /// Brings `hookshape_lease_skipped_total` up to the store's running count. This loop is
    /// the store's only leaser, so the metric never runs ahead of the store.
    fn count_skipped(&self) {
        let (total, shown) = (self.store.lease_skipped(), self.metrics.lease_skipped.get());
        if total > shown {
            self.metrics.lease_skipped.inc_by(total - shown);
        }
    }

    /// Queues what was leased, starting a pacer for each rate-limited subscription that
    /// has none running.
    fn queue_leased(&self, leased: Vec<Leased>) {
        let set = self.subscriptions.load();
        let paced = |sub: &str| set.rate_limits().contains_key(sub);
        for sub in self.queue.push(leased, &paced) {
            let (store, queue, subs) = (self.store.clone(), self.queue.clone(), self.subscriptions.clone());
            tokio::spawn(pace::pacer(store, queue, subs, sub, self.client.clone()));
        }
    }

    /// Learns the pauses other nodes were asked for (429 `Retry-After`), at most every
    /// `PAUSES_READ_EVERY_MS`.
    async fn read_pauses(&self, last_read: &mut i64) {
        let now = crate::now_ms();
        if now.saturating_sub(*last_read) < pace::PAUSES_READ_EVERY_MS {
            return;
        }
        *last_read = now;
        match self.store.paused_subscriptions(now).await {
            Ok(paused) => paused.iter().for_each(|(sub, until)| pace::pause_here(&self.queue, sub, *until)),
            Err(e) => debug!(error = %e, "could not read the subscriptions paused by other nodes"),
        }
    }

    fn lease_request(&self, limit: usize) -> LeaseRequest {
        let set = self.subscriptions.load();
        // A receiver being probed after it could not be reached: one delivery at a time.
        let mut caps = set.caps().clone();
        for name in self.queue.unreachable.probing(crate::now_ms()) {
            caps.insert(name, 1);
        }
        self.queue.forget_turns_of_old_paces(&|sub| set.rate_limits().get(sub).map(|l| l.interval_us()));
        LeaseRequest {
            owner: self.owner.to_string(),
            now: crate::now_ms(),
            lease_ms: set.lease_ms().clone(),
            default_lease_ms: crate::subscription::lease_length(crate::subscription::raw::DEFAULT_TIMEOUT),
            limit,
            caps,
            exclude: self.queue.full(),
            sweep_held: self.metrics.disabled_subscriptions.get() > 0,
            loaded: Some(loaded_names(&set)),
        }
    }

    /// After the send loop stops: attempts in flight get the grace period; then results
    /// are recorded, and whatever this node still holds goes back to the queue now, for
    /// another node (PostgreSQL) or the next start (SQLite), rather than when it expires.
    async fn stop(&self, permits: &Semaphore) {
        let all = self.concurrency as u32;
        let finished = tokio::time::timeout(self.grace, permits.acquire_many(all)).await.is_ok();
        let queued = self.queue.drain().len();
        // Attempts the grace ran out on: their requests may have reached the receivers.
        // Recorded as interrupted, due again at once as their next attempt; a result that
        // still comes for one is not recorded beside it (`Started::end`).
        let interrupted = self.started.interrupt_all(crate::now_ms(), &self.owner);
        if !interrupted.is_empty() {
            warn!(attempts = interrupted.len(), "stopping with attempts in flight; recorded as interrupted");
        }
        for report in interrupted {
            self.recorder.record(report).await;
        }
        self.recorder.flush().await;
        if finished && queued == 0 {
            return;
        }
        match self.store.release_leases(&self.owner, crate::now_ms()).await {
            Ok(n) => warn!(deliveries = n, "stopping with deliveries leased and not finished; they are due again"),
            Err(e) => warn!(error = %e, "could not release leases at shutdown; they fall due when they expire"),
        }
    }

    /// After a lease that found nothing: waits until the next row falls due, work arrives, or
    /// a poll interval passes.
    async fn idle(&self, shutdown: &mut watch::Receiver<bool>) {
        let now = crate::now_ms();
        if !self.queue.unreachable.open(now).is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(UNREACHABLE_POLL) => {}
                _ = shutdown.changed() => {}
            }
            return;
        }
        let loaded = loaded_names(&self.subscriptions.load());
        let mut wait = match self.store.next_due_at(Some(&loaded)).await {
            Ok(Some(at)) => Duration::from_millis(at.saturating_sub(now).max(0) as u64).min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        if wait.is_zero() {
            // Due, yet nothing was leased: locked by other nodes, or of subscriptions with no room.
            wait = BLOCKED_POLL;
        }
        // Not woken by room freed in the queue: that happens on every finished attempt, and
        // only matters when leasing stopped for want of room (the loop waits for it then).
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }

    /// Sends one leased delivery and hands its result to the recorder.
    async fn attempt(&self, d: Leased) {
        let started_at = crate::now_ms();
        let set = self.subscriptions.load_full();
        let Some(sub) = set.get(&d.subscription) else {
            // Unloaded since it was leased (a reload mid-deploy): not this node's to send or
            // to fail. Its lease expires and a node that has it loaded sends it; if none does
            // for the orphan grace, housekeeping fails it.
            debug!(delivery = %d.id, subscription = %d.subscription, "not sent: its subscription is not loaded here");
            return;
        };
        let disable_after = sub.delivery.disable_after_failures;
        self.started.begin(&d.id, &d.subscription, d.attempt, started_at, disable_after);
        let Some((sent, outcome)) = self.send_and_decide(&d, sub).await else {
            // Its turn went by while the token came, and no other came in time: not an
            // attempt. Due again at once, it waits for a turn like any other.
            // (Recorded as interrupted by a shutdown meanwhile, it is the store's already.)
            if self.started.end(&d.id) {
                debug!(delivery = %d.id, "not sent: no turn of the rate limit came after the token");
                self.unsent.give_back(UnsentLease::from(&d), &self.store, &self.owner, &self.wake);
            }
            return;
        };
        let (result, response_body, duration_ms) = (sent.result, sent.response_body, sent.duration_ms);
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
        debug!(
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
            owner: self.owner.to_string(),
            attempt: d.attempt,
            started_at,
            duration_ms,
            status_code,
            response_body,
            error,
            outcome,
        };
        if !self.started.end(&d.id) {
            debug!(delivery = %d.id, "a result after its attempt was recorded as interrupted: not recorded");
            return;
        }
        self.recorder.record(report).await;
        if set.caps().contains_key(&d.subscription) {
            // Room under this subscription's cap: deliveries waiting for it can go now.
            self.wake.notify_one();
        }
    }
}

impl Dispatcher {
    /// Sends `d` and decides what follows from the answer: done, a retry when, or failed
    /// and why. The receiver's reachability and a 429's pause are noted on the way.
    async fn send_and_decide(
        &self,
        d: &Leased,
        sub: &crate::subscription::Subscription,
    ) -> Option<(sender::Sent, (Outcome, Option<String>))> {
        let (store, name) = (self.store.as_ref(), d.subscription.as_str());
        let fresh_turn = |deadline| async move {
            match sub.rate_limit {
                Some(limit) => pace::turn_for_resend(store, name, limit, deadline).await,
                None => true,
            }
        };
        let sent = sender::send(&self.client, d, sub, fresh_turn).await?;
        self.queue.unreachable.record(&d.subscription, !sent.unreachable, crate::now_ms());
        if let AttemptResult::Status { code: 429, retry_after: Some(wait) } = &sent.result {
            self.pause(&d.subscription, *wait).await;
        }
        let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
        let outcome = match retry::decide(d.attempt, &sub.retry, &sent.result, jitter) {
            Decision::Succeeded => (Outcome::Succeeded, None),
            Decision::Retry(wait) => (Outcome::Retry { at: crate::now_ms() + wait.as_millis() as i64 }, None),
            Decision::GiveUp(why) => (Outcome::Failed, Some(why)),
        };
        Some((sent, outcome))
    }

    /// A 429 with `Retry-After`: the subscription pauses for that long (at most a day) here
    /// at once, and on the other nodes when they next read the pauses (within a second).
    async fn pause(&self, sub: &str, wait: Duration) {
        let until = crate::now_ms().saturating_add(wait.min(LONGEST_PAUSE).as_millis() as i64);
        pace::pause_here(&self.queue, sub, until);
        if let Err(e) = self.store.pause_subscription(sub, until).await {
            warn!(subscription = %sub, error = %e, "could not share a 429 pause with the other nodes; it holds on this one");
        }
    }
}

/// The longest pause a receiver's `Retry-After` can ask for.
const LONGEST_PAUSE: Duration = Duration::from_secs(86_400);

/// The names of the subscriptions in `set`: what this node may lease and send.
pub fn loaded_names(set: &SubscriptionSet) -> Vec<String> {
    set.iter().map(|s| s.name.clone()).collect()
}
