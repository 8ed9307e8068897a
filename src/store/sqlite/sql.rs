//! The SQL behind `SqliteStore`: one function per store operation, each given a
//! connection (the writer's batch transaction, or a reader).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension};

use super::unavailable;
use crate::store::query::{finished_rows, live_rows, off_queue_rows};
use crate::store::{query, *};

// The statements every delivery runs (a unit test checks they build no temporary b-tree).
const INSERT_EVENT: &str = "INSERT INTO events (uuid, topic, date, received_at, body, source, schema_problems)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (uuid) DO NOTHING";
const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, next_attempt_at, lease_owner,
                             created_at, updated_at, config_version, request, last_error, source, event_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13)";
const INSERT_KEY: &str =
    "INSERT INTO event_keys (value, path, event_at, event_uuid) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
/// A retry of a subscription disabled while its attempt was in flight is held, not pending:
/// a disabled subscription sends nothing (the disable held only what was pending then).
const FINISH_DELIVERY: &str =
    "UPDATE deliveries SET status = CASE WHEN ?1 = 'pending' AND EXISTS (SELECT 1 FROM subscription_state s
                                             WHERE s.name = deliveries.subscription AND s.disabled = 1)
                                         THEN 'held' ELSE ?1 END,
                           next_attempt_at = ?2, lease_owner = NULL, updated_at = ?3,
                           last_status = ?4, last_error = ?5, attempts = attempts + 1
      WHERE id = ?6 AND status = 'in_flight' AND lease_owner = ?7 AND attempts = ?8 - 1";
const RECORD_ATTEMPT: &str =
    "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const RECORD_LATE_ATTEMPT: &str =
    "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
const DISABLED_OR: &str = "SELECT coalesce((SELECT disabled = 1 FROM subscription_state WHERE name = ?1), ?2)";
const RESET_FAILURES: &str =
    "UPDATE subscription_state SET consecutive_failures = 0, updated_at = CASE WHEN disabled = 1 THEN updated_at ELSE ?2 END
      WHERE name = ?1 AND consecutive_failures > 0";
/// Whether subscription ?1 had a delivery succeed after delivery ?2 was made: then the
/// receiver answered 2xx while ?2 was retrying, and ?2's failure is not a consecutive one.
/// The newest deliveries by id are the last sent (leases go oldest first), so the newest
/// few succeeded ones tell, whether they were made after ?2 (a burst) or before it (a
/// backlog). Run only when a delivery fails for good, so a success writes nothing more.
const SUCCEEDED_SINCE: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM (SELECT updated_at FROM deliveries
                                     WHERE subscription = ?1 AND status = 'succeeded' AND ",
    off_queue_rows!(),
    " ORDER BY id DESC LIMIT 16)
        WHERE updated_at > (SELECT created_at FROM deliveries WHERE id = ?2))"
);

fn corrupt(id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("delivery {id}: {e}"))
}

/// Says so when opening a file an earlier version made is about to build indexes it lacks
/// (`schema.sql`'s or `upgrade`'s): on a long history that takes a while (4 s for 2 million
/// deliveries on the bench machine), and the node is not ready until it is done.
pub fn announce_index_builds(conn: &Connection, path: &std::path::Path) -> StoreResult<()> {
    if !has_object(conn, "deliveries")? {
        return Ok(()); // a new file: its indexes are built empty
    }
    let built = indexes_built_at_open().map(|index| has_object(conn, index)).collect::<StoreResult<Vec<bool>>>()?;
    if built.contains(&false) {
        tracing::info!(
            file = %path.display(),
            "building this version's indexes of the delivery history; on a long history this takes a while"
        );
    }
    Ok(())
}

/// Every index that opening a file builds where it is missing: `schema.sql`'s, then `upgrade`'s.
fn indexes_built_at_open() -> impl Iterator<Item = &'static str> {
    let schema = include_str!("schema.sql").lines().filter_map(|line| line.strip_prefix("CREATE INDEX IF NOT EXISTS "));
    schema.filter_map(|rest| rest.split_whitespace().next()).chain(UPGRADE_INDEXES.iter().map(|(name, _)| *name))
}

/// The indexes `upgrade` adds, by name, to files made before they existed.
const UPGRADE_INDEXES: [(&str, &str); 3] = [
    // An event's deliveries by the time it arrived, then its uuid: new entries go at the
    // index's end, where the uuid alone (random) put each on a page of its own, one more page
    // per event for every commit to write and, in a long history, to read.
    (
        "deliveries_by_event",
        "CREATE INDEX deliveries_by_event ON deliveries (event_at, event_uuid) WHERE event_at IS NOT NULL",
    ),
    // Rows with no `event_at`: those stored before it existed, which are pruned in time, and
    // any added to an event pruned meanwhile (a replay racing the pruner).
    (
        "deliveries_by_event_uuid",
        "CREATE INDEX deliveries_by_event_uuid ON deliveries (event_uuid) WHERE event_at IS NULL",
    ),
    // Most deliveries come from no source: they need no entry.
    ("deliveries_from_source", "CREATE INDEX deliveries_from_source ON deliveries (source) WHERE source IS NOT NULL"),
];

/// Brings a database made by an earlier version up to date (`schema.sql` creates only what
/// is missing whole). Writes nothing when there is nothing to do, so a node still starts
/// on a full disk.
pub fn upgrade(conn: &Connection) -> StoreResult<()> {
    if !has_column(conn, "deliveries", "source")? {
        conn.execute_batch(
            "ALTER TABLE events ADD COLUMN source TEXT;
             ALTER TABLE deliveries ADD COLUMN source TEXT;",
        )
        .map_err(unavailable)?;
    }
    if !has_column(conn, "events", "schema_problems")? {
        conn.execute_batch("ALTER TABLE events ADD COLUMN schema_problems TEXT").map_err(unavailable)?;
    }
    if !has_column(conn, "deliveries", "event_at")? {
        conn.execute_batch("ALTER TABLE deliveries ADD COLUMN event_at INTEGER").map_err(unavailable)?;
    }
    if !has_object(conn, "subscription_seen")? {
        // When this process last had each subscription loaded (`keep_loaded`). Those with
        // live deliveries count as loaded now, when it first appears: their grace starts here.
        conn.execute_batch(concat!(
            "CREATE TABLE subscription_seen (name TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
             INSERT INTO subscription_seen (name, seen_at)
             SELECT DISTINCT subscription, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM deliveries WHERE ",
            live_rows!(),
            ";"
        ))
        .map_err(unavailable)?;
    }
    if !has_object(conn, "delivery_counts")? {
        super::counts::create(conn, crate::now_ms())?;
    }
    for (name, create) in UPGRADE_INDEXES {
        if !has_object(conn, name)? {
            conn.execute_batch(create).map_err(unavailable)?;
        }
    }
    // Replaced: (subscription, status) is the prefix of deliveries_subscription_id_off_queue,
    // the event's uuid by the two indexes above, and the others by partial indexes of the
    // rows they serve (`schema.sql`).
    for old in [
        "deliveries_subscription",
        "deliveries_due",
        "deliveries_finished",
        "deliveries_source",
        "deliveries_event",
        "deliveries_subscription_id",
        "deliveries_status_id",
        "deliveries_finished_at",
    ] {
        if has_object(conn, old)? {
            conn.execute_batch(&format!("DROP INDEX {old}")).map_err(unavailable)?;
        }
    }
    Ok(())
}

fn has_column(conn: &Connection, table: &str, column: &str) -> StoreResult<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)", [table, column], |r| r.get(0))
        .map_err(unavailable)
}

fn has_object(conn: &Connection, name: &str) -> StoreResult<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)", [name], |r| r.get(0))
        .map_err(unavailable)
}

/// A write every second (so a full disk shows), and the leases of any other owner made due:
/// a SQLite file has one serving process, so they are a dead process's. Nothing is written
/// when the store opens, so a node starts even on a full disk.
const WRITE_HEARTBEAT: &str = "INSERT OR REPLACE INTO heartbeat (id, node, at) VALUES (1, ?1, ?2)";

pub fn heartbeat(conn: &Connection, node: &str, now: i64) -> StoreResult<u64> {
    conn.prepare_cached(WRITE_HEARTBEAT).and_then(|mut s| s.execute(params![node, now])).map_err(unavailable)?;
    conn.prepare_cached(TAKE_BACK_OTHERS_LEASES)
        .and_then(|mut s| s.execute(params![node, now]))
        .map(|n| n as u64)
        .map_err(unavailable)
}

/// Each delivery's request as JSON, per event: encoded by the caller, off the writer thread,
/// which every write waits for.
pub fn encode_requests(deliveries: &[NewDelivery]) -> StoreResult<Vec<String>> {
    deliveries.iter().map(|d| serde_json::to_string(&d.request).map_err(|e| corrupt(&d.id, e))).collect()
}

pub fn release_leases(conn: &Connection, owner: &str, now: i64) -> StoreResult<u64> {
    conn.execute(RELEASE_OWN_LEASES, params![owner, now]).map(|n| n as u64).map_err(unavailable)
}

/// `leases` is a JSON array of `[id, until]` pairs.
pub fn release_unsent(conn: &Connection, owner: &str, leases: &str, now: i64) -> StoreResult<u64> {
    conn.execute(RELEASE_UNSENT, params![owner, now, leases]).map(|n| n as u64).map_err(unavailable)
}

/// Inserts the events and their deliveries; for each event, which of its deliveries were
/// stored leased (see `NewDelivery::lease`), for the caller to hand to its dispatcher.
pub fn insert_events(
    conn: &Connection,
    events: &[NewEvent],
    requests: &[Vec<String>],
) -> StoreResult<(Vec<Inserted>, Vec<Vec<bool>>)> {
    let mut out = Vec::with_capacity(events.len());
    let mut leased = Vec::with_capacity(events.len());
    let mut event_stmt = conn.prepare_cached(INSERT_EVENT).map_err(unavailable)?;
    for (e, requests) in events.iter().zip(requests) {
        let fresh = event_stmt
            .execute(params![
                e.uuid,
                e.topic,
                e.date,
                e.received_at,
                e.body,
                e.source,
                problems_column(&e.schema_problems)
            ])
            .map_err(unavailable)?
            == 1;
        if !fresh {
            let existing: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM ({})", query::Dialect::Sqlite.deliveries_of_event("?1")),
                    [&e.uuid],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            out.push(Inserted { uuid: e.uuid.clone(), deliveries: existing as usize, duplicate: true, leased: vec![] });
            leased.push(Vec::new());
            continue;
        }
        let mut key_stmt = conn.prepare_cached(INSERT_KEY).map_err(unavailable)?;
        for k in &e.keys {
            key_stmt.execute(params![k.value, k.path, e.received_at, e.uuid]).map_err(unavailable)?;
        }
        let event =
            EventKey { uuid: &e.uuid, topic: &e.topic, received_at: Some(e.received_at), source: e.source.as_deref() };
        leased.push(add_deliveries(conn, &event, &e.deliveries, requests, e.received_at)?);
        out.push(Inserted { uuid: e.uuid.clone(), deliveries: e.deliveries.len(), duplicate: false, leased: vec![] });
    }
    Ok((out, leased))
}

/// The stored event that deliveries are added to: what each of its rows repeats.
pub struct EventKey<'a> {
    pub uuid: &'a str,
    pub topic: &'a str,
    /// None for an event that is not (or no longer) stored.
    pub received_at: Option<i64>,
    pub source: Option<&'a str>,
}

/// When a stored event arrived and from which source, for deliveries added to it later (a
/// replay); nothing for an event that is not stored.
pub fn arrival_of(conn: &Connection, uuid: &str) -> StoreResult<(Option<i64>, Option<String>)> {
    conn.query_row("SELECT received_at, source FROM events WHERE uuid = ?1", [uuid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map(|row| row.map_or((None, None), |(at, source)| (Some(at), source)))
        .map_err(unavailable)
}

/// Inserts deliveries of a stored event; a pending one for a disabled subscription is held,
/// and one with a lease is stored leased. Returns, per delivery, whether it was leased.
pub fn add_deliveries(
    conn: &Connection,
    event: &EventKey<'_>,
    deliveries: &[NewDelivery],
    requests: &[String],
    now: i64,
) -> StoreResult<Vec<bool>> {
    // Two plain statements rather than one INSERT … RETURNING: SQLite buffers RETURNING
    // rows in a temporary b-tree that it opens and closes for every row.
    let mut disabled_stmt = conn.prepare_cached(DISABLED_OR).map_err(unavailable)?;
    let mut insert = conn.prepare_cached(INSERT_DELIVERY).map_err(unavailable)?;
    let mut leased = Vec::with_capacity(deliveries.len());
    for (d, request) in deliveries.iter().zip(requests) {
        let disabled: bool =
            disabled_stmt.query_row(params![d.subscription, d.needs_activation], |r| r.get(0)).map_err(unavailable)?;
        let first = FirstState::of(d, disabled, now);
        insert
            .execute(params![
                d.id,
                event.uuid,
                d.subscription,
                event.topic,
                first.status.as_str(),
                first.next_attempt_at,
                first.lease_owner,
                now,
                d.config_version,
                request,
                d.error,
                event.source,
                event.received_at
            ])
            .map_err(unavailable)?;
        let was_leased = first.status == DeliveryStatus::InFlight;
        if d.needs_activation {
            register_waiting(conn, &d.subscription, now)?;
        }
        leased.push(was_leased);
    }
    Ok(leased)
}

/// How a new delivery is stored: a pending one for a disabled subscription is held, and one
/// with a lease is stored leased (`in_flight` until the lease's end).
struct FirstState<'a> {
    status: DeliveryStatus,
    next_attempt_at: Option<i64>,
    lease_owner: Option<&'a str>,
}

impl<'a> FirstState<'a> {
    fn of(d: &'a NewDelivery, disabled: bool, now: i64) -> Self {
        let (status, next_attempt_at, lease_owner) = match (d.status, &d.lease) {
            (DeliveryStatus::Pending, _) if disabled => (DeliveryStatus::Held, Some(now), None),
            (DeliveryStatus::Pending, Some(l)) => (DeliveryStatus::InFlight, Some(l.until), Some(&*l.owner)),
            (DeliveryStatus::Pending, None) => (DeliveryStatus::Pending, Some(now), None),
            (other, _) => (other, None, None),
        };
        Self { status, next_attempt_at, lease_owner }
    }
}

/// An `activation: ping` subscription the store has no state for is registered disabled,
/// waiting for its ping, so that retries hold its deliveries as leases do.
fn register_waiting(conn: &Connection, subscription: &str, now: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO subscription_state (name, disabled, disabled_reason, updated_at) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![subscription, crate::store::WAITING_FOR_PING, now]))
    .map_err(unavailable)?;
    Ok(())
}

/// Leases due deliveries oldest first, skipping subscriptions whose cap of unexpired leases
/// is reached; re-queries without them so one saturated subscription cannot starve others.
pub fn lease(conn: &Connection, req: &LeaseRequest) -> StoreResult<Vec<RawLease>> {
    let mut in_flight: HashMap<String, u32> = HashMap::new();
    if !req.caps.is_empty() {
        let mut stmt = conn.prepare_cached(UNEXPIRED_LEASES_BY_SUBSCRIPTION).map_err(unavailable)?;
        // A dead process's leases count only until the heartbeat takes them back (at start).
        let rows =
            stmt.query_map([req.now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))).map_err(unavailable)?;
        for row in rows {
            let (sub, n) = row.map_err(unavailable)?;
            in_flight.insert(sub, n);
        }
    }
    let mut saturated: Vec<String> = req
        .caps
        .iter()
        .filter(|(s, cap)| in_flight.get(*s).copied().unwrap_or(0) >= **cap)
        .map(|(s, _)| s.clone())
        .chain(req.exclude.iter().cloned())
        .collect();
    let mut leased = Vec::new();
    for _round in 0..4 {
        let want = req.limit - leased.len();
        if want == 0 {
            break;
        }
        let sql = due_sql(saturated.len(), req.loaded.as_deref(), want);
        let mut args: Vec<rusqlite::types::Value> = saturated.iter().map(|s| s.clone().into()).collect();
        args.push(req.now.into());
        args.extend(req.loaded.iter().flatten().map(|name| name.clone().into()));
        let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
        let candidates: Vec<(String, String)> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(unavailable)?;
        let exhausted = candidates.len() < want;
        let mut skipped = false;
        for (id, sub) in candidates {
            if let Some(cap) = req.caps.get(&sub) {
                let n = in_flight.entry(sub.clone()).or_default();
                if *n >= *cap {
                    if !saturated.contains(&sub) {
                        saturated.push(sub);
                    }
                    skipped = true;
                    continue;
                }
                *n += 1;
            }
            leased.extend(lease_one(conn, &id, &sub, req)?);
        }
        if exhausted || !skipped {
            break;
        }
    }
    Ok(leased)
}

/// The due deliveries, oldest first, at most `want`, but those of the `excluded`
/// subscriptions (the first parameters), and only of the `loaded` ones (after the time).
fn due_sql(excluded: usize, loaded: Option<&[String]>, want: usize) -> String {
    let exclude: Vec<String> = (1..=excluded).map(|i| format!("?{i}")).collect();
    format!(
        concat!(
            "SELECT id, subscription FROM deliveries WHERE ",
            live_rows!(),
            " AND next_attempt_at <= ?{} AND subscription NOT IN ({}){} ORDER BY next_attempt_at LIMIT {}"
        ),
        excluded + 1,
        exclude.join(", "),
        only_loaded(loaded, excluded + 2),
        want
    )
}

/// ` AND subscription IN (…)` over `loaded`'s names as parameters numbered from `first`
/// (nothing when every subscription's deliveries may be leased): a node leases only what
/// it has loaded.
fn only_loaded(loaded: Option<&[String]>, first: usize) -> String {
    match loaded {
        None => String::new(),
        Some(names) => {
            let params: Vec<String> = (first..first + names.len()).map(|i| format!("?{i}")).collect();
            format!(" AND subscription IN ({})", params.join(", "))
        }
    }
}

/// A leased delivery with its request still JSON: decoded by the caller, off the writer.
pub struct RawLease {
    id: String,
    event_uuid: String,
    subscription: String,
    topic: String,
    attempt: u32,
    send_by: i64,
    lease_until: i64,
    request: String,
}

impl RawLease {
    pub fn decode(self) -> StoreResult<Leased> {
        let request = serde_json::from_str(&self.request).map_err(|e| corrupt(&self.id, e))?;
        let Self { id, event_uuid, subscription, topic, attempt, send_by, lease_until, .. } = self;
        Ok(Leased { id, event_uuid, subscription, topic, attempt, send_by, lease_until, request })
    }
}

const LEASE_ONE: &str = "UPDATE deliveries
                            SET status = 'in_flight', lease_owner = ?1, next_attempt_at = ?2, updated_at = ?3
                          WHERE id = ?4
                      RETURNING id, event_uuid, subscription, topic, attempts + 1, request";

fn lease_one(conn: &Connection, id: &str, subscription: &str, req: &LeaseRequest) -> StoreResult<Option<RawLease>> {
    let mut stmt = conn.prepare_cached(LEASE_ONE).map_err(unavailable)?;
    let lease_until = req.lease_until(subscription);
    let row = stmt
        .query_row(params![req.owner, lease_until, req.now, id], |r| {
            let text = |i| r.get::<_, String>(i);
            Ok((text(0)?, text(1)?, text(2)?, text(3)?, r.get::<_, u32>(4)?, text(5)?))
        })
        .optional()
        .map_err(unavailable)?;
    Ok(row.map(|(id, event_uuid, subscription, topic, attempt, request)| RawLease {
        id,
        event_uuid,
        subscription,
        topic,
        attempt,
        send_by: req.now + SEND_WITHIN_MS,
        lease_until,
        request,
    }))
}

pub fn finish(conn: &Connection, r: &AttemptReport) -> StoreResult<()> {
    let now = crate::now_ms();
    let (status, next) = match r.outcome {
        Outcome::Succeeded => (DeliveryStatus::Succeeded, None),
        Outcome::Retry { at } => (DeliveryStatus::Pending, Some(at)),
        Outcome::Failed => (DeliveryStatus::Failed, None),
    };
    // Only the lease's holder, for the attempt it was leased for, moves the delivery on.
    let moved = conn
        .prepare_cached(FINISH_DELIVERY)
        .and_then(|mut s| {
            s.execute(params![status.as_str(), next, now, r.status_code, r.error, r.delivery_id, r.owner, r.attempt])
        })
        .map_err(unavailable)?;
    // The holder's record wins; a lost lease's late report is kept only if nothing else is.
    let record = if moved > 0 { RECORD_ATTEMPT } else { RECORD_LATE_ATTEMPT };
    conn.prepare_cached(record)
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
    if moved == 0 {
        return Ok(()); // a lost lease: the attempt is history, the state belongs to another
    }
    let failures: i64 = match r.outcome {
        Outcome::Retry { .. } => return Ok(()),
        Outcome::Succeeded => 0,
        // Consecutive means no success in between: a delivery that fails for good after
        // another succeeded since it was made is not counted (a 410 disables whatever the count).
        Outcome::Failed if !r.disable_now && succeeded_since(conn, r)? => return Ok(()),
        Outcome::Failed => conn
            .query_row(
                "INSERT INTO subscription_state (name, consecutive_failures, updated_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (name) DO UPDATE SET consecutive_failures = consecutive_failures + 1,
                                  updated_at = CASE WHEN disabled = 1 THEN updated_at ELSE ?2 END
                 RETURNING consecutive_failures",
                params![r.subscription, now],
                |row| row.get(0),
            )
            .map_err(unavailable)?,
    };
    if failures == 0 {
        conn.prepare_cached(RESET_FAILURES)
            .and_then(|mut s| s.execute(params![r.subscription, now]))
            .map_err(unavailable)?;
    } else if r.disable_now {
        disable(conn, &r.subscription, "the receiver answered 410 Gone", now)?;
    } else if r.disable_after > 0 && failures >= i64::from(r.disable_after) {
        disable(conn, &r.subscription, &format!("{failures} consecutive failed deliveries"), now)?;
    }
    Ok(())
}

fn succeeded_since(conn: &Connection, r: &AttemptReport) -> StoreResult<bool> {
    conn.prepare_cached(SUCCEEDED_SINCE)
        .and_then(|mut s| s.query_row(params![r.subscription, r.delivery_id], |row| row.get(0)))
        .map_err(unavailable)
}

pub fn retry_now(conn: &Connection, id: &str, now: i64) -> StoreResult<RetryNow> {
    let status: Option<String> = conn
        .query_row("SELECT status FROM deliveries WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    match status.as_deref() {
        None => Ok(RetryNow::NotFound),
        Some("shadow") => Ok(RetryNow::Shadow),
        Some("in_flight") => Ok(RetryNow::InFlight),
        Some(_) => {
            // A disabled subscription sends nothing: its retried delivery waits, held, for enable.
            let status: String = conn
                .query_row(
                    "UPDATE deliveries
                        SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_state s
                                                        WHERE s.name = deliveries.subscription AND s.disabled = 1)
                                          THEN 'held' ELSE 'pending' END,
                            next_attempt_at = ?2, lease_owner = NULL, updated_at = ?2
                      WHERE id = ?1
                  RETURNING status",
                    params![id, now],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            Ok(if status == "held" { RetryNow::Held } else { RetryNow::Scheduled })
        }
    }
}

/// `Store::render_again`: only a delivery still failed and never attempted takes it.
pub fn render_again(conn: &Connection, id: &str, request: &str, version: &str, now: i64) -> StoreResult<RetryNow> {
    let status: Option<String> = conn
        .query_row(
            "UPDATE deliveries
                SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_state s
                                                WHERE s.name = deliveries.subscription AND s.disabled = 1)
                                  THEN 'held' ELSE 'pending' END,
                    next_attempt_at = ?2, lease_owner = NULL, updated_at = ?2, request = ?3, config_version = ?4,
                    last_error = NULL
              WHERE id = ?1 AND status = 'failed' AND attempts = 0
          RETURNING status",
            params![id, now, request, version],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(match status.as_deref() {
        None => RetryNow::NotFound,
        Some("held") => RetryNow::Held,
        Some(_) => RetryNow::Scheduled,
    })
}

pub fn disable(conn: &Connection, name: &str, reason: &str, now: i64) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO subscription_state (name, disabled, disabled_reason, updated_at) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET disabled = 1, disabled_reason = ?2,
                                          updated_at = CASE WHEN disabled = 1 THEN updated_at ELSE ?3 END",
        params![name, reason, now],
    )
    .map_err(unavailable)?;
    conn.execute(HOLD_PENDING, params![name, now]).map_err(unavailable)?;
    Ok(())
}

pub fn enable(conn: &Connection, name: &str, now: i64) -> StoreResult<u64> {
    conn.execute(
        "INSERT INTO subscription_state (name, disabled, updated_at) VALUES (?1, 0, ?2)
         ON CONFLICT (name) DO UPDATE SET disabled = 0, disabled_reason = NULL, consecutive_failures = 0, updated_at = ?2",
        params![name, now],
    )
    .map_err(unavailable)?;
    // Due at their creation time, so they are leased oldest first.
    let released = conn.execute(RELEASE_HELD, params![name, now]).map_err(unavailable)?;
    Ok(released as u64)
}

/// The finished deliveries last changed before ?1, at most ?2 of them.
const FINISHED_BEFORE: &str =
    concat!("SELECT id FROM deliveries WHERE ", finished_rows!(), " AND updated_at < ?1 LIMIT ?2");

const DELETE_ATTEMPTS_OF: &str = "DELETE FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?1))";
const DELETE_DELIVERIES: &str = "DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?1))";

/// Events received before ?1 with no delivery left, at most ?2 of them.
fn delete_events_left() -> String {
    format!(
        "DELETE FROM events WHERE uuid IN (SELECT uuid FROM events e WHERE received_at < ?1 AND {} LIMIT ?2)",
        query::NO_DELIVERIES_LEFT
    )
}

/// The search keys of the events `delete_events_left` deletes next (same condition, same
/// order): run just before it, in its transaction.
fn delete_keys_of_events_left() -> String {
    format!(
        "DELETE FROM event_keys WHERE (event_at, event_uuid) IN
           (SELECT received_at, uuid FROM events e WHERE received_at < ?1 AND {} LIMIT ?2)",
        query::NO_DELIVERIES_LEFT
    )
}

pub fn prune(conn: &Connection, before: i64, limit: usize) -> StoreResult<u64> {
    let ids: Vec<String> = conn
        .prepare_cached(FINISHED_BEFORE)
        .and_then(|mut s| s.query_map(params![before, limit as i64], |r| r.get(0))?.collect())
        .map_err(unavailable)?;
    // One statement per table for the whole batch, the ids passed as one JSON array.
    let batch = serde_json::to_string(&ids).map_err(unavailable)?;
    conn.execute(DELETE_ATTEMPTS_OF, [&batch]).map_err(unavailable)?;
    let deleted = conn.execute(DELETE_DELIVERIES, [&batch]).map_err(unavailable)?;
    conn.execute(&delete_keys_of_events_left(), params![before, limit as i64]).map_err(unavailable)?;
    conn.execute(&delete_events_left(), params![before, limit as i64]).map_err(unavailable)?;
    Ok(deleted as u64)
}

fn next_due_sql(loaded: Option<&[String]>) -> String {
    format!(concat!("SELECT min(next_attempt_at) FROM deliveries WHERE ", live_rows!(), "{}"), only_loaded(loaded, 1))
}

pub fn next_due_at(conn: &Connection, loaded: Option<&[String]>) -> StoreResult<Option<i64>> {
    // Asked after every lease that left the queue empty: keep the statement prepared (its
    // text changes only with the number of subscriptions loaded).
    conn.prepare_cached(&next_due_sql(loaded))
        .and_then(|mut s| s.query_row(rusqlite::params_from_iter(loaded.into_iter().flatten()), |r| r.get(0)))
        .map_err(unavailable)
}

/// Notes that this process has `loaded` (each name's `seen_at` written again at most every
/// `seen_refresh_ms`), then fails the live deliveries of every subscription not noted for
/// `grace_ms`, and forgets it (one scan of the live rows per removed subscription, not one
/// a second). See `Store::keep_loaded`.
const NOTE_SEEN: &str = "INSERT INTO subscription_seen (name, seen_at) VALUES (?1, ?2)
     ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at WHERE seen_at < excluded.seen_at - ?3";
const NOT_SEEN_SINCE: &str = "SELECT name FROM subscription_seen WHERE seen_at < ?1";
const FORGET_SEEN: &str = "DELETE FROM subscription_seen WHERE name = ?1";

pub fn keep_loaded(conn: &Connection, loaded: &[String], grace_ms: i64, now: i64) -> StoreResult<u64> {
    let mut note = conn.prepare_cached(NOTE_SEEN).map_err(unavailable)?;
    let refresh = crate::store::seen_refresh_ms(grace_ms);
    for name in loaded {
        note.execute(params![name, now, refresh]).map_err(unavailable)?;
    }
    let gone: Vec<String> = conn
        .prepare_cached(NOT_SEEN_SINCE)
        .and_then(|mut s| {
            s.query_map([now.saturating_sub(crate::store::unseen_for_ms(grace_ms))], |r| r.get(0))?.collect()
        })
        .map_err(unavailable)?;
    let mut failed = 0;
    for name in gone.iter().filter(|n| !loaded.contains(n)) {
        failed += conn
            .prepare_cached(FAIL_REMOVED)
            .and_then(|mut s| s.execute(params![name, now, SUBSCRIPTION_REMOVED]))
            .map_err(unavailable)? as u64;
        conn.execute(FORGET_SEEN, [name]).map_err(unavailable)?;
    }
    Ok(failed)
}

pub fn event(conn: &Connection, uuid: &str) -> StoreResult<Option<StoredEvent>> {
    conn.query_row("SELECT uuid, topic, body, source, schema_problems FROM events WHERE uuid = ?1", [uuid], |r| {
        let schema_problems = problems_from_column(r.get(4)?);
        Ok(StoredEvent { uuid: r.get(0)?, topic: r.get(1)?, body: r.get(2)?, source: r.get(3)?, schema_problems })
    })
    .optional()
    .map_err(unavailable)
}

const STATE_ROWS: &str =
    "SELECT name, disabled, disabled_reason, consecutive_failures, updated_at FROM subscription_state";

/// Every subscription's state and counts: its live rows counted one by one (the queue,
/// not the history), its finished ones from the counters.
pub fn subscription_states(conn: &Connection, now: i64) -> StoreResult<Vec<SubscriptionState>> {
    let mut states: BTreeMap<String, SubscriptionState> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(STATE_ROWS).map_err(unavailable)?;
    let rows = stmt
        .query_map([], |r| {
            let disabled: bool = r.get(1)?;
            Ok(SubscriptionState {
                name: r.get(0)?,
                disabled,
                disabled_reason: r.get(2)?,
                disabled_since: if disabled { Some(r.get(4)?) } else { None },
                consecutive_failures: r.get(3)?,
                counts: query::zero_counts(),
                registered: true,
                last_24h: RecentOutcomes::default(),
            })
        })
        .map_err(unavailable)?;
    for row in rows {
        let s = row.map_err(unavailable)?;
        states.insert(s.name.clone(), s);
    }
    // Live and held rows are counted one by one here: a GROUP BY would sort them all in a
    // temporary b-tree first (with a million pending, 20 MiB on the reading thread, kept after).
    for sql in [LIVE_SUBSCRIPTION_STATUS, HELD_SUBSCRIPTIONS] {
        let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
        let mut rows = stmt.query([]).map_err(unavailable)?;
        while let Some(row) = rows.next().map_err(unavailable)? {
            let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(rusqlite::Error::from));
            let (name, status) = (text(0).map_err(unavailable)?, text(1).map_err(unavailable)?);
            count_in(&mut states, name, status, 1);
        }
    }
    for (name, finished) in super::counts::by_subscription(conn, now)? {
        for (status, n) in &finished.by_status {
            count_in(&mut states, &name, status, *n);
        }
        if let Some(state) = states.get_mut(&name) {
            state.last_24h = finished.last_24h;
        }
    }
    Ok(states.into_values().collect())
}

/// Adds `n` to `name`'s count of `status`, making a state for a name with no row in
/// `subscription_state` (allocating only then).
fn count_in(states: &mut BTreeMap<String, SubscriptionState>, name: &str, status: &str, n: u64) {
    if !states.contains_key(name) {
        let state = SubscriptionState { name: name.to_string(), counts: query::zero_counts(), ..Default::default() };
        states.insert(name.to_string(), state);
    }
    if let Some(counts) = states.get_mut(name).map(|s| &mut s.counts) {
        match counts.get_mut(status) {
            Some(count) => *count += n,
            None => {
                counts.insert(status.to_string(), n);
            }
        }
    }
}

/// The live statuses counted off their indexes (the queue), the finished ones, when asked,
/// from the counters: cheap whatever the history.
pub fn queue_stats(conn: &Connection, finished: bool) -> StoreResult<QueueStats> {
    let mut by_status = query::zero_counts_for(finished);
    if finished {
        super::counts::by_status(conn, &mut by_status)?;
    }
    let mut stmt = conn.prepare_cached(LIVE_COUNTS_BY_STATUS).map_err(unavailable)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))).map_err(unavailable)?;
    for row in rows {
        let (status, n) = row.map_err(unavailable)?;
        by_status.insert(status, n);
    }
    let oldest_pending_created_at =
        conn.prepare_cached(OLDEST_PENDING).and_then(|mut s| s.query_row([], |r| r.get(0))).map_err(unavailable)?;
    let disabled_subscriptions =
        conn.prepare_cached(DISABLED_COUNT).and_then(|mut s| s.query_row([], |r| r.get(0))).map_err(unavailable)?;
    Ok(QueueStats { by_status, oldest_pending_created_at, disabled_subscriptions })
}

// Statements on live rows, or on the others, repeat the WHERE of the partial index that holds
// them (`live_rows!`, `off_queue_rows!`), or SQLite reads the whole table.

const TAKE_BACK_OTHERS_LEASES: &str = concat!(
    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?2, updated_at = ?2
      WHERE status = 'in_flight' AND ",
    live_rows!(),
    " AND lease_owner IS NOT ?1"
);

const FAIL_REMOVED: &str = concat!(
    "UPDATE deliveries SET status = 'failed', lease_owner = NULL, next_attempt_at = NULL, updated_at = ?2,
                           last_error = ?3
      WHERE subscription = ?1 AND ",
    live_rows!()
);

const RELEASE_OWN_LEASES: &str = concat!(
    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?2, updated_at = ?2
      WHERE status = 'in_flight' AND ",
    live_rows!(),
    " AND lease_owner = ?1"
);

/// An in-flight row's `next_attempt_at` is its lease's expiry: with the owner, it names the
/// lease given back (`?3`, a JSON array of `[id, until]` pairs).
const RELEASE_UNSENT: &str = concat!(
    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?2, updated_at = ?2
      WHERE (id, next_attempt_at) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?3))
        AND status = 'in_flight' AND ",
    live_rows!(),
    " AND lease_owner = ?1"
);

const UNEXPIRED_LEASES_BY_SUBSCRIPTION: &str = concat!(
    "SELECT subscription, count(*) FROM deliveries WHERE status = 'in_flight' AND ",
    live_rows!(),
    " AND next_attempt_at > ?1 GROUP BY subscription"
);

const HOLD_PENDING: &str = concat!(
    "UPDATE deliveries SET status = 'held', updated_at = ?2 WHERE subscription = ?1 AND status = 'pending' AND ",
    live_rows!()
);

const RELEASE_HELD: &str = concat!(
    "UPDATE deliveries SET status = 'pending', next_attempt_at = created_at, updated_at = ?2
      WHERE subscription = ?1 AND status = 'held' AND ",
    off_queue_rows!()
);

const LIVE_SUBSCRIPTION_STATUS: &str = concat!("SELECT subscription, status FROM deliveries WHERE ", live_rows!());

/// Each held delivery's subscription (held rows are the off-queue index's, by status).
const HELD_SUBSCRIPTIONS: &str =
    concat!("SELECT subscription, status FROM deliveries WHERE status = 'held' AND ", off_queue_rows!());

const OLDEST_PENDING: &str =
    concat!("SELECT min(created_at) FROM deliveries WHERE status = 'pending' AND ", live_rows!());

const DISABLED_COUNT: &str = "SELECT count(*) FROM subscription_state WHERE disabled = 1";

/// The live statuses' counts, for queue statistics: pending and in_flight off
/// `deliveries_live`, then `held` off `deliveries_status_id_off_queue`; the finished
/// ones come from the counters.
const LIVE_COUNTS_BY_STATUS: &str = concat!(
    "SELECT status, count(*) FROM deliveries WHERE ",
    live_rows!(),
    " GROUP BY status UNION ALL SELECT status, count(*) FROM deliveries WHERE status = 'held' AND ",
    off_queue_rows!(),
    " GROUP BY status"
);

const SUMMARY_COLUMNS: &str = "id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                               next_attempt_at, last_status, last_error, config_version, source,
                               json_extract(request, '$.url'), json_extract(request, '$.masked'),
                               (SELECT a.duration_ms FROM attempts a WHERE a.delivery_id = deliveries.id
                                 ORDER BY a.attempt DESC LIMIT 1)";

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
        source: r.get(12)?,
        url: crate::store::shown_url(r.get(13)?, r.get(14)?),
        last_duration_ms: r.get(15)?,
    })
}

pub fn list(conn: &Connection, q: &DeliveryQuery) -> StoreResult<DeliveryPage> {
    let (sql, args) = list_sql(q);
    let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
    let rows: Vec<DeliverySummary> =
        stmt.query_map(bind(args), summary).and_then(|rows| rows.collect()).map_err(unavailable)?;
    let (deliveries, next_cursor) = query::paginate(rows, q.limit, |d| d.id.clone());
    Ok(DeliveryPage { deliveries, next_cursor })
}

fn list_sql(q: &DeliveryQuery) -> (String, Vec<query::Arg>) {
    let (filters, args) = query::delivery_filters(q, query::Dialect::Sqlite);
    let sql =
        format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE 1 = 1{filters} ORDER BY id DESC LIMIT {}", q.limit + 1);
    (sql, args)
}

pub fn retry_batch(conn: &Connection, q: &DeliveryQuery, now: i64) -> StoreResult<RetriedBatch> {
    let (sql, args) = query::retry_batch(q, now, query::Dialect::Sqlite);
    let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(bind(args), |r| {
            Ok(MadeDue { id: r.get(0)?, subscription: r.get(1)?, held: r.get::<_, String>(2)? == "held" })
        })
        .map_err(unavailable)?;
    let mut batch = RetriedBatch::default();
    for row in rows {
        let row = row.map_err(unavailable)?;
        batch.retried += 1;
        // SQLite compares text bytewise, as `str` does: this is the id its cursor compares.
        if batch.last.as_ref().is_none_or(|last| row.id < *last) {
            batch.last = Some(row.id.clone());
        }
        batch.made_due.push(row);
    }
    Ok(batch)
}

fn bind(args: Vec<query::Arg>) -> rusqlite::ParamsFromIter<impl Iterator<Item = rusqlite::types::Value>> {
    rusqlite::params_from_iter(args.into_iter().map(|a| match a {
        query::Arg::Text(t) => rusqlite::types::Value::from(t),
        query::Arg::Int(i) => rusqlite::types::Value::from(i),
    }))
}

fn detail_sql() -> String {
    format!("SELECT {SUMMARY_COLUMNS}, request FROM deliveries WHERE id = ?1")
}

const ATTEMPTS_OF: &str = "SELECT attempt, started_at, duration_ms, status_code, response_body, error
                             FROM attempts WHERE delivery_id = ?1 ORDER BY attempt";

pub fn detail(conn: &Connection, id: &str) -> StoreResult<Option<DeliveryDetail>> {
    let row = conn
        .query_row(&detail_sql(), [id], |r| Ok((summary(r)?, r.get::<_, String>(16)?)))
        .optional()
        .map_err(unavailable)?;
    let Some((summary, request)) = row else { return Ok(None) };
    let request: StoredRequest = serde_json::from_str(&request).map_err(|e| corrupt(id, e))?;
    let mut stmt = conn.prepare_cached(ATTEMPTS_OF).map_err(unavailable)?;
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

/// `SqliteStore::prefill_finished`: rows made by SQLite itself, a million per transaction.
pub fn prefill_finished(conn: &Connection, n: u64, now: i64) -> StoreResult<()> {
    const CHUNK: u64 = 1_000_000;
    let request = r#"{"method":"POST","url":"http://127.0.0.1:9/prefill","headers":[],"body":"{\"n\":1}"}"#;
    let mut done = 0;
    while done < n {
        let count = CHUNK.min(n - done);
        conn.execute_batch("BEGIN").map_err(unavailable)?;
        // Every statement binds ?1 to ?4 (the request only matters to deliveries).
        let rows = |sql: &str| conn.execute(sql, params![done, count, now, request]).map_err(unavailable);
        let series = "WITH RECURSIVE c(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1 + ?2 - 1)";
        // Ids sort before any live one (dlv_0…), times spread over the last 30 days.
        let at = "?3 - 2592000000 + (x * 2591000000 / (?1 + ?2))";
        let first: i64 =
            conn.query_row("SELECT coalesce(max(rowid), 0) + 1 FROM events", [], |r| r.get(0)).map_err(unavailable)?;
        // Random uuids, as producers send them: an index of them takes each new one at a
        // random place, wherever the history's own sit.
        rows(&format!(
            "{series} INSERT INTO events (uuid, topic, date, received_at, body)
             SELECT lower(hex(randomblob(16))), 'bench.event', '2026-01-01T00:00:00Z', {at}, '{{}}' || substr(?4, 1, 0)
               FROM c"
        ))?;
        // The events just inserted took the rowids from `first` on, in the order of x.
        conn.execute(
            "INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, next_attempt_at,
                                     created_at, updated_at, config_version, request, last_status, event_at)
             SELECT printf('dlv_0%015d', ?1 + rowid - ?2), uuid, 'bench-0', 'bench.event', 'succeeded', 1, NULL,
                    received_at, received_at, 'prefill', ?3, 200, received_at FROM events WHERE rowid >= ?2",
            params![done, first, request],
        )
        .map_err(unavailable)?;
        // Each event indexed by a customer id of its own (`c-` and its number), as a
        // subscription's `search_keys: [Customer.Id]` would, for the bench's key search.
        conn.execute(
            "INSERT INTO event_keys (value, path, event_at, event_uuid)
             SELECT 'c-' || (?1 + rowid - ?2), 'customer.id', received_at, uuid FROM events WHERE rowid >= ?2",
            params![done, first],
        )
        .map_err(unavailable)?;
        rows(&format!(
            "{series} INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body)
             SELECT printf('dlv_0%015d', x), 1, {at}, 3, 200, substr(?4, 1, 0) FROM c"
        ))?;
        conn.execute_batch("COMMIT").map_err(unavailable)?;
        done += count;
    }
    // The triggers counted every row by its hour; fold them as a server's housekeeping would.
    super::counts::compact(conn, now)
}

/// Remembers a signed-out console session until its expiry; forgets those expired.
pub fn revoke_session(conn: &Connection, nonce: &str, until: i64, now: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM revoked_sessions WHERE until <= ?1")
        .and_then(|mut s| s.execute([now]))
        .map_err(unavailable)?;
    conn.prepare_cached("INSERT OR REPLACE INTO revoked_sessions (nonce, until) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(rusqlite::params![nonce, until]))
        .map_err(unavailable)?;
    Ok(())
}

/// The signed-out console sessions that have not expired at `now`.
pub fn revoked_sessions(conn: &Connection, now: i64) -> StoreResult<Vec<(String, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT nonce, until FROM revoked_sessions WHERE until > ?1").map_err(unavailable)?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?))).map_err(unavailable)?;
    rows.collect::<Result<_, _>>().map_err(unavailable)
}

/// Every subscription's kept pace: (name, last slot µs, paused until ms).
pub fn pacing(conn: &Connection) -> StoreResult<Vec<(String, Option<i64>, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT subscription, last_slot_us, paused_until_ms FROM pacing").map_err(unavailable)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(unavailable)?;
    rows.collect::<Result<_, _>>().map_err(unavailable)
}

/// Keeps a granted slot and a pause; neither ever moves back (two writes may commit in
/// either order).
pub fn keep_pace(conn: &Connection, subscription: &str, slot_us: Option<i64>, paused_until_ms: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO pacing (subscription, last_slot_us, paused_until_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (subscription) DO UPDATE SET
           last_slot_us = max(coalesce(last_slot_us, excluded.last_slot_us), coalesce(excluded.last_slot_us, last_slot_us)),
           paused_until_ms = max(paused_until_ms, excluded.paused_until_ms)",
    )
    .and_then(|mut stmt| stmt.execute(rusqlite::params![subscription, slot_us, paused_until_ms]))
    .map(drop)
    .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::counts;

    /// The plan's lines, for a statement whose parameters are all `?n`.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params = vec![rusqlite::types::Value::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn the_indexes_announced_when_missing_are_those_a_new_file_gets() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        upgrade(&conn).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").unwrap();
        let mut made: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let mut listed: Vec<String> = indexes_built_at_open().map(String::from).collect();
        made.sort();
        listed.sort();
        assert_eq!(listed, made);
    }

    #[test]
    fn the_statements_every_delivery_runs_build_no_temporary_b_tree() {
        // SQLite evaluates `IN` over three or more values, in a partial index's WHERE too,
        // through a b-tree it builds and drops at every execution (so does `RETURNING`).
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        upgrade(&conn).unwrap();
        for sql in [
            INSERT_EVENT,
            INSERT_KEY,
            DISABLED_OR,
            INSERT_DELIVERY,
            FINISH_DELIVERY,
            RECORD_ATTEMPT,
            RECORD_LATE_ATTEMPT,
            RESET_FAILURES,
        ] {
            let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let unbound =
                rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count()));
            let ops: Vec<String> = explain.query_map(unbound, |r| r.get(1)).unwrap().collect::<Result<_, _>>().unwrap();
            assert!(ops.iter().all(|op| op != "OpenEphemeral"), "{sql}\nbuilds a temporary b-tree: {ops:?}");
        }
    }

    /// Whether a plan line reads `deliveries` or `attempts` (or their aliases) whole: a
    /// `SCAN` of the table itself, not one along an index.
    fn reads_history_whole(line: &str) -> bool {
        let Some(rest) = line.strip_prefix("SCAN ") else { return false };
        let table = rest.split_whitespace().next().unwrap_or("");
        ["deliveries", "attempts", "d", "a"].contains(&table)
            && !rest.contains("INDEX")
            && !rest.contains("PRIMARY KEY")
    }

    /// Issue 28: every statement run on a timer (housekeeping's tick and prune, an idle
    /// dispatcher's lease) or on a page (the subscriptions view, the history, a delivery)
    /// reads the queue, a batch or a page, never the history whole.
    #[test]
    fn statements_run_on_a_timer_or_a_page_never_read_the_whole_history() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        upgrade(&conn).unwrap();
        let loaded = vec!["a".to_string(), "b".to_string()];
        let page = |q: DeliveryQuery| list_sql(&DeliveryQuery { limit: 50, ..q }).0;
        let text = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        use DeliveryStatus::*;
        let pages = [
            DeliveryQuery::default(),
            DeliveryQuery { cursor: Some("dlv_9".into()), ..DeliveryQuery::default() },
            DeliveryQuery { status: vec![Failed], ..DeliveryQuery::default() },
            DeliveryQuery { status: vec![Pending, InFlight], ..DeliveryQuery::default() },
            DeliveryQuery { status: vec![Pending, Failed], ..DeliveryQuery::default() },
            DeliveryQuery { subscription: text(&["s"]), ..DeliveryQuery::default() },
            DeliveryQuery { subscription: text(&["s"]), status: vec![Succeeded], ..DeliveryQuery::default() },
            DeliveryQuery { topic: text(&["t"]), source: text(&["x"]), ..DeliveryQuery::default() },
            DeliveryQuery { event: vec!["e".into()], ..DeliveryQuery::default() },
            DeliveryQuery { event: vec!["e".into(), "f".into()], ..DeliveryQuery::default() },
            DeliveryQuery { since: Some(1), until: Some(2), ..DeliveryQuery::default() },
            DeliveryQuery { key: crate::search::Term::parse("C-1007"), ..DeliveryQuery::default() },
            DeliveryQuery {
                key: crate::search::Term::parse("Customer.Email:joao@exemplo.com"),
                subscription: text(&["s"]),
                status: vec![Succeeded],
                ..DeliveryQuery::default()
            },
        ];
        let mut statements: Vec<String> = [
            // queue_stats
            LIVE_COUNTS_BY_STATUS,
            OLDEST_PENDING,
            DISABLED_COUNT,
            counts::BY_STATUS,
            // subscription_states
            STATE_ROWS,
            LIVE_SUBSCRIPTION_STATUS,
            HELD_SUBSCRIPTIONS,
            counts::BY_SUBSCRIPTION,
            // compact_counts
            counts::FOLD,
            counts::DROP_FOLDED,
            // heartbeat, keep_loaded
            WRITE_HEARTBEAT,
            TAKE_BACK_OTHERS_LEASES,
            NOTE_SEEN,
            NOT_SEEN_SINCE,
            FAIL_REMOVED,
            FORGET_SEEN,
            // the idle lease
            UNEXPIRED_LEASES_BY_SUBSCRIPTION,
            LEASE_ONE,
            // prune
            FINISHED_BEFORE,
            DELETE_ATTEMPTS_OF,
            DELETE_DELIVERIES,
            // a delivery's page
            ATTEMPTS_OF,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        statements.extend([next_due_sql(None), next_due_sql(Some(&loaded)), delete_events_left(), detail_sql()]);
        statements.push(delete_keys_of_events_left());
        statements.extend([due_sql(0, None, 128), due_sql(2, Some(&loaded), 128)]);
        statements.extend(pages.into_iter().map(page));
        for sql in statements {
            let lines = plan(&conn, &sql);
            assert!(!lines.iter().any(|l| reads_history_whole(l)), "{sql}\nreads the history whole: {lines:?}");
        }
        // The check sees a whole scan where there is one.
        let lines = plan(&conn, "SELECT count(*) FROM deliveries WHERE topic = ?1");
        assert!(lines.iter().any(|l| reads_history_whole(l)), "{lines:?}");
    }

    /// The counters' triggers run at every insert, finish and delete: their statements
    /// build no temporary b-tree, and the counters' reads sort nothing they do not have to.
    #[test]
    fn the_counters_triggers_are_part_of_every_delivery_statement_and_build_no_temporary_b_tree() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        upgrade(&conn).unwrap();
        // (The prune's own delete builds one, of the batch's ids, once per batch.)
        for sql in [INSERT_DELIVERY, FINISH_DELIVERY, "DELETE FROM deliveries WHERE id = ?1"] {
            let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let unbound =
                rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count()));
            let ops: Vec<String> = explain.query_map(unbound, |r| r.get(1)).unwrap().collect::<Result<_, _>>().unwrap();
            // EXPLAIN lists each trigger's program after the statement's own.
            assert!(ops.iter().any(|op| op == "Program"), "{sql}: no trigger");
            assert!(ops.iter().all(|op| op != "OpenEphemeral"), "{sql}\nbuilds a temporary b-tree: {ops:?}");
        }
        for sql in [counts::FOLD, counts::BY_SUBSCRIPTION] {
            let lines = plan(&conn, sql);
            assert!(!lines.iter().any(|l| l.contains("TEMP B-TREE")), "{sql}\nsorts: {lines:?}");
        }
    }

    #[test]
    fn statements_on_deliveries_by_status_read_an_index_not_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        upgrade(&conn).unwrap();
        let page = |status: Vec<DeliveryStatus>, subscription: Vec<String>| {
            list_sql(&DeliveryQuery { status, subscription, limit: 50, ..DeliveryQuery::default() }).0
        };
        let retry = |status: Vec<DeliveryStatus>| {
            let q = DeliveryQuery { status, limit: 50, ..DeliveryQuery::default() };
            query::retry_matching(&q, 0, query::Dialect::Sqlite).0
        };
        use DeliveryStatus::*;
        let statements = [
            (TAKE_BACK_OTHERS_LEASES.to_string(), "deliveries_live"),
            (RELEASE_OWN_LEASES.to_string(), "deliveries_live"),
            (UNEXPIRED_LEASES_BY_SUBSCRIPTION.to_string(), "deliveries_live"),
            (HOLD_PENDING.to_string(), "deliveries_live"),
            (RELEASE_HELD.to_string(), "deliveries_subscription_id_off_queue"),
            (LIVE_SUBSCRIPTION_STATUS.to_string(), "deliveries_live"),
            (HELD_SUBSCRIPTIONS.to_string(), "deliveries_status_id_off_queue"),
            (OLDEST_PENDING.to_string(), "deliveries_live"),
            (LIVE_COUNTS_BY_STATUS.to_string(), "deliveries_status_id_off_queue"),
            (page(vec![Failed], vec![]), "deliveries_status_id_off_queue"),
            (page(vec![Succeeded, Held], vec![]), "deliveries_status_id_off_queue"),
            (page(vec![Succeeded], vec!["s".into()]), "deliveries_subscription_id_off_queue"),
            (page(vec![Pending], vec!["s".into()]), "deliveries_live"),
            (page(vec![Pending, InFlight], vec![]), "deliveries_live"),
            (page(vec![], vec![]), "sqlite_autoindex_deliveries_1"),
            (page(vec![Pending, Failed], vec![]), "sqlite_autoindex_deliveries_1"),
            (retry(vec![Failed]), "deliveries_status_id_off_queue"),
            (FINISHED_BEFORE.to_string(), "deliveries_finished_by_time"),
            (SUCCEEDED_SINCE.to_string(), "deliveries_subscription_id_off_queue"),
        ];
        for (sql, index) in statements {
            let lines = plan(&conn, &sql);
            assert!(lines.iter().any(|l| l.contains(index)), "{sql}\nreads {lines:?}, not {index}");

            let scans = lines.iter().filter(|l| l.starts_with("SCAN deliveries") && !l.contains("INDEX"));
            assert_eq!(scans.count(), 0, "{sql}\nreads the whole table: {lines:?}");
        }
        // What counts every live row, or the whole history, must not sort them first: the
        // sort would hold them all (a million with the receiver down). In-flight rows are
        // few, and may be counted by sorting.
        for sql in [LIVE_SUBSCRIPTION_STATUS, HELD_SUBSCRIPTIONS, LIVE_COUNTS_BY_STATUS] {
            let lines = plan(&conn, sql);
            assert!(!lines.iter().any(|l| l.contains("TEMP B-TREE")), "{sql}\nsorts: {lines:?}");
        }
    }
}
