//! Rate limits on this node, and 429 pauses begun. A rate-limited subscription with queued
//! deliveries has a pacer task that claims its turns from the store (shared by every node,
//! `Store::claim_send_slot`), one ahead of the turn it waits for, and lets one delivery go
//! when each turn comes; deliveries wait for turns in the queue without a permit, and are
//! leased only when their turn nears (the queue learns when the next turn is). A 429
//! with `Retry-After` pauses the subscription here at once and, through the store, on
//! every node.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use super::queue::WorkQueue;
use crate::store::{SendSlot, Store};
use crate::subscription::{RateLimit, SubscriptionSet};

/// How far ahead a turn is claimed: a claimed turn is used even if a pause begins meanwhile,
/// and a node that dies wastes the turns it claimed, so this is short; long enough that the
/// claim's round trip does not make the node late for its turn.
const CLAIM_AHEAD_US: i64 = 200_000;
/// After a store error, the pacer waits this long before claiming again.
const STORE_ERROR_WAIT: Duration = Duration::from_millis(500);
/// The longest a pacer sleeps before it looks again at its queue and its subscription.
const LONGEST_WAIT: Duration = Duration::from_millis(500);
/// How often other nodes' pauses are read from the store.
pub const PAUSES_READ_EVERY_MS: i64 = 1_000;

/// Pauses `sub` on this node until `until` and, when that lengthens it, wakes the sender
/// when it ends (nothing else would: its deliveries wait in the queue meanwhile).
pub fn pause_here(queue: &Arc<WorkQueue>, sub: &str, until: i64) {
    if queue.paused.pause(sub, until) {
        let queue = queue.clone();
        let wait = Duration::from_millis(until.saturating_sub(crate::now_ms()).max(0) as u64);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            queue.nudge();
        });
    }
}

/// Turns a pacer holds claimed at most: the next one is claimed while waiting for the
/// one before, so the claim's round trip and a late wake-up never push the pace back.
const PIPELINE: usize = 2;

/// Runs while `sub` has queued deliveries: claims a turn for each, in order, and releases
/// one delivery when its turn comes.
pub async fn pacer(
    store: Arc<dyn Store>,
    queue: Arc<WorkQueue>,
    set: Arc<arc_swap::ArcSwap<SubscriptionSet>>,
    sub: String,
    http: super::sender::HttpClient,
) {
    let mut claimed: VecDeque<i64> = VecDeque::new();
    let mut claim_from_us = i64::MIN;
    while let Some(waiting) = queue.pacer_waiting(&sub) {
        let Some(limit) = set.load().rate_limits().get(&sub).copied() else {
            queue.unpace(&sub);
            return;
        };
        let now_us = crate::now_ms().saturating_mul(1_000);
        let interval_us = limit.interval_us() as i64;
        let late_ok_us = limit.late_ok_us() as i64;
        while let Some(at) = claimed.front().copied().filter(|&at| at <= now_us) {
            claimed.pop_front();
            // A turn is used within `late_ok_us` of its time or not at all: however late
            // this node runs, what it sends in any window of `per` stays within the limit
            // (the interval leaves room for that lateness), never a burst of every turn
            // it slept through.
            let use_by_us = at + late_ok_us;
            if now_us <= use_by_us {
                queue.turn_ready(&sub, use_by_us / 1_000);
            }
        }
        let wants = waiting > claimed.len() && claimed.len() < PIPELINE;
        if wants && now_us >= claim_from_us {
            if let Some(subscription) = set.load().get(&sub) {
                super::authorize::ahead_of_turn(&http, subscription).await;
            }
            let now_us = crate::now_ms().saturating_mul(1_000);
            match store.claim_send_slot(&sub, now_us, interval_us, CLAIM_AHEAD_US).await {
                Ok(SendSlot::Granted(at)) => {
                    claimed.push_back(at);
                    queue.next_turn_not_before(&sub, (at + interval_us) / 1_000, interval_us as u64);
                }
                Ok(SendSlot::NotBefore(at)) => {
                    claim_from_us = at - CLAIM_AHEAD_US;
                    queue.next_turn_not_before(&sub, at / 1_000, interval_us as u64);
                    queue.set_aside_if_stale_by(&sub, at / 1_000, claimed.len());
                }
                Err(e) => {
                    warn!(subscription = %sub, error = %e, "could not claim a turn of the rate limit; trying again shortly");
                    claim_from_us = now_us + STORE_ERROR_WAIT.as_micros() as i64;
                }
            }
            continue;
        }
        let next_claim = wants.then_some(claim_from_us);
        let next = claimed.front().copied().into_iter().chain(next_claim).min();
        let wait_us = next.map_or(LONGEST_WAIT.as_micros() as i64, |at| at - now_us);
        sleep_us(wait_us.clamp(1_000, LONGEST_WAIT.as_micros() as i64)).await;
    }
}

/// A turn of `sub`'s rate limit for a request outside the pacer's turns (sent again after
/// a 401 or on a new connection, one whose turn went by while its token came, the ping):
/// to the receiver it is one more request, so it waits for a turn like any other. True
/// once the turn has come (used within `late_ok_us` of it, as the pacer's are); false if
/// it would come after `deadline` or the store cannot say.
pub async fn turn_for_resend(store: &dyn Store, sub: &str, limit: RateLimit, deadline: tokio::time::Instant) -> bool {
    let interval_us = limit.interval_us() as i64;
    let late_ok_us = limit.late_ok_us() as i64;
    loop {
        let now_us = crate::now_ms().saturating_mul(1_000);
        let left_us = deadline.saturating_duration_since(tokio::time::Instant::now()).as_micros() as i64;
        let (at, granted) = match store.claim_send_slot(sub, now_us, interval_us, CLAIM_AHEAD_US).await {
            Ok(SendSlot::Granted(at)) => (at, true),
            Ok(SendSlot::NotBefore(at)) => (at - CLAIM_AHEAD_US, false),
            Err(e) => {
                warn!(subscription = %sub, error = %e, "could not claim a turn of the rate limit for a request");
                return false;
            }
        };
        if at - now_us >= left_us {
            return false;
        }
        sleep_us(at - now_us).await;
        // Woken too late for it (a busy machine), the turn is lost: claim another.
        if granted && crate::now_ms().saturating_mul(1_000) <= at + late_ok_us {
            return true;
        }
    }
}

async fn sleep_us(us: i64) {
    if us > 0 {
        tokio::time::sleep(Duration::from_micros(us as u64)).await;
    }
}
