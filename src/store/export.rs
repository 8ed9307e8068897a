//! Reading stored events out, read-only, for `hookshape events export` and `hookshape diff
//! --store`: a SQLite file opened read-only (never created, migrated or written) or a
//! PostgreSQL URL in a read-only transaction, each event's stored envelope handed over one
//! at a time, oldest first, so an export of millions of events holds one in memory.

use std::path::Path;

use futures_util::StreamExt;

/// Which stored events to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// A topic name or a `*` glob.
    pub topic: Option<String>,
    /// Whether a topic matches `topic` (the routing's own glob match, which lives above the
    /// store): None takes every topic.
    pub matches: Option<fn(&str, &str) -> bool>,
    /// Only events received at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only the newest N (still handed over oldest first).
    pub last: Option<usize>,
}

impl Selection {
    fn takes(&self, topic: &str) -> bool {
        match (self.topic.as_deref(), self.matches) {
            (Some(pattern), Some(matches)) => matches(pattern, topic),
            (Some(pattern), None) => pattern == topic,
            (None, _) => true,
        }
    }

    /// The exact topic SQL can select by, when the pattern has no `*`.
    fn exact_topic(&self) -> Option<&str> {
        self.topic.as_deref().filter(|p| !p.contains('*'))
    }

    /// `ORDER BY` direction: newest first when only the last N are wanted.
    fn order(&self) -> &'static str {
        if self.last.is_some() {
            "DESC"
        } else {
            "ASC"
        }
    }
}

/// Collects what a newest-first read gives for `--last N` and hands it over oldest first;
/// passes everything else straight through.
struct Sink<'a> {
    selection: &'a Selection,
    newest_first: Vec<String>,
    each: &'a mut dyn FnMut(String) -> anyhow::Result<()>,
}

impl Sink<'_> {
    /// Takes one row; false once `--last N` has its N.
    fn take(&mut self, topic: &str, body: String) -> anyhow::Result<bool> {
        if !self.selection.takes(topic) {
            return Ok(true);
        }
        match self.selection.last {
            None => (self.each)(body).map(|()| true),
            Some(n) => {
                self.newest_first.push(body);
                Ok(self.newest_first.len() < n)
            }
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        while let Some(body) = self.newest_first.pop() {
            (self.each)(body)?;
        }
        Ok(())
    }
}

fn query(selection: &Selection, placeholder: &dyn Fn(usize) -> String) -> String {
    let mut conditions = Vec::new();
    if selection.since_ms.is_some() {
        conditions.push(format!("received_at >= {}", placeholder(conditions.len() + 1)));
    }
    if selection.exact_topic().is_some() {
        conditions.push(format!("topic = {}", placeholder(conditions.len() + 1)));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let order = selection.order();
    format!("SELECT topic, body FROM events {filter} ORDER BY received_at {order}, uuid {order}")
}

/// Hands each selected event's stored envelope (JSON text) of the SQLite file at `path`
/// to `each`, oldest first. The file is opened read-only: a missing file is an error, not
/// a new database.
pub fn read_sqlite(
    path: &Path,
    selection: &Selection,
    each: &mut dyn FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let what = path.display().to_string();
    if !path.is_file() {
        anyhow::bail!("{what}: no such SQLite file");
    }
    let conn = open_read_only(path).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    // A running server holds the writer: wait for it a little rather than fail at once.
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    let sql = query(selection, &|i| format!("?{i}"));
    let mut statement = conn.prepare(&sql).map_err(|e| anyhow::anyhow!("{what}: not a hookshape store: {e}"))?;
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    params.extend(selection.since_ms.map(rusqlite::types::Value::Integer));
    params.extend(selection.exact_topic().map(|t| rusqlite::types::Value::Text(t.to_string())));
    let mut rows = statement.query(rusqlite::params_from_iter(params)).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let mut sink = Sink { selection, newest_first: Vec::new(), each };
    while let Some(row) = rows.next().map_err(|e| anyhow::anyhow!("{what}: {e}"))? {
        let topic: String = row.get(0).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        let body: String = row.get(1).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        if !sink.take(&topic, body)? {
            break;
        }
    }
    sink.finish()
}

/// Opens the file read-only. With no `-wal` beside it nobody has it open (hookshape
/// checkpoints and removes its WAL when it stops), so it is opened `immutable`: SQLite then
/// creates no `-wal` or `-shm` file either, and the directory is left exactly as it was.
/// With a WAL, a server may be writing: a plain read-only connection takes part in WAL's
/// locking (through the `-shm` file the server has), so it reads a consistent snapshot.
fn open_read_only(path: &Path) -> Result<rusqlite::Connection, String> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let wal = format!("{}-wal", path.display());
    if Path::new(&wal).exists() {
        return rusqlite::Connection::open_with_flags(path, flags - OpenFlags::SQLITE_OPEN_URI)
            .map_err(|e| e.to_string());
    }
    let absolute = std::path::absolute(path).map_err(|e| e.to_string())?;
    let mut uri = url::Url::from_file_path(&absolute).map_err(|()| "not a file path".to_string())?;
    uri.set_query(Some("immutable=1"));
    rusqlite::Connection::open_with_flags(uri.as_str(), flags).map_err(|e| e.to_string())
}

/// `read_sqlite` for a PostgreSQL store: its own connection (no pool, no migration), one
/// `READ ONLY` transaction, rows streamed as the server sends them.
pub async fn read_postgres(
    url: &str,
    selection: &Selection,
    each: &mut dyn FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(pg)?;
    let connection = tokio::spawn(connection);
    let result = async {
        let tx = client.build_transaction().read_only(true).start().await.map_err(pg)?;
        let sql = query(selection, &|i| format!("${i}"));
        let mut params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = Vec::new();
        if let Some(since) = selection.since_ms {
            params.push(Box::new(since));
        }
        if let Some(topic) = selection.exact_topic() {
            params.push(Box::new(topic.to_string()));
        }
        let rows = tx.query_raw(&sql, params.iter().map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)));
        let mut rows = Box::pin(rows.await.map_err(pg)?);
        let mut sink = Sink { selection, newest_first: Vec::new(), each };
        while let Some(row) = rows.next().await {
            let row = row.map_err(pg)?;
            let topic: String = row.try_get(0).map_err(pg)?;
            let body: String = row.try_get(1).map_err(pg)?;
            if !sink.take(&topic, body)? {
                break;
            }
        }
        drop(rows);
        tx.rollback().await.map_err(pg)?;
        sink.finish()
    }
    .await;
    drop(client);
    let _ = connection.await;
    result
}

fn pg(e: tokio_postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => anyhow::anyhow!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        None => {
            let mut text = format!("PostgreSQL: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            anyhow::anyhow!(text)
        }
    }
}
