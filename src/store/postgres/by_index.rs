//! Statements that find a batch's rows in `queue` by id run with sequential scans off, in a
//! transaction sent together with them (one round trip).
//!
//! Why: a prepared statement's plan is made once per connection and kept (PostgreSQL's
//! generic plan, from the sixth execution on), and `queue` is the one table whose size
//! swings by a hundredfold within seconds: empty at start, thousands of pages of mostly
//! freed space between two of its vacuums. A plan made while it was small joins the batch
//! to a scan of the whole table and keeps doing so once it is large: measured at fan-out 1,
//! a third of the results statements read 700–900 buffers each instead of ~200 (1.3–2 ms
//! instead of 0.5). With sequential scans off while a plan is made, the primary key is
//! always used, whatever the statistics said at that moment. Every execution of such a
//! statement must run under the setting, since any of them may be the one whose plan is kept.
//! (Off for every statement of a connection, it made housekeeping's statements on small
//! tables 100 times slower: hence per statement.)

use std::future::Future;

use deadpool_postgres::{Client, GenericClient};

use super::pg_error;
use crate::store::StoreResult;

/// The setting, for a transaction that is already open.
pub const INDEX_ONLY: &str = "SET LOCAL enable_seqscan = off";

/// Runs `run`, one execution of the prepared statement `sql` on `client`, inside its own
/// transaction with `INDEX_ONLY`, the BEGIN, the statement and the COMMIT sent at once.
/// `run` must send its statement when first polled (no await before it): `sql` is prepared
/// here first so that the statement cache answers at once.
pub async fn by_index<T>(client: &Client, sql: &str, run: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    client.prepare_cached(sql).await.map_err(pg_error)?;
    let begin = format!("BEGIN; {INDEX_ONLY}");
    // Polled in this order, so sent in this order. A failed statement leaves the transaction
    // aborted; its COMMIT then rolls back and reports no error of its own.
    let (begun, result, committed) = tokio::join!(client.batch_execute(&begin), run, client.batch_execute("COMMIT"));
    begun.map_err(pg_error)?;
    let value = result?;
    committed.map_err(pg_error)?;
    Ok(value)
}
