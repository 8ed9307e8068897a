//! `bench --store postgres://…`: what the server is (version and the settings that decide
//! its speed), how big the tables grew, and what each delivery cost it, from the server's
//! own counters read before and after a run, and from /proc when it runs on this machine.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::NoTls;

/// The settings printed with the results: they decide most of what a run measures.
const SETTINGS: [&str; 6] =
    ["server_version", "autovacuum", "synchronous_commit", "shared_buffers", "max_connections", "fsync"];

/// The tables whose sizes are shown after each run (`queue`, `delivery_counts` and
/// `event_keys` only where the schema has them).
const TABLES: [&str; 6] = ["deliveries", "queue", "attempts", "events", "event_keys", "delivery_counts"];

/// PostgreSQL 15 flushes an idle backend's statistics up to 10 s after its last
/// transaction: the counters are read this long after a run so they hold all of it.
pub const STATS_SETTLE: Duration = Duration::from_millis(10_500);

pub struct Probe {
    client: tokio_postgres::Client,
    /// The postmaster's pid, when the server runs on this machine.
    postmaster: Option<u32>,
    statements: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// `server_version`, `autovacuum`, … as `SHOW` prints them.
    pub settings: BTreeMap<String, String>,
    /// Whether the server's processes are on this machine (their CPU is then measured).
    pub local: bool,
    /// Whether `pg_stat_statements` is installed in the database (statements are counted).
    pub pg_stat_statements: bool,
}

/// The server's cumulative counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    wal_bytes: f64,
    xact_commit: i64,
    tup_inserted: i64,
    tup_updated: i64,
    tup_deleted: i64,
    /// Buffer lookups by the database's processes: found in `shared_buffers`, and not
    /// (read in, or a new page added to a growing table or index).
    blks_hit: i64,
    blks_read: i64,
    statements: Option<i64>,
    /// Whole pages written to the WAL (`pg_stat_wal`, PostgreSQL 14 on; the whole server's).
    wal_full_pages: Option<i64>,
}

/// Per delivery over one run.
#[derive(Debug, Clone, Serialize)]
pub struct Costs {
    /// CPU of all the server's processes; None when the server is not on this machine.
    pub cpu_ms_per_delivery: Option<f64>,
    pub wal_bytes_per_delivery: f64,
    /// Commits in the database: anyone else using the same database inflates it.
    pub transactions_per_delivery: f64,
    pub tuples_inserted_per_delivery: f64,
    pub tuples_updated_per_delivery: f64,
    pub tuples_deleted_per_delivery: f64,
    /// Lookups of pages (tables, indexes, catalogs) by the database's processes, the whole
    /// database's as with the other counters: the server's work counted in a unit the
    /// machine's speed changes little, so a run on a growing history can be told apart from
    /// a slower machine; bloat (dead rows stepped over) and deeper indexes make it grow.
    pub buffers_per_delivery: f64,
    /// Of those, the ones not found in `shared_buffers`: read in (from the operating
    /// system's cache or the disk), or new pages added as tables and indexes grow.
    pub buffers_read_per_delivery: f64,
    /// Statements run in the database, with pg_stat_statements.
    pub statements_per_delivery: Option<f64>,
    /// Pages written whole to the WAL (the first change to a page after a checkpoint), the
    /// whole server's; None before PostgreSQL 14. What makes the WAL per delivery grow
    /// with the history: the larger an index that takes entries all over, the more of its
    /// pages each checkpoint interval touches for the first time.
    pub wal_full_pages_per_delivery: Option<f64>,
    /// Lock waits sampled over the run.
    pub lock_waits: Option<super::locks::LockWaits>,
    /// Due rows the nodes' leases wanted and did not get, another transaction holding them
    /// (`SKIP LOCKED`): `hookshape_lease_skipped_total` over the run, summed over the nodes.
    /// None when a node's /metrics could not be read.
    pub lease_skipped: Option<u64>,
    pub lease_skipped_per_delivery: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableSize {
    pub table: String,
    pub table_bytes: i64,
    pub index_bytes: i64,
    pub total_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
}

impl Probe {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .context("bench cannot connect to the store to read its settings")?;
        tokio::spawn(connection);
        let config: tokio_postgres::Config = url.parse()?;
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.try_get(0)?;
        let postmaster = if on_this_machine(&config) { postmaster_of(backend as u32) } else { None };
        let statements =
            client.query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'", &[]).await?.is_some();
        Ok(Self { client, postmaster, statements })
    }

    pub async fn server(&self) -> anyhow::Result<Server> {
        let mut settings = BTreeMap::new();
        for name in SETTINGS {
            let value: String = self.client.query_one("SELECT current_setting($1)", &[&name]).await?.try_get(0)?;
            settings.insert(name.to_string(), value);
        }
        Ok(Server { settings, local: self.postmaster.is_some(), pg_stat_statements: self.statements })
    }

    pub async fn counters(&self) -> anyhow::Result<Counters> {
        let row = self
            .client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, xact_commit, tup_inserted,
                        tup_updated, tup_deleted, blks_hit, blks_read
                   FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .await?;
        let statements = if self.statements {
            let row = self
                .client
                .query_one(
                    "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .await?;
            Some(row.try_get(0)?)
        } else {
            None
        };
        // Settled like the others: backends add their WAL statistics when they report.
        let wal_full_pages = match self.client.query_one("SELECT wal_fpi FROM pg_stat_wal", &[]).await {
            Ok(row) => Some(row.try_get(0)?),
            Err(_) => None,
        };
        Ok(Counters {
            wal_bytes: row.try_get(0)?,
            xact_commit: row.try_get(1)?,
            tup_inserted: row.try_get(2)?,
            tup_updated: row.try_get(3)?,
            tup_deleted: row.try_get(4)?,
            blks_hit: row.try_get(5)?,
            blks_read: row.try_get(6)?,
            statements,
            wal_full_pages,
        })
    }

    /// The probe's connection, for the lock sampler running beside a run.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// CPU seconds the server's processes have used so far, or None if it is not local.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.postmaster.map(server_cpu_seconds)
    }

    pub async fn sizes(&self) -> anyhow::Result<Vec<TableSize>> {
        let tables: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        let rows = self
            .client
            .query(
                "SELECT c.relname::text, pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
                        coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0)
                   FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                  WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND c.relkind IN ('r', 'p')
                  ORDER BY array_position($1, c.relname::text)",
                &[&tables],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TableSize {
                    table: r.try_get(0)?,
                    table_bytes: r.try_get(1)?,
                    index_bytes: r.try_get(2)?,
                    total_bytes: r.try_get(3)?,
                    live_tuples: r.try_get(4)?,
                    dead_tuples: r.try_get(5)?,
                })
            })
            .collect()
    }
}

impl Counters {
    /// These counters with the WAL position of `other` (read when the run ended, while
    /// these were read once the statistics had settled).
    pub fn with_wal_of(self, other: &Counters) -> Self {
        Self { wal_bytes: other.wal_bytes, ..self }
    }
}

impl Costs {
    /// Costs between two readings of the counters (and of the server's CPU), shared out
    /// over `deliveries`.
    pub fn between(before: &Counters, after: &Counters, cpu_seconds: Option<f64>, deliveries: u64) -> Self {
        let per = |v: f64| v / deliveries.max(1) as f64;
        Self {
            cpu_ms_per_delivery: cpu_seconds.map(|s| per(s * 1000.0)),
            wal_bytes_per_delivery: per(after.wal_bytes - before.wal_bytes),
            transactions_per_delivery: per((after.xact_commit - before.xact_commit) as f64),
            tuples_inserted_per_delivery: per((after.tup_inserted - before.tup_inserted) as f64),
            tuples_updated_per_delivery: per((after.tup_updated - before.tup_updated) as f64),
            tuples_deleted_per_delivery: per((after.tup_deleted - before.tup_deleted) as f64),
            buffers_per_delivery: per(
                ((after.blks_hit + after.blks_read) - (before.blks_hit + before.blks_read)) as f64
            ),
            buffers_read_per_delivery: per((after.blks_read - before.blks_read) as f64),
            statements_per_delivery: after.statements.zip(before.statements).map(|(a, b)| per((a - b) as f64)),
            wal_full_pages_per_delivery: after
                .wal_full_pages
                .zip(before.wal_full_pages)
                .map(|(a, b)| per((a - b) as f64)),
            lock_waits: None,
            lease_skipped: None,
            lease_skipped_per_delivery: None,
        }
    }
}

/// Only a server reached over loopback or a Unix socket can be this machine's.
fn on_this_machine(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        Host::Unix(_) => true,
    })
}

/// The postmaster of the backend serving this connection, if both are PostgreSQL processes
/// this machine can see (not, say, a server in a container of its own).
fn postmaster_of(backend: u32) -> Option<u32> {
    let is_postgres = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end().starts_with("postgres"))
    };
    if !is_postgres(backend) {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).ok()?;
    let parent = super::server::stat_field(&stat, 4)? as u32;
    is_postgres(parent).then_some(parent)
}

/// All the server's CPU so far: the postmaster's own and its finished children's (which it
/// has waited for), and its live children's. A backend that ends between two readings
/// moves from the one to the other, so differences stay right.
fn server_cpu_seconds(postmaster: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).unwrap_or_default();
    let field = |stat: &str, n: usize| super::server::stat_field(stat, n).unwrap_or(0);
    let mut ticks = field(&stat, 14) + field(&stat, 15) + field(&stat, 16) + field(&stat, 17);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if super::server::stat_field(&stat, 4) == Some(u64::from(postmaster)) {
            ticks += field(&stat, 14) + field(&stat, 15);
        }
    }
    ticks as f64 / super::server::TICKS_PER_SECOND
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_and_sockets_count_as_this_machine() {
        let local = |url: &str| super::on_this_machine(&url.parse().unwrap());
        assert!(local("postgres://postgres@127.0.0.1:5432/x"));
        assert!(local("postgres://postgres@localhost/x"));
        assert!(local("host=/run/postgresql dbname=x"));
        assert!(!local("postgres://postgres@db.example.com/x"));
        assert!(!local("postgres://postgres@10.0.0.5/x"));
    }

    #[test]
    fn costs_are_shared_out_over_the_deliveries() {
        let before = super::Counters {
            wal_bytes: 1000.0,
            xact_commit: 10,
            blks_hit: 100,
            blks_read: 20,
            statements: Some(5),
            wal_full_pages: Some(7),
            ..Default::default()
        };
        let after = super::Counters {
            wal_bytes: 5000.0,
            xact_commit: 30,
            tup_inserted: 40,
            blks_hit: 260,
            blks_read: 60,
            statements: Some(45),
            wal_full_pages: Some(12),
            ..Default::default()
        };
        let c = super::Costs::between(&before, &after, Some(0.5), 20);
        assert_eq!(c.wal_bytes_per_delivery, 200.0);
        assert_eq!(c.transactions_per_delivery, 1.0);
        assert_eq!(c.tuples_inserted_per_delivery, 2.0);
        assert_eq!(c.statements_per_delivery, Some(2.0));
        assert_eq!((c.buffers_per_delivery, c.buffers_read_per_delivery), (10.0, 2.0), "hits and reads, then reads");
        assert_eq!(c.wal_full_pages_per_delivery, Some(0.25));
        assert_eq!(c.cpu_ms_per_delivery, Some(25.0));
    }
}
