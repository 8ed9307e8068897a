//! A topic file exactly as written: serde types that reject unknown keys, so a typo is a
//! load error with its line, and whose JSON Schema `hookshape schema --topics` prints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A topic of the event catalog: one YAML file in the topics directory.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hookshape topic")]
pub struct RawTopic {
    /// The event topic this file describes, or a glob (`*` is the only wildcard) for a
    /// family of topics (`note.*`).
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema (2020-12) of the event's Payload, written in YAML. `$ref`s may point
    /// inside the schema only: remote ones are refused, never fetched.
    pub schema: Option<Value>,
    /// Example Payloads (what templates see under `Payload`); each must conform to the schema.
    #[serde(default)]
    pub examples: Vec<Value>,
    /// Paths into the Payload (`Customer.Id`) whose values index this topic's events for
    /// history search, beside the search_keys of the subscriptions that take them.
    #[serde(default)]
    pub search_keys: Vec<String>,
    /// What intake does with an event that does not conform to the schema (default off).
    #[serde(default)]
    pub validation: Validation,
}

/// What intake does with an event whose Payload does not conform to its topic's schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Intake does not check (the schema still documents the topic and checks templates):
    /// adding a catalog changes nothing for producers.
    #[default]
    Off,
    /// Accepted, counted in `hookshape_events_schema_mismatch_total` and marked with its
    /// `schema_problems`.
    Warn,
    /// Refused with 422 naming the path (`Payload.Customer.Id: "x" is not of type "integer"`).
    Enforce,
}

impl Validation {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Warn => "warn",
            Self::Enforce => "enforce",
        }
    }
}
