//! `hookshape bench`: a load test anyone can run to size a deployment. It starts
//! `hookshape serve` as a child process on a scratch store, a receiver on loopback and a
//! load generator posting to the real intake, waits until every delivery has arrived, and
//! reports throughput, end-to-end latency and the server's memory and CPU.

use crate::cli::output::{out, outln};
mod catalog;
mod console;
mod load;
mod locks;
mod postgres;
mod prefill;
mod rate;
mod receiver;
mod report;
mod server;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use load::{Limit, Load, Posted};
use receiver::Arrivals;
use report::{Latency, Report};
use server::{Node, NodeLog};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to post (default 10000 unless --duration is given).
    #[arg(long, conflicts_with = "duration")]
    events: Option<u64>,
    /// Post for this long instead of a number of events (e.g. 30s, 10m).
    #[arg(long)]
    duration: Option<String>,
    /// Connections posting at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Post at a fixed rate (events/s) instead of as fast as possible: for latency.
    #[arg(long)]
    rate: Option<f64>,
    /// Subscriptions matching each event.
    #[arg(long, default_value_t = 1)]
    fan_out: usize,
    /// The server's store (default: a new temporary SQLite file). Give a scratch database:
    /// the bench fills it.
    #[arg(long)]
    store: Option<String>,
    /// hookshape nodes sharing the store (more than one needs postgres://).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// First measure the same load (as fast as the connections allow, whatever --rate)
    /// sent straight to the receiver, and report hookshape's deliveries/s as a share of it.
    /// With --repeat, measured again before every run: each run's share is of its own
    /// ceiling, so runs compare even while the machine's speed drifts.
    #[arg(long)]
    ceiling: bool,
    /// Point deliveries at a closed port: intake and memory while the queue only grows.
    #[arg(long)]
    receiver_down: bool,
    /// Fairness: first put this many deliveries on a second subscription whose receiver
    /// hangs past its 10 s timeout (they keep retrying), then measure the load (for latency,
    /// with --rate) on the main subscription beside them.
    #[arg(long, value_name = "DELIVERIES")]
    slow_subscription: Option<u64>,
    /// Scale: before starting, fill the store's history with this many finished deliveries
    /// (on PostgreSQL spread over the run's subscriptions, each with its event and one
    /// attempt, finished over the 30 days before now, or before --prefill-age ago).
    #[arg(long, value_name = "DELIVERIES")]
    prefill: Option<u64>,
    /// PostgreSQL: make the prefilled history this much older (e.g. 31d), so nodes started
    /// with a shorter --retention prune all of it while the load runs.
    #[arg(long, value_name = "DURATION", requires = "prefill")]
    prefill_age: Option<String>,
    /// Passed on to the nodes: how long finished deliveries are kept (serve's default 30d).
    #[arg(long, value_name = "DURATION")]
    retention: Option<String>,
    /// Measure this many loads one after the other on the same store and nodes (the
    /// history grows), one row each and their spread against the first; with PostgreSQL
    /// each row also gives the tables' sizes and the server's costs per delivery, and the
    /// spread also compares its buffers per delivery, work the machine's speed changes little.
    #[arg(long, default_value_t = 1, value_name = "RUNS")]
    repeat: usize,
    /// After the load (and --console), leave the nodes with nothing to do for this long
    /// and report the CPU they and a local PostgreSQL used, as a share of one core.
    #[arg(long, value_name = "DURATION")]
    idle: Option<String>,
    /// After the load, time the console's pages (deliveries with filters, a history search
    /// by key, the overview) against the store as the run left it; with --prefill, against
    /// a long history.
    #[arg(long)]
    console: bool,
    /// Rate limit: give the subscriptions `rate_limit: {requests: N, per: PER}` (as N/PER,
    /// e.g. 100/10s), post ten times that rate for --duration (default 60s), and report
    /// the requests the receiver got in every window of PER against N.
    #[arg(long, value_name = "N/PER", conflicts_with_all = ["events", "ceiling", "receiver_down", "slow_subscription", "rate"])]
    rate_limit: Option<String>,
    /// Give the bench subscriptions `search_keys: [Customer.Id, Customer.Email]`: run with
    /// and without to see what indexing them costs intake.
    #[arg(long)]
    search_keys: bool,
    /// Give the bench's topic a catalog entry (topics/bench.yaml, a JSON Schema of its
    /// Payload) with this validation: run with and without to see what checking costs intake.
    #[arg(long, value_name = "VALIDATION", value_parser = ["off", "warn", "enforce"])]
    catalog: Option<String>,
    /// Write each node's log (serve-N.log, at `info`) into this directory and keep it, to
    /// read after a run that stalled or failed; without it the nodes log warnings only, into
    /// the temporary directory the bench removes.
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<std::path::PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn now_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

const SECRET: &str = "bench-secret";
/// With no delivery arriving for this long, the run is declared stuck.
const STALL: Duration = Duration::from_secs(60);

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rate_limit = a.rate_limit.as_deref().map(rate::Limit::parse).transpose()?;
    let limit = match (&a.duration, a.events) {
        (None, None) if rate_limit.is_some() => Limit::Duration(Duration::from_secs(60)),
        (Some(d), _) => Limit::Duration(crate::duration::parse(d).map_err(|e| anyhow::anyhow!("--duration: {e}"))?),
        (None, n) => Limit::Events(n.unwrap_or(10_000)),
    };
    if a.concurrency == 0 || a.fan_out == 0 || a.nodes == 0 || a.repeat == 0 {
        bail!("--concurrency, --fan-out, --nodes and --repeat must be at least 1");
    }
    if a.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be a positive number of events per second");
    }
    let idle = a.idle.as_deref().map(crate::duration::parse).transpose().map_err(|e| anyhow::anyhow!("--idle: {e}"))?;
    let prefill_age = a
        .prefill_age
        .as_deref()
        .map(crate::duration::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--prefill-age: {e}"))?;
    if let Some(r) = &a.retention {
        crate::duration::parse(r).map_err(|e| anyhow::anyhow!("--retention: {e}"))?;
    }
    let dir = tempfile::Builder::new().prefix("hookshape-bench-").tempdir().context("cannot create a temp dir")?;
    let store = a.store.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let on_postgres = store.starts_with("postgres");
    if a.nodes > 1 && !on_postgres {
        bail!("--nodes {} needs a shared store: give --store postgres://…", a.nodes);
    }
    if prefill_age.is_some() && !(on_postgres && a.prefill.is_some()) {
        bail!("--prefill-age ages the rows of --prefill on a PostgreSQL store: give both, and --store postgres://…");
    }
    let (receiver_addr, arrivals) = receiver::start().await?;
    let deliver_to = if a.receiver_down { closed_port()? } else { receiver_addr.to_string() };
    let mut extra = rate_limit.map(|r| r.yaml()).unwrap_or_default();
    if a.search_keys {
        extra.push_str("search_keys: [Customer.Id, Customer.Email]\n");
    }
    write_subscriptions(dir.path(), a.fan_out, &deliver_to, &extra)?;
    if let Some(validation) = &a.catalog {
        catalog::write_topic(dir.path(), validation)?;
    }
    if a.slow_subscription.is_some() {
        write_slow_subscription(dir.path(), &deliver_to)?;
    }
    if let Some(n) = a.prefill {
        if on_postgres {
            let age = prefill_age.unwrap_or_default();
            prefill::postgres_history(&store, n, a.fan_out, age).await?;
        } else {
            let Some(path) = store.strip_prefix("sqlite://") else {
                bail!("--prefill fills a SQLite or PostgreSQL store")
            };
            prefill::finished_history(std::path::Path::new(path), n)?;
        }
    }
    let probe = if on_postgres { Some(postgres::Probe::connect(&store).await?) } else { None };
    let server = match &probe {
        Some(p) => Some(p.server().await?),
        None => None,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;

    let ceiling = if a.ceiling {
        Some(measure_ceiling(&client, receiver_addr, a.concurrency, limit, &arrivals).await)
    } else {
        None
    };

    let started = Instant::now();
    let max_pending = 100_000_000;
    let mut nodes = Vec::with_capacity(a.nodes);
    if let Some(logs) = &a.keep_logs {
        std::fs::create_dir_all(logs).with_context(|| format!("cannot create {}", logs.display()))?;
    }
    for i in 0..a.nodes {
        let log = a.keep_logs.as_deref().map_or(NodeLog::Scratch, NodeLog::KeptIn);
        nodes.push(Node::start(dir.path(), i, &store, max_pending, a.retention.as_deref(), log).await?);
    }
    if let Some(n) = a.slow_subscription {
        hang_deliveries(&client, &nodes[0].base, n).await?;
    }
    if let (Some(rl), Limit::Duration(d)) = (rate_limit, limit) {
        let targets = nodes.iter().map(|n| format!("{}/v1/events", n.base)).collect();
        let load = Load { targets, concurrency: a.concurrency, limit, rate: Some(rl.overload_rate()) };
        let report = rate::measure(&client, load, rl, d, &arrivals).await;
        drop(nodes);
        let report = rate::Report { store: redact_store(&store, a.store.is_none()), nodes: a.nodes, ..report };
        if a.json {
            outln!("{}", serde_json::to_string(&report)?);
        } else {
            out!("{}", report.table());
        }
        return Ok(if report.events_failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let expect_per_event = if a.receiver_down { 0 } else { a.fan_out as u64 };
    let mut runs = Vec::with_capacity(a.repeat);
    let mut first = None;
    for n in 0..a.repeat {
        if n > 0 {
            arrivals.reset();
        }
        // The first run's ceiling was measured before the nodes started; every later one
        // gets its own, measured just before it (the nodes idle meanwhile).
        let run_ceiling = match ceiling {
            Some(c) if n == 0 => Some(c),
            Some(_) => Some(measure_ceiling(&client, receiver_addr, a.concurrency, limit, &arrivals).await),
            None => None,
        };
        let name =
            if a.repeat == 1 { "hookshape".to_string() } else { format!("hookshape run {}/{}", n + 1, a.repeat) };
        let (run, row) =
            measured_run(&client, &name, &mut nodes, &a, limit, expect_per_event, &arrivals, probe.as_ref()).await?;
        runs.push(row.against(run_ceiling.filter(|_| !a.receiver_down)));
        if first.is_none() {
            first = Some((run, arrivals.latencies()));
        }
    }
    let Some((run, latencies)) = first else { bail!("no run was measured") };
    let pending = if a.receiver_down { Some(pending_deliveries(&client, &nodes[0].base).await?) } else { None };
    let usage: Vec<server::Usage> = nodes.iter().map(Node::usage).collect();
    let console_pages = if a.console { Some(console::time_pages(&client, &nodes[0].base).await?) } else { None };
    let idle = match idle {
        Some(d) => Some(idle_use(&nodes, probe.as_ref(), d).await),
        None => None,
    };
    drop(nodes);

    let deliveries_per_s = run.arrived as f64 / run.delivery_seconds.max(1e-9);
    let report = Report {
        store: redact_store(&store, a.store.is_none()),
        nodes: a.nodes,
        fan_out: a.fan_out,
        search_keys: a.search_keys,
        concurrency: a.concurrency,
        rate: a.rate,
        events_posted: run.posted,
        events_accepted: run.accepted,
        events_failed: run.failed,
        first_error: run.first_error,
        events_accepted_per_s: run.accepted as f64 / run.intake_seconds.max(1e-9),
        deliveries_expected: run.accepted * a.fan_out as u64,
        deliveries_arrived: run.arrived,
        deliveries_pending: pending,
        deliveries_per_s,
        latency: Latency::from_micros(latencies),
        server_peak_rss_mib: usage.iter().map(|u| u.peak_rss_bytes).max().unwrap_or(0) as f64 / (1024.0 * 1024.0),
        server_cpu_s: usage.iter().map(|u| u.cpu_seconds).sum(),
        rss_timeline: run.rss_timeline,
        ceiling_per_s: ceiling,
        ratio_to_ceiling: ceiling.filter(|c| *c > 0.0 && pending.is_none()).map(|c| deliveries_per_s / c),
        seconds: started.elapsed().as_secs_f64(),
        console_pages,
        postgres: server,
        spread: report::Spread::of(&runs),
        runs,
        idle,
    };
    if a.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        out!("{}", report.table());
    }
    if !report.complete() {
        eprintln!(
            "hookshape bench: incomplete: {} events failed, {} of {} deliveries arrived",
            report.events_failed, report.deliveries_arrived, report.deliveries_expected
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The same load posted straight to the receiver, as fast as the connections allow (a
/// ceiling at --rate would just be the rate): requests/s with nothing in between.
async fn measure_ceiling(
    client: &reqwest::Client,
    receiver: std::net::SocketAddr,
    concurrency: usize,
    limit: Limit,
    arrivals: &Arc<Arrivals>,
) -> f64 {
    let target = format!("http://{receiver}/ceiling");
    let phase = Phase { name: "ceiling", targets: vec![target], rate: None, per_event: 1, pids: Vec::new() };
    let run = measure(client, phase, concurrency, limit, arrivals).await;
    arrivals.reset();
    run.arrived as f64 / run.delivery_seconds.max(1e-9)
}

/// One measured load against the running nodes, with what it cost them and the store.
#[allow(clippy::too_many_arguments)]
async fn measured_run(
    client: &reqwest::Client,
    name: &str,
    nodes: &mut [Node],
    a: &Args,
    limit: Limit,
    per_event: u64,
    arrivals: &Arc<Arrivals>,
    probe: Option<&postgres::Probe>,
) -> anyhow::Result<(Measured, report::Run)> {
    let nodes_cpu = |nodes: &[Node]| nodes.iter().map(|n| n.usage().cpu_seconds).sum::<f64>();
    let before = match probe {
        Some(p) => Some((p.counters().await?, p.cpu_seconds(), server::lease_skipped(nodes, client).await)),
        None => None,
    };
    let cpu_before = nodes_cpu(nodes);
    let targets = nodes.iter().map(|n| format!("{}/v1/events", n.base)).collect();
    let pids = nodes.iter().map(Node::pid).collect();
    let phase = Phase { name: "hookshape", targets, rate: a.rate, per_event, pids };
    if a.repeat > 1 {
        eprintln!("{name}");
    }
    // With PostgreSQL, lock waits are sampled while the load runs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let load = async {
        let run = measure(client, phase, a.concurrency, limit, arrivals).await;
        done.store(true, Ordering::Relaxed);
        run
    };
    let sampling = async {
        match probe {
            Some(p) => Some(locks::sample_until(p.client(), &done).await),
            None => None,
        }
    };
    let (run, lock_waits) = tokio::join!(load, sampling);
    let hookshape_cpu = nodes_cpu(nodes) - cpu_before;
    for node in nodes.iter_mut() {
        if !node.is_running() {
            bail!("hookshape serve stopped during the run:\n{}", node.log_tail());
        }
    }
    let deliveries = run.arrived;
    let (costs, sizes) = match (probe, before) {
        (Some(p), Some((counters, cpu, skipped))) => {
            let pg_cpu = p.cpu_seconds().zip(cpu).map(|(after, before)| after - before);
            // WAL and CPU are exact now; the statistics counters lag (see STATS_SETTLE).
            let wal_now = p.counters().await?;
            let skipped = server::lease_skipped(nodes, client).await.zip(skipped).map(|(a, b)| a.saturating_sub(b));
            tokio::time::sleep(postgres::STATS_SETTLE).await;
            let settled = p.counters().await?.with_wal_of(&wal_now);
            let costs = postgres::Costs {
                lock_waits,
                lease_skipped: skipped,
                lease_skipped_per_delivery: skipped.map(|n| n as f64 / deliveries.max(1) as f64),
                ..postgres::Costs::between(&counters, &settled, pg_cpu, deliveries)
            };
            (Some(costs), p.sizes().await?)
        }
        _ => (None, Vec::new()),
    };
    let row = report::Run {
        deliveries,
        deliveries_expected: run.accepted * per_event,
        events_failed: run.failed,
        deliveries_per_s: deliveries as f64 / run.delivery_seconds.max(1e-9),
        p99_ms: Latency::from_micros(arrivals.latencies()).map(|l| l.p99_ms),
        hookshape_cpu_ms_per_delivery: hookshape_cpu * 1000.0 / deliveries.max(1) as f64,
        postgres: costs,
        sizes,
        ceiling_per_s: None,
        ratio_to_ceiling: None,
    };
    Ok((run, row))
}

/// Leaves the nodes with nothing to do for `d` and measures the CPU they, and the
/// PostgreSQL server when it is on this machine, use meanwhile.
async fn idle_use(nodes: &[Node], probe: Option<&postgres::Probe>, d: Duration) -> report::Idle {
    let nodes_cpu = || nodes.iter().map(|n| n.usage().cpu_seconds).sum::<f64>();
    let pg_cpu = || probe.and_then(postgres::Probe::cpu_seconds);
    eprintln!("idle for {d:?}…");
    let (nodes_before, pg_before, started) = (nodes_cpu(), pg_cpu(), Instant::now());
    tokio::time::sleep(d).await;
    let seconds = started.elapsed().as_secs_f64();
    report::Idle {
        seconds,
        hookshape_core_share: (nodes_cpu() - nodes_before) / seconds,
        postgres_core_share: pg_cpu().zip(pg_before).map(|(after, before)| (after - before) / seconds),
    }
}

struct Measured {
    posted: u64,
    accepted: u64,
    failed: u64,
    first_error: Option<String>,
    arrived: u64,
    /// From the first POST to the last accepted answer.
    intake_seconds: f64,
    /// From the first POST to the last arrival at the receiver.
    delivery_seconds: f64,
    rss_timeline: Vec<report::RssSample>,
}

/// One load against one system: hookshape's nodes, or the receiver alone.
struct Phase {
    name: &'static str,
    targets: Vec<String>,
    rate: Option<f64>,
    /// Arrivals expected per accepted event.
    per_event: u64,
    /// Processes whose memory is sampled while the load runs.
    pids: Vec<u32>,
}

/// How often the server's memory is sampled for the timeline.
const RSS_EVERY: Duration = Duration::from_secs(10);

/// Runs a phase's load and waits for its arrivals, showing progress on stderr and
/// sampling the server's memory.
async fn measure(
    client: &reqwest::Client,
    phase: Phase,
    concurrency: usize,
    limit: Limit,
    arrivals: &Arc<Arrivals>,
) -> Measured {
    let posted = Arc::new(Posted::default());
    let load = Load { targets: phase.targets, concurrency, limit, rate: phase.rate };
    let start = now_micros();
    let generator = tokio::spawn(load::run(client.clone(), load, posted.clone()));
    let progress = Progress::new(phase.name, limit);
    let (mut last_count, mut last_change) = (0, Instant::now());
    let mut rss_timeline = Vec::new();
    let mut next_sample = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done = posted.done.load(Ordering::Relaxed);
        let accepted = posted.accepted.load(Ordering::Relaxed);
        let arrived = arrivals.count.load(Ordering::Relaxed);
        progress.show(&posted, arrived, accepted * phase.per_event);
        if !phase.pids.is_empty() && Instant::now() >= next_sample {
            next_sample += RSS_EVERY;
            let bytes: u64 = phase.pids.iter().map(|p| server::usage_of(*p).rss_bytes).sum();
            let seconds = progress.started.elapsed().as_secs_f64();
            rss_timeline.push(report::RssSample { seconds, mib: bytes as f64 / (1024.0 * 1024.0) });
        }
        if arrived != last_count {
            (last_count, last_change) = (arrived, Instant::now());
        }
        if done && arrived >= accepted * phase.per_event {
            break;
        }
        if done && last_change.elapsed() > STALL {
            eprintln!("\n{}: no delivery arrived for {} s; giving up", phase.name, STALL.as_secs());
            break;
        }
    }
    let _ = generator.await;
    progress.finish();
    let micros = |t: u64| t.saturating_sub(start) as f64 / 1e6;
    Measured {
        posted: posted.sent.load(Ordering::Relaxed),
        accepted: posted.accepted.load(Ordering::Relaxed),
        failed: posted.failed.load(Ordering::Relaxed),
        first_error: posted.first_error.lock().ok().and_then(|e| e.clone()),
        arrived: arrivals.count.load(Ordering::Relaxed),
        intake_seconds: micros(posted.last_ok_at.load(Ordering::Relaxed)),
        delivery_seconds: micros(arrivals.last_at.load(Ordering::Relaxed)),
        rss_timeline,
    }
}

/// One progress line on stderr: rewritten in place on a terminal, a line every 2 s else.
struct Progress {
    phase: String,
    total: Option<u64>,
    started: Instant,
    terminal: bool,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(phase: &str, limit: Limit) -> Self {
        let total = match limit {
            Limit::Events(n) => Some(n),
            Limit::Duration(_) => None,
        };
        let terminal = std::io::stderr().is_terminal();
        let last_line = std::sync::Mutex::new(Instant::now());
        Self { phase: phase.into(), total, started: Instant::now(), terminal, last_line }
    }

    fn show(&self, posted: &Posted, arrived: u64, expected: u64) {
        let accepted = posted.accepted.load(Ordering::Relaxed);
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        let line = format!(
            "{:>6.1}s {}: {accepted}{of} events accepted, {} failed, {arrived}/{expected} delivered",
            self.started.elapsed().as_secs_f64(),
            self.phase,
            posted.failed.load(Ordering::Relaxed),
        );
        let mut stderr = std::io::stderr();
        if self.terminal {
            let _ = write!(stderr, "\r{line}\x1b[K");
        } else if let Ok(mut last) = self.last_line.lock() {
            if last.elapsed() >= Duration::from_secs(2) {
                *last = Instant::now();
                let _ = writeln!(stderr, "{line}");
            }
        }
    }

    fn finish(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `fan_out` subscriptions to the receiver, each with a structured body, a templated URL
/// carrying the event's send time (for latency) and an HMAC signature: the common case.
/// `extra` is added to each (the rate-limit scenario's `rate_limit`, `--search-keys`'
/// `search_keys`).
fn write_subscriptions(dir: &std::path::Path, fan_out: usize, host: &str, extra: &str) -> anyhow::Result<()> {
    let subs = dir.join("subscriptions");
    std::fs::create_dir_all(&subs)?;
    std::fs::create_dir_all(dir.join("templates"))?;
    for k in 0..fan_out {
        let yaml = format!(
            "topics: [bench.event]\n\
             request:\n  url: \"http://{host}/r/{k}/{{{{ Customer.Id }}}}?t={{{{ SentAt }}}}\"\n  timeout: 5s\n  body:\n    \
             customer_id: \"{{{{ Customer.Id }}}}\"\n    name: \"{{{{ Customer.Name }}}}\"\n    points: \"{{{{ Points }}}}\"\n    \
             store: \"{{{{ Store.Id }}}}\"\n    items: \"{{{{ Items | length }}}}\"\n    event_id: \"{{{{ Uuid }}}}\"\n\
             signature:\n  scheme: hmac-sha256-hex\n  secret: {SECRET}\n\
             retry:\n  schedule: [1s, 5s, 30s]\n{extra}"
        );
        std::fs::write(subs.join(format!("bench-{k}.yaml")), yaml)?;
    }
    Ok(())
}

/// The fairness scenario's second subscription: its receiver path hangs past the timeout.
fn write_slow_subscription(dir: &std::path::Path, host: &str) -> anyhow::Result<()> {
    let yaml = format!(
        "topics: [bench.slow]\nrequest:\n  url: \"http://{host}{}/{{{{ N }}}}\"\n  timeout: 10s\n\
         retry:\n  schedule: [1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]\n",
        receiver::HANG_PATH
    );
    std::fs::write(dir.join("subscriptions").join("slow.yaml"), yaml)?;
    Ok(())
}

/// Posts `n` events for the slow subscription and waits until they hang at the receiver.
async fn hang_deliveries(client: &reqwest::Client, base: &str, n: u64) -> anyhow::Result<()> {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<serde_json::Value> =
            chunk.iter().map(|i| serde_json::json!({ "Topic": "bench.slow", "Payload": { "N": i } })).collect();
        let resp = client.post(format!("{base}/v1/events/batch")).json(&batch).send().await?;
        if !resp.status().is_success() {
            bail!("posting the slow subscription's events: {}", resp.status());
        }
    }
    // Long enough for the dispatcher to have sent all it will to the hanging receiver.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// A loopback address where nothing listens (bound, then released).
fn closed_port() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// Deliveries not yet finished, from the admin API's live counts.
async fn pending_deliveries(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let subs: serde_json::Value = client.get(format!("{base}/v1/subscriptions")).send().await?.json().await?;
    let list = subs["subscriptions"].as_array().or_else(|| subs.as_array()).cloned().unwrap_or_default();
    Ok(list.iter().map(|s| ["pending", "in_flight"].iter().filter_map(|k| s["counts"][k].as_u64()).sum::<u64>()).sum())
}

/// The store as shown in the report: never a password.
fn redact_store(store: &str, temporary: bool) -> String {
    if temporary {
        return "sqlite (temporary file)".into();
    }
    match url::Url::parse(store) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => store.to_string(),
    }
}
