//! The clock templates read (`now()`): the real one, or an instant frozen for the
//! current thread, so a `hookshape test` case (`now: 2026-01-01T00:00:00Z`) renders the
//! same output every run.

use std::cell::Cell;

use chrono::{DateTime, Utc};

thread_local! {
    /// Set only while `frozen` runs; deliveries never set it.
    static FROZEN: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
}

/// The current time, or the frozen instant inside `frozen`.
pub fn now() -> DateTime<Utc> {
    FROZEN.with(Cell::get).unwrap_or_else(Utc::now)
}

/// Runs `f` with `now()` answering `at` on this thread (the real clock when `at` is None),
/// then puts the clock back, even if `f` panics.
pub fn frozen<T>(at: Option<DateTime<Utc>>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<DateTime<Utc>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FROZEN.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FROZEN.with(|c| c.replace(at.or_else(|| c.get()))));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_answers_its_instant_and_is_put_back() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(frozen(Some(at), now), at);
        assert_ne!(now(), at, "the real clock is back");
    }
}
