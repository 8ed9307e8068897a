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
                let (tx, mut rx) = mpsc::channel(1);
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if matches!(message, AsyncMessage::Notification(_)) && !forward(&tx) {
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

/// Passes one notification on; false once nobody listens. At most one waits: a wake
/// already pending covers any number of notifications, so a burst of them (thousands of
/// nodes' inserts while this one is busy) costs no memory.
fn forward(tx: &mpsc::Sender<()>) -> bool {
    !matches!(tx.try_send(()), Err(mpsc::error::TrySendError::Closed(())))
}

/// Starts listening for `wake`, for as long as it lives.
pub fn spawn(config: tokio_postgres::Config, wake: &Arc<Notify>) {
    tokio::spawn(listen(config, Arc::downgrade(wake)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_notifications_leaves_one_wake_waiting_and_a_closed_listener_stops_it() {
        let (tx, mut rx) = mpsc::channel(1);
        assert!((0..10_000).all(|_| forward(&tx)), "a full channel is not a reason to stop");
        assert_eq!(rx.try_recv(), Ok(()));
        assert!(rx.try_recv().is_err(), "one wake covers the whole burst");
        drop(rx);
        assert!(!forward(&tx), "nobody listens any more");
    }
}
