//! Which base subscription each working one is: the same name, or a rename (another name
//! in the same file, or the same file text under another name); the rest added or removed.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::subscription::{Subscription, SubscriptionSet};

/// What happened to a subscription between the base and the working files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// In both, under the same name (`changed` in a report, which lists only changes).
    #[serde(rename = "changed")]
    Kept,
    Added,
    Removed,
    Renamed,
}

/// A subscription as the base and the working files have it.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The working name (the base's for a removed one).
    pub name: String,
    /// The base's name when it was renamed.
    pub renamed_from: Option<String>,
    pub kind: Kind,
    pub base: Option<Arc<Subscription>>,
    pub work: Option<Arc<Subscription>>,
}

/// Pairs every subscription of `base` and `work`, in the working files' order, then the
/// removed ones in the base's.
pub fn pair(base: &SubscriptionSet, work: &SubscriptionSet) -> Vec<Pair> {
    let mut gone: Vec<&Arc<Subscription>> = base.iter().filter(|s| work.get(&s.name).is_none()).collect();
    let mut out = Vec::new();
    for sub in work.iter() {
        if let Some(b) = base.get(&sub.name) {
            out.push(Pair {
                name: sub.name.clone(),
                renamed_from: None,
                kind: Kind::Kept,
                base: Some(b.clone()),
                work: Some(sub.clone()),
            });
            continue;
        }
        let renamed = gone.iter().position(|b| same_file(b, sub) || same_text(base, b, work, sub));
        match renamed.map(|i| gone.remove(i)) {
            Some(b) => out.push(Pair {
                name: sub.name.clone(),
                renamed_from: Some(b.name.clone()),
                kind: Kind::Renamed,
                base: Some(b.clone()),
                work: Some(sub.clone()),
            }),
            None => out.push(Pair {
                name: sub.name.clone(),
                renamed_from: None,
                kind: Kind::Added,
                base: None,
                work: Some(sub.clone()),
            }),
        }
    }
    out.extend(gone.into_iter().map(|b| Pair {
        name: b.name.clone(),
        renamed_from: None,
        kind: Kind::Removed,
        base: Some(b.clone()),
        work: None,
    }));
    out
}

/// The file's name inside its subscriptions directory.
fn file_name(sub: &Subscription) -> Option<&std::ffi::OsStr> {
    Path::new(&sub.file).file_name()
}

fn same_file(b: &Subscription, w: &Subscription) -> bool {
    file_name(b).is_some() && file_name(b) == file_name(w)
}

/// The same text but for the top-level `name:` line (the name elsewhere in the text, a
/// description or a URL that mentions it, must be the same too).
fn same_text(base: &SubscriptionSet, b: &Subscription, work: &SubscriptionSet, w: &Subscription) -> bool {
    match (base.texts.subscriptions.get(&b.name), work.texts.subscriptions.get(&w.name)) {
        (Some(tb), Some(tw)) => without_name(tb).eq(without_name(tw)),
        _ => false,
    }
}

fn without_name(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.starts_with("name:"))
}
