//! LISTEN/NOTIFY: a node that makes deliveries due for others (stored pending, retried,
//! released, taken back from a dead node) notifies, and every node listens on a connection
//! of its own, so an idle node hears of new work at once instead of at its next poll.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::{AsyncMessage, NoTls};
use tracing::warn;

use super::pg_error;
use crate::store::StoreResult;

const CHANNEL: &str = "hookshape_work";

/// Tells the other nodes there is due work (delivered when the caller's transaction commits).
pub async fn work_is_due<C: deadpool_postgres::GenericClient>(c: &C) -> StoreResult<()> {
    c.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await.map(drop).map_err(pg_error)
}

/// Wakes `wake` on every notification until it is dropped; reconnects when the connection
/// is lost (work meanwhile is found by the dispatcher's polling).
pub async fn listen(config: tokio_postgres::Config, wake: Weak<Notify>) {
    while wake.strong_count() > 0 {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if matches!(message, AsyncMessage::Notification(_)) && tx.send(()).is_err() {
                            return;
                        }
                    }
                });
                if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    warn!(error = %pg_error(e), "cannot listen for work notifications");
                }
                while rx.recv().await.is_some() {
                    let Some(wake) = wake.upgrade() else { break };
                    wake.notify_one();
                }
                driver.abort();
            }
            Err(e) => warn!(error = %pg_error(e), "cannot connect to listen for work notifications"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts listening for `wake`, for as long as it lives.
pub fn spawn(config: tokio_postgres::Config, wake: &Arc<Notify>) {
    tokio::spawn(listen(config, Arc::downgrade(wake)));
}
