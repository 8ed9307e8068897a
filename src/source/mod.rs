//! Inbound sources: a platform that sends webhooks in its own format (the seeds) posts them
//! to `POST /v1/sources/{name}`; the source checks the platform's proof over the raw bytes,
//! maps its JSON to a canonical event with templates, and the event then flows to
//! subscriptions like any other. `raw.rs` is the file format, `compile.rs` loads it,
//! `verify.rs` checks proofs.

mod compile;
pub mod raw;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use compile::load_dir;
pub use raw::VerifyScheme;
pub use verify::{Given, Verifier};

use crate::event::{Event, EventError};
use crate::render::ValueTemplate;
use crate::secret::Masker;

/// One compiled source. Immutable: a reload builds a new set.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub verifier: Verifier,
    mapping: ValueTemplate,
    /// Every value the file took from the environment: masked out of anything people read.
    pub secrets: Masker,
}

/// The sources in force, by name.
#[derive(Debug, Default)]
pub struct SourceSet {
    by_name: HashMap<String, Arc<Source>>,
}

impl SourceSet {
    pub fn new(sources: Vec<Source>) -> Self {
        Self { by_name: sources.into_iter().map(|s| (s.name.clone(), Arc::new(s))).collect() }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Source>> {
        self.by_name.get(name)
    }

    /// Sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Source>> {
        let mut all: Vec<&Arc<Source>> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.into_iter()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Sources that verify nothing: allowed only while hookshape listens on loopback.
    pub fn unverified(&self) -> Vec<&str> {
        self.iter().filter(|s| s.verifier.scheme == VerifyScheme::None).map(|s| s.name.as_str()).collect()
    }
}

/// Why a source refused a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Missing or wrong proof (401).
    Proof(String),
    /// Not JSON (400), or JSON with a key twice (422).
    Json(EventError),
    /// The mapping did not make a valid event (422 naming the field).
    Mapping { field: String, message: String },
}

impl Refused {
    /// The status intake answers the platform with (`hookshape test` cases expect it).
    pub fn status(&self) -> u16 {
        match self {
            Self::Proof(_) => 401,
            Self::Json(crate::event::EventError::Syntax { .. }) => 400,
            Self::Json(crate::event::EventError::TooManyItems { .. }) => 413,
            Self::Json(_) | Self::Mapping { .. } => 422,
        }
    }

    /// What was wrong, in a line.
    pub fn describe(&self) -> String {
        match self {
            Self::Proof(why) => why.clone(),
            Self::Json(e) => e.to_string(),
            Self::Mapping { field, message } => format!("{field}: {message}"),
        }
    }

    /// For metrics: `signature`, `json` or `mapping`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Proof(_) => "signature",
            Self::Json(_) => "json",
            Self::Mapping { .. } => "mapping",
        }
    }
}

/// Namespace of the UUIDv5s sources make: stable, so a platform's retry is one event.
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b8f_1c2e_9d4a_4f0b_a1e3_5c7d_9e2f_4a6b);

impl Source {
    /// The request's proof, checked over the exact bytes received.
    pub fn verify(&self, given: &Given<'_>, body: &[u8]) -> Result<(), Refused> {
        self.verifier.check(given, body, chrono::Utc::now().timestamp()).map_err(Refused::Proof)
    }

    /// The canonical event the body maps to. `headers` are the request's, lowercase names.
    pub fn event(&self, body: &[u8], headers: &[(String, String)]) -> Result<Event, Refused> {
        let json = crate::json::parse(body).map_err(|e| Refused::Json(e.into()))?;
        let mapped = self.mapping.render(&self.context(&json, headers)).map_err(|e| {
            // A mapping names the body's fields; one that is no object has none of them.
            let shape = match &json {
                Value::Object(_) => String::new(),
                other => format!(" (the body is {}, not a JSON object: reach it as `body`)", json_kind(other)),
            };
            Refused::Mapping {
                field: "event".into(),
                message: self.secrets.mask(&format!("the mapping failed: {e}{shape}")),
            }
        })?;
        let Value::Object(mut fields) = mapped else {
            return Err(mapping_error("event", "the mapping must make an object"));
        };
        // The id as the platform wrote it (templates send it back), and what makes the
        // event's Uuid: a number by its value, so `1`, `1.0` and `1e0` are one event.
        let (source_id, identity) = match fields.remove("Uuid") {
            Some(Value::String(text)) if !text.trim().is_empty() => (Some(text.clone()), Some(text)),
            Some(Value::Number(n)) => {
                let text = n.to_string();
                let identity = crate::json::number_identity(&text).unwrap_or_else(|| text.clone());
                (Some(text), Some(identity))
            }
            None | Some(Value::Null) | Some(Value::String(_)) => (None, None),
            Some(_) => return Err(mapping_error("Uuid", "must be a string or a number")),
        };
        let uuid = identity.as_deref().map_or_else(|| self.uuid_of_body(body), |id| self.uuid_for(id));
        fields.insert("Uuid".into(), Value::String(uuid));
        let event = crate::event::from_value(Value::Object(fields)).map_err(|e| match e {
            EventError::Invalid { field, message } => Refused::Mapping { field, message },
            other => Refused::Json(other),
        })?;
        Ok(crate::event::Event { source_id, ..event })
    }

    /// The UUIDv5 of this source's name and the platform's id, a UUID (in its one spelling,
    /// lowercase and hyphenated) or any other id (Eduzz's `z154l2pvk6jltotg0xy86glx`): a
    /// UUID is never used as it is, or one source could take another's (or intake's) Uuid
    /// and have its events dropped as duplicates.
    fn uuid_for(&self, id: &str) -> String {
        let id = match uuid::Uuid::parse_str(id.trim()) {
            Ok(u) => u.hyphenated().to_string(),
            Err(_) => id.to_string(),
        };
        uuid::Uuid::new_v5(&UUID_NAMESPACE, format!("{}\n{}", self.name, id).as_bytes()).to_string()
    }

    /// With no id at all: the UUIDv5 of this source's name and the body's SHA-256.
    fn uuid_of_body(&self, body: &[u8]) -> String {
        let hash = hex::encode(Sha256::digest(body));
        uuid::Uuid::new_v5(&UUID_NAMESPACE, format!("{}\nsha256:{hash}", self.name).as_bytes()).to_string()
    }

    /// The mapping's context: the body's top-level keys, then `body` and `headers`.
    fn context(&self, json: &Value, headers: &[(String, String)]) -> minijinja::Value {
        let mut fields: Map<String, Value> = match json {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        fields.insert("body".into(), json.clone());
        // The source's own secret never reaches the event (and from it history, the API
        // and every delivery): the header that carries it reads `***`, and a secret in
        // any other header is masked where it appears.
        let secret_header = self.verifier.secret_header().map(str::to_ascii_lowercase);
        let value = |name: &str, v: &str| match secret_header.as_deref() == Some(name) {
            true => crate::secret::MASK.to_string(),
            false => self.secrets.mask(v),
        };
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(k, v)| {
                let name = k.to_ascii_lowercase();
                let v = value(&name, v);
                (name, Value::String(v))
            })
            .collect();
        fields.insert("headers".into(), Value::Object(headers));
        crate::render::context_of(&fields)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Object(_) => "an object",
    }
}

fn mapping_error(field: &str, message: &str) -> Refused {
    Refused::Mapping { field: field.into(), message: message.into() }
}
