//! Recording attempt results: they go through one channel and are committed together
//! (group commit: one transaction, on PostgreSQL one statement, for everything that
//! finished meanwhile), and none is lost: a result the store cannot take now (it is down,
//! its disk is full) is kept in memory and recorded when the store is back, and meanwhile
//! its delivery is not sent again by this node, though it may be leased again.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use crate::store::{AttemptReport, Leased, Store, StoreError};

/// Results kept at most. Reaching it takes a store that leases but cannot record for long;
/// past it the oldest is dropped, and its delivery will be sent again (at-least-once).
const MAX_KEPT: usize = 4096;
/// Results waiting in the channel at most (the room below is the tighter bound).
const CHANNEL: usize = 4096;
/// Results handed over and not yet committed, at most, per permit of `--concurrency`:
/// room to go on sending while the store commits the batch before (at fan-out 10 the
/// writer's commits are long, and one per permit halved the deliveries sent).
pub const UNRECORDED_PER_PERMIT: usize = 4;
/// Results committed together at most.
const BATCH: usize = 512;
/// Results a lingering batch waits for at most (`Store::results_linger`): past this the
/// statement's own cost is a small share of the batch's.
const LINGER_UNTIL: usize = 64;
/// How often kept results are offered to the store again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

enum Message {
    /// A result, and its place among the unrecorded, given back once it is committed (or kept).
    Report(AttemptReport, OwnedSemaphorePermit),
    /// Answered once everything sent before it has been offered to the store.
    Flush(oneshot::Sender<()>),
}

/// Hands results to the recording task; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    known: Arc<Mutex<Known>>,
    /// Places for results handed over and not committed yet.
    room: Arc<Semaphore>,
}

/// Results not recorded yet: in the channel, or kept after the store refused them.
#[derive(Default)]
struct Known {
    ids: HashSet<String>,
    kept: VecDeque<AttemptReport>,
    /// Leases being taken from the store now (`lease_begins`, `lease_ends`).
    leasing: usize,
    /// Deliveries whose result was recorded while a lease was being taken. That lease may
    /// have re-leased one (this node's own expired lease: its result waited out an outage)
    /// just before the record committed, which the record allows (same owner, same
    /// attempt): by the time the lease returns, the delivery is no longer `ids`', yet it
    /// must not be sent again.
    recorded_while_leasing: HashSet<String>,
}

impl Known {
    /// `delivery`'s result is in the store now.
    fn recorded(&mut self, delivery: &str) {
        if let Some(id) = self.ids.take(delivery) {
            if self.leasing > 0 {
                self.recorded_while_leasing.insert(id);
            }
        }
    }
}

/// What one commit takes: results, their places among the unrecorded, and the flushes
/// answered after it.
#[derive(Default)]
struct Batch {
    reports: Vec<AttemptReport>,
    places: Vec<OwnedSemaphorePermit>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn add(&mut self, message: Message) {
        match message {
            Message::Report(r, place) => {
                self.reports.push(r);
                self.places.push(place);
            }
            Message::Flush(done) => self.flushes.push(done),
        }
    }
}

/// The task that commits what `Recorder` hands over.
pub struct Recording {
    store: Arc<dyn Store>,
    rx: mpsc::Receiver<Message>,
    known: Arc<Mutex<Known>>,
    /// How long a small batch waits for more (`Store::results_linger`).
    linger: Duration,
}

fn lock(known: &Mutex<Known>) -> MutexGuard<'_, Known> {
    // Nothing panics while holding the lock; a poisoned one still holds valid data.
    known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A recorder that holds at most `max_unrecorded` results handed over and not committed,
/// and waits up to `linger` for more to fill a small batch.
pub fn recorder(store: Arc<dyn Store>, max_unrecorded: usize, linger: Duration) -> (Recorder, Recording) {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let known = Arc::new(Mutex::new(Known::default()));
    let room = Arc::new(Semaphore::new(max_unrecorded.clamp(1, Semaphore::MAX_PERMITS)));
    (Recorder { tx, known: known.clone(), room }, Recording { store, rx, known, linger })
}

impl Recorder {
    /// Hands a result over to be recorded (it is committed with whatever else finished).
    /// Waits while `max_unrecorded` results are already waiting for their commit: the
    /// attempt keeps its concurrency permit meanwhile, so a node never has more than
    /// `--concurrency` attempts in flight plus `max_unrecorded` results waiting for a commit
    /// (besides those a failing store made it keep), which bounds what a `kill -9` can make
    /// the cluster send twice, however slowly the store commits.
    pub async fn record(&self, report: AttemptReport) {
        // Known before waiting for room: its lease may expire while the store is slow.
        lock(&self.known).ids.insert(report.delivery_id.clone());
        let Ok(place) = self.room.clone().acquire_owned().await else {
            lock(&self.known).ids.remove(&report.delivery_id);
            return;
        };
        if let Err(mpsc::error::SendError(Message::Report(report, _))) =
            self.tx.send(Message::Report(report, place)).await
        {
            warn!(delivery = %report.delivery_id, "the recorder has stopped; this result is not recorded");
        }
    }

    /// Whether this node knows the result of `delivery` but has not recorded it yet: then
    /// it must not be sent again.
    pub fn knows(&self, delivery: &str) -> bool {
        lock(&self.known).ids.contains(delivery)
    }

    /// Says a lease is about to be asked of the store; `lease_ends` takes what it returned.
    pub fn lease_begins(&self) {
        lock(&self.known).leasing += 1;
    }

    /// What a lease taken since `lease_begins` returned, less the deliveries this node must
    /// not send again: those whose result it knows and has not recorded, and those whose
    /// result it recorded while the lease was being taken (it may have re-leased them just
    /// before; checking `knows` after the lease missed those, and sent them twice).
    pub fn lease_ends(&self, leased: Vec<Leased>) -> Vec<Leased> {
        let mut known = lock(&self.known);
        known.leasing = known.leasing.saturating_sub(1);
        let sendable =
            leased.into_iter().filter(|d| !known.ids.contains(&d.id) && !known.recorded_while_leasing.contains(&d.id));
        let sendable = sendable.collect();
        if known.leasing == 0 {
            known.recorded_while_leasing.clear();
        }
        sendable
    }

    /// Results known and not recorded.
    pub fn unrecorded(&self) -> usize {
        lock(&self.known).ids.len()
    }

    /// Waits until everything handed over so far has been offered to the store (kept ones
    /// once more too): before a stopping node gives its leases back.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl Recording {
    /// Records until `stop` (sent once the dispatcher has stopped) or until every
    /// `Recorder` is gone; then records what is waiting and offers what is kept once more.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut retry = tokio::time::interval(RETRY_EVERY);
        loop {
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => self.take(message).await,
                    None => break,
                },
                _ = retry.tick() => self.retry_kept().await,
                _ = &mut stop => break,
            }
        }
        self.linger = Duration::ZERO; // nothing more is coming
        while let Ok(message) = self.rx.try_recv() {
            self.take(message).await;
        }
        self.retry_kept().await;
        let left = lock(&self.known).kept.len();
        if left > 0 {
            warn!(unrecorded = left, "stopping with attempt results the store could not take");
        }
    }

    /// Commits `first` and everything else already waiting, together; with a `linger`,
    /// first waits up to that long for more to fill a small batch, unless a flush waits.
    async fn take(&mut self, first: Message) {
        let mut batch = Batch::default();
        batch.add(first);
        while batch.reports.len() < BATCH {
            let Ok(message) = self.rx.try_recv() else { break };
            batch.add(message);
        }
        if !self.linger.is_zero() {
            let deadline = tokio::time::Instant::now() + self.linger;
            while batch.reports.len() < LINGER_UNTIL && batch.flushes.is_empty() {
                match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    Ok(Some(message)) => batch.add(message),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let Batch { reports, places, flushes } = batch;
        if !reports.is_empty() {
            self.commit(reports).await;
        }
        drop(places); // committed, or kept: their places are free again
        if !flushes.is_empty() {
            self.retry_kept().await;
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    async fn commit(&self, batch: Vec<AttemptReport>) {
        match self.store.finish_attempts(batch.clone()).await {
            Ok(()) => {
                let mut known = lock(&self.known);
                for r in &batch {
                    known.recorded(&r.delivery_id);
                }
            }
            Err(e) => {
                // Kept, and offered again one by one: a store that is back records them, and a
                // report the store refuses for good is found and dropped alone.
                warn!(results = batch.len(), error = %e, "cannot record attempts yet; keeping them");
                let mut known = lock(&self.known);
                for r in batch {
                    Self::keep(&mut known, r);
                }
            }
        }
    }

    fn keep(known: &mut Known, report: AttemptReport) {
        if known.kept.len() >= MAX_KEPT {
            if let Some(dropped) = known.kept.pop_front() {
                warn!(delivery = %dropped.delivery_id, "too many unrecorded results; this delivery will be sent again");
                known.ids.remove(&dropped.delivery_id);
            }
        }
        known.kept.push_back(report);
    }

    /// Offers every kept result to the store again, oldest first, stopping at the first
    /// the store still cannot take.
    async fn retry_kept(&self) {
        let mut recorded = 0;
        loop {
            let Some(report) = lock(&self.known).kept.front().cloned() else { break };
            let result = self.store.finish_attempt(report.clone()).await;
            if result.as_ref().is_err_and(StoreError::is_transient) {
                break;
            }
            let mut known = lock(&self.known);
            known.kept.pop_front();
            if let Err(e) = result {
                warn!(delivery = %report.delivery_id, error = %e, "dropping an attempt that cannot be recorded");
                known.ids.remove(&report.delivery_id); // sent again: at-least-once
            } else {
                known.recorded(&report.delivery_id);
            }
            recorded += 1;
        }
        if recorded > 0 {
            info!(recorded, "recorded attempt results kept while the store was unavailable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Outcome, StoredRequest};

    fn leased(id: &str) -> Leased {
        let request = StoredRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:9/".into(),
            headers: Vec::new(),
            body: None,
            sensitive: Vec::new(),
            masked: Vec::new(),
        };
        Leased {
            id: id.into(),
            event_uuid: "e".into(),
            subscription: "s".into(),
            topic: "T".into(),
            attempt: 1,
            send_by: i64::MAX,
            lease_until: i64::MAX,
            request,
        }
    }

    fn succeeded(id: &str) -> AttemptReport {
        AttemptReport {
            delivery_id: id.into(),
            subscription: "s".into(),
            owner: "me".into(),
            attempt: 1,
            started_at: 0,
            duration_ms: 1,
            status_code: Some(200),
            response_body: None,
            error: None,
            outcome: Outcome::Succeeded,
            disable_after: 0,
            disable_now: false,
        }
    }

    /// After a database outage a node re-leases its own expired leases, whose results it
    /// holds, while it records them: a lease that took one just before its result committed
    /// returns it after, when the result is no longer waiting, and it was sent again.
    #[tokio::test]
    async fn a_delivery_recorded_while_a_lease_was_taken_is_not_sent_from_that_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
        let (recorder, recording) = recorder(store, 8, Duration::ZERO);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(recording.run(stopped));

        recorder.lease_begins();
        recorder.record(succeeded("recorded-meanwhile")).await;
        recorder.flush().await;
        assert!(!recorder.knows("recorded-meanwhile"), "committed: no longer waiting");
        let sendable = recorder.lease_ends(vec![leased("recorded-meanwhile"), leased("other")]);
        let ids: Vec<&str> = sendable.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["other"]);

        // Once no lease is being taken, a recorded delivery leased later (due again) is sent.
        recorder.lease_begins();
        let ids: Vec<String> =
            recorder.lease_ends(vec![leased("recorded-meanwhile")]).into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["recorded-meanwhile"]);
        let _ = stop.send(());
        task.await.unwrap();
    }

    /// With a linger, a lone result waits for more; a full batch, or a flush (a stopping
    /// node's, before it gives its leases back), is committed at once.
    #[tokio::test]
    async fn a_lingering_batch_is_committed_once_full_or_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
        let (recorder, recording) = recorder(store, 4 * LINGER_UNTIL, Duration::from_secs(600));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(recording.run(stopped));

        recorder.record(succeeded("alone")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(recorder.knows("alone"), "waits for more");
        for i in 1..LINGER_UNTIL {
            recorder.record(succeeded(&format!("d{i}"))).await;
        }
        let all_committed = async {
            while recorder.unrecorded() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), all_committed).await.expect("a full batch waits no longer");

        recorder.record(succeeded("before a flush")).await;
        tokio::time::timeout(Duration::from_secs(30), recorder.flush()).await.expect("a flush waits no longer");
        assert!(!recorder.knows("before a flush"));
        let _ = stop.send(());
        task.await.unwrap();
    }
}
