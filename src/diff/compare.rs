//! Every event through every pair of subscriptions (base and working), on one frozen clock
//! and one delivery id, so only what the files change differs. Events go in batches over
//! the machine's cores; findings are tallied in the events' order, so the examples a
//! report keeps are the same on every run.

use super::pairs::Pair;
use super::report::{EventRef, FieldChange, Finding, Report, Tally};
use crate::event::Event;
use crate::outcome::{outcome_with_digest, Outcome};
use crate::secret::Masker;
use crate::subscription::{Subscription, SubscriptionSet};

/// Events rendered per batch: enough to keep every core busy, few enough to hold.
const BATCH: usize = 512;

/// The two file sets and how their subscriptions pair.
pub struct Sides<'a> {
    pub base: &'a SubscriptionSet,
    pub work: &'a SubscriptionSet,
    pub pairs: &'a [Pair],
    /// The indexes of the pairs to render (None: all).
    pub differing: Option<&'a [usize]>,
}

fn same_texts(sides: &Sides<'_>, pair: &Pair) -> bool {
    match (&pair.base, &pair.work) {
        (Some(b), Some(w)) => super::unchanged::same(sides.base, &b.name, sides.work, &w.name),
        _ => false,
    }
}

/// Runs every event of `events` through both sides; the first bad event stops it.
pub fn run(sides: &Sides<'_>, events: impl Iterator<Item = Result<Event, String>>) -> Result<Report, String> {
    // Pairs whose texts are all the same render the same: only the others are rendered.
    let differing: Vec<usize> = (0..sides.pairs.len()).filter(|&i| !same_texts(sides, &sides.pairs[i])).collect();
    let sides = &Sides { differing: Some(&differing), ..*sides };
    let at = chrono::Utc::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut tallies: Vec<Tally> = sides.pairs.iter().map(Tally::new).collect();
    let mut seen = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut events = events.peekable();
    while events.peek().is_some() {
        batch.clear();
        for event in events.by_ref().take(BATCH) {
            batch.push(event?);
        }
        seen += batch.len() as u64;
        let found = findings(sides, &batch, threads, at)?;
        for (event, per_pair) in batch.iter().zip(found) {
            let shown = EventRef { uuid: event.uuid.clone(), topic: event.topic.clone() };
            for (i, list) in per_pair {
                for f in list {
                    tallies[i].add(&shown, f);
                }
            }
        }
    }
    Ok(Report::new(seen, tallies.into_iter().filter_map(Tally::finish).collect()))
}

/// Each event's findings, as (pair index, findings) for the pairs where it has some.
type EventFindings = Vec<(usize, Vec<Finding>)>;

fn findings(
    sides: &Sides<'_>,
    batch: &[Event],
    threads: usize,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<EventFindings>, String> {
    let per = batch.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = batch
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    crate::render::clock::frozen(Some(at), || {
                        chunk.iter().map(|e| of_event(sides, e)).collect::<Vec<_>>()
                    })
                })
            })
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for worker in workers {
            // A worker that panicked lost its events' findings: no report beats a wrong one.
            out.extend(worker.join().map_err(|_| "rendering an event failed unexpectedly (a bug: please report it)")?);
        }
        Ok(out)
    })
}

fn of_event(sides: &Sides<'_>, event: &Event) -> EventFindings {
    let ctx = crate::render::context(event);
    let masker = Masker::new(Vec::<String>::new());
    let side = |set: &SubscriptionSet, sub: &Option<std::sync::Arc<Subscription>>| match sub {
        None => None,
        Some(s) if !s.enabled => None,
        Some(s) => {
            Some(crate::render::clock::repeatable(|| outcome_with_digest(set, s, event, &ctx, &masker, "dlv_diff")))
        }
    };
    let all: Vec<usize>;
    let indexes = match sides.differing {
        Some(list) => list,
        None => {
            all = (0..sides.pairs.len()).collect();
            &all
        }
    };
    indexes
        .iter()
        .map(|&i| (i, &sides.pairs[i]))
        .filter_map(|(i, p)| {
            let (base, work) = (side(sides.base, &p.base), side(sides.work, &p.work));
            let mut found = classify(base.as_ref().map(|(o, _)| o), work.as_ref().map(|(o, _)| o));
            if let (true, Some((a, digest_a)), Some((b, digest_b))) = (found.is_empty(), &base, &work) {
                // The same fields, shown differently: their order changed. Shown the same
                // and sent differently: a secret value changed.
                let reordered = if a != b { order_changes(a, b) } else { Vec::new() };
                if !reordered.is_empty() {
                    found.push(Finding::Changed(reordered));
                } else if matches!((digest_a, digest_b), (Some(x), Some(y)) if x != y) {
                    found.push(Finding::Changed(vec![secret_change()]));
                }
            }
            (!found.is_empty()).then_some((i, found))
        })
        .collect()
}

/// What changes for one event between its base and working outcomes (None: not delivered).
pub fn classify(base: Option<&Outcome>, work: Option<&Outcome>) -> Vec<Finding> {
    let base = base.filter(|o| o.delivered());
    let work = work.filter(|o| o.delivered());
    match (base, work) {
        (None, None) => Vec::new(),
        (Some(_), None) => vec![Finding::NoLongerDelivered],
        (None, Some(Outcome::Failed { error })) => vec![Finding::NewlyDelivered, Finding::NewError(error.clone())],
        (None, Some(_)) => vec![Finding::NewlyDelivered],
        (Some(Outcome::Failed { error: a }), Some(Outcome::Failed { error: b })) if a != b => {
            vec![Finding::NewError(b.clone())]
        }
        (Some(Outcome::Failed { .. }), Some(Outcome::Failed { .. })) => Vec::new(),
        (Some(_), Some(Outcome::Failed { error })) => vec![Finding::NewError(error.clone())],
        (Some(Outcome::Failed { .. }), Some(_)) => vec![Finding::FixedError],
        (Some(a), Some(b)) => {
            let changes = request_changes(a, b);
            if changes.is_empty() {
                Vec::new()
            } else {
                vec![Finding::Changed(changes)]
            }
        }
    }
}

/// Requests that show the same but are not: a secret value in them changed (a header's,
/// the URL's, the signing secret). Which one is not said: that would tell part of it.
fn secret_change() -> FieldChange {
    let masked = Some(crate::secret::MASK.to_string());
    FieldChange { field: "(a secret value)".into(), before: masked.clone(), after: masked }
}

/// Two requests with the same fields and values, in another order: the headers' (their
/// names in each order) or the body's keys (each body as shown).
fn order_changes(a: &Outcome, b: &Outcome) -> Vec<FieldChange> {
    let (Outcome::Request { headers: h0, body: b0, .. }, Outcome::Request { headers: h1, body: b1, .. }) = (a, b)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if h0 != h1 {
        let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
        out.push(FieldChange { field: "header order".into(), before: Some(names(h0)), after: Some(names(h1)) });
    }
    if b0 != b1 {
        out.push(FieldChange { field: "body key order".into(), before: b0.clone(), after: b1.clone() });
    }
    out
}

fn request_changes(a: &Outcome, b: &Outcome) -> Vec<FieldChange> {
    let (
        Outcome::Request { method: m0, url: u0, headers: h0, body: b0 },
        Outcome::Request { method: m1, url: u1, headers: h1, body: b1 },
    ) = (a, b)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pair = |field: &str, x: &String, y: &String| {
        if x != y {
            out.push(FieldChange { field: field.into(), before: Some(x.clone()), after: Some(y.clone()) });
        }
    };
    pair("method", m0, m1);
    pair("url", u0, u1);
    out.extend(crate::outcome::header_changes(h0, h1).into_iter().map(|h| FieldChange {
        field: format!("header {}", h.name),
        before: h.before,
        after: h.after,
    }));
    out.extend(super::body::changes(b0.as_deref(), b1.as_deref()).into_iter().map(FieldChange::from));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, body: &str) -> Option<Outcome> {
        Some(Outcome::Request { method: "POST".into(), url: url.into(), headers: vec![], body: Some(body.into()) })
    }

    #[test]
    fn each_kind_of_change_is_told_apart() {
        let skipped = Some(Outcome::Skipped { reason: "filter".into() });
        let failed = |e: &str| Some(Outcome::Failed { error: e.into() });
        assert_eq!(classify(skipped.as_ref(), request("u", "{}").as_ref()), [Finding::NewlyDelivered]);
        assert_eq!(classify(request("u", "{}").as_ref(), None), [Finding::NoLongerDelivered]);
        assert_eq!(classify(request("u", "{}").as_ref(), failed("x").as_ref()), [Finding::NewError("x".into())]);
        assert_eq!(classify(failed("x").as_ref(), request("u", "{}").as_ref()), [Finding::FixedError]);
        assert_eq!(classify(failed("x").as_ref(), failed("x").as_ref()), []);
        assert_eq!(classify(request("u", r#"{"a":1}"#).as_ref(), request("u", r#"{"a": 1}"#).as_ref()), []);
        assert_eq!(
            classify(request("u", r#"{"a":1}"#).as_ref(), request("v", r#"{"a":2}"#).as_ref()),
            [Finding::Changed(vec![
                FieldChange { field: "url".into(), before: Some("u".into()), after: Some("v".into()) },
                FieldChange { field: "body a".into(), before: Some("1".into()), after: Some("2".into()) },
            ])]
        );
    }
}
