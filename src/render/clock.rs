//! The clock templates read (`now()`): the real one, or an instant frozen for the
//! current thread, so a `hookshape test` case (`now: 2026-01-01T00:00:00Z`) renders the
//! same output every run; and likewise their `uuid()`, repeatable where two renders are
//! compared (`diff`), so a fresh id is no difference.

use std::cell::Cell;

use chrono::{DateTime, Utc};

thread_local! {
    /// Set only while `frozen` runs; deliveries never set it.
    static FROZEN: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
    /// Set only while `repeatable` runs: the next `uuid()` of its sequence.
    static UUIDS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// A random UUID, or inside `repeatable` the next of a sequence that starts again at each
/// `repeatable` (version 4 in form: `00000000-0000-4000-8000-000000000000`, then `…001`).
pub fn uuid() -> String {
    match UUIDS.with(|c| c.get()) {
        Some(n) => {
            UUIDS.with(|c| c.set(Some(n.wrapping_add(1))));
            uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n)).to_string()
        }
        None => uuid::Uuid::new_v4().to_string(),
    }
}

/// Runs `f` with `uuid()` answering the same sequence each time, then puts it back.
pub fn repeatable<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            UUIDS.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(UUIDS.with(|c| c.replace(Some(0))));
    f()
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

    #[test]
    fn uuids_repeat_inside_repeatable_and_are_random_outside() {
        let twice = || (uuid(), uuid());
        let (a, b) = (repeatable(twice), repeatable(twice));
        assert_eq!(a, b);
        assert_ne!(a.0, a.1);
        assert_eq!(a.0, "00000000-0000-4000-8000-000000000000");
        assert_ne!(uuid(), uuid(), "random again outside");
    }
}
