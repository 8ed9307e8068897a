//! The embedded SQLite store. One writer thread owns the write connection and commits
//! whatever has queued up in one transaction (group commit: under load many events share
//! one fsync); readers use their own connections, which WAL lets run beside the writer.

mod counts;
/// For the scale tests: not part of the store's interface.
#[doc(hidden)]
pub mod probe;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::*;
use writer::Job;

const BUSY_TIMEOUT_MS: u64 = 2_000;

pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Why the last write failed for want of space (`Store::write_problem`); the flag
    /// saves a lock on every successful write.
    cannot_write: std::sync::atomic::AtomicBool,
    write_problem: Mutex<Option<String>>,
    path: PathBuf,
    /// Send slots and pauses: one process serves the file, so it answers from memory, and
    /// keeps each change in the `pacing` table (a turn with the writer's next batch, a pause
    /// before it is answered), read back once.
    pacing: crate::store::pacing::Pacing,
    pacing_read: tokio::sync::OnceCell<()>,
    /// Held for the store's life: one process per database file.
    _lock: std::fs::File,
}

/// WAL pages (4 KiB each) after which the writer checkpoints: 4 MiB. Intake waits for a
/// checkpoint (it runs in the commit), and its time is the distinct pages it copies: under
/// a prune, whose pages no other commit rewrites, 4,000 pages put 15 ms on the p99 of
/// 1,000 events/s, 1,000 pages 7–8 ms, at no cost in CPU per delivery measured.
const CHECKPOINT_PAGES: u32 = 1000;

/// A store error typed by what retrying can do: SQLite's own errors by their code (a full
/// disk or a failing file: `CannotWrite`; a constraint or a value too big: `Rejected`, which
/// retrying cannot change), anything else `Unavailable`.
pub(crate) fn unavailable<E: std::fmt::Display + 'static>(e: E) -> StoreError {
    use rusqlite::ErrorCode::*;
    let code =
        (&e as &dyn std::any::Any).downcast_ref::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code);
    match code {
        Some(DiskFull | SystemIoFailure | CannotOpen | ReadOnly) => StoreError::CannotWrite(e.to_string()),
        Some(ConstraintViolation | TooBig | TypeMismatch) => StoreError::Rejected(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, writing nothing to an existing
    /// one (a full disk must not stop a node from starting). Deliveries left `in_flight` by
    /// a previous process are made due by the first `heartbeat`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock_path = path.with_extension("db.lock");
        let lock = owner_only(&lock_path)?;
        lock.try_lock().map_err(|_| {
            unavailable(format!(
                "{} is in use by another hookshape process (SQLite serves one node; use PostgreSQL for several)",
                path.display()
            ))
        })?;
        // Created readable by its owner only: it holds rendered requests, secrets included.
        // SQLite gives its -wal and -shm files the database file's permissions.
        drop(owner_only(path)?);
        let conn = Connection::open(path).map_err(|e| unavailable(e).context(&path.display().to_string()))?;
        let mut init = Self::init(path.to_path_buf());
        // A file that cannot be written yet (a full disk before it was ever created): the
        // node starts, unready, and the writer creates it before its first write.
        let init = match init(&conn) {
            Ok(()) => None,
            Err(StoreError::CannotWrite(why)) => {
                tracing::warn!(file = %path.display(), error = %why, "the SQLite database cannot be written yet; \
                    intake answers 503 until it can");
                Some(init)
            }
            Err(e) => return Err(e),
        };
        let init_pending = init.is_some();
        let (writer, rx) = mpsc::channel(writer::QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, init, rx))
            .map_err(unavailable)?;
        Ok(Self {
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            cannot_write: (init_pending).into(),
            write_problem: Mutex::new(None),
            path: path.to_path_buf(),
            pacing: Default::default(),
            pacing_read: Default::default(),
            _lock: lock,
        })
    }

    /// What makes a connection the writer's: its settings, the schema and the upgrades.
    /// Writes nothing to a file that has them already.
    fn init(path: PathBuf) -> writer::Init {
        Box::new(move |conn| {
            configure(conn, &path)?;
            sql::announce_index_builds(conn, &path)?;
            conn.execute_batch(include_str!("schema.sql")).map_err(unavailable)?;
            sql::upgrade(conn)?;
            // The writer checkpoints, right after a commit, once the WAL holds this many
            // pages. Only then has the checkpoint copied every frame when the next
            // transaction starts, so that transaction writes the WAL from its beginning
            // again, over pages the OS already holds; a checkpoint on another thread never
            // catches up with a busy writer, and the WAL grew by ~25 KB per event (a gigabyte
            // in a minute) into new blocks the kernel had to zero. The size limit gives the
            // disk back after a burst.
            conn.execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}; PRAGMA journal_size_limit = {};",
                4 * CHECKPOINT_PAGES * 4096
            ))
            .map_err(unavailable)
        })
    }

    /// For `hookshape bench --prefill`: adds `n` succeeded deliveries (each with its event and
    /// one attempt), spread over the last 30 days, to the database at `path`. Not for a file
    /// a server is using.
    pub fn prefill_finished(path: &Path, n: u64) -> StoreResult<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        drop(owner_only(path)?);
        let conn = open_connection(path)?;
        conn.execute_batch(include_str!("schema.sql")).map_err(unavailable)?;
        sql::upgrade(&conn)?;
        // A large cache: the random uuids' index takes each insert at a random page.
        conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144").map_err(unavailable)?;
        sql::prefill_finished(&conn, n, crate::now_ms())
    }

    /// The paces, with those the file kept read back first (once; until the writer has made
    /// the table, each call tries again).
    async fn pacing(&self) -> StoreResult<&crate::store::pacing::Pacing> {
        self.pacing_read
            .get_or_try_init(|| async {
                let kept = self.read(sql::pacing).await?;
                self.pacing.seed(kept);
                Ok::<(), StoreError>(())
            })
            .await?;
        Ok(&self.pacing)
    }

    /// Runs `f` in the writer's next batch transaction; answers once that has committed.
    async fn write<T: Send + 'static>(
        &self,
        mut f: impl FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.write_with((), move |c, _| f(c)).await.map(|(t, ())| t)
    }

    /// `write`, queued for the writer's next batch without waiting for its commit.
    async fn write_unwaited(
        &self,
        mut f: impl FnMut(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<()> {
        let (reply, _unheard) = oneshot::channel();
        let job: Job =
            Box::new(writer::Write { state: (), f: move |c: &Connection, _: &()| f(c), result: None, reply });
        self.writer.send(job).await.map_err(|_| unavailable("the SQLite writer has stopped"))
    }

    /// `write` for inputs that go back to the caller with the result (`f` may run twice,
    /// when a neighbour in its batch failed, so it only borrows them).
    async fn write_with<S: Send + 'static, T: Send + 'static>(
        &self,
        state: S,
        f: impl FnMut(&Connection, &S) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<(T, S)> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(writer::Write { state, f, result: None, reply });
        self.writer.send(job).await.map_err(|_| unavailable("the SQLite writer has stopped"))?;
        let result = answer.await.map_err(|_| unavailable("the SQLite writer has stopped"))?;
        self.note_write(result.as_ref().err());
        result
    }

    /// Keeps why a write failed for want of space until one succeeds.
    fn note_write(&self, error: Option<&StoreError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match error {
            Some(StoreError::CannotWrite(why)) => {
                if let Ok(mut problem) = self.write_problem.lock() {
                    *problem = Some(why.clone());
                }
                self.cannot_write.store(true, Relaxed);
            }
            None if self.cannot_write.load(Relaxed) => {
                self.cannot_write.store(false, Relaxed);
                if let Ok(mut problem) = self.write_problem.lock() {
                    *problem = None;
                }
            }
            _ => {}
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().ok().and_then(|mut r| r.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&path)?,
            };
            let result = f(&conn);
            if let Ok(mut r) = readers.lock() {
                r.push(conn);
            }
            result
        })
        .await
        .map_err(unavailable)?
    }
}

/// Opens `path` for writing, creating it with mode 0600 if it does not exist yet.
fn owner_only(path: &Path) -> StoreResult<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| unavailable(format!("{}: {e}", path.display())))
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    configure(&conn, path)?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(unavailable)?;
    // FULL: a commit is on disk before intake answers 202, even across power loss.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(|e| unavailable(e).context(&path.display().to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>> {
        let requests = events.iter().map(|e| sql::encode_requests(&e.deliveries)).collect::<StoreResult<Vec<_>>>()?;
        // The events come back from the writer, so the leased deliveries' requests move into
        // `Leased` here, off the writer thread, without a copy.
        let ((mut inserted, leased), (events, _)) = self
            .write_with((events, requests), |c, (events, requests)| sql::insert_events(c, events, requests))
            .await?;
        for ((result, event), flags) in inserted.iter_mut().zip(events).zip(leased) {
            result.leased = event.take_leased(&flags);
        }
        Ok(inserted)
    }

    async fn add_deliveries(&self, event_uuid: &str, topic: &str, deliveries: Vec<NewDelivery>) -> StoreResult<usize> {
        let (uuid, topic) = (event_uuid.to_string(), topic.to_string());
        let requests = sql::encode_requests(&deliveries)?;
        self.write(move |c| {
            let (received_at, source) = sql::arrival_of(c, &uuid)?;
            let event = sql::EventKey { uuid: &uuid, topic: &topic, received_at, source: source.as_deref() };
            sql::add_deliveries(c, &event, &deliveries, &requests, crate::now_ms())
        })
        .await
        .map(|leased| leased.len())
    }

    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>> {
        let raw = self.write(move |c| sql::lease(c, &lease)).await?;
        raw.into_iter().map(sql::RawLease::decode).collect()
    }

    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()> {
        self.write(move |c| sql::finish(c, &report)).await
    }

    async fn finish_attempts(&self, reports: Vec<AttemptReport>) -> StoreResult<()> {
        self.write(move |c| reports.iter().try_for_each(|r| sql::finish(c, r))).await
    }

    async fn retry_now(&self, id: &str) -> StoreResult<RetryNow> {
        let id = id.to_string();
        self.write(move |c| sql::retry_now(c, &id, crate::now_ms())).await
    }

    async fn render_again(&self, id: &str, request: StoredRequest, config_version: &str) -> StoreResult<RetryNow> {
        let (id, version) = (id.to_string(), config_version.to_string());
        let request = serde_json::to_string(&request).map_err(|e| StoreError::Rejected(format!("{id}: {e}")))?;
        self.write(move |c| sql::render_again(c, &id, &request, &version, crate::now_ms())).await
    }

    async fn retry_batch(&self, query: DeliveryQuery) -> StoreResult<RetriedBatch> {
        self.write(move |c| sql::retry_batch(c, &query, crate::now_ms())).await
    }

    async fn disable(&self, subscription: &str, reason: &str) -> StoreResult<()> {
        let (name, reason) = (subscription.to_string(), reason.to_string());
        self.write(move |c| sql::disable(c, &name, &reason, crate::now_ms())).await
    }

    async fn enable(&self, subscription: &str) -> StoreResult<u64> {
        let name = subscription.to_string();
        self.write(move |c| sql::enable(c, &name, crate::now_ms())).await
    }

    async fn prune(&self, finished_before: i64, limit: usize) -> StoreResult<u64> {
        self.write(move |c| sql::prune(c, finished_before, limit)).await
    }

    fn prune_holds_writes(&self) -> bool {
        true
    }

    async fn compact_counts(&self, now: i64) -> StoreResult<()> {
        self.write(move |c| counts::compact(c, now)).await
    }

    async fn next_due_at(&self, loaded: Option<&[String]>) -> StoreResult<Option<i64>> {
        let loaded = loaded.map(<[String]>::to_vec);
        self.read(move |c| sql::next_due_at(c, loaded.as_deref())).await
    }

    async fn keep_loaded(&self, _node: &str, loaded: &[String], grace_ms: i64) -> StoreResult<u64> {
        let loaded = loaded.to_vec();
        self.write(move |c| sql::keep_loaded(c, &loaded, grace_ms, crate::now_ms())).await
    }

    async fn list_deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryPage> {
        self.read(move |c| sql::list(c, &query)).await
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryDetail>> {
        let id = id.to_string();
        self.read(move |c| sql::detail(c, &id)).await
    }

    async fn get_event(&self, uuid: &str) -> StoreResult<Option<StoredEvent>> {
        let uuid = uuid.to_string();
        self.read(move |c| sql::event(c, &uuid)).await
    }

    async fn subscription_states(&self) -> StoreResult<Vec<SubscriptionState>> {
        self.read(|c| sql::subscription_states(c, crate::now_ms())).await
    }

    async fn queue_stats(&self, finished: bool) -> StoreResult<QueueStats> {
        self.read(move |c| sql::queue_stats(c, finished)).await
    }

    async fn release_leases(&self, owner: &str, now: i64) -> StoreResult<u64> {
        let owner = owner.to_string();
        self.write(move |c| sql::release_leases(c, &owner, now)).await
    }

    async fn release_unsent(&self, owner: &str, leases: &[UnsentLease], now: i64) -> StoreResult<u64> {
        let owner = owner.to_string();
        let pairs: Vec<(&str, i64)> = leases.iter().map(|l| (l.id.as_str(), l.until)).collect();
        let leases =
            serde_json::to_string(&pairs).map_err(|e| StoreError::Corrupt(format!("leases to release: {e}")))?;
        self.write(move |c| sql::release_unsent(c, &owner, &leases, now)).await
    }

    async fn heartbeat(&self, node: &str, now: i64) -> StoreResult<u64> {
        let node = node.to_string();
        self.write(move |c| sql::heartbeat(c, &node, now)).await
    }

    fn write_problem(&self) -> Option<String> {
        if !self.cannot_write.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let why = self.write_problem.lock().ok().and_then(|p| p.clone());
        Some(why.unwrap_or_else(|| "the database cannot be created yet".into()))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(unavailable)).await
    }

    async fn revoke_session(&self, nonce: &str, until: i64, now: i64) -> StoreResult<()> {
        let nonce = nonce.to_string();
        self.write(move |c| sql::revoke_session(c, &nonce, until, now)).await
    }

    async fn revoked_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        self.read(move |c| sql::revoked_sessions(c, now)).await
    }

    async fn claim_send_slot(
        &self,
        subscription: &str,
        now_us: i64,
        interval_us: i64,
        ahead_us: i64,
    ) -> StoreResult<SendSlot> {
        let pacing = self.pacing().await?;
        let slot = pacing.claim(subscription, now_us, interval_us, ahead_us);
        if let SendSlot::Granted(at) = slot {
            // Kept for a restart with the writer's next batch, milliseconds away, without
            // waiting for it: memory answers this process, and a turn waited for through a
            // busy writer came too late to use (a pace of 10 ms stopped sending).
            let subscription = subscription.to_string();
            self.write_unwaited(move |c| sql::keep_pace(c, &subscription, Some(at), 0)).await?;
        }
        Ok(slot)
    }

    async fn pause_subscription(&self, subscription: &str, until_ms: i64) -> StoreResult<()> {
        self.pacing().await?.pause(subscription, until_ms);
        let subscription = subscription.to_string();
        self.write(move |c| sql::keep_pace(c, &subscription, None, until_ms)).await
    }

    async fn paused_subscriptions(&self, now_ms: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(self.pacing().await?.paused(now_ms))
    }
}
