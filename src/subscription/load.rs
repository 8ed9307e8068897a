//! Reading a subscriptions directory and a templates directory into a `SubscriptionSet`.
//! Every problem is collected (not only the first) as `file:line: message`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::compile::compile_file;
use super::{Subscription, SubscriptionSet};
use crate::config_file::{line_of_key, LoadError, LoadOptions};
use crate::render::TemplateFiles;

/// Loads and compiles every `*.yaml`/`*.yml` file (not `*.test.yaml`) of the subscriptions
/// directory, and of the sources directory.
pub fn load(opts: &LoadOptions<'_>) -> Result<SubscriptionSet, Vec<LoadError>> {
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    let files = read_templates(opts.templates_dir, &mut hasher, &mut errors);
    let mut subscriptions: Vec<Subscription> = Vec::new();
    let mut secrets = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut texts = HashMap::new();
    for path in subscription_files(opts.subscriptions_dir, &mut errors) {
        let text = match crate::yaml_bounds::read(&path) {
            Ok(t) => t,
            Err(refused) => {
                errors.push(LoadError { file: path, line: refused.line, message: refused.message });
                continue;
            }
        };
        hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update(text.as_bytes());
        match compile_file(&path, &text, files.clone(), opts, &mut secrets) {
            Ok(sub) => match seen.get(&sub.name) {
                Some(first) => errors.push(LoadError {
                    line: line_of_key(&text, "name"),
                    message: format!("subscription name {:?} is already used by {}", sub.name, first.display()),
                    file: path,
                }),
                None => {
                    seen.insert(sub.name.clone(), path);
                    texts.insert(sub.name.clone(), text);
                    subscriptions.push(sub);
                }
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    let sources = match opts.sources_dir {
        Some(dir) => {
            let (sources, mut source_errors) =
                crate::source::load_dir(dir, files.clone(), opts, &mut secrets, &mut hasher);
            errors.append(&mut source_errors);
            sources
        }
        None => Vec::new(),
    };
    let catalog = match opts.topics_dir {
        Some(dir) => {
            let (catalog, mut topic_errors) = crate::catalog::load_dir(dir, &mut hasher);
            errors.append(&mut topic_errors);
            catalog
        }
        None => crate::catalog::Catalog::default(),
    };
    if !errors.is_empty() {
        // A value one file read could surface in another's error (a shared template, say).
        let masker = crate::secret::Masker::new(&secrets);
        for e in &mut errors {
            e.message = masker.mask(&e.message);
        }
        return Err(errors);
    }
    // The files as they will run: the values their `${VAR}`s took count too (two timeouts
    // from the environment are two versions). Only a hash of them is ever shown.
    for value in &secrets {
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    let version = hex::encode(&hasher.finalize()[..6]);
    let mut set = SubscriptionSet::new(subscriptions, version);
    set.sources = crate::source::SourceSet::new(sources);
    set.catalog = Arc::new(catalog);
    set.texts = super::LoadedTexts { subscriptions: texts, templates: files, templates_dir: opts.templates_dir.into() };
    Ok(set)
}

fn refused(r: crate::files::Refused) -> LoadError {
    LoadError { file: r.path, line: None, message: r.why }
}

/// The subscription files of `dir`: `*.yaml`/`*.yml`, but not `*.test.yaml`.
fn subscription_files(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let (found, refusals) = crate::files::list(dir, false);
    errors.extend(refusals.into_iter().map(refused));
    found
        .into_iter()
        .filter(|f| {
            let name = f.relative.as_str();
            (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".test.")
        })
        .map(|f| f.path)
        .collect()
}

/// Every file under the templates directory, keyed by its `/`-separated relative path.
fn read_templates(dir: &Path, hasher: &mut Sha256, errors: &mut Vec<LoadError>) -> TemplateFiles {
    if !dir.exists() {
        return TemplateFiles::default(); // no templates directory is fine
    }
    let (found, refusals) = crate::files::list(dir, true);
    errors.extend(refusals.into_iter().map(refused));
    let mut files = HashMap::new();
    for f in found {
        match std::fs::read_to_string(&f.path).map(crate::yaml_bounds::without_bom) {
            Ok(text) => {
                hasher.update(f.relative.as_bytes());
                hasher.update(text.as_bytes());
                files.insert(f.relative, text);
            }
            Err(e) => {
                errors.push(LoadError { file: f.path, line: None, message: format!("cannot read template: {e}") })
            }
        }
    }
    Arc::new(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version of a one-file set whose timeout comes from `${HS_TIMEOUT}`.
    fn version_with(timeout: &'static str) -> String {
        let yaml = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  timeout: ${HS_TIMEOUT}\n";
        load_one(yaml, "HS_TIMEOUT", timeout).unwrap().version
    }

    /// The set of one file, `yaml`, with variable `name` set to `value`.
    fn load_one(yaml: &str, name: &'static str, value: &'static str) -> Result<SubscriptionSet, Vec<LoadError>> {
        let dir = tempfile::tempdir().unwrap();
        let subs = dir.path().join("subscriptions");
        std::fs::create_dir(&subs).unwrap();
        std::fs::write(subs.join("s.yaml"), yaml).unwrap();
        let env = move |n: &str| (n == name).then(|| value.to_string());
        let templates = dir.path().join("templates");
        let opts = LoadOptions {
            subscriptions_dir: &subs,
            templates_dir: &templates,
            sources_dir: None,
            topics_dir: None,
            env: &env,
            allow_missing_env: false,
            read_files: true,
            placeholders: Default::default(),
        };
        load(&opts)
    }

    #[test]
    fn a_rate_limits_window_takes_its_value_from_a_variable() {
        let yaml =
            "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\nrate_limit: {requests: 5, per: \"${HS_PER}\"}\n";
        let set = load_one(yaml, "HS_PER", "10s").unwrap();
        let limit = set.iter().next().and_then(|s| s.rate_limit);
        assert_eq!(limit.map(|l| l.per), Some(std::time::Duration::from_secs(10)));
    }

    #[test]
    fn an_empty_signature_secret_is_named_at_its_own_line_with_its_variable() {
        let yaml = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\nsignature:\n  scheme: standard-webhooks\n  \
                    secrets:\n    - whsec_cGxhY2Vob2xkZXI=\n    - ${HS_SIG}\n";
        let errors = load_one(yaml, "HS_SIG", "").err().unwrap_or_default();
        let [e] = errors.as_slice() else { panic!("one error expected: {errors:?}") };
        assert_eq!(e.line, Some(8), "{e:?}");
        assert_eq!(
            e.message,
            "signature.secrets: ${HS_SIG} is empty: the receiver checks the signature with this secret"
        );
    }

    #[test]
    fn the_version_follows_the_values_variables_took() {
        assert_ne!(version_with("5s"), version_with("7s"), "two timeouts are two versions");
        assert_eq!(version_with("5s"), version_with("5s"));
        assert!(!version_with("5s").contains("5s"));
    }
}
