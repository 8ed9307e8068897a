//! The attempts this node has started and not yet recorded: what a shutdown that cannot
//! wait for them any longer records as interrupted, so that history shows the request that
//! may have reached the receiver and the next send carries the next attempt's number.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{AttemptReport, Outcome};

/// Why an attempt cut short by a shutdown has no answer.
pub const INTERRUPTED: &str = "interrupted: hookshape stopped before the answer came (its shutdown grace ran out); \
     the request may have reached the receiver, and it is sent again as the next attempt";

/// Each started attempt's report as it would read if the attempt were cut short now.
#[derive(Default)]
pub struct Started(Mutex<HashMap<String, AttemptReport>>);

impl Started {
    /// Notes an attempt as started; `report` is what is recorded if it is cut short.
    pub fn begin(&self, report: AttemptReport) {
        if let Ok(mut started) = self.0.lock() {
            started.insert(report.delivery_id.clone(), report);
        }
    }

    /// The attempt of `delivery` ended, with a result of its own to record.
    pub fn end(&self, delivery: &str) {
        if let Ok(mut started) = self.0.lock() {
            started.remove(delivery);
        }
    }

    /// Every attempt still started, as interrupted at `now`: due again at once.
    pub fn interrupt_all(&self, now: i64) -> Vec<AttemptReport> {
        let Ok(mut started) = self.0.lock() else { return Vec::new() };
        started
            .drain()
            .map(|(_, mut report)| {
                report.duration_ms = now.saturating_sub(report.started_at);
                report.error = Some(INTERRUPTED.to_string());
                report.outcome = Outcome::Retry { at: now };
                report
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str) -> AttemptReport {
        AttemptReport {
            delivery_id: id.into(),
            subscription: "s".into(),
            owner: "n".into(),
            attempt: 2,
            started_at: 1_000,
            duration_ms: 0,
            status_code: None,
            response_body: None,
            error: None,
            outcome: Outcome::Succeeded,
            disable_after: 0,
            disable_now: false,
        }
    }

    #[test]
    fn only_attempts_still_started_are_interrupted_and_due_at_once() {
        let started = Started::default();
        started.begin(report("a"));
        started.begin(report("b"));
        started.end("a");
        let cut = started.interrupt_all(4_000);
        assert_eq!(cut.len(), 1);
        let b = &cut[0];
        assert_eq!((b.delivery_id.as_str(), b.attempt, b.duration_ms), ("b", 2, 3_000));
        assert_eq!(b.outcome, Outcome::Retry { at: 4_000 });
        assert!(b.error.as_deref().is_some_and(|e| e.starts_with("interrupted")));
        assert!(started.interrupt_all(5_000).is_empty(), "each once");
    }
}
