//! The event catalog (`topics/*.yaml`): what each topic's events look like (a JSON Schema
//! of the Payload, examples), which of their fields index history search, and whether
//! intake checks events against the schema (`validation: off|warn|enforce`). Loaded and
//! reloaded with the subscriptions, as part of their set.

pub mod check;
pub mod examples;
mod load;
mod locate;
pub mod paths;
pub mod raw;
mod schema;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

pub use check::{check, Mismatch};
pub use load::load_dir;
pub use raw::Validation;
pub use schema::{payload_path, MAX_PROBLEMS};

use crate::search::KeyPath;
use crate::topic_pattern::{glob_match, patterns_overlap};
use schema::CompiledSchema;

/// The topics in force, in file-name order. Empty when there is no topics directory.
#[derive(Debug, Default)]
pub struct Catalog {
    pub topics: Vec<Arc<Topic>>,
}

/// One topic of the catalog. Immutable: a reload builds a new catalog.
#[derive(Debug)]
pub struct Topic {
    /// The topic's name, or a glob (`*` is the only wildcard).
    pub name: String,
    pub description: Option<String>,
    /// The JSON Schema of the Payload, as written.
    pub schema: Option<Value>,
    /// Example Payloads, each conforming to the schema (checked at load).
    pub examples: Vec<Value>,
    pub search_keys: Vec<String>,
    pub validation: Validation,
    pub file: PathBuf,
    /// The line of `name:` in the file.
    pub line: usize,
    compiled: Option<CompiledSchema>,
    key_paths: Vec<KeyPath>,
}

impl Catalog {
    /// The topics whose name or glob matches a concrete event topic.
    pub fn for_event_topic<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Arc<Topic>> + 'a {
        self.topics.iter().filter(move |t| glob_match(&t.name, topic))
    }

    /// The topics a subscription's `topics:` list can reach: a pattern matches the topic's
    /// name, or the two globs have an event topic in common.
    pub fn for_patterns(&self, patterns: &[String]) -> Vec<&Arc<Topic>> {
        self.topics.iter().filter(|t| patterns.iter().any(|p| patterns_overlap(p, &t.name))).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Topic>> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Whether any topic checks events at intake: without one, intake skips the catalog.
    pub fn validates(&self) -> bool {
        self.topics.iter().any(|t| t.validation != Validation::Off && t.compiled.is_some())
    }
}

impl Topic {
    /// The compiled `search_keys`.
    pub fn key_paths(&self) -> &[KeyPath] {
        &self.key_paths
    }

    /// What is wrong with `payload` by this topic's schema (`Payload.path: message`, at most
    /// `MAX_PROBLEMS`); empty when it conforms or there is no schema.
    pub fn problems(&self, payload: &Value) -> Vec<String> {
        match &self.compiled {
            Some(s) if !s.is_valid(payload) => s.problems(payload),
            _ => Vec::new(),
        }
    }
}
