//! Rate-limited subscriptions' send slots and 429 pauses, kept in memory: what the SQLite
//! store (one node) answers from, writing each change through to its `pacing` table. PostgreSQL keeps the same two numbers per subscription in
//! `rate_slots`, claimed by one statement, so that every node shares them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::SendSlot;

#[derive(Default)]
pub struct Pacing {
    subs: Mutex<HashMap<String, Pace>>,
}

/// One subscription's pace: when its last slot began (µs) and until when it is paused (ms).
#[derive(Clone, Copy, Default)]
struct Pace {
    last_slot_us: Option<i64>,
    paused_until_ms: i64,
}

/// The earliest a subscription may send after its last slot, `interval_us` apart and not in
/// a pause: the rule both stores follow (PostgreSQL in SQL).
pub fn earliest(last_slot_us: Option<i64>, paused_until_ms: i64, now_us: i64, interval_us: i64) -> i64 {
    let after_last = last_slot_us.map_or(i64::MIN, |l| l.saturating_add(interval_us));
    after_last.max(now_us).max(paused_until_ms.saturating_mul(1_000))
}

impl Pacing {
    fn subs(&self) -> MutexGuard<'_, HashMap<String, Pace>> {
        // Nothing panics while holding the lock; a poisoned map is still a valid map.
        self.subs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Store::claim_send_slot`.
    pub fn claim(&self, subscription: &str, now_us: i64, interval_us: i64, ahead_us: i64) -> SendSlot {
        let mut subs = self.subs();
        let pace = subs.entry(subscription.to_string()).or_default();
        let at = earliest(pace.last_slot_us, pace.paused_until_ms, now_us, interval_us);
        if at > now_us.saturating_add(ahead_us) {
            return SendSlot::NotBefore(at);
        }
        pace.last_slot_us = Some(at);
        SendSlot::Granted(at)
    }

    /// `Store::pause_subscription`: a pause never shortens one already set.
    pub fn pause(&self, subscription: &str, until_ms: i64) {
        let mut subs = self.subs();
        let pace = subs.entry(subscription.to_string()).or_default();
        pace.paused_until_ms = pace.paused_until_ms.max(until_ms);
    }

    /// Takes the paces a store kept (name, last slot µs, paused until ms), as a restart does.
    pub fn seed(&self, kept: Vec<(String, Option<i64>, i64)>) {
        let mut subs = self.subs();
        for (name, last_slot_us, paused_until_ms) in kept {
            let pace = subs.entry(name).or_default();
            pace.last_slot_us = pace.last_slot_us.max(last_slot_us);
            pace.paused_until_ms = pace.paused_until_ms.max(paused_until_ms);
        }
    }

    /// `Store::paused_subscriptions`.
    pub fn paused(&self, now_ms: i64) -> Vec<(String, i64)> {
        let subs = self.subs();
        subs.iter().filter(|(_, p)| p.paused_until_ms > now_ms).map(|(n, p)| (n.clone(), p.paused_until_ms)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_an_interval_apart_granted_only_near_and_never_in_a_pause() {
        let p = Pacing::default();
        assert_eq!(p.claim("crm", 1_000_000, 100_000, 50_000), SendSlot::Granted(1_000_000));
        assert_eq!(p.claim("crm", 1_000_000, 100_000, 50_000), SendSlot::NotBefore(1_100_000), "too far ahead");
        assert_eq!(p.claim("crm", 1_060_000, 100_000, 50_000), SendSlot::Granted(1_100_000));
        assert_eq!(p.claim("erp", 1_060_000, 100_000, 50_000), SendSlot::Granted(1_060_000), "its own pace");
        assert_eq!(p.claim("crm", 5_000_000, 100_000, 0), SendSlot::Granted(5_000_000), "idle time is not saved up");
        p.pause("crm", 9_000);
        p.pause("crm", 8_000);
        assert_eq!(p.paused(8_999), vec![("crm".to_string(), 9_000)], "a shorter pause does not shorten it");
        assert!(p.paused(9_000).is_empty());
        assert_eq!(p.claim("crm", 6_000_000, 100_000, 50_000), SendSlot::NotBefore(9_000_000));
        assert_eq!(p.claim("crm", 9_000_000, 100_000, 0), SendSlot::Granted(9_000_000));
    }
}
