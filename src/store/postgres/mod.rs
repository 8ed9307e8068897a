//! The PostgreSQL store, for several nodes sharing one queue. Each operation is one
//! statement or one short transaction on a pooled connection; nodes coordinate only
//! through row locks (`FOR UPDATE SKIP LOCKED`) and advisory locks, never through memory.

mod migrate;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::*;

/// Connections per node. The dispatcher holds one only to lease or record an attempt, so
/// a few serve hundreds of requests in flight; size `max_connections` for nodes × this.
pub const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
}

/// A PostgreSQL error with the server's own message, which names the table or constraint,
/// or with its causes (a refused connection, an unknown URL option) when there is none.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
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
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
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
        Ok(Self { pool })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>> {
        let (mut inserted, leased) = sql::insert_events(&self.client().await?, &events).await?;
        for ((result, event), flags) in inserted.iter_mut().zip(events).zip(leased) {
            result.leased = event.take_leased(&flags);
        }
        Ok(inserted)
    }

    async fn add_deliveries(&self, event_uuid: &str, topic: &str, deliveries: Vec<NewDelivery>) -> StoreResult<usize> {
        let client = self.client().await?;
        sql::add_deliveries(&client, event_uuid, topic, &deliveries, crate::now_ms()).await
    }

    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>> {
        sql::lease(&mut self.client().await?, &lease).await
    }

    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()> {
        sql::finish(&mut self.client().await?, &report).await
    }

    async fn finish_attempts(&self, reports: Vec<AttemptReport>) -> StoreResult<()> {
        sql::finish_batch(&mut self.client().await?, &reports).await
    }

    async fn retry_now(&self, id: &str) -> StoreResult<RetryNow> {
        sql::retry_now(&self.client().await?, id, crate::now_ms()).await
    }

    async fn disable(&self, subscription: &str, reason: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        sql::disable(&tx, subscription, reason, crate::now_ms()).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn enable(&self, subscription: &str) -> StoreResult<u64> {
        sql::enable(&mut self.client().await?, subscription, crate::now_ms()).await
    }

    async fn prune(&self, finished_before: i64, limit: usize) -> StoreResult<u64> {
        sql::prune(&self.client().await?, finished_before, limit).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        sql::next_due_at(&self.client().await?).await
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
        sql::subscription_states(&self.client().await?).await
    }

    async fn queue_stats(&self, finished: bool) -> StoreResult<QueueStats> {
        sql::queue_stats(&self.client().await?, finished).await
    }

    async fn release_leases(&self, owner: &str, now: i64) -> StoreResult<u64> {
        sql::release_leases(&self.client().await?, owner, now).await
    }

    async fn heartbeat(&self, node: &str, now: i64) -> StoreResult<u64> {
        sql::heartbeat(&self.client().await?, node, now).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await.map(drop).map_err(pg_error)
    }
}
