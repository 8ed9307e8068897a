//! What the SQL stores share beside the schema: the delivery-list filter and zeroed counts.

use std::collections::BTreeMap;

use super::{DeliveryQuery, DeliveryStatus};

/// One bound value of a delivery-list filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// The conditions (each starting ` AND `) and their values for `q`, newest first after
/// the cursor; `placeholder(n)` writes the n-th value's marker (`?n` or `$n`).
pub fn delivery_filters(q: &DeliveryQuery, placeholder: impl Fn(usize) -> String) -> (String, Vec<Arg>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    let mut add = |column_op: &str, v: Arg| {
        args.push(v);
        sql.push_str(&format!(" AND {column_op} {}", placeholder(args.len())));
    };
    let text = |s: &str| Arg::Text(s.to_string());
    if let Some(s) = q.status {
        add("status =", text(s.as_str()));
    }
    if let Some(s) = &q.subscription {
        add("subscription =", text(s));
    }
    if let Some(t) = &q.topic {
        add("topic =", text(t));
    }
    if let Some(e) = &q.event {
        add("event_uuid =", text(e));
    }
    if let Some(s) = &q.source {
        add("source =", text(s));
    }
    if let Some(t) = q.since {
        add("created_at >=", Arg::Int(t));
    }
    if let Some(t) = q.until {
        add("created_at <", Arg::Int(t));
    }
    if let Some(c) = &q.cursor {
        add("id <", text(c));
    }
    (sql, args)
}

/// Counting deliveries by status, for queue statistics. Active statuses are few rows and
/// indexed; finished ones are the whole history, so they are counted only when asked.
pub fn status_count_sql(finished: bool) -> &'static str {
    if finished {
        "SELECT status, count(*) FROM deliveries GROUP BY status"
    } else {
        "SELECT status, count(*) FROM deliveries WHERE status IN ('pending', 'in_flight', 'held') GROUP BY status"
    }
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
            status: Some(DeliveryStatus::Failed),
            since: Some(5),
            cursor: Some("dlv_9".into()),
            ..DeliveryQuery::default()
        };
        let (sql, args) = delivery_filters(&q, |n| format!("${n}"));
        assert_eq!(sql, " AND status = $1 AND created_at >= $2 AND id < $3");
        assert_eq!(args, vec![Arg::Text("failed".into()), Arg::Int(5), Arg::Text("dlv_9".into())]);
    }

    #[test]
    fn a_page_names_its_successor_only_when_rows_remain() {
        assert_eq!(paginate(vec![3, 2, 1], 2, |n| n.to_string()), (vec![3, 2], Some("2".into())));
        assert_eq!(paginate(vec![3, 2], 2, |n| n.to_string()), (vec![3, 2], None));
    }
}
