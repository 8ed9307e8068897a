//! The node's clock for everything it stores and compares (lease expiry, retry times,
//! history): the wall clock read once, advanced by a steady clock, plus this node's
//! offset to the store's clock.
//!
//! Why not the wall clock each time: a wall-clock step (NTP, an operator) would move every
//! retry's due time with it, firing retries early. Why an offset: several nodes compare
//! each other's lease expiries and retry times in one table, so they must agree on "now";
//! a node 30 s ahead took other nodes' live leases as expired and sent their deliveries
//! again. PostgreSQL's heartbeat measures the offset every second
//! (`measured_against_store`); SQLite serves one process, whose own clock is the store's.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::LazyLock;

/// The wall clock at the first reading, and the steady clock's reading then.
static ANCHOR: LazyLock<(i64, i64)> = LazyLock::new(|| (chrono::Utc::now().timestamp_millis(), steady_ms()));
/// Added to the local reading to get the store's clock (0 until measured).
static STORE_OFFSET: AtomicI64 = AtomicI64::new(0);
/// A deliberate error in the local reading, for tests of clock skew (`serve --clock-skew-ms`).
static SKEW: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the Unix epoch on the store's clock, as well as this node knows it.
pub fn now_ms() -> i64 {
    local_ms().saturating_add(STORE_OFFSET.load(Ordering::Relaxed))
}

/// This node's own reading: the anchor advanced by the steady clock (plus a test skew).
pub fn local_ms() -> i64 {
    let (wall, at) = *ANCHOR;
    wall.saturating_add(steady_ms().saturating_sub(at)).saturating_add(SKEW.load(Ordering::Relaxed))
}

/// A clock no wall-clock step moves: Linux's CLOCK_BOOTTIME, which also counts time
/// suspended (CLOCK_MONOTONIC, std's `Instant`, does not: after a night suspended, every
/// time stored would be a night behind).
#[cfg(target_os = "linux")]
fn steady_ms() -> i64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    t.tv_sec.saturating_mul(1000).saturating_add(t.tv_nsec / 1_000_000)
}

#[cfg(not(target_os = "linux"))]
fn steady_ms() -> i64 {
    static START: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
    i64::try_from(START.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Readings of the store's clock taken over a round trip longer than this are not used:
/// the offset's error is up to half the round trip.
const MAX_ROUND_TRIP_MS: i64 = 1_000;

/// Adopts the store's clock: `store_ms` was read by the store between the local readings
/// `sent` and `answered`.
pub fn measured_against_store(sent: i64, store_ms: i64, answered: i64) {
    if let Some(offset) = offset_to_store(sent, store_ms, answered) {
        STORE_OFFSET.store(offset, Ordering::Relaxed);
    }
}

/// The store's time taken as its time at the midpoint of the round trip; None when the
/// round trip was too long (or the readings make no sense) to trust it.
fn offset_to_store(sent: i64, store_ms: i64, answered: i64) -> Option<i64> {
    let round_trip = answered.checked_sub(sent)?;
    (0..=MAX_ROUND_TRIP_MS).contains(&round_trip).then(|| store_ms.saturating_sub(sent.saturating_add(round_trip / 2)))
}

/// Makes this node's own clock read `ms` off (tests of clock skew between nodes only).
pub fn skew_for_tests(ms: i64) {
    SKEW.store(ms, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_the_stores_time_against_the_midpoint_of_a_short_round_trip_only() {
        // A node 30 s ahead: the store read 1,000,000 while the node read 1,030,000..1,030,010.
        assert_eq!(offset_to_store(1_030_000, 1_000_000, 1_030_010), Some(-30_005));
        assert_eq!(offset_to_store(1_000_000, 1_030_000, 1_000_000), Some(30_000), "a node behind");
        assert_eq!(offset_to_store(0, 5, 5_000), None, "a reading over seconds is too uncertain to use");
        assert_eq!(offset_to_store(10, 5, 0), None, "a reading taken backwards makes no sense");
    }

    #[test]
    fn the_local_clock_starts_at_the_wall_clock_and_moves_with_the_steady_one() {
        let wall = chrono::Utc::now().timestamp_millis();
        let first = local_ms();
        assert!((first - wall).abs() < 1_000, "{first} vs {wall}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(local_ms() >= first + 20);
    }
}
