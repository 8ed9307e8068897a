//! Rate limits and 429 pauses shared by every node: the `rate_slots` row of a subscription,
//! claimed by one upsert, so two nodes can never take the same turn (the row lock orders
//! them) and a node that dies holds no share of the rate (it claims turns only as it sends).

use deadpool_postgres::GenericClient;

use super::pg_error;
use crate::store::{SendSlot, StoreError, StoreResult};

/// The earliest turn, as `store::pacing::earliest` says: an interval after the last one,
/// not before now, not in a pause.
const EARLIEST: &str = "GREATEST(COALESCE(r.last_slot_us + $3, $2), $2, r.paused_until_ms * 1000)";

pub async fn claim<C: GenericClient>(
    c: &C,
    sub: &str,
    now_us: i64,
    interval_us: i64,
    ahead_us: i64,
) -> StoreResult<SendSlot> {
    let claim = format!(
        "INSERT INTO rate_slots AS r (subscription, last_slot_us) VALUES ($1, $2)
         ON CONFLICT (subscription) DO UPDATE SET last_slot_us = {EARLIEST}
         WHERE {EARLIEST} <= $2 + $4
         RETURNING last_slot_us"
    );
    let stmt = c.prepare_cached(&claim).await.map_err(pg_error)?;
    if let Some(row) = c.query_opt(&stmt, &[&sub, &now_us, &interval_us, &ahead_us]).await.map_err(pg_error)? {
        return Ok(SendSlot::Granted(row.try_get(0).map_err(corrupt)?));
    }
    // Too far ahead: nothing was claimed; when to ask again.
    let next = format!("SELECT {EARLIEST} FROM rate_slots r WHERE subscription = $1");
    let stmt = c.prepare_cached(&next).await.map_err(pg_error)?;
    let row = c.query_opt(&stmt, &[&sub, &now_us, &interval_us]).await.map_err(pg_error)?;
    let at = row.map(|r| r.try_get::<_, i64>(0)).transpose().map_err(corrupt)?.unwrap_or(now_us);
    Ok(SendSlot::NotBefore(at))
}

pub async fn pause<C: GenericClient>(c: &C, sub: &str, until_ms: i64) -> StoreResult<()> {
    let sql = "INSERT INTO rate_slots AS r (subscription, paused_until_ms) VALUES ($1, $2)
               ON CONFLICT (subscription) DO UPDATE SET paused_until_ms = GREATEST(r.paused_until_ms, $2)";
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.execute(&stmt, &[&sub, &until_ms]).await.map_err(pg_error)?;
    Ok(())
}

/// Read every second by every node: `rate_slots` has a row per paced or paused
/// subscription, not per delivery, so this reads a page or two whatever the history.
pub const PAUSED: &str = "SELECT subscription, paused_until_ms FROM rate_slots WHERE paused_until_ms > $1";

pub async fn paused<C: GenericClient>(c: &C, now_ms: i64) -> StoreResult<Vec<(String, i64)>> {
    let stmt = c.prepare_cached(PAUSED).await.map_err(pg_error)?;
    let rows = c.query(&stmt, &[&now_ms]).await.map_err(pg_error)?;
    rows.iter().map(|r| Ok((r.try_get(0).map_err(corrupt)?, r.try_get(1).map_err(corrupt)?))).collect()
}

fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(format!("rate_slots: {e}"))
}
