//! The PostgreSQL store, for several nodes sharing one queue. Each operation is one
//! statement or one short transaction on a pooled connection; nodes coordinate only
//! through row locks (`FOR UPDATE SKIP LOCKED`) and advisory locks, never through memory.

mod by_index;
mod migrate;
mod notify;
mod pacing;
pub mod prefill;
mod sql;
mod vacuum;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

use super::*;

#[doc(hidden)]
pub use by_index::INDEX_ONLY;
#[doc(hidden)]
pub use sql::{lease_statement, queue_by_id_statements, timer_and_page_statements, PlanStatement};

/// Connections per node. The dispatcher holds one only to lease or record an attempt, so
/// a few serve hundreds of requests in flight; size `max_connections` for nodes × this.
pub const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
    /// For the listening connection, which is not pooled.
    config: tokio_postgres::Config,
    /// Intake's inserts, committed together (see `insert_loop`).
    inserts: mpsc::Sender<InsertJob>,
    /// While this lives, `vacuum::keep_queue_small` runs.
    _alive: std::sync::Arc<()>,
    /// Due rows leases missed since start, held by other transactions (`Store::lease_skipped`).
    lease_skipped: std::sync::atomic::AtomicU64,
}

/// Events to insert, and where their results go.
type InsertJob = (Vec<NewEvent>, oneshot::Sender<StoreResult<Vec<Inserted>>>);

/// Events inserted by one statement at most.
const INSERT_BATCH: usize = 1000;
/// Inserts running at once: each is a statement, so concurrent requests share commits.
/// One: each commit costs PostgreSQL its WAL flush and a statement's set-up whatever it
/// carries, so the fewer and fuller the better. With four the batches were smaller and the
/// commits more (0.28 WAL syncs per delivery at fan-out 1 against 0.21 with two); with one
/// against two, 0.15 transactions per delivery against 0.20 and PostgreSQL's CPU per
/// delivery at fan-out 1 a median 135 µs against 155 (eleven alternating pairs), fan-out 10
/// and a prune's p99 beside intake unchanged (BENCHMARKS.md "One intake statement at a time").
const INSERTERS: usize = 1;
/// How long the recorder waits to fill a results statement (`Store::results_linger`).
/// The statement's set-up, round trip and commit cost PostgreSQL far more than a result's
/// rows: committing what finished during the last commit alone gave about 5 results a
/// statement at fan-out 1. Only the history waits: the delivery was sent already.
const RESULTS_LINGER: Duration = Duration::from_millis(5);

/// Group commit for intake: every insert waiting when one finishes goes into the next
/// statement together, so a commit (PostgreSQL's fsync) serves many requests; the batch
/// grows with the load while the statement before it runs.
async fn insert_loop(pool: Pool, mut jobs: mpsc::Receiver<InsertJob>) {
    let running = std::sync::Arc::new(tokio::sync::Semaphore::new(INSERTERS));
    while let Some(first) = jobs.recv().await {
        let Ok(permit) = running.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        let mut events = batch[0].0.len();
        while events < INSERT_BATCH {
            match jobs.try_recv() {
                Ok(job) => {
                    events += job.0.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            insert_batch(&pool, batch).await;
            drop(permit);
        });
    }
}

async fn insert_batch(pool: &Pool, batch: Vec<InsertJob>) {
    let sizes: Vec<usize> = batch.iter().map(|(events, _)| events.len()).collect();
    let (events, replies): (Vec<Vec<NewEvent>>, Vec<_>) = batch.into_iter().unzip();
    let events: Vec<NewEvent> = events.into_iter().flatten().collect();
    match insert_now(pool, events).await {
        Ok(results) => {
            let mut results = results.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(results.by_ref().take(size).collect()));
            }
        }
        // Another's event the store refuses must not fail the rest: each alone, once.
        Err((StoreError::Rejected(_), events)) if replies.len() > 1 => {
            let mut events = events.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(insert_now(pool, events.by_ref().take(size).collect()).await.map_err(|(e, _)| e));
            }
        }
        Err((e, _)) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Inserts `events` in one statement; on an error, gives them back with it.
async fn insert_now(pool: &Pool, events: Vec<NewEvent>) -> Result<Vec<Inserted>, (StoreError, Vec<NewEvent>)> {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(e) => return Err((pool_error(e), events)),
    };
    let (mut inserted, leased) = match sql::insert_events(&client, &events).await {
        Ok(done) => done,
        Err(e) => return Err((e, events)),
    };
    // Deliveries stored pending (not leased at insert) are any node's to send.
    let pending = inserted.iter().zip(&events).zip(&leased).any(|((result, event), flags)| {
        !result.duplicate
            && event.deliveries.iter().zip(flags).any(|(d, leased)| d.status == DeliveryStatus::Pending && !leased)
    });
    if pending {
        // Committed already: a failed NOTIFY only delays other nodes until they poll.
        if let Err(e) = notify::work_is_due(&client).await {
            tracing::warn!(error = %e, "could not wake other nodes for new deliveries");
        }
    }
    for ((result, event), flags) in inserted.iter_mut().zip(events).zip(leased) {
        result.leased = event.take_leased(&flags);
    }
    Ok(inserted)
}

/// A PostgreSQL error with the server's own message, which names the table or constraint,
/// or with its causes (a refused connection, an unknown URL option) when there is none.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // Classes 22 (data exception) and 23 (integrity constraint): this write, whenever sent.
        Some(db) if matches!(&db.code().code()[..2], "22" | "23") => {
            StoreError::Rejected(format!("PostgreSQL: {} ({})", db.message(), db.code().code()))
        }
        Some(db) if db.code().code() == "53100" => {
            StoreError::CannotWrite(format!("PostgreSQL: {} ({})", db.message(), db.code().code()))
        }
        Some(db) => StoreError::Unavailable(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => StoreError::Unavailable(format!("PostgreSQL: {}", with_causes(&e))),
    }
}

/// Where a URL points, for messages: hosts, ports and database, never the password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!("{}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
}

fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => StoreError::Unavailable(format!("PostgreSQL connection pool: {other}")),
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, any libpq-style parameters such
    /// as `options=-c search_path=hookshape`) and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Unavailable(format!("store URL is not a PostgreSQL URL: {}", with_causes(&e)))
        })?;
        let target = describe_target(&config);
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(|e| match pool_error(e) {
            StoreError::Unavailable(why) => StoreError::Unavailable(format!("{why} (at {target})")),
            other => other,
        })?;
        let schema: Option<String> =
            client.query_one("SELECT current_schema()", &[]).await.and_then(|r| r.try_get(0)).map_err(pg_error)?;
        if schema.is_none() {
            return Err(StoreError::Unavailable(
                "PostgreSQL: no schema of the search_path exists; create it (CREATE SCHEMA …) or fix the URL's options"
                    .into(),
            ));
        }
        migrate::migrate(&mut client).await?;
        drop(client);
        let (inserts, jobs) = mpsc::channel(INSERT_BATCH);
        tokio::spawn(insert_loop(pool.clone(), jobs));
        let alive = std::sync::Arc::new(());
        tokio::spawn(vacuum::keep_queue_small(pool.clone(), std::sync::Arc::downgrade(&alive)));
        Ok(Self { pool, config, inserts, _alive: alive, lease_skipped: Default::default() })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the PostgreSQL inserter has stopped".into());
        self.inserts.send((events, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn add_deliveries(&self, event_uuid: &str, topic: &str, deliveries: Vec<NewDelivery>) -> StoreResult<usize> {
        let client = self.client().await?;
        let added = sql::add_deliveries(&client, event_uuid, topic, &deliveries, crate::now_ms()).await?;
        notify::work_is_due(&client).await?;
        Ok(added)
    }

    fn wake_on_work(&self, wake: &std::sync::Arc<tokio::sync::Notify>) {
        notify::spawn(self.config.clone(), wake);
    }

    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>> {
        let (leased, missed) = sql::lease(&mut self.client().await?, &lease).await?;
        self.lease_skipped.fetch_add(missed, std::sync::atomic::Ordering::Relaxed);
        Ok(leased)
    }

    fn lease_skipped(&self) -> u64 {
        self.lease_skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()> {
        sql::finish(&mut self.client().await?, &report).await
    }

    async fn finish_attempts(&self, reports: Vec<AttemptReport>) -> StoreResult<()> {
        sql::finish_batch(&mut self.client().await?, &reports).await
    }

    async fn retry_now(&self, id: &str) -> StoreResult<RetryNow> {
        let client = self.client().await?;
        let retried = sql::retry_now(&client, id, crate::now_ms()).await?;
        if retried == RetryNow::Scheduled {
            notify::work_is_due(&client).await?;
        }
        Ok(retried)
    }

    async fn render_again(&self, id: &str, request: StoredRequest, config_version: &str) -> StoreResult<RetryNow> {
        let request = serde_json::to_string(&request).map_err(|e| StoreError::Rejected(format!("{id}: {e}")))?;
        let client = self.client().await?;
        let again = sql::render_again(&client, id, &request, config_version, crate::now_ms()).await?;
        if again == RetryNow::Scheduled {
            notify::work_is_due(&client).await?;
        }
        Ok(again)
    }

    async fn retry_batch(&self, query: DeliveryQuery) -> StoreResult<RetriedBatch> {
        let client = self.client().await?;
        let batch = sql::retry_batch(&client, &query, crate::now_ms()).await?;
        if batch.retried > 0 {
            notify::work_is_due(&client).await?;
        }
        Ok(batch)
    }

    async fn disable(&self, subscription: &str, reason: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        sql::disable(&tx, subscription, reason, crate::now_ms()).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn enable(&self, subscription: &str) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let released = sql::enable(&mut client, subscription, crate::now_ms()).await?;
        if released > 0 {
            notify::work_is_due(&client).await?;
        }
        Ok(released)
    }

    fn results_linger(&self) -> Duration {
        RESULTS_LINGER
    }

    async fn prune(&self, finished_before: i64, limit: usize) -> StoreResult<u64> {
        sql::prune(&self.client().await?, finished_before, limit).await
    }

    async fn compact_counts(&self, now: i64) -> StoreResult<()> {
        sql::compact_counts(&self.client().await?, now).await
    }

    async fn next_due_at(&self, loaded: Option<&[String]>) -> StoreResult<Option<i64>> {
        sql::next_due_at(&self.client().await?, loaded).await
    }

    async fn keep_loaded(&self, node: &str, loaded: &[String], grace_ms: i64) -> StoreResult<u64> {
        sql::keep_loaded(&self.client().await?, node, loaded, grace_ms, crate::now_ms()).await
    }

    async fn loaded_elsewhere(&self, node: &str, subscription: &str) -> StoreResult<bool> {
        sql::loaded_elsewhere(&self.client().await?, node, subscription).await
    }

    async fn list_deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryPage> {
        sql::list(&self.client().await?, &query).await
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryDetail>> {
        sql::detail(&self.client().await?, id).await
    }

    async fn get_event(&self, uuid: &str) -> StoreResult<Option<StoredEvent>> {
        sql::event(&self.client().await?, uuid).await
    }

    async fn subscription_states(&self) -> StoreResult<Vec<SubscriptionState>> {
        sql::subscription_states(&self.client().await?, crate::now_ms()).await
    }

    async fn queue_stats(&self, finished: bool) -> StoreResult<QueueStats> {
        sql::queue_stats(&self.client().await?, finished).await
    }

    async fn release_leases(&self, owner: &str, now: i64) -> StoreResult<u64> {
        let client = self.client().await?;
        let released = sql::release_leases(&client, owner, now).await?;
        if released > 0 {
            notify::work_is_due(&client).await?;
        }
        Ok(released)
    }

    async fn release_unsent(&self, owner: &str, leases: &[UnsentLease], now: i64) -> StoreResult<u64> {
        let client = self.client().await?;
        let released = sql::release_unsent(&client, owner, leases, now).await?;
        if released > 0 {
            notify::work_is_due(&client).await?;
        }
        Ok(released)
    }

    async fn heartbeat(&self, node: &str, now: i64) -> StoreResult<u64> {
        let client = self.client().await?;
        let taken_back = sql::heartbeat(&client, node, now).await?;
        if taken_back > 0 {
            notify::work_is_due(&client).await?;
        }
        Ok(taken_back)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await.map(drop).map_err(pg_error)
    }

    async fn revoke_session(&self, nonce: &str, until: i64, now: i64) -> StoreResult<()> {
        sql::revoke_session(&self.client().await?, nonce, until, now).await
    }

    async fn revoked_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        sql::revoked_sessions(&self.client().await?, now).await
    }

    async fn claim_send_slot(
        &self,
        subscription: &str,
        now_us: i64,
        interval_us: i64,
        ahead_us: i64,
    ) -> StoreResult<SendSlot> {
        pacing::claim(&self.client().await?, subscription, now_us, interval_us, ahead_us).await
    }

    async fn pause_subscription(&self, subscription: &str, until_ms: i64) -> StoreResult<()> {
        pacing::pause(&self.client().await?, subscription, until_ms).await
    }

    async fn paused_subscriptions(&self, now_ms: i64) -> StoreResult<Vec<(String, i64)>> {
        pacing::paused(&self.client().await?, now_ms).await
    }
}
