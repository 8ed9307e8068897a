//! What the SQL stores share beside the schema: the delivery-list filter, how an event's
//! deliveries are found, and zeroed counts; `Dialect` says where their SQL differs.

use std::collections::BTreeMap;

use super::{DeliveryQuery, DeliveryStatus};
use crate::search::Term;

/// One bound value of a delivery-list filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// Where the two SQL stores' statements differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The n-th bound value's marker.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The column that names a `deliveries` row in `… IN (subquery)`.
    fn row_key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "id",
        }
    }

    /// The condition on a `deliveries` row that it belongs to one of the events whose uuids
    /// are bound at `uuids`: one subquery for them all (an OR of subqueries would make
    /// PostgreSQL test every row of the history against each).
    fn of_events(self, uuids: &[String]) -> String {
        format!("{} IN ({})", self.row_key(), self.deliveries_of(uuids))
    }

    /// The condition on a `deliveries` row that its event is one of `events`, a query of
    /// `(event_at, event_uuid)` pairs (`keys_matching`), found by `deliveries_by_event`.
    fn of_events_in(self, events: &str) -> String {
        let key = self.row_key();
        format!(
            "{key} IN (SELECT d.{key} FROM ({events}) k
                        JOIN deliveries d ON d.event_at = k.event_at AND d.event_uuid = k.event_uuid)"
        )
    }

    /// A query of the row keys of the deliveries of the event whose uuid is bound at
    /// `uuid`. A delivery is found by its event's time and uuid (`deliveries_by_event`,
    /// which grows at its end, where an index of the random uuid alone took every entry at
    /// a random page), or, stored without that time, by the uuid alone.
    pub fn deliveries_of_event(self, uuid: &str) -> String {
        self.deliveries_of(&[uuid.to_string()])
    }

    /// `deliveries_of_event` for the events whose uuids are bound at `uuids`.
    fn deliveries_of(self, uuids: &[String]) -> String {
        let key = self.row_key();
        deliveries_where(&format!("d.{key}"), key, &one_of(uuids))
    }
}

/// PostgreSQL: a query of one row, the event's `uuid`, per delivery of each event whose
/// uuid is in the array bound at `uuids`: those finished (as `Dialect::deliveries_of_event`
/// finds them in the history) and those live, in `queue`.
pub fn deliveries_of_events(uuids: &str) -> String {
    format!(
        "{} UNION ALL SELECT event_uuid FROM queue WHERE event_uuid = ANY({uuids})",
        deliveries_where("e.uuid", "event_uuid", &format!("= ANY({uuids})"))
    )
}

/// PostgreSQL: the condition on a row of `queue` that it belongs to one of the events whose
/// uuids are bound at `uuids` (by `queue_event`: live rows are few, so the uuid alone serves).
fn of_events_in_queue(uuids: &[String]) -> String {
    format!("event_uuid {}", one_of(uuids))
}

/// `= $1` for one placeholder, `IN ($1, $2)` for several: a test of a uuid column.
fn one_of(placeholders: &[String]) -> String {
    match placeholders {
        [one] => format!("= {one}"),
        many => format!("IN ({})", many.join(", ")),
    }
}

/// The deliveries of the events whose uuid passes `test`: those with their event's time
/// (selecting `by_time`, over `events e` and `deliveries d`), then those without it
/// (selecting `by_uuid`).
fn deliveries_where(by_time: &str, by_uuid: &str, test: &str) -> String {
    format!(
        "SELECT {by_time} FROM events e JOIN deliveries d ON d.event_at = e.received_at AND d.event_uuid = e.uuid
          WHERE e.uuid {test}
         UNION ALL SELECT {by_uuid} FROM deliveries WHERE event_at IS NULL AND event_uuid {test}"
    )
}

/// The condition on an event `e` that no delivery is left of it (by either index, as in
/// `deliveries_where`): the prune's test for an event it may delete.
pub const NO_DELIVERIES_LEFT: &str =
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_at = e.received_at AND d.event_uuid = e.uuid)
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_at IS NULL AND d.event_uuid = e.uuid)";

/// The WHERE of SQLite's index of live rows, `deliveries_live` (a literal, for `concat!`).
macro_rules! live_rows {
    () => {
        "status IN ('pending', 'in_flight')"
    };
}
/// The WHERE of SQLite's indexes of every other row, `deliveries_*_off_queue`.
macro_rules! off_queue_rows {
    () => {
        "status NOT IN ('pending', 'in_flight')"
    };
}
/// The WHERE of SQLite's index of finished rows, `deliveries_finished_by_time`: succeeded,
/// failed and shadow, spelled without an IN list of three.
macro_rules! finished_rows {
    () => {
        concat!(off_queue_rows!(), " AND status <> 'held'")
    };
}
pub(crate) use {finished_rows, live_rows, off_queue_rows};

const LIVE: &str = live_rows!();
const OFF_QUEUE: &str = off_queue_rows!();

/// The conditions (each starting ` AND `) and their values for `q`, newest first after
/// the cursor.
pub fn delivery_filters(q: &DeliveryQuery, dialect: Dialect) -> (String, Vec<Arg>) {
    delivery_filters_in(q, dialect, "deliveries")
}

/// `delivery_filters` on `table`: PostgreSQL's `queue` finds an event's rows its own way.
pub fn delivery_filters_in(q: &DeliveryQuery, dialect: Dialect, table: &str) -> (String, Vec<Arg>) {
    // A key search finds its few rows by `event_keys`; SQLite, without statistics, would
    // rather walk an index of another filter's column (a subscription's whole history) and
    // test each row against the key's matches. `+column` keeps its indexes out of the plan.
    let searched = dialect == Dialect::Sqlite && q.key.is_some();
    let column = if searched { "+" } else { "" };
    let mut f = Filters { sql: String::new(), args: Vec::new(), dialect, column };
    f.any_of("status", q.status.iter().map(|s| s.as_str()));
    if dialect == Dialect::Sqlite && !searched {
        if let Some(index_where) = partial_index_of(&q.status) {
            f.sql.push_str(&format!(" AND {index_where}"));
        }
    }
    f.any_of("subscription", q.subscription.iter().map(String::as_str));
    f.any_of("topic", q.topic.iter().map(String::as_str));
    f.any_of("source", q.source.iter().map(String::as_str));
    match q.never_attempted_failures {
        Some(false) => f.sql.push_str(" AND (status <> 'failed' OR attempts > 0)"),
        Some(true) => f.sql.push_str(" AND status = 'failed' AND attempts = 0"),
        None => {}
    }
    if !q.event.is_empty() {
        let mut uuids = Vec::with_capacity(q.event.len());
        for e in &q.event {
            f.args.push(Arg::Text(e.clone()));
            uuids.push(dialect.placeholder(f.args.len()));
        }
        let condition = if table == "queue" { of_events_in_queue(&uuids) } else { dialect.of_events(&uuids) };
        f.sql.push_str(&format!(" AND {condition}"));
    }
    if let Some(term) = &q.key {
        let events = keys_matching(term, &mut f);
        let condition = if table == "queue" {
            format!("event_uuid IN (SELECT event_uuid FROM ({events}) k)")
        } else {
            dialect.of_events_in(&events)
        };
        f.sql.push_str(&format!(" AND {condition}"));
    }
    if let Some(t) = q.since {
        f.add("created_at >=", Arg::Int(t));
    }
    if let Some(t) = q.until {
        f.add("created_at <", Arg::Int(t));
    }
    if let Some(c) = &q.cursor {
        f.add("id <", Arg::Text(c.clone()));
    }
    (f.sql, f.args)
}

/// The WHERE of the SQLite partial index that holds every row in one of `statuses`, to
/// repeat in a query: SQLite reads a partial index only for a query whose WHERE has the
/// index's own (a bound status does not prove it).
fn partial_index_of(statuses: &[DeliveryStatus]) -> Option<&'static str> {
    let live = |s: &DeliveryStatus| matches!(s, DeliveryStatus::Pending | DeliveryStatus::InFlight);
    if statuses.is_empty() {
        None
    } else if statuses.iter().all(live) {
        Some(LIVE)
    } else if !statuses.iter().any(live) {
        Some(OFF_QUEUE)
    } else {
        None
    }
}

/// A query of the events (`event_at`, `event_uuid`) indexed by `term`: its whole text as
/// a value under any path, and where it reads as `path:value`, that value under that path.
/// Each reads `event_keys` by value: SQLite's primary key by its prefix, PostgreSQL's
/// `event_keys_by_value`, the path checked on the row.
fn keys_matching(term: &Term, f: &mut Filters) -> String {
    f.args.push(Arg::Text(term.any.clone()));
    let mut sql =
        format!("SELECT event_at, event_uuid FROM event_keys WHERE value = {}", f.dialect.placeholder(f.args.len()));
    if let Some(k) = &term.qualified {
        f.args.push(Arg::Text(k.value.clone()));
        f.args.push(Arg::Text(k.path.clone()));
        let (value, path) = (f.dialect.placeholder(f.args.len() - 1), f.dialect.placeholder(f.args.len()));
        sql.push_str(&format!(
            " UNION SELECT event_at, event_uuid FROM event_keys WHERE value = {value} AND path = {path}"
        ));
    }
    sql
}

struct Filters {
    sql: String,
    args: Vec<Arg>,
    dialect: Dialect,
    /// Before each column's name: `+` where no index of it may serve.
    column: &'static str,
}

impl Filters {
    fn add(&mut self, column_op: &str, v: Arg) {
        self.args.push(v);
        let mark = self.dialect.placeholder(self.args.len());
        self.sql.push_str(&format!(" AND {}{column_op} {mark}", self.column));
    }

    /// ` AND column = ?` for one value, ` AND column IN (…)` for several, nothing for none.
    fn any_of<'a>(&mut self, column: &str, values: impl Iterator<Item = &'a str>) {
        let mut marks = Vec::new();
        for v in values {
            self.args.push(Arg::Text(v.to_string()));
            marks.push(self.dialect.placeholder(self.args.len()));
        }
        let column = format!("{}{column}", self.column);
        match &marks[..] {
            [] => {}
            [one] => self.sql.push_str(&format!(" AND {column} = {one}")),
            _ => self.sql.push_str(&format!(" AND {column} IN ({})", marks.join(", "))),
        }
    }
}

/// The statement behind `Store::retry_matching`: due now, `held` where the subscription is
/// disabled; the last value is the time. The state is checked again on the row updated, as
/// PostgreSQL does not re-run the subquery for a row another node leased meanwhile.
pub fn retry_matching(q: &DeliveryQuery, now: i64, dialect: Dialect) -> (String, Vec<Arg>) {
    let (filters, mut args) = delivery_filters(q, dialect);
    args.push(Arg::Int(now));
    let now = dialect.placeholder(args.len());
    let sql = format!(
        "UPDATE deliveries
            SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_state s
                                            WHERE s.name = deliveries.subscription AND s.disabled = TRUE)
                              THEN 'held' ELSE 'pending' END,
                next_attempt_at = {now}, lease_owner = NULL, updated_at = {now}
          WHERE id IN (SELECT id FROM deliveries
                        WHERE status NOT IN ('in_flight', 'shadow'){filters}
                        ORDER BY id DESC LIMIT {})
            AND status NOT IN ('in_flight', 'shadow')",
        q.limit
    );
    (sql, args)
}

/// One batch of `Store::retry_matching` (`q.limit` rows below `q.cursor`): the statement
/// above, returning what it made due. SQLite answers each id (compared bytewise, as Rust
/// compares them); PostgreSQL the count and the least id under its own collation, the
/// one its `id < cursor` compares with.
pub fn retry_batch(q: &DeliveryQuery, now: i64, dialect: Dialect) -> (String, Vec<Arg>) {
    let (update, args) = retry_matching(q, now, dialect);
    let sql = match dialect {
        Dialect::Sqlite => format!("{update} RETURNING id, subscription, status"),
        Dialect::Postgres => format!("WITH made_due AS ({update} RETURNING id) SELECT count(*), min(id) FROM made_due"),
    };
    (sql, args)
}

/// Zeroed counts for the statuses a count covers: all six, or the active three.
pub fn zero_counts_for(finished: bool) -> BTreeMap<String, u64> {
    let mut counts = zero_counts();
    if !finished {
        counts.retain(|s, _| matches!(s.as_str(), "pending" | "in_flight" | "held"));
    }
    counts
}

/// Every status with a count of zero, so reports always name all six.
pub fn zero_counts() -> BTreeMap<String, u64> {
    DeliveryStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect()
}

/// Cuts a page fetched with one row too many, and names where the next page starts.
pub fn paginate<T>(mut rows: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_placeholders_in_order() {
        let q = DeliveryQuery {
            status: vec![DeliveryStatus::Failed],
            since: Some(5),
            cursor: Some("dlv_9".into()),
            ..DeliveryQuery::default()
        };
        let (sql, args) = delivery_filters(&q, Dialect::Postgres);
        assert_eq!(sql, " AND status = $1 AND created_at >= $2 AND id < $3");
        assert_eq!(args, vec![Arg::Text("failed".into()), Arg::Int(5), Arg::Text("dlv_9".into())]);
    }

    #[test]
    fn several_values_of_one_filter_match_any_of_them() {
        let q = DeliveryQuery {
            status: vec![DeliveryStatus::Failed, DeliveryStatus::Held],
            topic: vec!["a".into()],
            ..DeliveryQuery::default()
        };
        let (sql, args) = delivery_filters(&q, Dialect::Postgres);
        assert_eq!(sql, " AND status IN ($1, $2) AND topic = $3");
        assert_eq!(args.len(), 3);
    }

    #[test]
    fn sqlite_filters_on_status_repeat_the_where_of_the_partial_index_holding_those_rows() {
        let sqlite = |status: Vec<DeliveryStatus>| {
            delivery_filters(&DeliveryQuery { status, ..DeliveryQuery::default() }, Dialect::Sqlite).0
        };
        use DeliveryStatus::*;
        assert_eq!(sqlite(vec![Failed, Held]), format!(" AND status IN (?1, ?2) AND {OFF_QUEUE}"));
        assert_eq!(sqlite(vec![Succeeded]), format!(" AND status = ?1 AND {OFF_QUEUE}"));
        assert_eq!(sqlite(vec![Pending, InFlight]), format!(" AND status IN (?1, ?2) AND {LIVE}"));
        assert_eq!(sqlite(vec![Pending, Failed]), " AND status IN (?1, ?2)", "no one index holds both");
        assert_eq!(sqlite(vec![]), "");
    }

    #[test]
    fn a_page_names_its_successor_only_when_rows_remain() {
        assert_eq!(paginate(vec![3, 2, 1], 2, |n| n.to_string()), (vec![3, 2], Some("2".into())));
        assert_eq!(paginate(vec![3, 2], 2, |n| n.to_string()), (vec![3, 2], None));
    }
}
