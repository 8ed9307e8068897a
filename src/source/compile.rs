//! A sources directory → compiled `Source`s: `${VAR}`s expanded (their values never in an
//! error), every field checked, the mapping compiled. Every problem is collected with its
//! line, through the same file context subscriptions use.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::raw::{RawSource, VerifyScheme};
use super::verify::{Verifier, DEFAULT_TOLERANCE};
use super::Source;
use crate::config_file::{line_of_key, parse_yaml, FileContext, LoadError, LoadOptions};
use crate::render::{Delimiters, TemplateFiles, ValueTemplate};
use crate::secret::{Masker, Secret};

/// The longest `verify.tolerance` (a replay window wider than this protects little).
const MAX_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Every `*.yaml`/`*.yml` (not `*.test.yaml`) of `dir`; none when `dir` does not exist.
pub fn load_dir(
    dir: &Path,
    files: TemplateFiles,
    opts: &LoadOptions<'_>,
    secrets: &mut Vec<String>,
    hasher: &mut Sha256,
) -> (Vec<Source>, Vec<LoadError>) {
    let mut errors = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut seen: HashMap<String, std::path::PathBuf> = HashMap::new();
    for f in crate::config_file::read_yaml_dir(dir, &mut errors) {
        hasher.update(b"source:");
        hasher.update(f.relative.as_bytes());
        hasher.update(f.text.as_bytes());
        match compile_file(&f.path, &f.text, files.clone(), opts, secrets) {
            Ok(source) => match seen.get(&source.name) {
                Some(first) => errors.push(LoadError {
                    line: line_of_key(&f.text, "name"),
                    message: format!("source name {:?} is already used by {}", source.name, first.display()),
                    file: f.path,
                }),
                None => {
                    seen.insert(source.name.clone(), f.path);
                    sources.push(source);
                }
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    (sources, errors)
}

fn compile_file(
    path: &Path,
    text: &str,
    files: TemplateFiles,
    opts: &LoadOptions<'_>,
    secrets: &mut Vec<String>,
) -> Result<Source, Vec<LoadError>> {
    let raw: RawSource = parse_yaml(path, text).map_err(|e| vec![e])?;
    let cx = FileContext::new(path, text, opts);
    let compiled = compile(&cx, raw, files);
    let errors = cx.finish(secrets);
    match compiled {
        Some(source) if errors.is_empty() => Ok(source),
        _ => Err(errors),
    }
}

fn compile(cx: &FileContext<'_>, raw: RawSource, files: TemplateFiles) -> Option<Source> {
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| cx.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        cx.field_error("name", format!("{name:?} must be letters, digits, '-', '_' or '.'"));
    }
    let verifier = verifier(cx, &raw);
    let mut mapping = Map::new();
    mapping.insert("Topic".into(), Value::String(raw.event.topic.clone()));
    if let Some(uuid) = &raw.event.uuid {
        mapping.insert("Uuid".into(), Value::String(uuid.clone()));
    }
    if let Some(date) = &raw.event.date {
        mapping.insert("Date".into(), Value::String(date.clone()));
    }
    mapping.insert("Payload".into(), raw.event.payload.clone());
    let mapping = ValueTemplate::compile(&Value::Object(mapping), "event", &Delimiters::default(), files)
        .map_err(|e| cx.template_error(e))
        .ok();
    let (verifier, mapping) = (verifier?, mapping?);
    if cx.has_errors() {
        return None;
    }
    let secrets = Masker::new(verifier.secrets.iter().flat_map(|s| shown_as_secret(verifier.scheme, s)));
    Some(Source { name, file: cx.path.to_path_buf(), description: raw.description, verifier, mapping, secrets })
}

/// What of a secret is masked: all of it, and a Basic secret's password alone too (a
/// receiver of the mapped event, or an error, may show it apart from the user).
fn shown_as_secret(scheme: VerifyScheme, secret: &Secret) -> Vec<String> {
    let whole = secret.expose().to_string();
    match (scheme, whole.split_once(':')) {
        (VerifyScheme::Basic, Some((_, password))) => vec![password.to_string(), whole],
        _ => vec![whole],
    }
}

fn verifier(cx: &FileContext<'_>, raw: &RawSource) -> Option<Verifier> {
    let v = &raw.verify;
    let secrets: Vec<Secret> =
        v.secrets.iter().filter_map(|s| cx.expand("verify.secrets", s)).map(|x| Secret::new(x.text)).collect();
    if secrets.len() != v.secrets.len() {
        return None;
    }
    match v.scheme {
        VerifyScheme::None if !secrets.is_empty() || v.header.is_some() => {
            cx.field_error("verify", "scheme none takes no header and no secrets".into());
        }
        VerifyScheme::None => {}
        _ if secrets.is_empty() || secrets.iter().any(|s| s.expose().is_empty()) => {
            cx.field_error("verify.secrets", "list at least one secret, none of them empty".into());
        }
        VerifyScheme::StandardWebhooks if v.header.is_some() => {
            cx.field_error(
                "verify.header",
                "standard-webhooks reads webhook-id, webhook-timestamp and webhook-signature; remove header".into(),
            );
        }
        VerifyScheme::StandardWebhooks if secrets.iter().any(|s| crate::sign::standard_key(s.expose()).is_err()) => {
            cx.field_error("verify.secrets", "a standard-webhooks secret is whsec_ followed by base64".into());
        }
        VerifyScheme::Token | VerifyScheme::Basic if v.header.is_some() => {
            let reads = if v.scheme == VerifyScheme::Token { "the URL" } else { "Authorization" };
            cx.field_error("verify.header", format!("this scheme reads {reads}; remove header"));
        }
        VerifyScheme::Basic if secrets.iter().any(|s| !s.expose().contains(':')) => {
            cx.field_error("verify.secrets", "a basic secret is user:password".into());
        }
        VerifyScheme::Header if v.header.is_none() => {
            cx.field_error("verify.header", "scheme header needs the header to compare (e.g. X-Loyalty-Secret)".into());
        }
        _ => {}
    }
    let header = v.header.clone().unwrap_or_else(|| crate::sign::DEFAULT_HEADER.to_string());
    if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
        cx.field_error("verify.header", format!("{header:?} is not a valid header name"));
    }
    let tolerance = match &v.tolerance {
        None => DEFAULT_TOLERANCE,
        Some(t) if v.scheme != VerifyScheme::StandardWebhooks => {
            cx.field_error("verify.tolerance", format!("only standard-webhooks has a tolerance, not {t:?}"));
            DEFAULT_TOLERANCE
        }
        Some(t) => cx.duration("verify.tolerance", t, MAX_TOLERANCE).unwrap_or(DEFAULT_TOLERANCE),
    };
    Some(Verifier { scheme: v.scheme, header, secrets, tolerance })
}
