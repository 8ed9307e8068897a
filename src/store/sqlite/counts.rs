//! The counters of finished deliveries (`delivery_counts`): kept by triggers on
//! `deliveries` in the transaction of every change, so that the subscriptions view, the
//! queue gauges and the 24 h success rate read a few rows per subscription instead of
//! counting the history; folded by the hour (`compact`).

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::unavailable;
use crate::store::query::{finished_rows, off_queue_rows};
use crate::store::{RecentOutcomes, StoreResult};

/// A counter's hour is `updated_at / HOUR_MS` of the change that finished the delivery.
pub const HOUR_MS: i64 = 3_600_000;
/// Hours before the current one kept apart: the 24 h success rate reads them.
pub const RECENT_HOURS: i64 = 24;

/// Whether the row `$row` (`new` or `old`) is finished: succeeded, failed or shadow,
/// spelled as `query::finished_rows!` is (no IN list of three: SQLite builds a temporary
/// b-tree for one, and a trigger's WHEN runs at every insert, update and delete).
macro_rules! finished {
    ($row:literal) => {
        concat!($row, ".status NOT IN ('pending', 'in_flight') AND ", $row, ".status <> 'held'")
    };
}

/// Adds `$n` to the counter of `$row`'s subscription, status and hour.
macro_rules! add {
    ($row:literal, $n:literal) => {
        concat!(
            "INSERT INTO delivery_counts (subscription, status, hour, n) VALUES (",
            $row,
            ".subscription, ",
            $row,
            ".status, ",
            $row,
            ".updated_at / 3600000, ",
            $n,
            ") ON CONFLICT (subscription, status, hour) DO UPDATE SET n = n + ",
            $n,
            ";"
        )
    };
}

/// A change of `status` or `updated_at`: a finished row whose hour or status changes is
/// counted out of its old counter and into its new one.
macro_rules! moved {
    () => {
        "(new.status IS NOT old.status OR new.updated_at IS NOT old.updated_at)"
    };
}

/// The table and its triggers. Hour 0 holds every hour folded by `compact`; counts may
/// go below zero in an hour (a delivery finished in it and retried since, once its hour
/// was folded): only sums are read.
pub const CREATE: &str = concat!(
    "CREATE TABLE delivery_counts (
        subscription TEXT NOT NULL,
        status       TEXT NOT NULL,
        hour         INTEGER NOT NULL,
        n            INTEGER NOT NULL,
        PRIMARY KEY (subscription, status, hour)
    ) WITHOUT ROWID;
    CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries WHEN ",
    finished!("new"),
    " BEGIN ",
    add!("new", "1"),
    " END;
    CREATE TRIGGER delivery_counts_leave AFTER UPDATE OF status, updated_at ON deliveries WHEN ",
    finished!("old"),
    " AND ",
    moved!(),
    " BEGIN ",
    add!("old", "-1"),
    " END;
    CREATE TRIGGER delivery_counts_enter AFTER UPDATE OF status, updated_at ON deliveries WHEN ",
    finished!("new"),
    " AND ",
    moved!(),
    " BEGIN ",
    add!("new", "1"),
    " END;
    CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries WHEN ",
    finished!("old"),
    " BEGIN ",
    add!("old", "-1"),
    " END;"
);

/// The history counted once, when a file made before the counters is opened: the recent
/// hours by the hour, the rest as hour 0 (?1 is the first recent hour).
const COUNT_HISTORY: &str = concat!(
    "INSERT INTO delivery_counts (subscription, status, hour, n)
     SELECT subscription, status, CASE WHEN updated_at / 3600000 >= ?1 THEN updated_at / 3600000 ELSE 0 END, count(*)
       FROM deliveries WHERE ",
    finished_rows!(),
    " GROUP BY 1, 2, 3"
);

/// Hours before ?1 (the first recent one) folded into hour 0. The SELECT has a WHERE, as
/// an upsert's must (SQLite's grammar), and reads the table in key order (no sort).
pub const FOLD: &str = "INSERT INTO delivery_counts (subscription, status, hour, n)
     SELECT subscription, status, 0, sum(n) FROM delivery_counts WHERE hour > 0 AND hour < ?1
      GROUP BY subscription, status
     ON CONFLICT (subscription, status, hour) DO UPDATE SET n = n + excluded.n";
pub const DROP_FOLDED: &str = "DELETE FROM delivery_counts WHERE (hour > 0 AND hour < ?1) OR n = 0";

/// Every subscription's counts by status, and of the recent hours (from ?1) alone.
pub const BY_SUBSCRIPTION: &str =
    "SELECT subscription, status, sum(n), sum(CASE WHEN hour >= ?1 THEN n ELSE 0 END) FROM delivery_counts
      GROUP BY subscription, status";
/// Every finished status's count.
pub const BY_STATUS: &str = "SELECT status, sum(n) FROM delivery_counts GROUP BY status";

/// The first hour of the last 24 at `now` (this hour and the 24 before it).
pub fn first_recent_hour(now: i64) -> i64 {
    now / HOUR_MS - RECENT_HOURS
}

/// Makes the counters in a file that has none, counting its history once (one pass over
/// the finished rows: seconds for millions), in one transaction with the triggers, so no
/// change is counted twice or missed.
pub fn create(conn: &Connection, now: i64) -> StoreResult<()> {
    let history: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM deliveries)", [], |r| r.get(0)).map_err(unavailable)?;
    if history {
        tracing::info!("counting the delivery history once, into the counters this version keeps; on a long history this takes a while");
    }
    let started = std::time::Instant::now();
    let tx = conn.unchecked_transaction().map_err(unavailable)?;
    tx.execute_batch(CREATE).map_err(unavailable)?;
    let counters = tx.execute(COUNT_HISTORY, [first_recent_hour(now)]).map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    if history {
        tracing::info!(counters, took = ?started.elapsed(), "counted the delivery history");
    }
    Ok(())
}

/// `Store::compact_counts`: the hours before the last 24 folded into hour 0.
pub fn compact(conn: &Connection, now: i64) -> StoreResult<()> {
    let first = first_recent_hour(now);
    conn.prepare_cached(FOLD).and_then(|mut s| s.execute([first])).map_err(unavailable)?;
    conn.prepare_cached(DROP_FOLDED).and_then(|mut s| s.execute([first])).map_err(unavailable)?;
    Ok(())
}

/// The finished deliveries of one subscription, from its counters.
#[derive(Debug, Default)]
pub struct Finished {
    pub by_status: BTreeMap<String, u64>,
    pub last_24h: RecentOutcomes,
}

/// Every subscription's finished deliveries, by status and in the last 24 h at `now`.
pub fn by_subscription(conn: &Connection, now: i64) -> StoreResult<BTreeMap<String, Finished>> {
    let mut stmt = conn.prepare_cached(BY_SUBSCRIPTION).map_err(unavailable)?;
    let mut rows = stmt.query(params![first_recent_hour(now)]).map_err(unavailable)?;
    let mut out: BTreeMap<String, Finished> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        let (name, status): (String, String) = (row.get(0).map_err(unavailable)?, row.get(1).map_err(unavailable)?);
        let all = row.get::<_, i64>(2).map_err(unavailable)?.max(0) as u64;
        let recent = row.get::<_, i64>(3).map_err(unavailable)?.max(0) as u64;
        let finished = out.entry(name).or_default();
        match status.as_str() {
            "succeeded" => finished.last_24h.succeeded = recent,
            "failed" => finished.last_24h.failed = recent,
            _ => {}
        }
        finished.by_status.insert(status, all);
    }
    Ok(out)
}

/// Every finished status's count, added to `counts`.
pub fn by_status(conn: &Connection, counts: &mut BTreeMap<String, u64>) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(BY_STATUS).map_err(unavailable)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(unavailable)?;
    for row in rows {
        let (status, n) = row.map_err(unavailable)?;
        counts.insert(status, n.max(0) as u64);
    }
    Ok(())
}
