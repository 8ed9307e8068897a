//! Leases this node took and will not send: deliveries that waited in the dispatcher's
//! queue past their `send_by` go back to the store, due at once, instead of waiting there,
//! leased to nobody who will send them, until their lease expires.
//!
//! Why: a delivery may not start after `send_by` (its lease could expire mid-attempt and
//! another node send it too). When every permit is held longer than that (slow receivers,
//! or the store slow to take results), what waited in the queue meanwhile passes `send_by`.
//! Left to expire, each such lease (the receiver's timeout plus 5 s: 35 s by default) kept
//! its delivery from being sent by anyone; returned, it is leased again as soon as there
//! is room (`delivery::deliveries_queued_too_long_to_send_are_sent_without_waiting_for_their_lease`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::store::{Store, UnsentLease};

/// How long the first unsent delivery waits for others to go back with it (one statement).
const GATHER: Duration = Duration::from_millis(20);

/// Leases to give back, gathered so that many go back in one statement. Each names its
/// expiry: one the store has renewed meanwhile (the lease expired, and this node leased it
/// again) may already be on its way, and stays.
#[derive(Default)]
pub struct Unsent {
    leases: Mutex<Vec<UnsentLease>>,
}

impl Unsent {
    /// Gives `lease` back to the store soon; `wake` is signalled once it is due again.
    pub fn give_back(
        self: &Arc<Self>,
        lease: UnsentLease,
        store: &Arc<dyn Store>,
        owner: &Arc<str>,
        wake: &Arc<Notify>,
    ) {
        let first = {
            let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            leases.push(lease);
            leases.len() == 1
        };
        if !first {
            return;
        }
        let (me, store, owner, wake) = (self.clone(), store.clone(), owner.clone(), wake.clone());
        tokio::spawn(async move {
            tokio::time::sleep(GATHER).await;
            let leases = std::mem::take(&mut *me.leases.lock().unwrap_or_else(|e| e.into_inner()));
            match store.release_unsent(&owner, &leases, crate::now_ms()).await {
                Ok(n) => {
                    debug!(deliveries = n, "queued too long to send: given back to the store, due now");
                    wake.notify_one();
                }
                // They fall due when their leases expire, as before this existed.
                Err(e) => {
                    warn!(error = %e, deliveries = leases.len(), "could not give back deliveries queued too long")
                }
            }
        });
    }
}
