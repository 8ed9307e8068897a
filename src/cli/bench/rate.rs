//! `hookshape bench --rate-limit N/PER`: the subscription gets `rate_limit: {requests: N,
//! per: PER}`, events are posted at ten times that rate for the run's duration, and the
//! report counts the requests the receiver got in every window of PER against N: what a
//! CRM counting its quota would see.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::load::{Load, Posted};
use super::receiver::Arrivals;

/// How many times the limit the load posts.
pub const OVERLOAD: f64 = 10.0;

/// `N/PER` as the flag takes it (`100/10s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub requests: u32,
    pub per: Duration,
}

impl Limit {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (n, per) =
            text.split_once('/').ok_or_else(|| anyhow::anyhow!("--rate-limit: expected N/PER, like 100/10s"))?;
        let raw = crate::subscription::raw::RawRateLimit {
            requests: n.trim().parse().map_err(|_| anyhow::anyhow!("--rate-limit: {n:?} is not a whole number"))?,
            per: per.into(),
        };
        let limit =
            crate::subscription::rate_limit::compile(&raw).map_err(|(_, m)| anyhow::anyhow!("--rate-limit: {m}"))?;
        Ok(Self { requests: limit.requests, per: limit.per })
    }

    /// Events per second the load posts: ten times the limit.
    pub fn overload_rate(&self) -> f64 {
        OVERLOAD * f64::from(self.requests) / self.per.as_secs_f64()
    }

    /// The line added to each bench subscription.
    pub fn yaml(&self) -> String {
        format!("rate_limit: {{requests: {}, per: {}}}\n", self.requests, crate::duration::format(self.per))
    }
}

/// The scenario's report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub store: String,
    pub nodes: usize,
    /// Events per second posted: ten times the limit.
    pub events_per_s: f64,
    pub events_accepted: u64,
    pub events_failed: u64,
    pub first_error: Option<String>,
    /// Requests that arrived while measuring (the rest waits in the store: not dropped).
    pub requests_arrived: u64,
    pub windows: Windows,
}

impl Report {
    pub fn table(&self) -> String {
        format!(
            "store                 {}
nodes                 {}
posted                {:.1} events/s, {} accepted, {} failed
{}",
            self.store,
            self.nodes,
            self.events_per_s,
            self.events_accepted,
            self.events_failed,
            self.windows.table()
        )
    }
}

/// Posts `load` (ten times `limit`) for `duration`, then counts what arrived in `duration`
/// from the first arrival. `store` and `nodes` are left for the caller to fill in.
pub async fn measure(
    client: &reqwest::Client,
    load: Load,
    limit: Limit,
    duration: Duration,
    arrivals: &Arc<Arrivals>,
) -> Report {
    let posted = Arc::new(Posted::default());
    let events_per_s = load.rate.unwrap_or_default();
    eprintln!(
        "posting {events_per_s:.1} events/s for {duration:?} against a limit of {}/{:?}…",
        limit.requests, limit.per
    );
    let _ = super::load::run(client.clone(), load, posted.clone()).await;
    // Arrivals go on at the limit's pace: measure a whole `duration` from the first.
    let waiting = std::time::Instant::now();
    loop {
        let first = arrivals.times().into_iter().min();
        if first.is_none() && waiting.elapsed() > super::STALL {
            eprintln!("no request arrived for {} s; giving up", super::STALL.as_secs());
            break;
        }
        let until = first.map(|f| f + duration.as_micros() as u64 + 100_000);
        if until.is_some_and(|u| super::now_micros() >= u) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let windows = Windows::count(limit, &arrivals.times(), duration);
    Report {
        store: String::new(),
        nodes: 0,
        events_per_s,
        events_accepted: posted.accepted.load(Ordering::Relaxed),
        events_failed: posted.failed.load(Ordering::Relaxed),
        first_error: posted.first_error.lock().ok().and_then(|e| e.clone()),
        requests_arrived: windows.per_window.iter().sum(),
        windows,
    }
}

/// What the receiver got, window by window.
#[derive(Debug, Serialize)]
pub struct Windows {
    pub limit_requests: u32,
    pub limit_per_s: f64,
    /// The stretch measured: from the first arrival, whole windows only.
    pub measured_s: f64,
    /// Requests in each consecutive window of PER.
    pub per_window: Vec<u64>,
    /// The most requests in any window of PER, wherever it starts (the rolling count).
    pub fullest_rolling_window: u64,
    /// Requests in the stretch measured against the limit's N per window: 1.0 is exact.
    pub accuracy: f64,
}

impl Windows {
    /// Counts `arrivals` (µs since the epoch) against `limit` over `span` from the first.
    pub fn count(limit: Limit, arrivals: &[u64], span: Duration) -> Self {
        let mut times = arrivals.to_vec();
        times.sort_unstable();
        let per_us = limit.per.as_micros() as u64;
        let whole = (span.as_micros() as u64 / per_us).max(1);
        let first = times.first().copied().unwrap_or(0);
        let end = first + whole * per_us;
        let inside: Vec<u64> = times.into_iter().filter(|t| *t < end).collect();
        let mut per_window = vec![0u64; whole as usize];
        for t in &inside {
            per_window[((t - first) / per_us) as usize] += 1;
        }
        let (mut fullest, mut start) = (0usize, 0usize);
        for i in 0..inside.len() {
            while inside[i] - inside[start] >= per_us {
                start += 1;
            }
            fullest = fullest.max(i - start + 1);
        }
        let expected = whole as f64 * f64::from(limit.requests);
        Self {
            limit_requests: limit.requests,
            limit_per_s: limit.per.as_secs_f64(),
            measured_s: (whole * per_us) as f64 / 1e6,
            accuracy: inside.len() as f64 / expected,
            per_window,
            fullest_rolling_window: fullest as u64,
        }
    }

    pub fn table(&self) -> String {
        let per = crate::duration::format(Duration::from_secs_f64(self.limit_per_s));
        let windows: Vec<String> = self.per_window.iter().map(u64::to_string).collect();
        format!(
            "rate limit            {}/{per}\n\
             measured              {:.0} s ({} windows)\n\
             requests per window   {}\n\
             fullest rolling window {}\n\
             sent / limit          {:.3}\n",
            self.limit_requests,
            self.measured_s,
            self.per_window.len(),
            windows.join(" "),
            self.fullest_rolling_window,
            self.accuracy,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_parses_and_windows_count_what_arrived() {
        let limit = Limit::parse("10/1s").unwrap();
        assert_eq!(limit, Limit { requests: 10, per: Duration::from_secs(1) });
        assert_eq!(limit.overload_rate(), 100.0);
        assert_eq!(limit.yaml(), "rate_limit: {requests: 10, per: 1s}\n");
        assert!(Limit::parse("0/1s").is_err() && Limit::parse("10").is_err() && Limit::parse("x/1s").is_err());
        // Ten a second for three seconds, one every 100 ms; one late arrival after the span.
        let arrivals: Vec<u64> = (0..30).map(|i| 5_000_000 + i * 100_000).chain([9_000_000]).collect();
        let w = Windows::count(limit, &arrivals, Duration::from_millis(3_500));
        assert_eq!(w.per_window, vec![10, 10, 10]);
        assert_eq!((w.fullest_rolling_window, w.accuracy, w.measured_s), (10, 1.0, 3.0));
    }
}
