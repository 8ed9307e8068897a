//! Keeps `queue` small where autovacuum is off (tuned and shared instances often turn it
//! off): every live delivery leaves dead row versions in `queue`, and without a VACUUM their
//! space is never reused, so the table would grow with every delivery ever made instead of
//! with the backlog.

use std::sync::Weak;
use std::time::Duration;

use deadpool_postgres::Pool;

/// How often the store looks at `queue`'s dead rows (two numbers of the statistics
/// collector). Between two looks a node at 8,000 deliveries/s leaves 40,000 dead rows.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Dead rows past both this and the live ones: `queue` is vacuumed. With autovacuum on it
/// has usually done so first (its threshold is 50 rows plus a fifth of the live ones).
const DEAD_ROWS: i64 = 10_000;

/// Vacuums `queue` whenever its dead rows exceed its live ones (and `DEAD_ROWS`), until
/// `alive` (the store's) is dropped. `SKIP_LOCKED`: where another node is vacuuming it,
/// this one does not wait. Errors are logged and tried again at the next check.
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
                    > greatest(pg_stat_get_live_tuples('queue'::regclass), $1)",
            &[&DEAD_ROWS],
        )
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or(false);
    if needed {
        tracing::debug!("vacuuming the PostgreSQL queue table: its dead rows outnumber its live ones");
        client.batch_execute("VACUUM (SKIP_LOCKED) queue").await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
