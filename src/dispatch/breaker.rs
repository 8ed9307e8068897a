//! Receivers that cannot be reached. After an attempt fails to connect, the subscription's
//! deliveries wait in the store for a short, growing pause (250 ms, doubling to 5 s);
//! after it, one delivery at a time is tried (the probe) until one reaches the receiver.
//! One dead receiver then costs one connect per pause, not one per delivery, and leaves
//! the store to intake. Any answer (even an error status) closes it. Per node and in memory: it only
//! delays attempts, it never drops or reorders a delivery's retries.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

const FIRST_PAUSE_MS: i64 = 250;
const LONGEST_PAUSE_MS: i64 = 5_000;

#[derive(Default)]
pub struct Breakers {
    open: Mutex<HashMap<String, Open>>,
}

#[derive(Clone, Copy)]
struct Open {
    until: i64,
    pause_ms: i64,
    /// When the first failed connect of this run of them was recorded.
    since: i64,
}

/// A subscription whose receiver this node cannot reach, as people are told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable {
    /// When its first failed connect (of this run of them) was recorded, in ms.
    pub since: i64,
    /// Past its pause: one delivery at a time is tried.
    pub probing: bool,
}

impl Breakers {
    fn state(&self) -> MutexGuard<'_, HashMap<String, Open>> {
        // Nothing panics while holding the lock; a poisoned map is still a valid map.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An attempt of `sub` finished at `now`: `reached` when the receiver answered at all.
    pub fn record(&self, sub: &str, reached: bool, now: i64) {
        let mut open = self.state();
        if reached {
            open.remove(sub);
            return;
        }
        let (pause_ms, since) = match open.get(sub) {
            // Attempts that were already under way when it opened do not lengthen the pause.
            Some(o) if now < o.until => return,
            Some(o) => ((o.pause_ms * 2).min(LONGEST_PAUSE_MS), o.since),
            None => (FIRST_PAUSE_MS, now),
        };
        open.insert(sub.to_string(), Open { until: now + pause_ms, pause_ms, since });
    }

    /// Whether `sub`'s deliveries should wait at `now`.
    pub fn is_open(&self, sub: &str, now: i64) -> bool {
        self.state().get(sub).is_some_and(|o| now < o.until)
    }

    /// Whether `sub` is past its pause but not yet reached: one delivery at a time.
    pub fn is_probing(&self, sub: &str, now: i64) -> bool {
        self.state().get(sub).is_some_and(|o| now >= o.until)
    }

    /// Whether this node finds `sub`'s receiver unreachable at `now`, since when, and
    /// whether it is probing: what the console and the API show.
    pub fn status(&self, sub: &str, now: i64) -> Option<Unreachable> {
        self.state().get(sub).map(|o| Unreachable { since: o.since, probing: now >= o.until })
    }

    /// The subscriptions whose deliveries wait at `now`.
    pub fn open(&self, now: i64) -> Vec<String> {
        self.state().iter().filter(|(_, o)| now < o.until).map(|(name, _)| name.clone()).collect()
    }

    /// The subscriptions past their pause and not yet reached at `now`.
    pub fn probing(&self, now: i64) -> Vec<String> {
        self.state().iter().filter(|(_, o)| now >= o.until).map(|(name, _)| name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_receiver_pauses_its_subscription_longer_each_time_until_it_answers() {
        let b = Breakers::default();
        b.record("crm", false, 0);
        assert!(b.is_open("crm", 100) && !b.is_open("crm", 250) && !b.is_open("erp", 100));
        b.record("crm", false, 100);
        assert!(!b.is_open("crm", 250), "a failure from before the pause does not lengthen it");
        b.record("crm", false, 300);
        assert!(b.is_open("crm", 799) && !b.is_open("crm", 800), "then twice as long");
        for t in 1..20 {
            b.record("crm", false, t * 10_000);
        }
        assert!(b.is_open("crm", 194_999) && !b.is_open("crm", 195_000), "at most 5 s");
        assert_eq!(b.open(190_001), vec!["crm".to_string()]);
        assert!(b.probing(190_001).is_empty() && b.probing(195_000) == vec!["crm".to_string()]);
        assert!(b.is_probing("crm", 195_000) && !b.is_probing("erp", 195_000));
        assert_eq!(b.status("crm", 195_000), Some(Unreachable { since: 0, probing: true }), "since the first");
        assert_eq!(b.status("crm", 190_001).map(|u| u.probing), Some(false));
        b.record("crm", true, 190_002);
        assert_eq!(b.status("crm", 190_003), None);
        assert!(!b.is_open("crm", 190_003) && b.open(190_003).is_empty(), "an answer closes it");
    }
}
