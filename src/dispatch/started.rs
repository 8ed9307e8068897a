//! The attempts this node has started and not yet recorded: what a shutdown that cannot
//! wait for them any longer records as interrupted, so that history shows the request that
//! may have reached the receiver and the next send carries the next attempt's number.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{AttemptReport, Outcome};

/// Why an attempt cut short by a shutdown has no answer.
pub const INTERRUPTED: &str = "interrupted: hookshape stopped before the answer came (its shutdown grace ran out); \
     the request may have reached the receiver, and it is sent again as the next attempt";

/// What is kept of an attempt under way: enough to record it as cut short.
struct UnderWay {
    subscription: String,
    attempt: u32,
    started_at: i64,
    disable_after: u32,
}

/// The attempts under way, by delivery id.
#[derive(Default)]
pub struct Started(Mutex<HashMap<String, UnderWay>>);

impl Started {
    /// Notes attempt `attempt` of `delivery` as started.
    pub fn begin(&self, delivery: &str, subscription: &str, attempt: u32, started_at: i64, disable_after: u32) {
        let under_way = UnderWay { subscription: subscription.to_string(), attempt, started_at, disable_after };
        if let Ok(mut started) = self.0.lock() {
            started.insert(delivery.to_string(), under_way);
        }
    }

    /// The attempt of `delivery` ended with a result of its own: whether that is still to
    /// be recorded (false when a shutdown recorded it as interrupted meanwhile, which a
    /// second record of the same attempt would contradict).
    pub fn end(&self, delivery: &str) -> bool {
        self.0.lock().map(|mut started| started.remove(delivery).is_some()).unwrap_or(true)
    }

    /// Every attempt still under way, as `owner`'s reports of it interrupted at `now`: due
    /// again at once.
    pub fn interrupt_all(&self, now: i64, owner: &str) -> Vec<AttemptReport> {
        let Ok(mut started) = self.0.lock() else { return Vec::new() };
        started
            .drain()
            .map(|(delivery_id, u)| AttemptReport {
                delivery_id,
                subscription: u.subscription,
                owner: owner.to_string(),
                attempt: u.attempt,
                started_at: u.started_at,
                duration_ms: now.saturating_sub(u.started_at),
                status_code: None,
                response_body: None,
                error: Some(INTERRUPTED.to_string()),
                outcome: Outcome::Retry { at: now },
                disable_after: u.disable_after,
                disable_now: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attempts_still_started_are_interrupted_and_due_at_once() {
        let started = Started::default();
        started.begin("a", "s", 1, 1_000, 0);
        started.begin("b", "s", 2, 1_000, 0);
        assert!(started.end("a"), "a's own result is recorded");
        let cut = started.interrupt_all(4_000, "n");
        assert_eq!(cut.len(), 1);
        let b = &cut[0];
        assert_eq!((b.delivery_id.as_str(), b.attempt, b.duration_ms), ("b", 2, 3_000));
        assert_eq!(b.outcome, Outcome::Retry { at: 4_000 });
        assert!(b.error.as_deref().is_some_and(|e| e.starts_with("interrupted")));
        assert_eq!(b.owner, "n");
        assert!(started.interrupt_all(5_000, "n").is_empty(), "each once");
        assert!(!started.end("b"), "b's late result is not recorded beside its interruption");
    }
}
