//! The event catalog (`/console/topics`): every topic of `topics/*.yaml` with its
//! description, validation mode, search keys, schema, examples and the subscriptions it
//! reaches; one section per topic, with an anchor that subscriptions' pages link to.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{pretty_json, Console};
use super::session::Viewer;
use crate::api::ApiState;
use crate::catalog::{examples, Topic, Validation};
use crate::subscription::SubscriptionSet;

/// `GET /console/topics`.
pub async fn list(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    let topics: Vec<minijinja::Value> = set.catalog.topics.iter().map(|t| topic(&set, t)).collect();
    let ctx = context! { title => "Event catalog", nav => "topics", topics };
    console.render(&viewer, StatusCode::OK, "topics.html", ctx)
}

fn topic(set: &SubscriptionSet, t: &Arc<Topic>) -> minijinja::Value {
    let subscriptions: Vec<String> = set
        .iter()
        .filter(|s| set.catalog.for_patterns(&s.topics).iter().any(|found| Arc::ptr_eq(found, t)))
        .map(|s| s.name.clone())
        .collect();
    let examples: Vec<minijinja::Value> = examples::of_topic(t)
        .map(|e| context! { number => e.number, key => e.key(), label => e.label(), text => pretty(e.payload) })
        .collect();
    context! {
        name => t.name.clone(),
        anchor => anchor(&t.name),
        description => t.description.clone(),
        validation => validation(t.validation),
        search_keys => t.search_keys.clone(),
        schema => t.schema.as_ref().map(pretty),
        file => format!("{}:{}", t.file.display(), t.line),
        examples,
        subscriptions,
    }
}

fn pretty(v: &serde_json::Value) -> String {
    pretty_json(&v.to_string())
}

/// As the topic files write it.
fn validation(v: Validation) -> &'static str {
    match v {
        Validation::Off => "off",
        Validation::Warn => "warn",
        Validation::Enforce => "enforce",
    }
}

/// The id of a topic's section: `topic-` and its name, each character that is not a letter,
/// a digit, `.`, `_` or `-` (a glob's `*`) written `-`, so the id needs no escaping in a link.
pub fn anchor(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
    format!("topic-{safe}")
}

/// The catalog topics a subscription's `topics:` reach, as links for its page.
pub fn links(set: &SubscriptionSet, patterns: &[String]) -> Vec<minijinja::Value> {
    let found = set.catalog.for_patterns(patterns);
    found
        .iter()
        .map(|t| context! { name => t.name.clone(), href => format!("/console/topics#{}", anchor(&t.name)) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_need_no_escaping() {
        assert_eq!(anchor("order.paid"), "topic-order.paid");
        assert_eq!(anchor("Communication_*"), "topic-Communication_-");
        assert_eq!(anchor("a b/c\"<"), "topic-a-b-c--");
    }
}
