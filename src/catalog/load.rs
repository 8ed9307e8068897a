//! A topics directory → the `Catalog`: every `*.yaml`/`*.yml` file read, checked and its
//! schema compiled once, every problem collected as `file:line: message` (an unknown key,
//! a bad glob, a schema that is not JSON Schema, an example its own schema refuses, a
//! name used twice).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::locate::line_of_path;
use super::raw::{RawTopic, Validation};
use super::schema::{payload_path, CompiledSchema};
use super::{Catalog, Topic};
use crate::config_file::{line_of_key, line_of_text, parse_yaml, read_yaml_dir, LoadError};
use crate::search::KeyPath;

/// Every topic file of `dir` (not `*.test.yaml`); an empty catalog when `dir` does not
/// exist. The files' texts go into `hasher` (the set's version).
pub fn load_dir(dir: &Path, hasher: &mut Sha256) -> (Catalog, Vec<LoadError>) {
    let mut errors = Vec::new();
    let mut topics: Vec<Arc<Topic>> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for f in read_yaml_dir(dir, &mut errors) {
        hasher.update(b"topic:");
        hasher.update(f.relative.as_bytes());
        hasher.update(f.text.as_bytes());
        match compile_file(&f.path, &f.text) {
            Ok(topic) => match seen.get(&topic.name) {
                Some(first) => errors.push(LoadError {
                    line: Some(topic.line),
                    message: format!("topic {:?} is already described by {}", topic.name, first.display()),
                    file: f.path,
                }),
                None => {
                    seen.insert(topic.name.clone(), f.path);
                    topics.push(Arc::new(topic));
                }
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    (Catalog { topics }, errors)
}

/// One file: its fields checked, its schema compiled, its examples checked against it.
fn compile_file(path: &Path, text: &str) -> Result<Topic, Vec<LoadError>> {
    let raw: RawTopic = parse_yaml(path, text).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut error = |line: Option<usize>, message: String| {
        errors.push(LoadError { file: path.to_path_buf(), line, message });
    };
    let line = line_of_key(text, "name").unwrap_or(1);
    if let Err(m) = crate::topic_pattern::validate(&raw.name) {
        error(Some(line), format!("name: {m}"));
    }
    let key_paths = search_keys(text, &raw.search_keys, &mut error);
    let compiled = raw.schema.as_ref().and_then(|schema| match CompiledSchema::compile(schema) {
        Ok(c) => Some(c),
        Err(e) => {
            let at = if e.at.is_empty() { String::new() } else { format!(" at /{}", e.at.join("/")) };
            error(line_of_path(text, "schema", &e.at), format!("schema{at} is not valid JSON Schema: {}", e.message));
            None
        }
    });
    if raw.schema.is_none() && raw.validation != Validation::Off {
        error(
            line_of_key(text, "validation"),
            format!("validation: {} needs a schema to check against", raw.validation.as_str()),
        );
    }
    check_examples(text, &raw.examples, compiled.as_ref(), &mut error);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Topic {
        name: raw.name,
        description: raw.description,
        schema: raw.schema,
        examples: raw.examples,
        search_keys: raw.search_keys,
        validation: raw.validation,
        file: path.to_path_buf(),
        line,
        compiled,
        key_paths,
    })
}

fn search_keys(text: &str, paths: &[String], error: &mut impl FnMut(Option<usize>, String)) -> Vec<KeyPath> {
    let mut keys = Vec::new();
    for p in paths {
        match KeyPath::parse(p) {
            Ok(k) if !keys.contains(&k) => keys.push(k),
            Ok(_) => error(line_of_text(text, p), format!("search_keys: {p:?} is listed twice")),
            Err(m) => error(line_of_text(text, p), format!("search_keys: {m}")),
        }
    }
    keys
}

/// Each example is a Payload (an object) that its topic's own schema accepts.
fn check_examples(
    text: &str,
    examples: &[Value],
    schema: Option<&CompiledSchema>,
    error: &mut impl FnMut(Option<usize>, String),
) {
    for (i, example) in examples.iter().enumerate() {
        let at = |path: &[String]| {
            let mut full = vec![i.to_string()];
            full.extend_from_slice(path);
            line_of_path(text, "examples", &full)
        };
        if !example.is_object() {
            error(at(&[]), format!("examples[{i}]: an example is a Payload, a mapping of fields"));
            continue;
        }
        for (path, message) in schema.map(|s| s.located_problems(example)).unwrap_or_default() {
            error(at(&path), format!("examples[{i}]: {}: {message}", payload_path(&path)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> (Catalog, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (catalog, errors) = load_dir(dir.path(), &mut Sha256::new());
        let root = format!("{}/", dir.path().display());
        (catalog, errors.iter().map(|e| e.to_string().replace(&root, "")).collect())
    }

    const GOOD: &str = "name: Communication_EarnPurchasePoints\ndescription: Points earned\nschema:\n  type: object\n  \
                        required: [Customer]\n  properties:\n    Customer:\n      type: object\n      properties:\n        \
                        Id: {type: string}\nexamples:\n  - Customer: {Id: C-1001}\nsearch_keys: [Customer.Id]\n\
                        validation: enforce\n";

    #[test]
    fn a_good_topic_loads_with_its_schema_compiled() {
        let (catalog, errors) = load(&[("earn.yaml", GOOD)]);
        assert_eq!(errors, Vec::<String>::new());
        let topic = catalog.get("Communication_EarnPurchasePoints").unwrap();
        assert_eq!((topic.line, topic.validation, topic.key_paths().len()), (1, Validation::Enforce, 1));
        assert!(catalog.validates());
        assert_eq!(catalog.for_event_topic("Communication_EarnPurchasePoints").count(), 1);
        assert!(topic.problems(&serde_json::json!({"Customer": {"Id": "C-1"}})).is_empty());
        assert_eq!(
            topic.problems(&serde_json::json!({"Customer": {"Id": 7}})),
            vec![r#"Payload.Customer.Id: 7 is not of type "string""#]
        );
    }

    #[test]
    fn every_problem_is_named_with_its_file_and_line() {
        let bad_schema = GOOD.replace("Id: {type: string}", "Id: {type: strin}");
        let bad_example = GOOD.replace("{Id: C-1001}", "{Id: 7}");
        let (_, errors) = load(&[
            ("a.yaml", "name: A\nschem: {}\n"),
            ("b.yaml", "name: \"note.[x]\"\n"),
            ("c.yaml", &bad_schema),
            ("d.yaml", &bad_example),
            ("e.yaml", "name: E\n"),
            ("e2.yaml", "name: E\n"),
            ("f.yaml", "name: F\nvalidation: warn\n"),
            ("g.yaml", "name: G\nschema: {$ref: \"http://127.0.0.1:9/x.json\"}\n"),
            ("h.yaml", "name: H\nexamples: [7]\n"),
        ]);
        let has = |prefix: &str, part: &str| errors.iter().any(|e| e.starts_with(prefix) && e.contains(part));
        assert!(has("a.yaml:2: ", "unknown field `schem`"), "{errors:#?}");
        assert!(has("b.yaml:1: name: ", "only * is a wildcard"), "{errors:#?}");
        assert!(
            has("c.yaml:10: schema at /properties/Customer/properties/Id/type is not valid JSON Schema", ""),
            "{errors:#?}"
        );
        assert!(has("d.yaml:12: examples[0]: Payload.Customer.Id: 7 is not of type \"string\"", ""), "{errors:#?}");
        assert!(has("e2.yaml:1: topic \"E\" is already described by ", "e.yaml"), "{errors:#?}");
        assert!(has("f.yaml:2: validation: warn needs a schema", ""), "{errors:#?}");
        assert!(has("g.yaml:2: schema", "does not fetch schemas"), "{errors:#?}");
        assert!(has("h.yaml:2: examples[0]: an example is a Payload", ""), "{errors:#?}");
        assert_eq!(errors.len(), 8, "{errors:#?}");
    }

    #[test]
    fn no_directory_is_an_empty_catalog() {
        let (catalog, errors) = load_dir(Path::new("/nonexistent/topics"), &mut Sha256::new());
        assert!(catalog.is_empty() && errors.is_empty() && !catalog.validates());
    }
}
