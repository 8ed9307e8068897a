//! Durable state behind one trait: events, deliveries (a queue leased with expiry),
//! attempts. This is the only module that speaks SQL; SQLite is the embedded default and
//! the trait is shaped so a PostgreSQL implementation can share it.

pub mod sqlite;
mod types;

use async_trait::async_trait;

pub use types::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take work right now (disk full, locked, gone): intake answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not decode: a bug or a hand-edited database.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Commits each event with its deliveries atomically; an event whose Uuid is already
    /// stored creates nothing and reports `duplicate`. Returns only once durable.
    async fn insert_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<Inserted>>;

    /// Leases up to `limit` due deliveries (pending ones whose time has come, and in-flight
    /// ones whose lease expired) to `owner` until `lease_until`, counting the attempt.
    async fn lease(&self, lease: LeaseRequest) -> StoreResult<Vec<Leased>>;

    /// Records an attempt and moves its delivery to the outcome's state. An outcome for a
    /// lease that was lost (expired and taken over) records the attempt only.
    async fn finish_attempt(&self, report: AttemptReport) -> StoreResult<()>;

    /// When the next pending delivery falls due, if any.
    async fn next_due_at(&self) -> StoreResult<Option<i64>>;

    async fn list_deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryPage>;

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryDetail>>;

    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
