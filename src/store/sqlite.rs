//! The embedded SQLite store. One writer thread owns the write connection and commits
//! whatever has queued up in one transaction (group commit: under load many events share
//! one fsync); readers use their own connections, which WAL lets run beside the writer.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;

use super::*;

/// How many queued commands one transaction takes at most.
const MAX_BATCH: usize = 512;
const BUSY_TIMEOUT_MS: u64 = 2_000;

enum Command {
    Insert(Vec<NewEvent>, oneshot::Sender<StoreResult<Vec<Inserted>>>),
    Lease(LeaseRequest, oneshot::Sender<StoreResult<Vec<Leased>>>),
    Finish(Box<AttemptReport>, oneshot::Sender<StoreResult<()>>),
}

pub struct SqliteStore {
    writer: mpsc::Sender<Command>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
    /// Held for the store's life: one process per database file.
    _lock: std::fs::File,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. Deliveries left `in_flight` by a
    /// previous process are made due again: a SQLite file has exactly one serving process.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock_path = path.with_extension("db.lock");
        let lock =
            std::fs::File::create(&lock_path).map_err(|e| unavailable(format!("{}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            unavailable(format!(
                "{} is in use by another hookshape process (SQLite serves one node; use PostgreSQL for several)",
                path.display()
            ))
        })?;
        let mut conn = open_connection(path)?;
        conn.execute_batch(include_str!("schema.sql")).map_err(unavailable)?;
        let now = crate::now_ms();
        let tx = conn.transaction().map_err(unavailable)?;
        tx.execute(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?1 WHERE status = 'in_flight'",
            [now],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;

        let (writer, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(unavailable)?;
        Ok(Self { writer, readers: Arc::new(Mutex::new(Vec::new())), path: path.to_path_buf(), _lock: lock })
    }

    async fn command<T>(&self, make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Command) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        self.writer.send(make(tx)).map_err(|_| unavailable("the SQLite writer has stopped"))?;
        rx.await.map_err(|_| unavailable("the SQLite writer has stopped"))?
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

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(unavailable)?;
    // FULL: a commit is on disk before intake answers 202, even across power loss.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").map_err(unavailable)?;
    Ok(conn)
}

enum Reply {
    Insert(oneshot::Sender<StoreResult<Vec<Inserted>>>, StoreResult<Vec<Inserted>>),
    Lease(oneshot::Sender<StoreResult<Vec<Leased>>>, StoreResult<Vec<Leased>>),
    Finish(oneshot::Sender<StoreResult<()>>, StoreResult<()>),
}

impl Reply {
    /// After a failed commit nothing in the batch happened, whatever each command returned.
    fn fail(self, message: &str) -> Self {
        match self {
            Self::Insert(s, _) => Self::Insert(s, Err(unavailable(message))),
            Self::Lease(s, _) => Self::Lease(s, Err(unavailable(message))),
            Self::Finish(s, _) => Self::Finish(s, Err(unavailable(message))),
        }
    }

    fn send(self) {
        // A caller that went away (a dropped request) no longer needs its answer.
        let _ = match self {
            Self::Insert(s, r) => s.send(r).map_err(drop),
            Self::Lease(s, r) => s.send(r).map_err(drop),
            Self::Finish(s, r) => s.send(r).map_err(drop),
        };
    }
}

fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Command>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let replies = match conn.transaction() {
            Ok(mut tx) => {
                let replies: Vec<Reply> = batch.into_iter().map(|c| run_in_savepoint(&mut tx, c)).collect();
                match tx.commit() {
                    Ok(()) => replies,
                    Err(e) => replies.into_iter().map(|r| r.fail(&e.to_string())).collect(),
                }
            }
            Err(e) => {
                let message = e.to_string();
                batch.into_iter().map(|c| reply_with_error(c, &message)).collect()
            }
        };
        replies.into_iter().for_each(Reply::send);
    }
}

fn reply_with_error(c: Command, message: &str) -> Reply {
    match c {
        Command::Insert(_, s) => Reply::Insert(s, Err(unavailable(message))),
        Command::Lease(_, s) => Reply::Lease(s, Err(unavailable(message))),
        Command::Finish(_, s) => Reply::Finish(s, Err(unavailable(message))),
    }
}

/// Each command gets a savepoint, so one failing command does not undo its neighbours.
fn run_in_savepoint(tx: &mut Transaction<'_>, c: Command) -> Reply {
    let mut sp = match tx.savepoint() {
        Ok(sp) => sp,
        Err(e) => return reply_with_error(c, &e.to_string()),
    };
    let reply = match c {
        Command::Insert(events, s) => Reply::Insert(s, insert_events(&sp, &events)),
        Command::Lease(req, s) => Reply::Lease(s, lease(&sp, &req)),
        Command::Finish(report, s) => Reply::Finish(s, finish(&sp, &report)),
    };
    let ok = match &reply {
        Reply::Insert(_, r) => r.is_ok(),
        Reply::Lease(_, r) => r.is_ok(),
        Reply::Finish(_, r) => r.is_ok(),
    };
    let ended = if ok { sp.commit() } else { sp.rollback() };
    match ended {
        Ok(()) => reply,
        Err(e) => reply.fail(&e.to_string()),
    }
}

fn insert_events(conn: &Connection, events: &[NewEvent]) -> StoreResult<Vec<Inserted>> {
    let mut out = Vec::with_capacity(events.len());
    let mut event_stmt = conn
        .prepare_cached(
            "INSERT INTO events (uuid, topic, date, received_at, body) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (uuid) DO NOTHING",
        )
        .map_err(unavailable)?;
    let mut delivery_stmt = conn
        .prepare_cached(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, next_attempt_at, created_at, updated_at,
                                     config_version, request, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10)",
        )
        .map_err(unavailable)?;
    for e in events {
        let fresh =
            event_stmt.execute(params![e.uuid, e.topic, e.date, e.received_at, e.body]).map_err(unavailable)? == 1;
        if !fresh {
            let existing: i64 = conn
                .query_row("SELECT count(*) FROM deliveries WHERE event_uuid = ?1", [&e.uuid], |r| r.get(0))
                .map_err(unavailable)?;
            out.push(Inserted { uuid: e.uuid.clone(), deliveries: existing as usize, duplicate: true });
            continue;
        }
        for d in &e.deliveries {
            let request = serde_json::to_string(&d.request).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            let due = (d.status == DeliveryStatus::Pending).then_some(e.received_at);
            delivery_stmt
                .execute(params![
                    d.id,
                    e.uuid,
                    d.subscription,
                    e.topic,
                    d.status.as_str(),
                    due,
                    e.received_at,
                    d.config_version,
                    request,
                    d.error
                ])
                .map_err(unavailable)?;
        }
        out.push(Inserted { uuid: e.uuid.clone(), deliveries: e.deliveries.len(), duplicate: false });
    }
    Ok(out)
}

fn lease(conn: &Connection, req: &LeaseRequest) -> StoreResult<Vec<Leased>> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE deliveries
                SET status = 'in_flight', lease_owner = ?1, next_attempt_at = ?2, attempts = attempts + 1, updated_at = ?3
              WHERE id IN (SELECT id FROM deliveries
                            WHERE status IN ('pending', 'in_flight') AND next_attempt_at <= ?3
                            ORDER BY next_attempt_at LIMIT ?4)
          RETURNING id, event_uuid, subscription, topic, attempts, request",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![req.owner, req.lease_until, req.now, req.limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
        })
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, event_uuid, subscription, topic, attempt, request) = row.map_err(unavailable)?;
        let request = serde_json::from_str(&request).map_err(|e| StoreError::Corrupt(format!("delivery {id}: {e}")))?;
        out.push(Leased { id, event_uuid, subscription, topic, attempt, request });
    }
    Ok(out)
}

fn finish(conn: &Connection, r: &AttemptReport) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            r.delivery_id,
            r.attempt,
            r.started_at,
            r.duration_ms,
            r.status_code,
            r.response_body,
            r.error
        ])
    })
    .map_err(unavailable)?;
    let (status, next) = match r.outcome {
        Outcome::Succeeded => (DeliveryStatus::Succeeded, None),
        Outcome::Retry { at } => (DeliveryStatus::Pending, Some(at)),
        Outcome::Failed => (DeliveryStatus::Failed, None),
    };
    conn.prepare_cached(
        "UPDATE deliveries SET status = ?1, next_attempt_at = ?2, lease_owner = NULL, updated_at = ?3,
                               last_status = ?4, last_error = ?5
          WHERE id = ?6 AND status = 'in_flight' AND lease_owner = ?7 AND attempts = ?8",
    )
    .and_then(|mut s| {
        s.execute(params![
            status.as_str(),
            next,
            crate::now_ms(),
            r.status_code,
            r.error,
            r.delivery_id,
            r.owner,
            r.attempt
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}

const SUMMARY_COLUMNS: &str = "id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                               next_attempt_at, last_status, last_error, config_version";

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliverySummary> {
    let status: String = r.get(4)?;
    Ok(DeliverySummary {
        id: r.get(0)?,
        event: r.get(1)?,
        subscription: r.get(2)?,
        topic: r.get(3)?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: r.get(5)?,
        created_at: iso(r.get(6)?),
        updated_at: iso(r.get(7)?),
        next_attempt_at: r.get::<_, Option<i64>>(8)?.filter(|_| status == "pending").map(iso),
        last_status_code: r.get(9)?,
        last_error: r.get(10)?,
        config_version: r.get(11)?,
    })
}

fn list(conn: &Connection, q: &DeliveryQuery) -> StoreResult<DeliveryPage> {
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut add = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(s) = q.status {
        add("status =", s.as_str().to_string().into());
    }
    if let Some(s) = &q.subscription {
        add("subscription =", s.clone().into());
    }
    if let Some(t) = &q.topic {
        add("topic =", t.clone().into());
    }
    if let Some(e) = &q.event {
        add("event_uuid =", e.clone().into());
    }
    if let Some(t) = q.since {
        add("created_at >=", t.into());
    }
    if let Some(t) = q.until {
        add("created_at <", t.into());
    }
    if let Some(c) = &q.cursor {
        add("id <", c.clone().into());
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", q.limit + 1));
    let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
    let mut deliveries: Vec<DeliverySummary> = stmt
        .query_map(rusqlite::params_from_iter(args), summary)
        .and_then(|rows| rows.collect())
        .map_err(unavailable)?;
    let next_cursor = if deliveries.len() > q.limit {
        deliveries.truncate(q.limit);
        deliveries.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(DeliveryPage { deliveries, next_cursor })
}

fn detail(conn: &Connection, id: &str) -> StoreResult<Option<DeliveryDetail>> {
    let row = conn
        .query_row(&format!("SELECT {SUMMARY_COLUMNS}, request FROM deliveries WHERE id = ?1"), [id], |r| {
            Ok((summary(r)?, r.get::<_, String>(12)?))
        })
        .optional()
        .map_err(unavailable)?;
    let Some((summary, request)) = row else { return Ok(None) };
    let request: StoredRequest =
        serde_json::from_str(&request).map_err(|e| StoreError::Corrupt(format!("delivery {id}: {e}")))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT attempt, started_at, duration_ms, status_code, response_body, error
               FROM attempts WHERE delivery_id = ?1 ORDER BY attempt",
        )
        .map_err(unavailable)?;
    let attempts = stmt
        .query_map([id], |r| {
            Ok(Attempt {
                attempt: r.get(0)?,
                started_at: iso(r.get(1)?),
                duration_ms: r.get(2)?,
                status_code: r.get(3)?,
                response_body: r.get(4)?,
                error: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(unavailable)?;
    Ok(Some(DeliveryDetail { summary, request: request.redacted(), attempts }))
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>> {
        self.command(|tx| Command::Insert(events, tx)).await
    }

    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>> {
        self.command(|tx| Command::Lease(lease, tx)).await
    }

    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()> {
        self.command(|tx| Command::Finish(Box::new(report), tx)).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT min(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'in_flight')",
                [],
                |r| r.get(0),
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn list_deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryPage> {
        self.read(move |c| list(c, &query)).await
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryDetail>> {
        let id = id.to_string();
        self.read(move |c| detail(c, &id)).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(unavailable)).await
    }
}
