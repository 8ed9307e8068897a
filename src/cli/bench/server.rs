//! The hookshape under test: `serve` child processes of this same binary, each with its own
//! log file, and their peak memory and CPU time read from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct Node {
    child: Child,
    pub base: String,
    log: PathBuf,
}

/// Resource use of a process so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub cpu_seconds: f64,
}

/// Where a node's log goes, and how much of it.
#[derive(Debug, Clone, Copy)]
pub enum NodeLog<'a> {
    /// Warnings only, beside the bench's scratch files (removed with them).
    Scratch,
    /// Everything at `info`, into a directory that outlives the run (`bench --keep-logs`).
    KeptIn(&'a Path),
}

impl Node {
    /// Starts `hookshape serve` on a free loopback port, in `dir` (so no stray
    /// hookshape.yaml or environment is picked up), and waits until it answers.
    /// `retention`, when given, is passed on as `--retention`.
    pub async fn start(
        dir: &Path,
        index: usize,
        store: &str,
        max_pending: u64,
        retention: Option<&str>,
        log_to: NodeLog<'_>,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let (log_dir, level) = match log_to {
            NodeLog::Scratch => (dir, "warn"),
            NodeLog::KeptIn(kept) => (kept, "info"),
        };
        let log = log_dir.join(format!("serve-{index}.log"));
        let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(std::env::current_exe()?)
            .current_dir(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store", store])
            .arg("--subscriptions")
            .arg(dir.join("subscriptions"))
            .arg("--templates")
            .arg(dir.join("templates"))
            .args(["--max-pending", &max_pending.to_string()])
            .args(retention.map(|r| ["--retention", r]).into_iter().flatten())
            .env("HOOKSHAPE_LOG", level)
            .env_remove("HOOKSHAPE_CONFIG")
            .env_remove("HOOKSHAPE_INTAKE_TOKEN")
            .env_remove("HOOKSHAPE_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("cannot start hookshape serve")?;
        let mut node = Self { child, base: format!("http://127.0.0.1:{port}"), log };
        node.wait_ready().await?;
        Ok(node)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("hookshape serve exited ({status}) at start:\n{}", self.log_tail());
            }
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("hookshape serve did not become ready within 30 s:\n{}", self.log_tail())
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn usage(&self) -> Usage {
        usage_of(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This node's `hookshape_lease_skipped_total` (its leases' `SKIP LOCKED` misses so
    /// far), from its /metrics; None when it cannot be read.
    pub async fn lease_skipped(&self, client: &reqwest::Client) -> Option<u64> {
        let resp = client.get(format!("{}/metrics", self.base)).send().await.ok()?;
        counter_value(&resp.text().await.ok()?, "hookshape_lease_skipped_total")
    }
}

/// The `lease_skipped` of every node summed; None when any cannot be read.
pub async fn lease_skipped(nodes: &[Node], client: &reqwest::Client) -> Option<u64> {
    let mut total = 0;
    for node in nodes {
        total += node.lease_skipped(client).await?;
    }
    Some(total)
}

/// The value of an unlabelled counter in Prometheus' text format.
fn counter_value(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    let value: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(value.max(0.0) as u64)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RSS now (`VmRSS`), peak RSS (`VmHWM`) and user + system CPU time of a process; zeros
/// where /proc is absent.
pub fn usage_of(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    Usage { rss_bytes: kib("VmRSS:") * 1024, peak_rss_bytes: kib("VmHWM:") * 1024, cpu_seconds: cpu_seconds(&stat) }
}

/// Linux reports CPU time to user space in clock ticks of 1/100 s.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime from a /proc/PID/stat line, in seconds.
fn cpu_seconds(stat: &str) -> f64 {
    (stat_field(stat, 14).unwrap_or(0) + stat_field(stat, 15).unwrap_or(0)) as f64 / TICKS_PER_SECOND
}

/// Numeric field `n` (numbered from 1, as in proc(5): 4 is the parent's pid, 14 utime) of
/// a /proc/PID/stat line; fields 1 and 2 are not numeric fields here.
pub fn stat_field(stat: &str, n: usize) -> Option<u64> {
    // The command name (field 2) may hold spaces; the fields after its ')' are plain,
    // starting with field 3 (state).
    let rest = stat.rfind(')').map(|i| &stat[i + 1..])?;
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        let stat = "42 (hook shape) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 9 20 0 4 0 100 0 0";
        assert_eq!(super::cpu_seconds(stat), 3.0);
        assert_eq!((super::stat_field(stat, 4), super::stat_field(stat, 16)), (Some(1), Some(7)));
        assert_eq!(super::stat_field(stat, 2), None);
    }

    #[test]
    fn a_counter_is_read_by_its_exact_name() {
        let text = "# TYPE hookshape_lease_skipped_total counter\nhookshape_lease_skipped_total_x 9\n\
                    hookshape_lease_skipped_total 42\n";
        assert_eq!(super::counter_value(text, "hookshape_lease_skipped_total"), Some(42));
        assert_eq!(super::counter_value(text, "hookshape_other_total"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(super::usage_of(std::process::id()).peak_rss_bytes > 0);
    }
}
