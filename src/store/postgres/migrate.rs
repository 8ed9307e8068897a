//! Versioned schema migrations, applied at start under an advisory lock so that nodes
//! starting together apply each one exactly once.

use deadpool_postgres::Client;

use super::pg_error;
use crate::store::{StoreError, StoreResult};

/// Every migration, in order; a version once released is never edited, only followed.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "nodes", include_str!("migrations/0002_nodes.sql")),
    (3, "sources", include_str!("migrations/0003_sources.sql")),
    (4, "history paging", include_str!("migrations/0004_history_paging.sql")),
    (5, "event time", include_str!("migrations/0005_event_time.sql")),
    (6, "loaded subscriptions", include_str!("migrations/0006_loaded_subscriptions.sql")),
    (7, "revoked sessions", include_str!("migrations/0007_revoked_sessions.sql")),
    (8, "queue apart from history", include_str!("migrations/0008_queue.sql")),
    (9, "rate slots", include_str!("migrations/0009_rate_slots.sql")),
    (10, "search keys", include_str!("migrations/0010_search_keys.sql")),
    (11, "schema problems", include_str!("migrations/0011_schema_problems.sql")),
    (12, "final attempt in the history row", include_str!("migrations/0012_final_attempt.sql")),
    (13, "queue not truncated", include_str!("migrations/0013_queue_not_truncated.sql")),
    (14, "narrow search key indexes", include_str!("migrations/0014_narrow_event_keys.sql")),
    (15, "subscriptions loaded per node", include_str!("migrations/0015_nodes_loaded.sql")),
];

/// Key of the advisory lock that serialises migrations (any constant both sides agree on).
const MIGRATION_LOCK: i64 = 0x686f_6f6b_7368_6170; // "hookshap"

/// Brings the schema in the connection's `search_path` up to date; returns its version.
pub async fn migrate(client: &mut Client) -> StoreResult<i32> {
    let tx = client.transaction().await.map_err(pg_error)?;
    // Held until commit: a second node starting now waits here, then finds nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
    tx.batch_execute(
        // Its NOTICE that the table exists would be logged by every start after the first.
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS hookshape_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg_error)?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM hookshape_migrations ORDER BY version", &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(pg_error)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(newest) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(StoreError::Unavailable(format!(
            "the database schema is at version {newest}, newer than this hookshape knows ({known}): upgrade hookshape"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration {version} ({name}) failed: {}", pg_error(e))))?;
        tx.execute("INSERT INTO hookshape_migrations (version, name) VALUES ($1, $2)", &[version, name])
            .await
            .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(known)
}
