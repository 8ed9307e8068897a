//! Reading a subscriptions directory and a templates directory into a `SubscriptionSet`.
//! Every problem is collected (not only the first) as `file:line: message`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::raw::{RawSubscription, DEFAULT_SCHEDULE, DEFAULT_TIMEOUT};
use super::{env_vars, topics, DeliveryPolicy, RetryPolicy, Subscription, SubscriptionSet};
use crate::render::{Delimiters, RequestSpec, RequestTemplate, TemplateFiles};
use crate::secret::Secret;
use crate::sign::Signer;

#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

pub struct LoadOptions<'a> {
    pub subscriptions_dir: &'a Path,
    pub templates_dir: &'a Path,
    /// Looks up `${VAR}`; the process environment in production.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Accept unset `${VAR}`s (checking only that they are well-formed), so CI can validate
    /// without production secrets. A placeholder that keeps the field valid stands in.
    pub allow_missing_env: bool,
}

fn placeholder_for(field: &str) -> &'static str {
    if field == "request.url" {
        "https://placeholder.invalid"
    } else if field.starts_with("signature") {
        "whsec_cGxhY2Vob2xkZXI=" // valid for every scheme, standard-webhooks included
    } else {
        "placeholder"
    }
}

/// Loads and compiles every `*.yaml`/`*.yml` file (not `*.test.yaml`) of the directory.
pub fn load(opts: &LoadOptions<'_>) -> Result<SubscriptionSet, Vec<LoadError>> {
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    let files = read_templates(opts.templates_dir, &mut hasher, &mut errors);
    let mut subscriptions: Vec<Subscription> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for path in subscription_files(opts.subscriptions_dir, &mut errors) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(LoadError { file: path, line: None, message: format!("cannot read: {e}") });
                continue;
            }
        };
        hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update(text.as_bytes());
        match compile_file(&path, &text, files.clone(), opts) {
            Ok(sub) => match seen.get(&sub.name) {
                Some(first) => errors.push(LoadError {
                    line: line_of_key(&text, "name"),
                    message: format!("subscription name {:?} is already used by {}", sub.name, first.display()),
                    file: path,
                }),
                None => {
                    seen.insert(sub.name.clone(), path);
                    subscriptions.push(sub);
                }
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let version = hex::encode(&hasher.finalize()[..6]);
    Ok(SubscriptionSet::new(subscriptions, version))
}

fn subscription_files(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(LoadError {
                file: dir.to_path_buf(),
                line: None,
                message: format!("cannot read directory: {e}"),
            });
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".test.") && p.is_file()
        })
        .collect();
    paths.sort();
    paths
}

/// Every file under the templates directory, keyed by its `/`-separated relative path.
fn read_templates(dir: &Path, hasher: &mut Sha256, errors: &mut Vec<LoadError>) -> TemplateFiles {
    let mut files = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue }; // no templates directory is fine
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    hasher.update(key.as_bytes());
                    hasher.update(text.as_bytes());
                    files.insert(key, text);
                }
                Err(e) => {
                    errors.push(LoadError { file: path, line: None, message: format!("cannot read template: {e}") })
                }
            }
        }
    }
    Arc::new(files)
}

/// The first line that sets `key:` (a best effort at pointing to a field in the file).
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.strip_prefix(leaf).is_some_and(|r| r.starts_with(':'))
                || t.strip_prefix(&format!("\"{leaf}\"")).is_some_and(|r| r.starts_with(':'))
        })
        .map(|i| i + 1)
}

fn line_of_text(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

fn compile_file(
    path: &Path,
    text: &str,
    files: TemplateFiles,
    opts: &LoadOptions<'_>,
) -> Result<Subscription, Vec<LoadError>> {
    let err = |line: Option<usize>, message: String| LoadError { file: path.to_path_buf(), line, message };
    let raw: RawSubscription = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // serde_yaml appends "at line L column C"; the line is already in front.
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        vec![err(line, message)]
    })?;
    let mut errors = Vec::new();
    let field_err = |field: &str, message: String| err(line_of_key(text, field), format!("{field}: {message}"));

    let name =
        raw.name.clone().unwrap_or_else(|| path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        errors.push(field_err("name", format!("{name:?} must be letters, digits, '-', '_' or '.'")));
    }
    if raw.topics.is_empty() {
        errors.push(field_err("topics", "list at least one topic".into()));
    }
    for t in &raw.topics {
        if let Err(m) = topics::validate(t) {
            errors.push(err(line_of_text(text, t), format!("topics: {m}")));
        }
    }

    // ${VAR} may appear in the URL, header values, body strings and secrets.
    let expand = |field: &str, value: &str| -> Result<env_vars::Expanded, LoadError> {
        let lookup = |name: &str| {
            (opts.env)(name).or_else(|| opts.allow_missing_env.then(|| placeholder_for(field).to_string()))
        };
        env_vars::expand(value, &lookup).map_err(|m| {
            let line = line_of_text(text, value.lines().next().unwrap_or(value)).or_else(|| line_of_key(text, field));
            err(line, format!("{field}: {m}"))
        })
    };
    // Values of ${VAR}s in the URL's path or query and in the body are masked when shown.
    let mut masked = Vec::new();
    let url = match expand("request.url", &raw.request.url) {
        Ok(x) => {
            let origin_end = x.text.find("://").map_or(0, |i| i + 3);
            let origin_end = x.text[origin_end..].find(['/', '?', '#']).map_or(x.text.len(), |i| origin_end + i);
            masked.extend(x.values.into_iter().filter(|v| !x.text[..origin_end].contains(v.as_str())));
            x.text
        }
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    let mut headers = Vec::new();
    let mut sensitive_headers = Vec::new();
    for (hname, value) in &raw.request.headers {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
            _ => {
                errors.push(err(line_of_key(text, hname), format!("request.headers.{hname}: must be a string")));
                continue;
            }
        };
        match expand(&format!("request.headers.{hname}"), &value) {
            Ok(x) => {
                if x.used_vars() || hname.eq_ignore_ascii_case("authorization") {
                    sensitive_headers.push(hname.to_ascii_lowercase());
                }
                headers.push((hname.clone(), x.text));
            }
            Err(e) => errors.push(e),
        }
    }
    let body = raw.request.body.as_ref().map(|b| {
        expand_json(b, &mut |v| match expand("request.body", v) {
            Ok(x) => {
                masked.extend(x.values.iter().cloned());
                Some(x)
            }
            Err(e) => {
                errors.push(e);
                None
            }
        })
    });
    let signature = raw.signature.as_ref().and_then(|s| {
        let texts: Vec<String> = s.secret.iter().cloned().chain(s.secrets.iter().flatten().cloned()).collect();
        let mut secrets = Vec::new();
        for t in &texts {
            match expand("signature.secret", t) {
                Ok(x) => secrets.push(Secret::new(x.text)),
                Err(e) => errors.push(e),
            }
        }
        (secrets.len() == texts.len()).then(|| (s.scheme, s.header.clone(), secrets))
    });
    for (hname, _) in &headers {
        if let Err(m) = check_header_name(hname) {
            errors.push(field_err(hname, format!("request.headers: {m}")));
        }
    }
    let signature = match signature {
        Some((scheme, header, secrets)) => match Signer::new(scheme, header, secrets) {
            Ok(s) => Some(s),
            Err(m) => {
                errors.push(field_err("signature", m));
                None
            }
        },
        None => None,
    };
    // A duration that does not parse is reported here and stands in as zero.
    let mut duration = |field: &str, value: &str| -> Option<Duration> {
        let parsed = crate::duration::parse(value);
        if let Err(m) = &parsed {
            let line = line_of_key(text, field).filter(|_| field == "timeout").or_else(|| line_of_text(text, value));
            let field = if field == "timeout" { "request.timeout" } else { "retry.schedule" };
            errors.push(err(line, format!("{field}: {m}")));
        }
        parsed.ok()
    };
    let timeout = match raw.request.timeout.as_deref() {
        None => Some(DEFAULT_TIMEOUT),
        Some(t) => duration("timeout", t),
    };
    let schedule: Vec<Duration> = match &raw.retry.schedule {
        None => DEFAULT_SCHEDULE.to_vec(),
        Some(texts) => texts.iter().map(|t| duration("schedule", t).unwrap_or_default()).collect(),
    };
    if schedule.len() > 50 {
        errors.push(field_err("schedule", "at most 50 retries".into()));
    }
    if raw.delivery.max_in_flight == Some(0) {
        errors.push(field_err("max_in_flight", "must be at least 1".into()));
    }
    if timeout == Some(Duration::ZERO) {
        errors.push(field_err("timeout", "must be more than 0".into()));
    }
    let timeout = timeout.unwrap_or_default();
    let delimiters = match delimiters(&raw) {
        Ok(d) => d,
        Err(m) => {
            errors.push(field_err("delimiters", m));
            Delimiters::default()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let body = body.flatten();
    let template = RequestTemplate::compile(RequestSpec {
        url: &url,
        headers: &headers,
        body: body.as_ref(),
        body_template: raw.request.body_template.as_deref(),
        filter: raw.filter.as_deref(),
        delimiters: &delimiters,
        files,
    })
    .map_err(|e| vec![field_err(&e.field, e.message)])?;

    Ok(Subscription {
        name,
        file: path.to_path_buf(),
        description: raw.description,
        enabled: raw.enabled,
        mode: raw.mode,
        topics: raw.topics,
        method: raw.request.method,
        url_source: raw.request.url.clone(),
        timeout,
        retry: RetryPolicy { schedule, give_up_on: raw.retry.give_up_on },
        delivery: DeliveryPolicy {
            max_in_flight: raw.delivery.max_in_flight,
            disable_after_failures: raw.delivery.disable_after_failures,
        },
        signature,
        sensitive_headers,
        // A value this short could not be masked without mangling other text.
        masked_values: masked.into_iter().filter(|v| v.len() >= MIN_MASKED_LEN).collect(),
        template,
    })
}

/// Shortest `${VAR}` value masked in URLs and bodies.
const MIN_MASKED_LEN: usize = 4;

/// Headers hookshape owns, or that would break HTTP framing, cannot be set by a file.
fn check_header_name(name: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    let lower = name.to_ascii_lowercase();
    if ["host", "content-length", "transfer-encoding", "connection"].contains(&lower.as_str())
        || lower.starts_with("x-webhook-")
    {
        return Err(format!("{name} is set by hookshape and cannot be overridden"));
    }
    Ok(())
}

/// Expands `${VAR}` in every string of a structured body; None when a variable is missing.
fn expand_json(
    value: &serde_json::Value,
    expand: &mut dyn FnMut(&str) -> Option<env_vars::Expanded>,
) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::String(s) if s.contains('$') => J::String(expand(s)?.text),
        J::Array(items) => J::Array(items.iter().map(|v| expand_json(v, expand)).collect::<Option<_>>()?),
        J::Object(map) => {
            J::Object(map.iter().map(|(k, v)| Some((k.clone(), expand_json(v, expand)?))).collect::<Option<_>>()?)
        }
        other => other.clone(),
    })
}

fn delimiters(raw: &RawSubscription) -> Result<Delimiters, String> {
    let mut d = Delimiters::default();
    if let Some(r) = &raw.delimiters {
        let pair = |p: &Option<[String; 2]>, into: &mut (String, String)| {
            if let Some([open, close]) = p {
                *into = (open.clone(), close.clone());
            }
        };
        pair(&r.variable, &mut d.variable);
        pair(&r.block, &mut d.block);
        pair(&r.comment, &mut d.comment);
    }
    let all = [&d.variable.0, &d.variable.1, &d.block.0, &d.block.1, &d.comment.0, &d.comment.1];
    if all.iter().any(|s| s.is_empty()) {
        return Err("delimiters may not be empty".into());
    }
    Ok(d)
}
