//! What a bench run measured, and how it is shown: a table for people, one JSON object
//! for scripts.

use serde::Serialize;

use super::postgres::{Costs, Server, TableSize};

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
    /// Whether the subscriptions had `search_keys` (`--search-keys`).
    pub search_keys: bool,
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
    /// With a PostgreSQL store: what the server is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Server>,
    /// Every measured run in order (several with `--repeat`); the fields above are the first's.
    pub runs: Vec<Run>,
    /// With `--repeat`: how far the runs strayed from the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// With `--idle`: CPU used while nothing was posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<Idle>,
}

/// One measured run of `--repeat`.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub deliveries: u64,
    pub deliveries_expected: u64,
    pub events_failed: u64,
    pub deliveries_per_s: f64,
    pub p99_ms: Option<f64>,
    /// All nodes' CPU over the run, per delivery.
    pub hookshape_cpu_ms_per_delivery: f64,
    /// With PostgreSQL: the server's costs over the run, per delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Costs>,
    /// With PostgreSQL: the tables as the run left them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<TableSize>,
    /// With `--ceiling`: the ceiling measured just before this run (the first run's is the
    /// report's `ceiling_per_s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_per_s: Option<f64>,
    /// deliveries_per_s as a share of this run's own ceiling: what compares across runs
    /// while the machine's speed drifts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_ceiling: Option<f64>,
}

impl Run {
    /// This run with its own ceiling, and its share of it (none for a ceiling of 0).
    pub fn against(self, ceiling: Option<f64>) -> Self {
        let ratio = ceiling.filter(|c| *c > 0.0).map(|c| self.deliveries_per_s / c);
        Self { ceiling_per_s: ceiling, ratio_to_ceiling: ratio, ..self }
    }
}

/// The slowest and fastest run's deliveries/s as a share of the first's; with `--ceiling`,
/// the lowest and highest share of its own ceiling, also against the first's; on
/// PostgreSQL, the fewest and most buffers per delivery against the first's (work that
/// grows with bloat or deeper indexes and changes little with the machine's speed).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub min_vs_first: f64,
    pub max_vs_first: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_share_min_vs_first: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_share_max_vs_first: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_buffers_min_vs_first: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_buffers_max_vs_first: Option<f64>,
}

impl Spread {
    pub fn of(runs: &[Run]) -> Option<Self> {
        let (min_vs_first, max_vs_first) = min_max_vs_first(runs.iter().map(|r| Some(r.deliveries_per_s)))?;
        let shares = min_max_vs_first(runs.iter().map(|r| r.ratio_to_ceiling));
        let buffers = min_max_vs_first(runs.iter().map(|r| r.postgres.as_ref().map(|c| c.buffers_per_delivery)));
        Some(Self {
            min_vs_first,
            max_vs_first,
            ceiling_share_min_vs_first: shares.map(|s| s.0),
            ceiling_share_max_vs_first: shares.map(|s| s.1),
            postgres_buffers_min_vs_first: buffers.map(|b| b.0),
            postgres_buffers_max_vs_first: buffers.map(|b| b.1),
        })
    }
}

/// The smallest and largest value as a share of the first; None with fewer than two
/// values, any missing, or a first of 0.
fn min_max_vs_first(values: impl Iterator<Item = Option<f64>>) -> Option<(f64, f64)> {
    let values: Vec<f64> = values.collect::<Option<_>>()?;
    let first = *values.first()?;
    if values.len() < 2 || first <= 0.0 {
        return None;
    }
    let ratios = values.iter().map(|v| v / first);
    Some((ratios.clone().fold(f64::INFINITY, f64::min), ratios.fold(0.0, f64::max)))
}

/// CPU used while the nodes had nothing to do, as a share of one core.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Idle {
    pub seconds: f64,
    pub hookshape_core_share: f64,
    /// None when the server is not on this machine.
    pub postgres_core_share: Option<f64>,
}

impl Report {
    pub fn complete(&self) -> bool {
        let arrived = |failed: u64, arrived: u64, expected: u64| {
            failed == 0 && (self.deliveries_pending.is_some() || arrived >= expected)
        };
        arrived(self.events_failed, self.deliveries_arrived, self.deliveries_expected)
            && self.runs.iter().all(|r| arrived(r.events_failed, r.deliveries, r.deliveries_expected))
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "hookshape bench: {} events, fan-out {}{}, {} connections{}, store {}, {} node{}\n",
            self.events_posted,
            self.fan_out,
            if self.search_keys { " with search_keys" } else { "" },
            self.concurrency,
            self.rate.map(|r| format!(" at {r} events/s")).unwrap_or_default(),
            self.store,
            self.nodes,
            if self.nodes == 1 { "" } else { "s" },
        );
        let mut row = |name: &str, value: String| out.push_str(&format!("  {name:<26} {value}\n"));
        if let Some(pg) = &self.postgres {
            let setting = |name: &str| pg.settings.get(name).map_or("?", String::as_str);
            row(
                "postgres server",
                format!(
                    "{}, {}; autovacuum {}, synchronous_commit {}, shared_buffers {}, max_connections {}, fsync {}",
                    setting("server_version"),
                    if pg.local { "on this machine" } else { "not local" },
                    setting("autovacuum"),
                    setting("synchronous_commit"),
                    setting("shared_buffers"),
                    setting("max_connections"),
                    setting("fsync"),
                ),
            );
        }
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
        for (i, run) in self.runs.iter().enumerate() {
            if self.runs.len() > 1 || run.postgres.is_some() {
                run.rows(i + 1, &mut row);
            }
        }
        if let Some(s) = self.spread {
            let shares = against_first(
                "share of its own ceiling",
                ("lowest", "highest"),
                s.ceiling_share_min_vs_first.zip(s.ceiling_share_max_vs_first),
            );
            let buffers = against_first(
                "postgres buffers per delivery",
                ("fewest", "most"),
                s.postgres_buffers_min_vs_first.zip(s.postgres_buffers_max_vs_first),
            );
            row(
                "spread over the runs",
                format!(
                    "slowest {:+.1}%, fastest {:+.1}% of the first{shares}{buffers}",
                    pct(s.min_vs_first),
                    pct(s.max_vs_first)
                ),
            );
        }
        for p in self.console_pages.iter().flatten() {
            row("console page", format!("p50 {:.1} ms  max {:.1} ms  {} rows  {}", p.p50_ms, p.max_ms, p.rows, p.page));
        }
        if let Some(idle) = self.idle {
            let pg = idle.postgres_core_share.map_or("not local".into(), |s| format!("{:.2}% of a core", s * 100.0));
            row(
                "idle",
                format!(
                    "over {:.1} s: hookshape {:.2}% of a core, postgres {pg}",
                    idle.seconds,
                    idle.hookshape_core_share * 100.0
                ),
            );
        }
        out
    }
}

/// `; what: low …%, high …% of the first's`, for a spread that was measured (else nothing).
fn against_first(what: &str, (low, high): (&str, &str), spread: Option<(f64, f64)>) -> String {
    spread.map_or(String::new(), |(lo, hi)| {
        format!("; {what}: {low} {:+.1}%, {high} {:+.1}% of the first's", pct(lo), pct(hi))
    })
}

fn pct(ratio: f64) -> f64 {
    (ratio - 1.0) * 100.0
}

const MIB: f64 = 1024.0 * 1024.0;

impl Run {
    fn rows(&self, n: usize, row: &mut impl FnMut(&str, String)) {
        row(
            &format!("run {n}"),
            format!(
                "{:.0} deliveries/s ({}), p99 {}, hookshape CPU {:.3} ms/delivery{}",
                self.deliveries_per_s,
                self.deliveries,
                self.p99_ms.map_or("-".into(), |p| format!("{p:.2} ms")),
                self.hookshape_cpu_ms_per_delivery,
                self.ceiling_per_s
                    .zip(self.ratio_to_ceiling)
                    .map_or(String::new(), |(c, r)| format!(", {:.1}% of its ceiling of {c:.0} requests/s", r * 100.0)),
            ),
        );
        if let Some(c) = &self.postgres {
            row(
                "  postgres per delivery",
                format!(
                    "CPU {}, WAL {:.0} B{}, {:.1} buffers ({:.2} read), {:.2} transactions (whole database), \
                     {}tuples +{:.2} ~{:.2} -{:.2}",
                    c.cpu_ms_per_delivery.map_or("not local".into(), |ms| format!("{ms:.3} ms")),
                    c.wal_bytes_per_delivery,
                    c.wal_full_pages_per_delivery.map_or(String::new(), |p| format!(" ({p:.3} full pages)")),
                    c.buffers_per_delivery,
                    c.buffers_read_per_delivery,
                    c.transactions_per_delivery,
                    c.statements_per_delivery.map_or(String::new(), |s| format!("{s:.2} statements, ")),
                    c.tuples_inserted_per_delivery,
                    c.tuples_updated_per_delivery,
                    c.tuples_deleted_per_delivery,
                ),
            );
            if let Some(w) = &c.lock_waits {
                row(
                    "  postgres lock waits",
                    format!(
                        "{:.2}% of active backends' samples on a lock (at most {} at once), {:.2}% on an LWLock; {} samples",
                        w.lock_share() * 100.0,
                        w.most_waiting_lock,
                        w.lwlock_share() * 100.0,
                        w.samples
                    ),
                );
            }
            if let (Some(n), Some(per)) = (c.lease_skipped, c.lease_skipped_per_delivery) {
                row(
                    "  postgres SKIP LOCKED",
                    format!("{per:.4} misses per delivery ({n} due rows leases wanted and another node held)"),
                );
            }
        }
        for t in &self.sizes {
            row(
                &format!("  {}", t.table),
                format!(
                    "{:.1} MiB (table {:.1}, indexes {:.1}); {} live, {} dead tuples",
                    t.total_bytes as f64 / MIB,
                    t.table_bytes as f64 / MIB,
                    t.index_bytes as f64 / MIB,
                    t.live_tuples,
                    t.dead_tuples
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{against_first, Latency, Run, Spread};

    #[test]
    fn the_spread_is_the_slowest_and_fastest_run_against_the_first() {
        let run = |deliveries_per_s| Run {
            deliveries: 1,
            deliveries_expected: 1,
            events_failed: 0,
            deliveries_per_s,
            p99_ms: None,
            hookshape_cpu_ms_per_delivery: 0.0,
            postgres: None,
            sizes: Vec::new(),
            ceiling_per_s: None,
            ratio_to_ceiling: None,
        };
        let s = Spread::of(&[run(100.0), run(90.0), run(105.0)]).unwrap();
        assert_eq!((s.min_vs_first, s.max_vs_first), (0.9, 1.05));
        assert_eq!(s.ceiling_share_min_vs_first, None, "no ceiling, no spread of shares");
        assert!(Spread::of(&[run(100.0)]).is_none(), "one run has no spread");

        // Each run against its own ceiling: 100 of 400 (25%), 90 of 180 (50%), 105 of 420 (25%).
        let runs = [run(100.0).against(Some(400.0)), run(90.0).against(Some(180.0)), run(105.0).against(Some(420.0))];
        let s = Spread::of(&runs).unwrap();
        assert_eq!((s.ceiling_share_min_vs_first, s.ceiling_share_max_vs_first), (Some(1.0), Some(2.0)));
        assert!(runs[1].clone().against(Some(0.0)).ratio_to_ceiling.is_none(), "no share of a ceiling of 0");
        assert_eq!(s.postgres_buffers_min_vs_first, None, "no PostgreSQL, no spread of its buffers");

        // On PostgreSQL: the buffers per delivery of each run against the first's, whatever
        // the deliveries/s did meanwhile.
        let on_postgres = |deliveries_per_s, buffers| {
            let none = crate::cli::bench::postgres::Counters::default();
            let mut costs = crate::cli::bench::postgres::Costs::between(&none, &none, None, 1);
            costs.buffers_per_delivery = buffers;
            Run { postgres: Some(costs), ..run(deliveries_per_s) }
        };
        let s = Spread::of(&[on_postgres(100.0, 40.0), on_postgres(130.0, 38.0), on_postgres(80.0, 44.0)]).unwrap();
        assert_eq!((s.min_vs_first, s.max_vs_first), (0.8, 1.3));
        assert_eq!((s.postgres_buffers_min_vs_first, s.postgres_buffers_max_vs_first), (Some(0.95), Some(1.1)));
    }

    #[test]
    fn a_spread_reads_against_the_first_and_is_left_out_when_not_measured() {
        let said = against_first("buffers", ("fewest", "most"), Some((0.9, 1.05)));
        assert_eq!(said, "; buffers: fewest -10.0%, most +5.0% of the first's");
        assert_eq!(against_first("buffers", ("fewest", "most"), None), "");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::from_micros((1..=100).map(|ms| ms * 1000).collect()).unwrap();
        assert_eq!((l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.samples), (50.0, 90.0, 99.0, 100.0, 100));
        assert!(Latency::from_micros(Vec::new()).is_none());
    }
}
