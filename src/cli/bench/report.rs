//! What a bench run measured, and how it is shown: a table for people, one JSON object
//! for scripts.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Latency {
    /// Percentiles by nearest rank over microsecond samples.
    pub fn from_micros(mut samples: Vec<u32>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            f64::from(samples[rank - 1]) / 1000.0
        };
        Some(Self { p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0), samples: samples.len() })
    }
}

/// The server's resident memory at one moment of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    pub seconds: f64,
    pub mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub store: String,
    pub nodes: usize,
    pub fan_out: usize,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub events_posted: u64,
    pub events_accepted: u64,
    pub events_failed: u64,
    pub first_error: Option<String>,
    pub events_accepted_per_s: f64,
    pub deliveries_expected: u64,
    pub deliveries_arrived: u64,
    /// Deliveries still in the store when the run ended (with `--receiver-down`).
    pub deliveries_pending: Option<u64>,
    pub deliveries_per_s: f64,
    pub latency: Option<Latency>,
    pub server_peak_rss_mib: f64,
    /// RSS every 10 s of the load (all nodes together), to show it stays flat.
    pub rss_timeline: Vec<RssSample>,
    pub server_cpu_s: f64,
    /// Requests/s the same load generator and receiver manage with nothing in between.
    pub ceiling_per_s: Option<f64>,
    /// deliveries_per_s as a share of the ceiling.
    pub ratio_to_ceiling: Option<f64>,
    pub seconds: f64,
    /// With `--console`: how long each console page took to answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_pages: Option<Vec<super::console::PageTiming>>,
}

impl Report {
    pub fn complete(&self) -> bool {
        self.events_failed == 0
            && (self.deliveries_pending.is_some() || self.deliveries_arrived >= self.deliveries_expected)
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "hookshape bench: {} events, fan-out {}, {} connections{}, store {}, {} node{}\n",
            self.events_posted,
            self.fan_out,
            self.concurrency,
            self.rate.map(|r| format!(" at {r} events/s")).unwrap_or_default(),
            self.store,
            self.nodes,
            if self.nodes == 1 { "" } else { "s" },
        );
        let mut row = |name: &str, value: String| out.push_str(&format!("  {name:<26} {value}\n"));
        row(
            "events accepted/s",
            format!(
                "{:.0} ({} accepted, {} failed)",
                self.events_accepted_per_s, self.events_accepted, self.events_failed
            ),
        );
        match self.deliveries_pending {
            Some(pending) => row("deliveries pending", pending.to_string()),
            None => row(
                "deliveries/s at receiver",
                format!(
                    "{:.0} ({} of {} arrived)",
                    self.deliveries_per_s, self.deliveries_arrived, self.deliveries_expected
                ),
            ),
        }
        if let (Some(ceiling), Some(ratio)) = (self.ceiling_per_s, self.ratio_to_ceiling) {
            row("ceiling (no hookshape)", format!("{ceiling:.0} requests/s; hookshape = {:.1}% of it", ratio * 100.0));
        }
        if let Some(l) = &self.latency {
            row(
                "end-to-end latency",
                format!(
                    "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
                ),
            );
        }
        row("server peak RSS", format!("{:.1} MiB", self.server_peak_rss_mib));
        if let [first, .., last] = self.rss_timeline.as_slice() {
            row(
                "server RSS over the run",
                format!("{:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s", first.mib, first.seconds, last.mib, last.seconds),
            );
        }
        row("server CPU", format!("{:.2} s over {:.1} s", self.server_cpu_s, self.seconds));
        if let Some(e) = &self.first_error {
            row("first error", e.clone());
        }
        for p in self.console_pages.iter().flatten() {
            row("console page", format!("p50 {:.1} ms  max {:.1} ms  {} rows  {}", p.p50_ms, p.max_ms, p.rows, p.page));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Latency;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::from_micros((1..=100).map(|ms| ms * 1000).collect()).unwrap();
        assert_eq!((l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.samples), (50.0, 90.0, 99.0, 100.0, 100));
        assert!(Latency::from_micros(Vec::new()).is_none());
    }
}
