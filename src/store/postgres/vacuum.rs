//! Keeps `queue` small where autovacuum is off (tuned and shared instances often turn it
//! off): every live delivery leaves dead row versions in `queue`, and without a VACUUM their
//! space is never reused, so the table would grow with every delivery ever made instead of
//! with the backlog.

use std::sync::Weak;
use std::time::Duration;

use deadpool_postgres::Pool;

/// How often the store looks at `queue`'s dead rows (two numbers of the statistics
/// collector, which backends update about once a second: a cost that does not grow with
/// anything). Between two looks a node at 15,000 deliveries/s leaves 15,000 dead rows;
/// looked at every 5 s, one fan-out 10 run in six still slowed for about 7 s.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Dead rows past both this and a fifth of the live ones (autovacuum's own scale factor):
/// `queue` is vacuumed.
const DEAD_ROWS: i64 = 10_000;
/// The live rows per dead row that may wait for a vacuum: `LIVE_PER_DEAD` × dead > live.
///
/// Why not wait for the dead rows to outnumber the live ones (as before): during a backlog
/// the live rows are many, and the dead versions of the rows just leased sit at the start of
/// the due index, where every lease begins its scan. At fan-out 10, 14,000 of them beside
/// 47,000 live rows slowed each lease to a second or more; nothing was vacuumed (autovacuum
/// looks once a minute), and the node sent 128 deliveries every two seconds for 35–55 s.
/// A `VACUUM queue` by hand ended such a stall within two seconds.
const LIVE_PER_DEAD: i64 = 5;

/// Vacuums `queue` whenever its dead rows exceed `DEAD_ROWS` and a fifth of its live ones,
/// until `alive` (the store's) is dropped. `SKIP_LOCKED`: where another node is vacuuming
/// it, this one does not wait. Errors are logged and tried again at the next check.
pub async fn keep_queue_small(pool: Pool, alive: Weak<()>) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = vacuum_if_needed(&pool).await {
            tracing::warn!(error = %e, "could not vacuum the PostgreSQL queue table");
        }
    }
}

async fn vacuum_if_needed(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let needed: bool = client
        .query_opt(
            "SELECT pg_stat_get_dead_tuples('queue'::regclass)
                    > greatest(pg_stat_get_live_tuples('queue'::regclass) / $2, $1)",
            &[&DEAD_ROWS, &LIVE_PER_DEAD],
        )
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or(false);
    if needed {
        tracing::debug!("vacuuming the PostgreSQL queue table: its dead rows are many");
        client.batch_execute("VACUUM (SKIP_LOCKED) queue").await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
