//! The SQL behind `PostgresStore`: one function per store operation. Statements are
//! prepared once per connection and take whole batches as arrays (`unnest`), so a batch
//! costs a round trip, not one per row.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::LazyLock;

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

use super::by_index::{by_index, INDEX_ONLY};
use super::pg_error;
use crate::store::{query, *};

/// Namespace of the advisory locks that serialise leasing for one capped subscription.
const CAP_LOCK: i32 = 0x6873_6361; // "hsca"

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn rows<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query(&stmt, params).await.map_err(pg_error)
}

async fn exec<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.execute(&stmt, params).await.map_err(pg_error)
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

fn decode_request(id: &str, text: &str) -> StoreResult<StoredRequest> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("delivery {id}: {e}")))
}

/// Attempt numbers and status codes are small; the schema keeps them as INTEGER.
fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// Inserts a batch in one statement (so it commits on its own, in one round trip): the
/// events that are new, and the deliveries of exactly those.
/// Returns, beside the results, which deliveries of each event were stored leased.
pub async fn insert_events(client: &Client, events: &[NewEvent]) -> StoreResult<(Vec<Inserted>, Vec<Vec<bool>>)> {
    // Sorted, so two batches sharing Uuids take their locks in one order and never deadlock.
    let mut order: Vec<&NewEvent> = events.iter().collect();
    order.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    let column = |f: fn(&NewEvent) -> &str| order.iter().map(|e| f(e)).collect::<Vec<&str>>();
    let (uuids, topics, dates, bodies) =
        (column(|e| &e.uuid), column(|e| &e.topic), column(|e| &e.date), column(|e| &e.body));
    let sources: Vec<Option<&str>> = order.iter().map(|e| e.source.as_deref()).collect();
    let problems: Vec<Option<String>> = order.iter().map(|e| problems_column(&e.schema_problems)).collect();
    let received: Vec<i64> = order.iter().map(|e| e.received_at).collect();
    // Deliveries of each Uuid's first event in the batch; the statement keeps those whose
    // event turned out new.
    let mut seen = HashSet::new();
    let new_rows: Vec<DeliveryRow<'_>> = events
        .iter()
        .filter(|e| seen.insert(e.uuid.as_str()))
        .flat_map(|e| {
            e.deliveries.iter().map(|d| DeliveryRow { event: &e.uuid, topic: &e.topic, at: e.received_at, d })
        })
        .collect();
    let arrays = DeliveryArrays::of(&new_rows)?;
    let firsts: Vec<&NewEvent> = {
        let mut seen = HashSet::new();
        events.iter().filter(|e| seen.insert(e.uuid.as_str())).collect()
    };
    let keys = KeyArrays::of(&firsts);
    let [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] = arrays.params();
    let finished = new_rows.iter().any(|r| r.d.status != DeliveryStatus::Pending);
    // One row per new event (its uuid), and one per delivery stored leased (its id).
    // `keyed` needs no ON CONFLICT (whose check and confirmation cost each key row a lookup
    // and a WAL record): only events inserted now get keys, an event's keys are a set, and
    // a key row names its event's uuid and arrival, which no other event has.
    let sql = format!(
        "WITH fresh AS (
            INSERT INTO events (uuid, topic, date, received_at, body, source, schema_problems)
            SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::bigint[], $16::text[], $17::text[],
                                 $22::text[])
            ON CONFLICT (uuid) DO NOTHING RETURNING uuid, source, received_at),
         {},
         waiting AS ({}),
         keyed AS (
            INSERT INTO event_keys (value, path, event_at, event_uuid)
            SELECT k.value, k.path, f.received_at, f.uuid
              FROM unnest($19::text[], $20::text[], $21::text[]) AS k(uuid, path, value) JOIN fresh f ON f.uuid = k.uuid)
         SELECT uuid, NULL::text FROM fresh UNION ALL SELECT NULL, id FROM queued WHERE status = 'in_flight'",
        if finished { &*FRESH_DELIVERIES_SOME_FINISHED } else { &*FRESH_DELIVERIES_ALL_LIVE },
        register_waiting("$3", "$6", "$18")
    );
    let params: [&(dyn ToSql + Sync); 22] = [
        p1,
        p2,
        p3,
        p4,
        p5,
        p6,
        p7,
        p8,
        p9,
        p10,
        p11,
        &uuids,
        &topics,
        &dates,
        &received,
        &bodies,
        &sources,
        &arrays.activations,
        &keys.uuids,
        &keys.paths,
        &keys.values,
        &problems,
    ];
    let inserted = rows(client, &sql, &params).await?;
    let mut fresh = HashSet::new();
    let mut leased = HashSet::new();
    for row in &inserted {
        let (uuid, id): (Option<String>, Option<String>) = (get(row, 0)?, get(row, 1)?);
        fresh.extend(uuid);
        leased.extend(id);
    }

    let mut out: Vec<Inserted> = events
        .iter()
        .map(|e| {
            // The first of a Uuid is the one inserted; any later one in the batch is its duplicate.
            let duplicate = !fresh.remove(&e.uuid);
            Inserted { uuid: e.uuid.clone(), deliveries: e.deliveries.len(), duplicate, leased: vec![] }
        })
        .collect();
    let flags: Vec<Vec<bool>> =
        events.iter().map(|e| e.deliveries.iter().map(|d| leased.contains(&d.id)).collect()).collect();
    let duplicates: Vec<&str> = out.iter().filter(|i| i.duplicate).map(|i| i.uuid.as_str()).collect();
    if !duplicates.is_empty() {
        let counts = rows(
            client,
            &format!("SELECT uuid, count(*) FROM ({}) AS d GROUP BY uuid", query::deliveries_of_events("$1")),
            &[&duplicates],
        )
        .await?;
        let counts: HashMap<String, i64> =
            counts.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect::<StoreResult<_>>()?;
        for i in out.iter_mut().filter(|i| i.duplicate) {
            i.deliveries = counts.get(&i.uuid).copied().unwrap_or(0) as usize;
        }
    }
    Ok((out, flags))
}

/// Every search key of a batch's events as three columns, for `unnest` (`event_keys`):
/// those of each Uuid's first event in the batch, the one that is inserted.
#[derive(Default)]
struct KeyArrays<'a> {
    uuids: Vec<&'a str>,
    paths: Vec<&'a str>,
    values: Vec<&'a str>,
}

impl<'a> KeyArrays<'a> {
    fn of(events: &[&'a NewEvent]) -> Self {
        let mut arrays = Self::default();
        for e in events {
            for k in &e.keys {
                arrays.uuids.push(&e.uuid);
                arrays.paths.push(&k.path);
                arrays.values.push(&k.value);
            }
        }
        arrays
    }
}

struct DeliveryRow<'a> {
    event: &'a str,
    topic: &'a str,
    at: i64,
    d: &'a NewDelivery,
}

pub async fn add_deliveries<C: GenericClient>(
    c: &C,
    uuid: &str,
    topic: &str,
    deliveries: &[NewDelivery],
    now: i64,
) -> StoreResult<usize> {
    let new_rows: Vec<DeliveryRow<'_>> =
        deliveries.iter().map(|d| DeliveryRow { event: uuid, topic, at: now, d }).collect();
    if new_rows.is_empty() {
        return Ok(0);
    }
    let arrays = DeliveryArrays::of(&new_rows)?;
    let [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] = arrays.params();
    let params: [&(dyn ToSql + Sync); 12] = [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, &arrays.activations];
    let finished = new_rows.iter().any(|r| r.d.status != DeliveryStatus::Pending);
    let sql = format!("WITH {} SELECT count(*) FROM queued", insert_deliveries("events", "$12", "", finished));
    rows(c, &sql, &params).await?;
    if arrays.activations.contains(&true) {
        exec(c, &register_waiting("$1", "$2", "$3"), &[p3, p6, &arrays.activations]).await?;
    }
    Ok(deliveries.len())
}

/// Registers disabled, waiting for its ping, each `activation: ping` subscription among the
/// deliveries given as arrays (`names`, their times `at`, their `activation` flags) that
/// has no state yet, so that retries hold its deliveries as leases do.
fn register_waiting(names: &str, at: &str, activation: &str) -> String {
    format!(
        "INSERT INTO subscription_state (name, disabled, disabled_reason, updated_at)
         SELECT a.name, TRUE, '{}', max(a.at)
           FROM unnest({names}::text[], {at}::bigint[], {activation}::bool[]) AS a(name, at, waiting)
          WHERE a.waiting GROUP BY a.name
         ON CONFLICT (name) DO NOTHING",
        crate::store::WAITING_FOR_PING
    )
}

/// The CTEs (`new_rows`, then `queued` and maybe `finished`, each returning `id, status`) that
/// insert the deliveries given as arrays `$1`…`$11` and `activation` (one element per
/// delivery; `activation` is the parameter holding their `needs_activation`), each with
/// its event's source joined from `events` (a table, or the CTE of events just inserted),
/// keeping those that pass `filter` (a condition on `d`, starting ` WHERE`, or nothing).
/// A pending one for a disabled subscription is held, and one given a lease (`$10` owner,
/// `$11` expiry) is stored leased; live ones go to `queue`, those stored finished (shadow,
/// failed at render) straight to the history. Without `finished` (none is) the statement
/// does not write to the history at all, so its counting trigger does not run.
fn insert_deliveries(events: &str, activation: &str, filter: &str, finished: bool) -> String {
    let to_history = if finished {
        format!(
            ",
     finished AS ({}
        SELECT {NEW_COLUMNS} FROM new_rows WHERE status NOT IN ('pending', 'in_flight', 'held') RETURNING id, status)",
            insert_into("deliveries")
        )
    } else {
        String::new()
    };
    format!(
        "new_rows AS MATERIALIZED (
     SELECT d.id, d.event_uuid, d.subscription, d.topic,
            CASE WHEN d.status <> 'pending' THEN d.status WHEN coalesce(s.disabled, d.activation) THEN 'held'
                 WHEN d.lease_owner IS NOT NULL THEN 'in_flight' ELSE 'pending' END AS status,
            CASE WHEN d.status <> 'pending' THEN NULL
                 WHEN NOT coalesce(s.disabled, d.activation) AND d.lease_owner IS NOT NULL THEN d.lease_until
                 ELSE d.at END AS next_attempt_at,
            CASE WHEN d.status = 'pending' AND NOT coalesce(s.disabled, d.activation) THEN d.lease_owner END
                 AS lease_owner,
            d.at AS created_at, d.at AS updated_at, d.config_version, d.request, d.error AS last_error,
            e.source, e.received_at AS event_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::bigint[], {activation}::bool[])
            AS d(id, event_uuid, subscription, topic, status, at, config_version, request, error, lease_owner,
                 lease_until, activation)
       LEFT JOIN subscription_state s ON s.name = d.subscription
       LEFT JOIN {events} e ON e.uuid = d.event_uuid{filter}),
     queued AS ({}
        SELECT {NEW_COLUMNS} FROM new_rows WHERE status IN ('pending', 'in_flight', 'held') RETURNING id, status){to_history}",
        insert_into("queue"),
    )
}

/// The columns `insert_deliveries` writes, in its order.
const NEW_COLUMNS: &str = "id, event_uuid, subscription, topic, status, next_attempt_at, lease_owner, created_at,
                           updated_at, config_version, request, last_error, source, event_at";

fn insert_into(table: &str) -> String {
    format!("INSERT INTO {table} ({NEW_COLUMNS})")
}

/// Every column of `queue` and `deliveries` (the same in both), for moving a row between them.
const ALL_COLUMNS: &str = "id, event_uuid, subscription, topic, status, attempts, next_attempt_at, lease_owner,
                           created_at, updated_at, config_version, request, last_status, last_error, source, event_at";

/// The deliveries of the events a statement inserts (its `fresh` CTE).
static FRESH_DELIVERIES_SOME_FINISHED: LazyLock<String> = LazyLock::new(|| fresh_deliveries(true));
static FRESH_DELIVERIES_ALL_LIVE: LazyLock<String> = LazyLock::new(|| fresh_deliveries(false));

fn fresh_deliveries(finished: bool) -> String {
    insert_deliveries("fresh", "$18", " WHERE d.event_uuid IN (SELECT uuid FROM fresh)", finished)
}

/// Deliveries as the column arrays `insert_deliveries` takes.
struct DeliveryArrays<'a> {
    text: [Vec<&'a str>; 6],
    at: Vec<i64>,
    requests: Vec<String>,
    errors: Vec<Option<&'a str>>,
    lease_owners: Vec<Option<&'a str>>,
    lease_untils: Vec<Option<i64>>,
    activations: Vec<bool>,
}

impl<'a> DeliveryArrays<'a> {
    fn of(rows: &[DeliveryRow<'a>]) -> StoreResult<Self> {
        let requests = rows
            .iter()
            .map(|r| serde_json::to_string(&r.d.request))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(format!("a request does not serialise: {e}")))?;
        let text = |f: fn(&DeliveryRow<'a>) -> &'a str| rows.iter().map(f).collect::<Vec<&'a str>>();
        Ok(Self {
            text: [
                text(|r| &r.d.id),
                text(|r| r.event),
                text(|r| &r.d.subscription),
                text(|r| r.topic),
                text(|r| r.d.status.as_str()),
                text(|r| &r.d.config_version),
            ],
            at: rows.iter().map(|r| r.at).collect(),
            requests,
            errors: rows.iter().map(|r| r.d.error.as_deref()).collect(),
            lease_owners: rows.iter().map(|r| r.d.lease.as_ref().map(|l| &*l.owner)).collect(),
            lease_untils: rows.iter().map(|r| r.d.lease.as_ref().map(|l| l.until)).collect(),
            activations: rows.iter().map(|r| r.d.needs_activation).collect(),
        })
    }

    /// `$1`…`$11`; the activation flags are `$18` (after the events' arrays in `insert_events`).
    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        let [ids, events, subs, topics, statuses, versions] = &self.text;
        let (owners, untils) = (&self.lease_owners, &self.lease_untils);
        [ids, events, subs, topics, statuses, &self.at, versions, &self.requests, &self.errors, owners, untils]
    }
}

/// Shared by both lease statements: `picked` (a CTE of ids, locked) becomes this owner's.
/// Leases the picked rows: `$1` owner, `$2` the default expiry, `$3` now, and each
/// subscription's own expiry in `$6` (names) and `$7` (times). The attempt is not counted
/// here; it is the recorded attempts plus one.
const TAKE_PICKED: &str = "UPDATE queue d
        SET status = 'in_flight', lease_owner = $1, updated_at = $3,
            next_attempt_at = COALESCE(
                (SELECT l.until FROM unnest($6::text[], $7::bigint[]) AS l(name, until) WHERE l.name = d.subscription),
                $2)
       FROM picked WHERE d.id = picked.id
  RETURNING d.id, d.event_uuid, d.subscription, d.topic, d.attempts + 1, d.request, d.next_attempt_at";

/// The database's clock in milliseconds: node liveness is judged by one clock.
const DB_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Whether a due row `d` may be leased by owner `$1`: pending, or an expired lease of its own
/// or of a node no longer alive. A live node's expired lease is not taken: that node has
/// sent the attempt (a lease outlives any attempt) and holds its result until the store
/// takes it (after an outage), so sending it again would be a needless duplicate. A dead
/// node's leases are made due by the heartbeat that finds it dead.
const LEASE_IS_FREE: &str = "(d.status = 'pending' OR d.lease_owner = $1
                              OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = d.lease_owner))";

/// Each subscription's lease expiry for a lease taken now, as the two arrays `TAKE_PICKED` takes.
fn lease_expiries(req: &LeaseRequest) -> (Vec<&str>, Vec<i64>) {
    req.lease_ms.keys().map(|name| (name.as_str(), req.lease_until(name))).unzip()
}

/// Leases due deliveries. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so nodes
/// leasing at once take different rows and never wait for each other. A capped
/// subscription is leased only under its advisory lock, taken with `try` (a node that does
/// not get it leaves that subscription to the node that has it), so the count of its
/// unexpired leases cannot change between counting and leasing: the cap holds across the
/// cluster. With no cap to lease under and no held rows to sweep, the lease is one
/// statement committed on its own: no BEGIN and COMMIT round trips. Also answers how many
/// due rows the lease missed, held by others (`hookshape_lease_skipped_total`).
pub async fn lease(client: &mut Client, req: &LeaseRequest) -> StoreResult<(Vec<Leased>, u64)> {
    let excluded = |name: &&str| req.exclude.iter().any(|e| e == name);
    // A capped subscription this node no longer has loaded (one still probed after it could
    // not be reached) is left to the nodes that have it.
    let loaded = |name: &&str| req.loaded.as_ref().is_none_or(|l| l.iter().any(|n| n == name));
    let capped: Vec<&str> = req.caps.keys().map(String::as_str).filter(|n| !excluded(n) && loaded(n)).collect();
    if capped.is_empty() && !req.sweep_held {
        return lease_uncapped(&*client, req, req.limit).await;
    }
    let tx = client.transaction().await.map_err(pg_error)?;
    // A delivery inserted as pending while its subscription was being disabled on another
    // node is held here, before anything is leased: a disabled subscription sends nothing.
    if req.sweep_held {
        exec(
            &tx,
            "UPDATE queue d SET status = 'held', updated_at = $1 FROM subscription_state s
              WHERE s.disabled AND d.subscription = s.name AND d.status = 'pending'",
            &[&req.now],
        )
        .await?;
    }
    let mut leased = Vec::with_capacity(req.limit);
    let mut missed = 0;
    if !capped.is_empty() {
        missed += lease_capped(&tx, req, &capped, &mut leased).await?;
    }
    let room = req.limit.saturating_sub(leased.len());
    if room > 0 {
        let (more, more_missed) = lease_uncapped(&tx, req, room).await?;
        leased.extend(more);
        missed += more_missed;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok((leased, missed))
}

/// Which rows `LEASE` may take: due rows but of the subscriptions in `$4`, of those in `$8`
/// when given. Its counting CTE (`seen`) reads the same rows without locking them.
static LEASE_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $3
               AND d.subscription <> ALL($4::text[])
               AND ($8::text[] IS NULL OR d.subscription = ANY($8::text[])) AND {LEASE_IS_FREE}
               AND NOT EXISTS (SELECT 1 FROM subscription_state s WHERE s.name = d.subscription AND s.disabled)"
    )
});

/// Leases `picked` (`TAKE_PICKED`, unchanged, as the CTE `taken`) and counts the rows it
/// missed: its rows, then one more row with no id whose last column is the due rows seen
/// (`seen`, up to the same `limit`, in the statement's snapshot, unlocked) less those
/// leased, never below 0. A due row is seen but not leased when another transaction holds
/// its lock (`SKIP LOCKED` passed it over) or has just leased it. A skipped row that rows
/// further on made up for (the batch was still filled) is not counted: what is counted is
/// the work a lease wanted and did not get. Same statement, so the lease costs no round
/// trip more.
///
/// `seen` is read only when the lease came back short: it counts at most `limit` rows, so
/// a full lease missed none, and a backlog's leases (all full) do not scan the due index a
/// second time for a statistic.
fn take_and_count_missed(limit: &str) -> String {
    format!(
        "taken (id, event_uuid, subscription, topic, attempt, request, until) AS ({TAKE_PICKED})
         SELECT t.*, NULL::bigint FROM taken t
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                CASE WHEN t.n < {limit} THEN GREATEST((SELECT n FROM seen) - t.n, 0) ELSE 0 END
           FROM (SELECT count(*) AS n FROM taken) t"
    )
}

/// Leases due rows but of the subscriptions in `$4`, of those in `$8` when given, at most `$5`.
static LEASE: LazyLock<String> = LazyLock::new(|| {
    let due = &*LEASE_DUE;
    format!(
        "WITH seen AS (
            SELECT count(*) AS n FROM (
                SELECT 1 FROM queue d WHERE {due} ORDER BY d.next_attempt_at LIMIT $5) s),
         picked AS (
            SELECT d.id FROM queue d
             WHERE {due}
             ORDER BY d.next_attempt_at LIMIT $5
               FOR UPDATE SKIP LOCKED),
         {}",
        take_and_count_missed("$5")
    )
});

/// Leases up to `room` due deliveries of neither capped subscriptions (leased under their
/// lock) nor excluded ones; also answers how many due rows it missed (see `take_and_count_missed`).
async fn lease_uncapped<C: GenericClient>(c: &C, req: &LeaseRequest, room: usize) -> StoreResult<(Vec<Leased>, u64)> {
    let capped: Vec<&str> = req.caps.keys().map(String::as_str).chain(req.exclude.iter().map(String::as_str)).collect();
    let (names, untils) = lease_expiries(req);
    let room = room as i64;
    let taken =
        rows(c, &LEASE, &[&req.owner, &default_until(req), &req.now, &capped, &room, &names, &untils, &req.loaded])
            .await?;
    split_missed(&taken, req.now)
}

/// The leased rows of a statement made by `take_and_count_missed`, and its count of missed rows.
fn split_missed(taken: &[Row], now: i64) -> StoreResult<(Vec<Leased>, u64)> {
    let mut leased = Vec::with_capacity(taken.len());
    let mut missed = 0u64;
    for r in taken {
        match get::<Option<i64>>(r, 7)? {
            Some(n) => missed += n.max(0) as u64,
            None => leased.push(to_leased(r, now)?),
        }
    }
    Ok((leased, missed))
}

async fn lease_capped(
    tx: &deadpool_postgres::Transaction<'_>,
    req: &LeaseRequest,
    capped: &[&str],
    leased: &mut Vec<Leased>,
) -> StoreResult<u64> {
    // Only subscriptions with due work are locked; MATERIALIZED keeps that test first.
    let locked = rows(
        tx,
        "WITH due AS MATERIALIZED (
            SELECT c.name FROM unnest($1::text[]) AS c(name)
             WHERE EXISTS (SELECT 1 FROM queue d WHERE d.subscription = c.name
                              AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $2)
               AND NOT EXISTS (SELECT 1 FROM subscription_state s WHERE s.name = c.name AND s.disabled))
         SELECT name FROM due WHERE pg_try_advisory_xact_lock($3, hashtext(name))",
        &[&capped, &req.now, &CAP_LOCK],
    )
    .await?;
    let locked: Vec<String> = locked.iter().map(|r| get(r, 0)).collect::<StoreResult<_>>()?;
    if locked.is_empty() {
        return Ok(0);
    }
    // A statement of its own, so its snapshot includes leases committed before the lock.
    // A silent node's leases do not count: they are about to be taken back.
    let counts = rows(
        tx,
        &format!(
            "SELECT c.name, count(d.id) FROM unnest($1::text[]) AS c(name)
               LEFT JOIN queue d ON d.subscription = c.name AND d.status = 'in_flight' AND d.next_attempt_at > $2
                     AND d.lease_owner NOT IN (SELECT id FROM nodes WHERE heartbeat_at < {DB_NOW} - $3)
              GROUP BY c.name"
        ),
        &[&locked, &req.now, &NODE_SILENCE_MS],
    )
    .await?;
    let mut budget = req.limit as i64;
    let (mut names, mut rooms): (Vec<String>, Vec<i64>) = (Vec::new(), Vec::new());
    for row in &counts {
        let name: String = get(row, 0)?;
        let in_flight: i64 = get(row, 1)?;
        let cap = req.caps.get(&name).map_or(0, |c| i64::from(*c));
        let room = (cap - in_flight).min(budget);
        if room > 0 {
            budget -= room;
            names.push(name);
            rooms.push(room);
        }
    }
    if names.is_empty() {
        return Ok(0);
    }
    let (lease_names, untils) = lease_expiries(req);
    let params: [&(dyn ToSql + Sync); 7] =
        [&req.owner, &default_until(req), &req.now, &names, &rooms, &lease_names, &untils];
    let taken = rows(tx, &LEASE_CAPPED, &params).await?;
    let (taken, missed) = split_missed(&taken, req.now)?;
    leased.extend(taken);
    Ok(missed)
}

/// Leases up to `$5` due rows of each capped subscription in `$4` (its room under its cap),
/// and counts, as `LEASE` does, the due rows seen up to that room and not leased.
static LEASE_CAPPED: LazyLock<String> = LazyLock::new(|| {
    let due = format!(
        "d.subscription = r.name AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $3
                   AND {LEASE_IS_FREE}"
    );
    format!(
        "WITH seen AS (
            SELECT coalesce(sum(s.n), 0)::bigint AS n FROM unnest($4::text[], $5::bigint[]) AS r(name, room)
             CROSS JOIN LATERAL (
                SELECT count(*) AS n FROM (
                    SELECT 1 FROM queue d WHERE {due} ORDER BY d.next_attempt_at LIMIT r.room) x) s),
         picked AS (
            SELECT p.id FROM unnest($4::text[], $5::bigint[]) AS r(name, room)
             CROSS JOIN LATERAL (
                SELECT d.id FROM queue d
                 WHERE {due}
                 ORDER BY d.next_attempt_at LIMIT r.room
                   FOR UPDATE SKIP LOCKED) p),
         {}",
        take_and_count_missed("(SELECT sum(room) FROM unnest($5::bigint[]) AS room)")
    )
});

/// A lease's expiry for a subscription not in its `lease_ms`.
fn default_until(req: &LeaseRequest) -> i64 {
    req.now.saturating_add(req.default_lease_ms)
}

fn to_leased(r: &Row, now: i64) -> StoreResult<Leased> {
    let id: String = get(r, 0)?;
    let attempts: i32 = get(r, 4)?;
    let request = decode_request(&id, get(r, 5)?)?;
    Ok(Leased {
        event_uuid: get(r, 1)?,
        subscription: get(r, 2)?,
        topic: get(r, 3)?,
        attempt: attempts.max(0) as u32,
        send_by: now + SEND_WITHIN_MS,
        lease_until: get(r, 6)?,
        request,
        id,
    })
}

/// Records a batch of attempts (arrays `$1`…`$10`, now in `$11`) in one statement, so it
/// commits on its own. Where this node still holds the lease for that attempt, it counts it
/// and moves the delivery on: a finished one out of `queue` into the history (written there
/// once, never updated, with the attempt that finished it in its own columns, so most
/// deliveries never write a row of `attempts`), a retried one in place; on success the
/// failure count is cleared. The holder's record wins over a lost lease's, which is kept
/// in `attempts` only if nothing else recorded that attempt, and moves nothing (readers
/// prefer a history row's final attempt to an `attempts` row of the same number). A retry
/// of a subscription disabled while the attempt was in flight is held (disable held only
/// what was pending then). A row has a lease owner exactly while it is
/// in flight (a CHECK of `queue`); the status is not tested as well because that would let
/// the planner read the whole index of in-flight rows (`queue_lease_owner`, whose WHERE it
/// proves) for each batch, where the primary key finds each row. Every parameter is cast:
/// one whose type PostgreSQL infers from where it stands analyses to another tree when the
/// statement is analysed again with the types known (after an invalidation of any table it
/// touches, such as each VACUUM of `queue`), which `pg_stat_statements` counted as a second
/// statement.
const RECORD_ATTEMPTS: &str = "WITH r AS (
        SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], $7::text[],
                             $8::text[], $9::bigint[], $10::text[])
            AS r(id, attempt, started_at, duration_ms, status_code, response_body, error, status, next_at, owner)),
    done AS (
        DELETE FROM queue q USING r
         WHERE q.id = r.id AND r.status <> 'pending' AND q.lease_owner = r.owner AND q.attempts = r.attempt - 1
        RETURNING q.id, q.event_uuid, q.subscription, q.topic, r.status, q.attempts + 1 AS attempts, q.created_at,
                  q.config_version, q.request, r.status_code, r.error, q.source, q.event_at, r.started_at,
                  r.duration_ms, r.response_body),
    finished AS (
        INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                                config_version, request, last_status, last_error, source, event_at,
                                final_started_at, final_duration_ms, final_response_body)
        SELECT id, event_uuid, subscription, topic, status, attempts, created_at, $11::bigint, config_version, request,
               status_code, error, source, event_at, started_at, duration_ms, response_body FROM done
        RETURNING id, subscription, status, attempts),
    retried AS (
        UPDATE queue q SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_state s
                                                       WHERE s.name = q.subscription AND s.disabled)
                                         THEN 'held' ELSE 'pending' END,
                           next_attempt_at = r.next_at, lease_owner = NULL, updated_at = $11::bigint,
                           last_status = r.status_code, last_error = r.error, attempts = q.attempts + 1
          FROM r
         WHERE q.id = r.id AND r.status = 'pending' AND q.lease_owner = r.owner AND q.attempts = r.attempt - 1
        RETURNING q.id, q.subscription, r.status),
    moved AS (SELECT id, subscription, status FROM finished UNION ALL SELECT * FROM retried),
    attempt AS (
        INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error)
        SELECT id, attempt, started_at, duration_ms, status_code, response_body, error FROM r
         WHERE NOT EXISTS (SELECT 1 FROM finished f WHERE f.id = r.id AND f.attempts = r.attempt)
        ON CONFLICT (delivery_id, attempt) DO UPDATE
           SET started_at = EXCLUDED.started_at, duration_ms = EXCLUDED.duration_ms,
               status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body, error = EXCLUDED.error
         WHERE EXISTS (SELECT 1 FROM retried m WHERE m.id = EXCLUDED.delivery_id)),
    reset AS (
        UPDATE subscription_state
           SET consecutive_failures = 0, updated_at = CASE WHEN disabled THEN updated_at ELSE $11::bigint END
         WHERE consecutive_failures > 0 AND name IN (SELECT subscription FROM moved WHERE status = 'succeeded'))
    SELECT count(*) FROM moved";

/// Runs `RECORD_ATTEMPTS` for `reports`; returns how many deliveries it moved on.
async fn record_attempts<C: GenericClient>(c: &C, reports: &[&AttemptReport], now: i64) -> StoreResult<i64> {
    let ids: Vec<&str> = reports.iter().map(|r| r.delivery_id.as_str()).collect();
    let attempts: Vec<i32> = reports.iter().map(|r| int(r.attempt)).collect();
    let started: Vec<i64> = reports.iter().map(|r| r.started_at).collect();
    let durations: Vec<i64> = reports.iter().map(|r| r.duration_ms).collect();
    let codes: Vec<Option<i32>> = reports.iter().map(|r| r.status_code.map(int)).collect();
    let bodies: Vec<Option<&str>> = reports.iter().map(|r| r.response_body.as_deref()).collect();
    let errors: Vec<Option<&str>> = reports.iter().map(|r| r.error.as_deref()).collect();
    let (statuses, nexts): (Vec<&str>, Vec<Option<i64>>) = reports
        .iter()
        .map(|r| match r.outcome {
            Outcome::Succeeded => (DeliveryStatus::Succeeded.as_str(), None),
            Outcome::Retry { at } => (DeliveryStatus::Pending.as_str(), Some(at)),
            Outcome::Failed => (DeliveryStatus::Failed.as_str(), None),
        })
        .unzip();
    let owners: Vec<&str> = reports.iter().map(|r| r.owner.as_str()).collect();
    let moved = rows(
        c,
        RECORD_ATTEMPTS,
        &[&ids, &attempts, &started, &durations, &codes, &bodies, &errors, &statuses, &nexts, &owners, &now],
    )
    .await?;
    moved.first().map(|row| get(row, 0)).transpose().map(|n| n.unwrap_or(0))
}

async fn record_attempt<C: GenericClient>(c: &C, r: &AttemptReport, now: i64) -> StoreResult<bool> {
    Ok(record_attempts(c, &[r], now).await? > 0)
}

/// `record_attempts` in a transaction of its own, planned by index (`by_index`).
async fn record_attempts_alone(client: &Client, reports: &[&AttemptReport], now: i64) -> StoreResult<i64> {
    by_index(client, RECORD_ATTEMPTS, record_attempts(client, reports, now)).await
}

/// Records a batch in one statement; failures, which also count toward auto-disable, each
/// in a transaction of their own after it.
pub async fn finish_batch(client: &mut Client, reports: &[AttemptReport]) -> StoreResult<()> {
    let (failed, rest): (Vec<&AttemptReport>, Vec<&AttemptReport>) =
        reports.iter().partition(|r| r.outcome == Outcome::Failed);
    if !rest.is_empty() {
        record_attempts_alone(client, &rest, crate::now_ms()).await?;
    }
    for r in failed {
        finish(client, r).await?;
    }
    Ok(())
}

pub async fn finish(client: &mut Client, r: &AttemptReport) -> StoreResult<()> {
    let now = crate::now_ms();
    if r.outcome != Outcome::Failed {
        record_attempts_alone(client, &[r], now).await?;
        return Ok(());
    }
    // A failure also counts toward auto-disable, in the same transaction.
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.batch_execute(INDEX_ONLY).await.map_err(pg_error)?;
    // Consecutive means no success in between: a delivery that fails for good after
    // another succeeded since it was made is not counted (a 410 disables whatever the count).
    if record_attempt(&tx, r, now).await? && (r.disable_now || !succeeded_since(&tx, r).await?) {
        let counted = rows(
            &tx,
            "INSERT INTO subscription_state (name, consecutive_failures, updated_at) VALUES ($1, 1, $2)
             ON CONFLICT (name) DO UPDATE SET consecutive_failures = subscription_state.consecutive_failures + 1,
                                              updated_at = CASE WHEN subscription_state.disabled
                                                                THEN subscription_state.updated_at ELSE $2 END
             RETURNING consecutive_failures",
            &[&r.subscription, &now],
        )
        .await?;
        let failures: i32 = counted.first().map(|row| get(row, 0)).transpose()?.unwrap_or(0);
        if r.disable_now {
            disable(&tx, &r.subscription, "the receiver answered 410 Gone", now).await?;
        } else if r.disable_after > 0 && i64::from(failures) >= i64::from(r.disable_after) {
            disable(&tx, &r.subscription, &format!("{failures} consecutive failed deliveries"), now).await?;
        }
    }
    tx.commit().await.map_err(pg_error)
}

/// Whether the report's subscription had a delivery succeed after the report's delivery was
/// made: the receiver answered 2xx while this one was retrying. The newest deliveries by id
/// are the last sent, so the newest few succeeded ones tell (made after it: a burst; before
/// it: a backlog). Run only when a delivery fails for good, so a success writes nothing more.
async fn succeeded_since<C: GenericClient>(c: &C, r: &AttemptReport) -> StoreResult<bool> {
    let found = rows(
        c,
        "SELECT EXISTS (SELECT 1 FROM (SELECT updated_at FROM deliveries
                                         WHERE subscription = $1 AND status = 'succeeded'
                                         ORDER BY id DESC LIMIT 16) s
                         WHERE s.updated_at > (SELECT created_at FROM deliveries WHERE id = $2))",
        &[&r.subscription, &r.delivery_id],
    )
    .await?;
    found.first().map(|row| get(row, 0)).transpose().map(|b| b.unwrap_or(false))
}

/// Writes `node`'s heartbeat; if it has been writing without a gap of `HEARTBEAT_GAP_MS`
/// for `NODE_SILENCE_MS`, it then makes the leases of nodes silent for `NODE_SILENCE_MS`
/// due now and forgets those nodes. Every node runs this every second; the first to see a
/// node dead takes its leases back, the others find nothing left. A node back from a store
/// outage judges nobody until the others have had as long to write again: their silence
/// was the store's. Returns the leases taken back.
///
/// It also reads the database's clock, which this node then keeps to (`clock`): lease
/// expiry and retry times are compared across nodes, so they need one clock.
static BEAT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO nodes AS n (id, started_at, heartbeat_at, writing_since) VALUES ($1, {DB_NOW}, {DB_NOW}, {DB_NOW})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at,
            writing_since = CASE WHEN n.writing_since IS NULL OR n.heartbeat_at < EXCLUDED.heartbeat_at - $2
                                 THEN EXCLUDED.heartbeat_at ELSE n.writing_since END
         RETURNING heartbeat_at, writing_since"
    )
});

/// Forgets nodes silent for `$2` and makes their leases due at `$1`.
static TAKE_BACK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH dead AS (DELETE FROM nodes WHERE heartbeat_at < {DB_NOW} - $2 RETURNING id),
              freed AS (UPDATE queue SET status = 'pending', lease_owner = NULL, next_attempt_at = $1, updated_at = $1
                         WHERE status = 'in_flight' AND lease_owner IN (SELECT id FROM dead)
                        RETURNING 1)
         SELECT count(*) FROM freed"
    )
});

pub async fn heartbeat<C: GenericClient>(c: &C, node: &str, now: i64) -> StoreResult<u64> {
    let sent = crate::clock::local_ms();
    let beat = rows(c, &BEAT, &[&node, &HEARTBEAT_GAP_MS]).await?;
    let Some(beat) = beat.first() else { return Err(StoreError::Corrupt("the heartbeat returned no row".into())) };
    let (db_now, writing_since): (i64, i64) = (get(beat, 0)?, get(beat, 1)?);
    crate::clock::measured_against_store(sent, db_now, crate::clock::local_ms());
    if db_now - writing_since < NODE_SILENCE_MS {
        return Ok(0);
    }
    let freed = rows(c, &TAKE_BACK, &[&now, &NODE_SILENCE_MS]).await?;
    let n: i64 = freed.first().map(|row| get(row, 0)).transpose()?.unwrap_or(0);
    Ok(n as u64)
}

/// Notes `node`'s loaded subscriptions and fails the live deliveries of those no node has
/// noted for `$3` (`keep_loaded`), in one statement. The rows of removed subscriptions
/// go to the history as failed; one retried later is failed again, found by its
/// subscription's index of `queue`.
const KEEP_LOADED: &str = "WITH noted AS (
        INSERT INTO subscription_seen AS s (name, seen_at)
        SELECT unnest($1::text[]), (extract(epoch FROM clock_timestamp()) * 1000)::bigint
        ON CONFLICT (name) DO UPDATE SET seen_at = EXCLUDED.seen_at WHERE s.seen_at < EXCLUDED.seen_at - $2),
    mine AS (
        UPDATE nodes SET loaded = $1::text[] WHERE id = $4 AND loaded IS DISTINCT FROM $1::text[]),
    gone AS (
        SELECT s.name FROM subscription_seen s
         WHERE s.seen_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $3
           AND s.name <> ALL($1::text[])
           AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = $4
                          AND n.writing_since <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $5)),
    gone_rows AS (
        DELETE FROM queue WHERE status IN ('pending', 'in_flight') AND subscription IN (SELECT name FROM gone)
        RETURNING *),
    failed AS (
        INSERT INTO deliveries (id, event_uuid, subscription, topic, status, attempts, created_at, updated_at,
                                config_version, request, last_status, last_error, source, event_at)
        SELECT id, event_uuid, subscription, topic, 'failed', attempts, created_at, $6, config_version, request,
               last_status, $7, source, event_at FROM gone_rows
        RETURNING 1)
    SELECT count(*) FROM failed";

/// A subscription noted loaded this recently was loaded by a live node: each notes it at
/// least once a minute (`seen_refresh_ms`) while it has it.
const LOADED_LATELY_MS: i64 = 90_000;

pub async fn keep_loaded<C: GenericClient>(
    c: &C,
    node: &str,
    loaded: &[String],
    grace_ms: i64,
    now: i64,
) -> StoreResult<u64> {
    let refresh = crate::store::seen_refresh_ms(grace_ms);
    let unseen = crate::store::unseen_for_ms(grace_ms);
    let failed =
        rows(c, KEEP_LOADED, &[&loaded, &refresh, &unseen, &node, &NODE_SILENCE_MS, &now, &SUBSCRIPTION_REMOVED])
            .await?;
    let n: i64 = failed.first().map(|row| get(row, 0)).transpose()?.unwrap_or(0);
    Ok(n as u64)
}

/// Whether a live node other than `node` (one whose heartbeat is younger than a node's
/// silence, on the store's clock) has `subscription` loaded now. A live node that writes no
/// list (a version before it, in a rolling upgrade) counts if some node noted the
/// subscription in the last `LOADED_LATELY_MS`, as before.
pub async fn loaded_elsewhere<C: GenericClient>(c: &C, node: &str, subscription: &str) -> StoreResult<bool> {
    let found = rows(
        c,
        "SELECT EXISTS (SELECT 1 FROM nodes
                         WHERE id <> $1
                           AND heartbeat_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $3
                           AND ($2 = ANY(loaded)
                                OR (loaded IS NULL AND EXISTS (
                                    SELECT 1 FROM subscription_seen WHERE name = $2
                                       AND seen_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $4))))",
        &[&node, &subscription, &NODE_SILENCE_MS, &LOADED_LATELY_MS],
    )
    .await?;
    found.first().map(|row| get(row, 0)).transpose().map(|b| b.unwrap_or(false))
}

pub async fn release_leases<C: GenericClient>(c: &C, owner: &str, now: i64) -> StoreResult<u64> {
    exec(
        c,
        "UPDATE queue SET status = 'pending', lease_owner = NULL, next_attempt_at = $2, updated_at = $2
          WHERE status = 'in_flight' AND lease_owner = $1",
        &[&owner, &now],
    )
    .await
}

/// Finds its rows by id in `queue`, so it runs planned by key (`by_index`). A row has a
/// lease owner exactly while it is in flight (a CHECK of `queue`), and an in-flight row's
/// `next_attempt_at` is its lease's expiry: owner and expiry name the lease given back.
const RELEASE_UNSENT: &str =
    "UPDATE queue q SET status = 'pending', lease_owner = NULL, next_attempt_at = $3, updated_at = $3
       FROM unnest($2::text[], $4::bigint[]) AS u(id, until)
      WHERE q.id = u.id AND q.lease_owner = $1 AND q.next_attempt_at = u.until";

pub async fn release_unsent(client: &Client, owner: &str, leases: &[UnsentLease], now: i64) -> StoreResult<u64> {
    let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
    let untils: Vec<i64> = leases.iter().map(|l| l.until).collect();
    by_index(client, RELEASE_UNSENT, exec(client, RELEASE_UNSENT, &[&owner, &ids, &now, &untils])).await
}

pub async fn retry_now<C: GenericClient>(c: &C, id: &str, now: i64) -> StoreResult<RetryNow> {
    // A delivery that moved between the tables while this ran (finished, or retried by
    // another request) was in neither snapshot the statement saw: once more finds it.
    for _ in 0..2 {
        let scheduled = rows(c, &RETRY_NOW, &[&id, &now]).await?;
        if let Some(row) = scheduled.first() {
            let status: &str = get(row, 0)?;
            return Ok(if status == "held" { RetryNow::Held } else { RetryNow::Scheduled });
        }
        let found = rows(
            c,
            "SELECT status FROM deliveries WHERE id = $1 UNION ALL SELECT status FROM queue WHERE id = $1",
            &[&id],
        )
        .await?;
        match found.first().map(|row| get::<&str>(row, 0)).transpose()? {
            None => return Ok(RetryNow::NotFound),
            Some("shadow") => return Ok(RetryNow::Shadow),
            Some("in_flight") => return Ok(RetryNow::InFlight),
            Some(_) => {}
        }
    }
    // Moved under both tries: it is changing state now, so say so rather than claim it due.
    Err(StoreError::Unavailable(format!("delivery {id} is changing state; try again")))
}

/// A disabled subscription sends nothing: its retried delivery waits, held, for enable. One
/// in flight is left to its attempt.
static RETRY_NOW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH picked AS (SELECT $1::text AS id),
         {}
         SELECT status FROM back UNION ALL SELECT status FROM again",
        move_back("$2", "status <> 'in_flight'")
    )
});

/// The CTEs (`back` and `again`, each returning `id, status`) that make the deliveries in
/// `picked` (a CTE of ids) due at `now`, `held` where their subscription is disabled: a
/// finished one (but shadow, never sent) moves from the history back to `queue`, the
/// attempt that had finished it back to `attempts` (`queue` has no columns for it), a live one
/// that passes `live` (a condition on its row, checked again on the row updated, as
/// PostgreSQL does not re-run `picked` for a row another node leased meanwhile) is updated
/// there.
fn move_back(now: &str, live: &str) -> String {
    let state = "CASE WHEN EXISTS (SELECT 1 FROM subscription_state s WHERE s.name = subscription AND s.disabled)
                      THEN 'held' ELSE 'pending' END";
    format!(
        "moved AS (
            DELETE FROM deliveries WHERE id IN (SELECT id FROM picked) AND status <> 'shadow' RETURNING *),
         unfolded AS ({UNFOLD_FINAL_ATTEMPT}),
         back AS (
            INSERT INTO queue ({ALL_COLUMNS})
            SELECT id, event_uuid, subscription, topic, {state}, attempts, {now}, NULL, created_at, {now},
                   config_version, request, last_status, last_error, source, event_at FROM moved
            RETURNING id, subscription, status),
         again AS (
            UPDATE queue SET status = {state}, next_attempt_at = {now}, lease_owner = NULL, updated_at = {now}
             WHERE id IN (SELECT id FROM picked) AND {live}
            RETURNING id, subscription, status)"
    )
}

/// The final attempts of the history rows in `moved` (a CTE of deleted rows) as rows of
/// `attempts`, where they win over a lost lease's record of the same attempt.
const UNFOLD_FINAL_ATTEMPT: &str =
    "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error)
     SELECT id, attempts, final_started_at, final_duration_ms, last_status, final_response_body, last_error
       FROM moved WHERE final_started_at IS NOT NULL
     ON CONFLICT (delivery_id, attempt) DO UPDATE
        SET started_at = EXCLUDED.started_at, duration_ms = EXCLUDED.duration_ms, status_code = EXCLUDED.status_code,
            response_body = EXCLUDED.response_body, error = EXCLUDED.error";

/// `Store::render_again`: a delivery still failed and never attempted moves from the
/// history back to `queue` with its first request (the history's row is never updated).
pub async fn render_again<C: GenericClient>(
    c: &C,
    id: &str,
    request: &str,
    version: &str,
    now: i64,
) -> StoreResult<RetryNow> {
    let state = "CASE WHEN EXISTS (SELECT 1 FROM subscription_state s WHERE s.name = subscription AND s.disabled)
                      THEN 'held' ELSE 'pending' END";
    let sql = format!(
        "WITH moved AS (DELETE FROM deliveries WHERE id = $1 AND status = 'failed' AND attempts = 0 RETURNING *)
         INSERT INTO queue ({ALL_COLUMNS})
         SELECT id, event_uuid, subscription, topic, {state}, attempts, $2, NULL, created_at, $2,
                $4, $3, last_status, NULL, source, event_at FROM moved
         RETURNING status"
    );
    let found = rows(c, &sql, &[&id, &now, &request, &version]).await?;
    Ok(match found.first().map(|row| get::<&str>(row, 0)).transpose()? {
        None => RetryNow::NotFound,
        Some("held") => RetryNow::Held,
        Some(_) => RetryNow::Scheduled,
    })
}

pub async fn disable<C: GenericClient>(c: &C, name: &str, reason: &str, now: i64) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO subscription_state (name, disabled, disabled_reason, updated_at) VALUES ($1, TRUE, $2, $3)
         ON CONFLICT (name) DO UPDATE SET disabled = TRUE, disabled_reason = $2,
                                          updated_at = CASE WHEN subscription_state.disabled
                                                            THEN subscription_state.updated_at ELSE $3 END",
        &[&name, &reason, &now],
    )
    .await?;
    exec(
        c,
        "UPDATE queue SET status = 'held', updated_at = $2 WHERE subscription = $1 AND status = 'pending'",
        &[&name, &now],
    )
    .await?;
    Ok(())
}

pub async fn enable(client: &mut Client, name: &str, now: i64) -> StoreResult<u64> {
    let tx = client.transaction().await.map_err(pg_error)?;
    exec(
        &tx,
        "INSERT INTO subscription_state (name, disabled, updated_at) VALUES ($1, FALSE, $2)
         ON CONFLICT (name) DO UPDATE SET disabled = FALSE, disabled_reason = NULL, consecutive_failures = 0,
                                          updated_at = $2",
        &[&name, &now],
    )
    .await?;
    // Due at their creation time, so they are leased oldest first.
    let released = exec(
        &tx,
        "UPDATE queue SET status = 'pending', next_attempt_at = created_at, updated_at = $2
          WHERE subscription = $1 AND status = 'held'",
        &[&name, &now],
    )
    .await?;
    tx.commit().await.map_err(pg_error)?;
    Ok(released)
}

/// Deletes a batch of finished deliveries and their attempts in one statement; rows
/// another node is pruning are skipped, not waited for. Oldest first, by the history's
/// index of `updated_at`, so a prune that finds nothing reads nothing (a plain LIMIT lets
/// the planner scan the table for rows that are not there).
pub async fn prune<C: GenericClient>(c: &C, before: i64, limit: usize) -> StoreResult<u64> {
    let limit = limit as i64;
    let deleted = exec(c, PRUNE_DELIVERIES, &[&before, &limit]).await?;
    exec(c, &PRUNE_EVENTS, &[&before, &limit]).await?;
    Ok(deleted)
}

/// A batch of the history finished before `$1`, at most `$2`, and its attempts.
const PRUNE_DELIVERIES: &str = "WITH gone AS (
        SELECT id FROM deliveries WHERE updated_at < $1 ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED),
     history AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone))
     DELETE FROM deliveries WHERE id IN (SELECT id FROM gone)";

/// A batch of the events received before `$1` that no delivery is left of, at most `$2`,
/// and their search keys.
static PRUNE_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH gone AS (
            DELETE FROM events WHERE uuid IN (
              SELECT uuid FROM events e WHERE received_at < $1 AND {}
                 AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.event_uuid = e.uuid)
               ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING uuid, received_at)
         DELETE FROM event_keys k USING gone WHERE k.event_at = gone.received_at AND k.event_uuid = gone.uuid",
        query::NO_DELIVERIES_LEFT
    )
});

const NEXT_DUE: &str = "SELECT min(next_attempt_at) FROM queue WHERE status IN ('pending', 'in_flight')
    AND ($1::text[] IS NULL OR subscription = ANY($1::text[]))";

pub async fn next_due_at<C: GenericClient>(c: &C, loaded: Option<&[String]>) -> StoreResult<Option<i64>> {
    let row = rows(c, NEXT_DUE, &[&loaded]).await?;
    Ok(row.first().map(|r| get(r, 0)).transpose()?.flatten())
}

pub async fn event<C: GenericClient>(c: &C, uuid: &str) -> StoreResult<Option<StoredEvent>> {
    let found =
        rows(c, "SELECT uuid, topic, body, source, schema_problems FROM events WHERE uuid = $1", &[&uuid]).await?;
    found
        .first()
        .map(|r| {
            let schema_problems = problems_from_column(get(r, 4)?);
            Ok(StoredEvent {
                uuid: get(r, 0)?,
                topic: get(r, 1)?,
                body: get(r, 2)?,
                source: get(r, 3)?,
                schema_problems,
            })
        })
        .transpose()
}

/// Hours since the epoch: the key of `delivery_counts`.
const HOUR_MS: i64 = 3_600_000;
/// The hours `SubscriptionState::last_24h` sums: the current one and the 24 before it.
const RECENT_HOURS: i64 = 24;

/// Live deliveries of each subscription by status (from `queue`, which holds only those),
/// then finished ones (from the counters, never the history) with those of hours from
/// `$1` on beside them.
const SUBSCRIPTION_COUNTS: &str = "
    SELECT subscription, status, count(*), 0::bigint FROM queue GROUP BY subscription, status
    UNION ALL
    SELECT subscription, status, sum(n)::bigint, (coalesce(sum(n) FILTER (WHERE hour >= $1), 0))::bigint
      FROM delivery_counts GROUP BY subscription, status";

pub async fn subscription_states<C: GenericClient>(c: &C, now: i64) -> StoreResult<Vec<SubscriptionState>> {
    let mut states: BTreeMap<String, SubscriptionState> = BTreeMap::new();
    for r in
        rows(c, "SELECT name, disabled, disabled_reason, consecutive_failures, updated_at FROM subscription_state", &[])
            .await?
    {
        let failures: i32 = get(&r, 3)?;
        let disabled: bool = get(&r, 1)?;
        let state = SubscriptionState {
            name: get(&r, 0)?,
            disabled,
            disabled_reason: get(&r, 2)?,
            disabled_since: if disabled { Some(get(&r, 4)?) } else { None },
            consecutive_failures: failures.max(0) as u32,
            counts: query::zero_counts(),
            registered: true,
            last_24h: RecentOutcomes::default(),
        };
        states.insert(state.name.clone(), state);
    }
    let since = now / HOUR_MS - RECENT_HOURS;
    for r in rows(c, SUBSCRIPTION_COUNTS, &[&since]).await? {
        let name: String = get(&r, 0)?;
        let status: String = get(&r, 1)?;
        let (n, recent): (i64, i64) = (get(&r, 2)?, get(&r, 3)?);
        let state = states.entry(name.clone()).or_insert_with(|| SubscriptionState {
            name,
            counts: query::zero_counts(),
            ..SubscriptionState::default()
        });
        match status.as_str() {
            "succeeded" => state.last_24h.succeeded = recent.max(0) as u64,
            "failed" => state.last_24h.failed = recent.max(0) as u64,
            _ => {}
        }
        state.counts.insert(status, n.max(0) as u64);
    }
    // A subscription whose counters are all zero (its history pruned) and with nothing live
    // is known no better than one never seen.
    states.retain(|_, s| s.registered || s.counts.values().any(|n| *n > 0));
    Ok(states.into_values().collect())
}

/// Deliveries by status: the active ones counted in `queue` (live rows only), the finished
/// ones, when asked, summed from the counters. Neither reads the history.
fn status_count_sql(finished: bool) -> &'static str {
    if finished {
        "SELECT status, count(*) FROM queue GROUP BY status
         UNION ALL SELECT status, sum(n)::bigint FROM delivery_counts GROUP BY status"
    } else {
        "SELECT status, count(*) FROM queue GROUP BY status"
    }
}

async fn counts_by_status<C: GenericClient>(c: &C, finished: bool) -> StoreResult<BTreeMap<String, u64>> {
    let mut by_status = query::zero_counts_for(finished);
    for r in rows(c, status_count_sql(finished), &[]).await? {
        let n: i64 = get(&r, 1)?;
        by_status.insert(get(&r, 0)?, n.max(0) as u64);
    }
    Ok(by_status)
}

/// Ids are made in creation order, so the first pending one by id is the oldest.
const QUEUE_OLDEST: &str = "SELECT (SELECT created_at FROM queue WHERE status = 'pending' ORDER BY id LIMIT 1),
                                   (SELECT count(*) FROM subscription_state WHERE disabled)";

pub async fn queue_stats<C: GenericClient>(c: &C, finished: bool) -> StoreResult<QueueStats> {
    let by_status = counts_by_status(c, finished).await?;
    let row = rows(c, QUEUE_OLDEST, &[]).await?;
    let (oldest, disabled): (Option<i64>, i64) = match row.first() {
        Some(r) => (get(r, 0)?, get(r, 1)?),
        None => (None, 0),
    };
    Ok(QueueStats { by_status, oldest_pending_created_at: oldest, disabled_subscriptions: disabled as u64 })
}

/// Folds the counters in one statement: each past hour's shards into shard 0, and hours
/// before the last `RECENT_HOURS` (+1, so `last_24h` always has its hours whole) into hour
/// 0. The rows folded are locked in key order first, so two nodes compacting at once take
/// turns instead of deadlocking; the second finds them gone.
pub async fn compact_counts<C: GenericClient>(c: &C, now: i64) -> StoreResult<()> {
    let hour = now / HOUR_MS;
    let fold_before = hour - RECENT_HOURS - 1;
    exec(c, COMPACT_COUNTS, &[&fold_before, &hour]).await.map(drop)
}

/// `compact_counts`: hours before `$1` fold into hour 0, shards of hours before `$2` into 0.
const COMPACT_COUNTS: &str = "WITH doomed AS (
        SELECT subscription, status, hour, shard FROM delivery_counts
         WHERE (hour > 0 AND hour < $1) OR (shard <> 0 AND hour < $2)
         ORDER BY subscription, status, hour, shard FOR UPDATE),
     folded AS (
        DELETE FROM delivery_counts c USING doomed d
         WHERE c.subscription = d.subscription AND c.status = d.status AND c.hour = d.hour AND c.shard = d.shard
        RETURNING c.subscription, c.status, CASE WHEN c.hour < $1 THEN 0 ELSE c.hour END AS hour, c.n)
     INSERT INTO delivery_counts AS c (subscription, status, hour, shard, n)
     SELECT subscription, status, hour, 0, sum(n)::bigint FROM folded
      GROUP BY subscription, status, hour ORDER BY subscription, status, hour
     ON CONFLICT (subscription, status, hour, shard) DO UPDATE SET n = c.n + EXCLUDED.n";

/// A summary's columns of a row `t` of `queue` or `deliveries`, then its last attempt's
/// duration (`LIVE_DURATION` or `FINISHED_DURATION`).
const SUMMARY_COLUMNS: &str = "t.id, t.event_uuid, t.subscription, t.topic, t.status, t.attempts, t.created_at,
                               t.updated_at, t.next_attempt_at, t.last_status, t.last_error, t.config_version,
                               t.source, t.request::json->>'url', (t.request::json->'masked')::text";

/// The last attempt's duration of a row `t` of `queue`.
const LIVE_DURATION: &str =
    "(SELECT a.duration_ms FROM attempts a WHERE a.delivery_id = t.id ORDER BY a.attempt DESC LIMIT 1)";

/// The last attempt's duration of a row `t` of `deliveries`: its final attempt's, or, for a
/// row finished before version 11 or never attempted, the last in `attempts`.
static FINISHED_DURATION: LazyLock<String> =
    LazyLock::new(|| format!("coalesce(t.final_duration_ms, {LIVE_DURATION})"));

fn summary(r: &Row) -> StoreResult<DeliverySummary> {
    let id: String = get(r, 0)?;
    let status_text: &str = get(r, 4)?;
    let status = DeliveryStatus::parse(status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery {id}: unknown status {status_text:?}")))?;
    let attempts: i32 = get(r, 5)?;
    let next: Option<i64> = get(r, 8)?;
    let last_status: Option<i32> = get(r, 9)?;
    Ok(DeliverySummary {
        event: get(r, 1)?,
        subscription: get(r, 2)?,
        topic: get(r, 3)?,
        status,
        attempts: attempts.max(0) as u32,
        created_at: iso(get(r, 6)?),
        updated_at: iso(get(r, 7)?),
        next_attempt_at: next.filter(|_| status == DeliveryStatus::Pending).map(iso),
        last_status_code: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: get(r, 10)?,
        config_version: get(r, 11)?,
        source: get(r, 12)?,
        url: crate::store::shown_url(get(r, 13)?, get(r, 14)?),
        last_duration_ms: get(r, 15)?,
        id,
    })
}

/// A history page: the newest of `queue` and of `deliveries`, each read off its own index
/// newest first and cut at the page's size, then merged.
pub async fn list<C: GenericClient>(c: &C, q: &DeliveryQuery) -> StoreResult<DeliveryPage> {
    let (sql, args) = list_sql(q);
    let values = boxed(args);
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    let found = rows(c, &sql, &params).await?;
    let summaries = found.iter().map(summary).collect::<StoreResult<Vec<_>>>()?;
    let (deliveries, next_cursor) = query::paginate(summaries, q.limit, |d| d.id.clone());
    Ok(DeliveryPage { deliveries, next_cursor })
}

/// The statement of a history page, one row past its end, and its values.
fn list_sql(q: &DeliveryQuery) -> (String, Vec<query::Arg>) {
    let (live, args) = query::delivery_filters_in(q, query::Dialect::Postgres, "queue");
    let (finished, _) = query::delivery_filters_in(q, query::Dialect::Postgres, "deliveries");
    let limit = q.limit + 1;
    let sql = format!(
        "SELECT * FROM ((SELECT {SUMMARY_COLUMNS}, {LIVE_DURATION} FROM queue t WHERE 1 = 1{live}
                          ORDER BY id DESC LIMIT {limit})
                        UNION ALL
                        (SELECT {SUMMARY_COLUMNS}, {} FROM deliveries t WHERE 1 = 1{finished}
                          ORDER BY id DESC LIMIT {limit})) AS page
          ORDER BY 1 DESC LIMIT {limit}",
        *FINISHED_DURATION
    );
    (sql, args)
}

/// One batch of `retry_matching`: the newest `q.limit` matches of both tables but in-flight
/// and shadow ones, made due (`move_back`); the count and the least id under PostgreSQL's
/// own collation, the one its `id < cursor` compares with.
pub async fn retry_batch<C: GenericClient>(c: &C, q: &DeliveryQuery, now: i64) -> StoreResult<RetriedBatch> {
    let (live, mut args) = query::delivery_filters_in(q, query::Dialect::Postgres, "queue");
    let (finished, _) = query::delivery_filters_in(q, query::Dialect::Postgres, "deliveries");
    args.push(query::Arg::Int(now));
    let now = query::Dialect::Postgres.placeholder(args.len());
    let limit = q.limit;
    let sql = format!(
        "WITH picked AS (
            SELECT id FROM ((SELECT id FROM queue WHERE status <> 'in_flight'{live} ORDER BY id DESC LIMIT {limit})
                            UNION ALL
                            (SELECT id FROM deliveries WHERE status <> 'shadow'{finished}
                              ORDER BY id DESC LIMIT {limit})) AS m
             ORDER BY id DESC LIMIT {limit}),
         {}
         SELECT id, subscription, status, min(id) OVER () FROM
                (SELECT id, subscription, status FROM back UNION ALL SELECT id, subscription, status FROM again) AS m",
        move_back(&now, "status <> 'in_flight'")
    );
    let values = boxed(args);
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    let mut batch = RetriedBatch::default();
    for row in c.query(sql.as_str(), &params).await.map_err(pg_error)? {
        let status: &str = get(&row, 2)?;
        let held = status == "held";
        batch.made_due.push(MadeDue { id: get(&row, 0)?, subscription: get(&row, 1)?, held });
        // The least id under PostgreSQL's own collation: the one its `id < cursor` compares.
        batch.last = get(&row, 3)?;
    }
    batch.retried = batch.made_due.len() as u64;
    Ok(batch)
}

fn boxed(args: Vec<query::Arg>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    args.into_iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                query::Arg::Text(t) => Box::new(t),
                query::Arg::Int(i) => Box::new(i),
            }
        })
        .collect()
}

/// A delivery, wherever it is now.
static DETAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SUMMARY_COLUMNS}, {LIVE_DURATION}, t.request FROM queue t WHERE id = $1
         UNION ALL SELECT {SUMMARY_COLUMNS}, {}, t.request FROM deliveries t WHERE id = $1",
        *FINISHED_DURATION
    )
});

/// A delivery's attempts: those in `attempts` and the one that finished it, kept in its
/// history row (which wins over a lost lease's record of the same attempt).
const ATTEMPTS_OF: &str = "SELECT attempt, started_at, duration_ms, status_code, response_body, error FROM attempts a
     WHERE a.delivery_id = $1
       AND NOT EXISTS (SELECT 1 FROM deliveries d
                        WHERE d.id = $1 AND d.final_started_at IS NOT NULL AND d.attempts = a.attempt)
    UNION ALL
    SELECT attempts, final_started_at, final_duration_ms, last_status, final_response_body, last_error
      FROM deliveries WHERE id = $1 AND final_started_at IS NOT NULL
     ORDER BY 1";

pub async fn detail<C: GenericClient>(c: &C, id: &str) -> StoreResult<Option<DeliveryDetail>> {
    let found = rows(c, &DETAIL, &[&id]).await?;
    let Some(row) = found.first() else { return Ok(None) };
    let summary = summary(row)?;
    let request = decode_request(id, get(row, 16)?)?;
    let attempts = rows(c, ATTEMPTS_OF, &[&id])
        .await?
        .iter()
        .map(|r| {
            let attempt: i32 = get(r, 0)?;
            let code: Option<i32> = get(r, 3)?;
            Ok(Attempt {
                attempt: attempt.max(0) as u32,
                started_at: iso(get(r, 1)?),
                duration_ms: get(r, 2)?,
                status_code: code.and_then(|s| u16::try_from(s).ok()),
                response_body: get(r, 4)?,
                error: get(r, 5)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(DeliveryDetail { summary, request: request.redacted(), attempts }))
}

/// Remembers a signed-out console session until its expiry; forgets those expired.
pub async fn revoke_session<C: GenericClient>(c: &C, nonce: &str, until: i64, now: i64) -> StoreResult<()> {
    exec(c, "DELETE FROM revoked_sessions WHERE until <= $1", &[&now]).await?;
    exec(
        c,
        "INSERT INTO revoked_sessions (nonce, until) VALUES ($1, $2)
         ON CONFLICT (nonce) DO UPDATE SET until = EXCLUDED.until",
        &[&nonce, &until],
    )
    .await
    .map(drop)
}

/// The signed-out console sessions that have not expired at `now`.
pub async fn revoked_sessions<C: GenericClient>(c: &C, now: i64) -> StoreResult<Vec<(String, i64)>> {
    rows(c, "SELECT nonce, until FROM revoked_sessions WHERE until > $1", &[&now])
        .await?
        .iter()
        .map(|row| Ok((get(row, 0)?, get(row, 1)?)))
        .collect()
}

/// A statement the store runs on a timer or for a page, with values to run it with: plan
/// tests EXPLAIN each one to show that none reads more as the history grows.
pub struct PlanStatement {
    pub name: &'static str,
    pub sql: String,
    pub params: Vec<Box<dyn ToSql + Sync + Send>>,
}

/// The statements that join a batch to `queue` by id, run through `by_index`, for a plan
/// test: whatever size `queue` had when their plan was made, they must find rows by its key.
/// (The lease's `UPDATE … FROM picked` needs no guard: its generic plan expects one picked
/// row, so it always probes the key; the plan test checks that too.)
pub fn queue_by_id_statements() -> Vec<(&'static str, String)> {
    vec![("record attempts", RECORD_ATTEMPTS.to_string()), ("release unsent", RELEASE_UNSENT.to_string())]
}

/// The lease, for the plan test's check that it probes `queue`'s key unguarded.
pub fn lease_statement() -> String {
    LEASE.clone()
}

/// Every statement that runs on a timer (housekeeping, heartbeat, the idle lease) or for a
/// page (queue statistics, subscriptions, history, a delivery), the very text the store
/// runs, with values as `node` at `now` would use them; `id` names a delivery to show,
/// `subscription` one to filter by, `event` an event to filter by.
pub fn timer_and_page_statements(
    now: i64,
    node: &str,
    id: &str,
    subscription: &str,
    event: &str,
) -> Vec<PlanStatement> {
    use crate::search::Term;
    type Values = Vec<Box<dyn ToSql + Sync + Send>>;
    let one = |name, sql: &str, params: Values| PlanStatement { name, sql: sql.to_string(), params };
    let loaded = vec![subscription.to_string()];
    let grace = 60_000i64;
    let page = |name, q: DeliveryQuery| {
        let (sql, args) = list_sql(&DeliveryQuery { limit: 50, ..q });
        PlanStatement { name, sql, params: boxed(args) }
    };
    let status = |s: DeliveryStatus| DeliveryQuery { status: vec![s], ..DeliveryQuery::default() };
    vec![
        one("queue_stats (active)", status_count_sql(false), vec![]),
        one("queue_stats (with finished)", status_count_sql(true), vec![]),
        one("queue_stats (oldest pending)", QUEUE_OLDEST, vec![]),
        one("subscription_states", SUBSCRIPTION_COUNTS, vec![Box::new(now / HOUR_MS - RECENT_HOURS)]),
        one(
            "compact_counts",
            COMPACT_COUNTS,
            vec![Box::new(now / HOUR_MS - RECENT_HOURS - 1), Box::new(now / HOUR_MS)],
        ),
        one("heartbeat", &BEAT, vec![Box::new(node.to_string()), Box::new(HEARTBEAT_GAP_MS)]),
        one("heartbeat (take back)", &TAKE_BACK, vec![Box::new(now), Box::new(NODE_SILENCE_MS)]),
        one(
            "keep_loaded",
            KEEP_LOADED,
            vec![
                Box::new(loaded.clone()),
                Box::new(crate::store::seen_refresh_ms(grace)),
                Box::new(grace),
                Box::new(node.to_string()),
                Box::new(NODE_SILENCE_MS),
                Box::new(now),
                Box::new(SUBSCRIPTION_REMOVED),
            ],
        ),
        one("next_due_at", NEXT_DUE, vec![Box::new(None::<Vec<String>>)]),
        one("next_due_at (loaded)", NEXT_DUE, vec![Box::new(Some(loaded.clone()))]),
        one(
            "lease (idle)",
            &LEASE,
            vec![
                Box::new(node.to_string()),
                Box::new(now + 30_000),
                Box::new(now),
                Box::new(Vec::<String>::new()),
                Box::new(100i64),
                Box::new(Vec::<String>::new()),
                Box::new(Vec::<i64>::new()),
                Box::new(Some(loaded.clone())),
            ],
        ),
        one("prune (nothing to prune)", PRUNE_DELIVERIES, vec![Box::new(0i64), Box::new(1000i64)]),
        one("prune events (nothing to prune)", &PRUNE_EVENTS, vec![Box::new(0i64), Box::new(1000i64)]),
        page("history page", DeliveryQuery::default()),
        page("history page after a cursor", DeliveryQuery { cursor: Some(id.to_string()), ..DeliveryQuery::default() }),
        page("history page of failed", status(DeliveryStatus::Failed)),
        page("history page of pending", status(DeliveryStatus::Pending)),
        page(
            "history page of a subscription's succeeded",
            DeliveryQuery { subscription: loaded.clone(), ..status(DeliveryStatus::Succeeded) },
        ),
        page("history page of an event", DeliveryQuery { event: vec![event.to_string()], ..DeliveryQuery::default() }),
        page(
            "history page of two events",
            DeliveryQuery { event: vec![event.to_string(), id.to_string()], ..DeliveryQuery::default() },
        ),
        page("history search by key", DeliveryQuery { key: Term::parse("C-1007"), ..DeliveryQuery::default() }),
        page(
            "history search by path:key, a subscription's succeeded",
            DeliveryQuery {
                key: Term::parse("Customer.Id:C-1007"),
                subscription: loaded.clone(),
                ..status(DeliveryStatus::Succeeded)
            },
        ),
        one("detail", &DETAIL, vec![Box::new(id.to_string())]),
        one("detail (attempts)", ATTEMPTS_OF, vec![Box::new(id.to_string())]),
    ]
}
