//! `rate_limit: {requests, per}` compiled: the pacing interval between requests, the limits
//! a file may set, and how many deliveries may be leased at once while they wait their turn.

use std::time::Duration;

use super::raw::RawRateLimit;

/// More requests per window than any quota we know of: a larger number is a typo.
pub const MAX_REQUESTS: i64 = 1_000_000;
/// The longest window: monthly quotas are the longest CRMs count.
pub const MAX_PER: Duration = Duration::from_secs(31 * 86_400);
/// The fastest pace: one request per millisecond (the store's clock counts milliseconds).
pub const MIN_INTERVAL_US: u64 = 1_000;
/// How far ahead of its turn a delivery may be leased: a quarter of what a lease leaves to
/// start an attempt (`store::SEND_WITHIN_MS`), so that a delivery leased does not wait past
/// that even when the node falls seconds behind (one that does is not sent: its lease
/// must expire before it is leased again, and meanwhile it holds a place under the cap).
pub const LEASE_AHEAD: Duration = Duration::from_secs(1);
/// How late a turn may still be used, at most (a node that wakes later lets it go) and at
/// least (the clock counts milliseconds).
pub const LATE_OK_MAX_US: u64 = 50_000;
pub const LATE_OK_MIN_US: u64 = 5_000;
/// What a turn's use may add to its lateness: the queue keeps a turn to the end of the
/// millisecond it must be used by.
pub const ROUNDING_US: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl RateLimit {
    /// The spacing between two turns, in microseconds: `per / requests`, and the lateness
    /// a turn may be used with (`late_ok_us`) spread over them, so that `requests + 1` sends
    /// span at least `per` even when the first is late and the last is not: any window of
    /// length `per` holds at most `requests` of them, wherever it starts. (Spaced exactly
    /// `per / requests`, a late turn then an on-time one fitted one too many into a window
    /// a few milliseconds short of `per`.)
    pub fn interval_us(&self) -> u64 {
        let spread = self.per.as_micros() as u64 + self.late_ok_us() + ROUNDING_US;
        spread.div_ceil(u64::from(self.requests.max(1))).max(MIN_INTERVAL_US)
    }

    /// `per / requests`, in microseconds.
    fn pace_us(&self) -> u64 {
        self.per.as_micros() as u64 / u64::from(self.requests.max(1))
    }

    /// How late a turn may still be used: half the plain pace, within
    /// `LATE_OK_MIN_US..=LATE_OK_MAX_US`; later, it is let go (never used in a burst with
    /// the next).
    pub fn late_ok_us(&self) -> u64 {
        (self.pace_us() / 2).clamp(LATE_OK_MIN_US, LATE_OK_MAX_US)
    }

    /// How many of its deliveries may be leased at once, across all nodes: those sent within
    /// `LEASE_AHEAD` at this pace. More would wait for their turn while their leases ran out.
    /// (Counted at the plain pace: the few milliseconds a turn's lateness adds to the
    /// interval would halve the cap of a limit of one a second.)
    pub fn lease_cap(&self) -> u32 {
        let ahead = LEASE_AHEAD.as_micros() as u64 / self.pace_us().max(MIN_INTERVAL_US);
        u32::try_from(ahead.saturating_add(1)).unwrap_or(u32::MAX)
    }
}

/// Checks the file's values; the error names the field (the caller adds its line).
pub fn compile(raw: &RawRateLimit) -> Result<RateLimit, (&'static str, String)> {
    if raw.requests < 1 || raw.requests > MAX_REQUESTS {
        let message = format!("must be between 1 and {MAX_REQUESTS}, not {}", raw.requests);
        return Err(("rate_limit.requests", message));
    }
    let per = crate::duration::parse(&raw.per).map_err(|e| ("rate_limit.per", e))?;
    if per.is_zero() || per > MAX_PER {
        return Err(("rate_limit.per", format!("must be more than 0 and at most 31d, not {}", raw.per.trim())));
    }
    let limit = RateLimit { requests: raw.requests as u32, per };
    if (per.as_micros() as u64) / u64::from(limit.requests) < MIN_INTERVAL_US {
        let message = format!("{} requests per {} is more than one a millisecond", raw.requests, raw.per.trim());
        return Err(("rate_limit.requests", message));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(requests: i64, per: &str) -> Result<(u64, u32), String> {
        compile(&RawRateLimit { requests, per: per.into() })
            .map(|l| (l.interval_us(), l.lease_cap()))
            .map_err(|(field, m)| format!("{field}: {m}"))
    }

    #[test]
    fn one_more_than_the_limit_spans_at_least_per_however_late_the_first_turn_is_used() {
        for (requests, per) in [(5, "5s"), (12, "1m"), (20, "2s"), (1000, "1s"), (1, "5s"), (3, "1s"), (7, "31d")] {
            let l = compile(&RawRateLimit { requests, per: per.into() }).unwrap();
            // The first of requests + 1 turns used as late as allowed (to the end of its last
            // millisecond), the last on time.
            let span = u64::from(l.requests) * l.interval_us() - l.late_ok_us() - ROUNDING_US;
            assert!(span >= l.per.as_micros() as u64, "{requests} per {per}: {span} µs");
        }
    }

    #[test]
    fn the_pace_is_per_divided_by_requests_and_absurd_values_are_refused() {
        // The pace, and the lateness a turn may be used with (at most 50 ms) spread over it.
        assert_eq!(check(20, "2s"), Ok((102_550, 11)));
        assert_eq!(check(100, "10s"), Ok((100_510, 11)));
        assert_eq!(check(1, "1m"), Ok((60_051_000, 1)));
        assert_eq!(check(3, "1s"), Ok((350_334, 4)));
        assert_eq!(check(1000, "1s"), Ok((1_006, 1_001)));
        assert_eq!(check(60, "1m"), Ok((1_000_850, 2)), "one a second keeps the next leased ahead");
        let refused = [
            (0, "1s", "rate_limit.requests: must be between 1 and 1000000, not 0"),
            (-5, "1s", "rate_limit.requests: must be between 1 and 1000000, not -5"),
            (2_000_000, "1d", "rate_limit.requests: must be between 1 and 1000000, not 2000000"),
            (10, "0s", "rate_limit.per: must be more than 0 and at most 31d, not 0s"),
            (10, "32d", "rate_limit.per: must be more than 0 and at most 31d, not 32d"),
            (5000, "1s", "rate_limit.requests: 5000 requests per 1s is more than one a millisecond"),
        ];
        for (requests, per, message) in refused {
            assert_eq!(check(requests, per), Err(message.to_string()), "{requests} per {per}");
        }
        assert!(check(10, "soon").unwrap_err().starts_with("rate_limit.per: invalid duration"));
    }
}
