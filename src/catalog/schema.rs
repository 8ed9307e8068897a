//! A topic's JSON Schema (2020-12): compiled once when the catalog loads, then checked
//! against Payloads, each problem named by its path as templates write it
//! (`Payload.Customer.Id: "x" is not of type "integer"`). `$ref`s that leave the schema
//! are refused at load: a configuration file must not make hookshape fetch anything.

use jsonschema::{Draft, Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;

/// The most problems one event reports: enough to fix it, bounded whatever it holds.
pub const MAX_PROBLEMS: usize = 10;
/// A problem's message is cut to this many characters (it may quote the value).
const MAX_MESSAGE_CHARS: usize = 300;

/// A compiled schema.
#[derive(Debug)]
pub struct CompiledSchema {
    validator: Validator,
}

/// Why a schema did not compile: the message, and the path inside the schema where it
/// went wrong (empty for the schema as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub at: Vec<String>,
    pub message: String,
}

/// Refuses every `$ref` outside the schema (the 2020-12 meta-schemas are built in).
struct NoRemoteRefs;

impl Retrieve for NoRemoteRefs {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("$ref {uri} is outside the schema: hookshape does not fetch schemas; put it under $defs").into())
    }
}

impl CompiledSchema {
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_retriever(NoRemoteRefs)
            .should_validate_formats(true)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|e| SchemaError { at: segments(&e), message: cut(e.to_string()) })
    }

    /// Whether `payload` conforms: the cheap check, run on every event first.
    pub fn is_valid(&self, payload: &Value) -> bool {
        self.validator.is_valid(payload)
    }

    /// What is wrong with `payload`, each as `Payload.path: message`; at most `MAX_PROBLEMS`.
    pub fn problems(&self, payload: &Value) -> Vec<String> {
        self.located_problems(payload).into_iter().map(|(at, m)| format!("{}: {m}", payload_path(&at))).collect()
    }

    /// What is wrong with `payload`: each problem's path (segment by segment) and message.
    pub fn located_problems(&self, payload: &Value) -> Vec<(Vec<String>, String)> {
        self.validator.iter_errors(payload).take(MAX_PROBLEMS).map(|e| (segments(&e), cut(e.to_string()))).collect()
    }
}

/// The instance path of an error, segment by segment.
fn segments(e: &ValidationError<'_>) -> Vec<String> {
    e.instance_path().iter().map(|s| s.to_string()).collect()
}

/// `Payload.Customer.Id`, `Payload.Items[0].Sku`: a path as templates write it.
pub fn payload_path(segments: &[String]) -> String {
    let mut path = String::from("Payload");
    for s in segments {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{s}]"));
        } else {
            path.push('.');
            path.push_str(s);
        }
    }
    path
}

fn cut(mut message: String) -> String {
    if let Some((at, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(at);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> CompiledSchema {
        CompiledSchema::compile(&json!({
            "type": "object",
            "required": ["Customer"],
            "properties": {
                "Customer": {"type": "object", "properties": {"Id": {"type": "integer"}}},
                "Items": {"type": "array", "items": {"type": "object", "properties": {"Sku": {"type": "string"}}}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn problems_name_the_path_as_templates_write_it() {
        let s = schema();
        assert!(s.is_valid(&json!({"Customer": {"Id": 7}})));
        assert_eq!(
            s.problems(&json!({"Customer": {"Id": "x"}})),
            vec![r#"Payload.Customer.Id: "x" is not of type "integer""#]
        );
        assert_eq!(
            s.problems(&json!({"Customer": {}, "Items": [{"Sku": 1}]})),
            vec![r#"Payload.Items[0].Sku: 1 is not of type "string""#]
        );
        let missing = s.problems(&json!({}));
        assert_eq!(missing.len(), 1);
        assert!(missing[0].starts_with("Payload: ") && missing[0].contains("Customer"), "{missing:?}");
    }

    #[test]
    fn a_schema_that_is_not_json_schema_is_refused_with_its_path() {
        let e = CompiledSchema::compile(&json!({"properties": {"Id": {"type": "strin"}}})).unwrap_err();
        assert_eq!(e.at, vec!["properties", "Id", "type"]);
    }

    #[test]
    fn remote_refs_are_refused_not_fetched() {
        // 127.0.0.1:9 is the discard port: nothing listens, so a fetch could only fail
        // differently; the message says hookshape refused before trying.
        let e = CompiledSchema::compile(&json!({"$ref": "http://127.0.0.1:9/customer.json"})).unwrap_err();
        assert!(e.message.contains("does not fetch schemas"), "{e:?}");
        let local = json!({"$defs": {"Id": {"type": "integer"}}, "properties": {"Id": {"$ref": "#/$defs/Id"}}});
        assert!(!CompiledSchema::compile(&local).unwrap().is_valid(&json!({"Id": "x"})));
    }
}
