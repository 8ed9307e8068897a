//! Subscriptions paused by a receiver's 429 with `Retry-After`, as this node knows them
//! (its own answers, and the other nodes' read from the store): the queue gives out nothing
//! of theirs, the lease loop leases nothing of theirs, until the pause is over.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Subscriptions paused until a time (ms), known to this node.
#[derive(Default)]
pub struct Pauses {
    until: Mutex<HashMap<String, i64>>,
}

impl Pauses {
    fn until(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // Nothing panics while holding the lock; a poisoned map is still a valid map.
        self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pauses `sub` until `until` unless it is paused longer already; true if this lengthened it.
    pub fn pause(&self, sub: &str, until: i64) -> bool {
        let mut map = self.until();
        let entry = map.entry(sub.to_string()).or_insert(i64::MIN);
        let longer = until > *entry;
        *entry = (*entry).max(until);
        longer
    }

    pub fn is_paused(&self, sub: &str, now: i64) -> bool {
        self.paused_until(sub, now).is_some()
    }

    /// When `sub`'s pause ends (ms), while it lasts.
    pub fn paused_until(&self, sub: &str, now: i64) -> Option<i64> {
        self.until().get(sub).copied().filter(|&u| now < u)
    }

    /// The subscriptions paused at `now` (and the ended pauses forgotten).
    pub fn paused(&self, now: i64) -> Vec<String> {
        let mut map = self.until();
        map.retain(|_, u| now < *u);
        map.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_lasts_its_longest_and_ends() {
        let p = Pauses::default();
        assert!(p.pause("crm", 1_000));
        assert!(!p.pause("crm", 500), "a shorter pause does not shorten it");
        assert!(p.is_paused("crm", 999) && !p.is_paused("crm", 1_000) && !p.is_paused("erp", 0));
        assert_eq!((p.paused_until("crm", 999), p.paused_until("crm", 1_000)), (Some(1_000), None));
        assert_eq!(p.paused(999), vec!["crm".to_string()]);
        assert!(p.paused(1_000).is_empty());
        assert!(p.pause("crm", 2_000), "a new pause after one ended");
    }
}
