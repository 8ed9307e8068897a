//! One subscription file → a compiled `Subscription`: `${VAR}`s expanded, every field
//! checked, templates compiled. Every problem is collected with its line, and no expanded
//! value ever reaches an error message (they are masked as the file is read).

use std::path::Path;
use std::time::Duration;

use super::raw::{RawSubscription, DEFAULT_SCHEDULE, DEFAULT_TIMEOUT};
use super::{DeliveryPolicy, RetryPolicy, Subscription};
use crate::config_file::{
    line_of_key, line_of_text, line_of_value, parse_yaml, template_error_at, Expanded, FileContext, LoadError,
    LoadOptions,
};
use crate::render::{Delimiters, RequestSpec, RequestTemplate, TemplateFiles};
use crate::secret::{Masker, Secret};
use crate::sign::Signer;

/// The longest a receiver may take to answer: leases and shutdowns are sized by it.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The longest wait before a retry.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30 * 86_400);
const MAX_RETRIES: usize = 50;

/// `template_error_at` for a loaded subscription, its secrets masked out of the message
/// (a template line may hold a value from `${VAR}`).
pub fn template_load_error(
    sub: &Subscription,
    text: &str,
    templates_dir: &Path,
    e: crate::render::CompileError,
) -> LoadError {
    let mut error = template_error_at(&sub.file, text, templates_dir, e);
    error.message = sub.secrets.mask(&error.message);
    error
}

/// The request as the file wrote it, with `${VAR}`s expanded.
struct Request {
    url: String,
    /// `ping.url`, expanded.
    ping_url: Option<String>,
    headers: Vec<(String, String)>,
    /// Lowercase names of headers that carry secrets.
    sensitive: Vec<String>,
    body: Option<serde_json::Value>,
    /// What is shown as `***`: the body's `${VAR}` values, and what the URL rule hides of
    /// the URL's (`url_rule`).
    masked: Vec<String>,
    /// The URL's `${VAR}` values that are not secrets in themselves.
    url_shown: Vec<String>,
}

pub(crate) fn compile_file(
    path: &Path,
    text: &str,
    files: TemplateFiles,
    opts: &LoadOptions<'_>,
    secrets: &mut Vec<String>,
) -> Result<Subscription, Vec<LoadError>> {
    let raw: RawSubscription = parse_yaml(path, text).map_err(|e| vec![e])?;
    let cx = FileContext::new(path, text, opts);
    let compiled = compile(&cx, raw, files);
    let errors = cx.finish(secrets);
    match compiled {
        Some(sub) if errors.is_empty() => Ok(sub),
        _ => Err(errors),
    }
}

fn compile(cx: &FileContext<'_>, raw: RawSubscription, files: TemplateFiles) -> Option<Subscription> {
    let name = raw.name.clone().unwrap_or_else(|| file_stem(cx.path));
    check_name(cx, &name);
    check_topics(cx, &raw.topics);
    let delimiters = delimiters(&raw).unwrap_or_else(|m| {
        cx.field_error("delimiters", m);
        Delimiters::default()
    });
    let request = expand_request(cx, &raw, &delimiters);
    let signature = compile_signature(cx, &raw);
    let auth = super::auth::compile_auth(cx, &raw);
    let tls = super::tls::compile_tls(cx, &raw);
    let (timeout, schedule) = timing(cx, &raw);
    check_give_up_on(cx, &raw.retry.give_up_on);
    let search_keys = search_keys(cx, &raw.search_keys);
    if raw.delivery.max_in_flight == Some(0) {
        cx.field_error("delivery.max_in_flight", "must be at least 1".into());
    }
    let rate_limit = raw.rate_limit.as_ref().and_then(|r| {
        // A duration like any other: its `${VAR}`s are expanded first.
        let per = cx.expand("rate_limit.per", &r.per)?.text;
        let expanded = super::raw::RawRateLimit { per, ..r.clone() };
        super::rate_limit::compile(&expanded).map_err(|(field, message)| cx.field_error(field, message)).ok()
    });
    if cx.has_errors() {
        return None;
    }
    let template = RequestTemplate::compile(RequestSpec {
        url: &request.url,
        headers: &request.headers,
        body: request.body.as_ref(),
        body_template: raw.request.body_template.as_deref(),
        body_format: raw.request.body_format,
        filter: raw.filter.as_deref(),
        ping_url: request.ping_url.as_deref(),
        delimiters: &delimiters,
        files,
    })
    .map_err(|e| cx.template_error(e))
    .ok()?;
    let url_secrets = template.url_secrets();
    cx.secrets.borrow_mut().extend(url_secrets.iter().cloned());
    let secret_texts = texts_secrets(&cx.secrets.borrow(), &request);
    // A value the URL shows that is a secret elsewhere (the same key in a header, say) is
    // masked in the URL too: what is secret in one place is secret in all.
    let url_also_secret: Vec<String> = request.url_shown.iter().filter(|v| secret_texts.contains(v)).cloned().collect();
    let secrets = Masker::new(&secret_texts);
    Some(Subscription {
        name,
        file: cx.path.to_path_buf(),
        description: raw.description,
        enabled: raw.enabled,
        mode: raw.mode,
        topics: raw.topics,
        method: raw.request.method,
        url_source: raw.request.url,
        timeout,
        retry: RetryPolicy { schedule, give_up_on: raw.retry.give_up_on },
        delivery: DeliveryPolicy {
            max_in_flight: raw.delivery.max_in_flight,
            disable_after_failures: raw.delivery.disable_after_failures,
            activation: raw.delivery.activation,
        },
        rate_limit,
        signature,
        sensitive_headers: request.sensitive,
        // The URL's userinfo too, written literally or not: `render` and `test` show `***`.
        // Values the URL rule shows (its host, its path) are not here. Those shorter than
        // `MIN_MASKED_LEN` are kept: they are masked in the URL by position only.
        masked_values: request.masked.into_iter().chain(url_secrets).chain(url_also_secret).collect(),
        secrets,
        ping_payload: raw.ping.and_then(|p| p.payload),
        template,
        auth,
        tls,
        search_keys,
    })
}

/// What the masker of the subscription's texts (errors, responses) hides: every value the
/// file read, but those only the shown parts of a URL took (a value that also stands in a
/// header or the body stays a secret), with what the URL rule hides of them.
fn texts_secrets(read: &[String], request: &Request) -> Vec<String> {
    let mut kept: Vec<String> = read.to_vec();
    for shown in &request.url_shown {
        if let Some(i) = kept.iter().position(|v| v == shown) {
            kept.remove(i);
        }
    }
    kept.extend(request.masked.iter().cloned());
    kept
}

/// `search_keys`, each checked; a bad one is an error on its own line.
fn search_keys(cx: &FileContext<'_>, paths: &[String]) -> Vec<crate::search::KeyPath> {
    let mut keys = Vec::new();
    for p in paths {
        match crate::search::KeyPath::parse(p) {
            Ok(k) if !keys.contains(&k) => keys.push(k),
            Ok(_) => cx.error(line_of_text(cx.text, p), format!("search_keys: {p:?} is listed twice")),
            Err(m) => cx.error(line_of_text(cx.text, p), format!("search_keys: {m}")),
        }
    }
    keys
}

fn file_stem(path: &Path) -> String {
    path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string()
}

fn check_name(cx: &FileContext<'_>, name: &str) {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        cx.field_error("name", format!("{name:?} must be letters, digits, '-', '_' or '.'"));
    }
}

fn check_topics(cx: &FileContext<'_>, topics: &[String]) {
    if topics.is_empty() {
        cx.field_error("topics", "list at least one topic".into());
    }
    for t in topics {
        if let Err(m) = super::topics::validate(t) {
            cx.error(line_of_text(cx.text, t), format!("topics: {m}"));
        }
    }
}

/// `${VAR}` may appear in the URL, header values and body strings, all templates: the
/// values arrive as text (`{{` in one is two braces, not an expression).
fn expand_request(cx: &FileContext<'_>, raw: &RawSubscription, d: &Delimiters) -> Request {
    let mut masked = Vec::new();
    let mut url_shown = Vec::new();
    let url = expand_url(cx, "request.url", &raw.request.url, d, (&mut masked, &mut url_shown)).unwrap_or_default();
    let ping_url = raw.ping.as_ref().and_then(|p| p.url.as_deref());
    let ping_url = ping_url.and_then(|u| expand_url(cx, "ping.url", u, d, (&mut masked, &mut url_shown)));
    let mut headers = Vec::new();
    let mut sensitive = Vec::new();
    for (name, value) in &raw.request.headers {
        let field = format!("request.headers.{name}");
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
            _ => {
                cx.error(line_of_key(cx.text, name), format!("{field}: must be a string"));
                continue;
            }
        };
        if let Err(m) = check_header_name(name) {
            cx.error(line_of_key(cx.text, name), format!("request.headers: {m}"));
        }
        if written_as_null(cx.text, name) {
            let m = "a header value cannot be null (`~`, `null` or nothing); quote it to send that text";
            cx.error(line_of_key(cx.text, name), format!("{field}: {m}"));
            continue;
        }
        if let Some(x) = cx.expand_template(&field, &value, d) {
            if x.used_vars() || name.eq_ignore_ascii_case("authorization") {
                sensitive.push(name.to_ascii_lowercase());
            }
            if name.eq_ignore_ascii_case("authorization") {
                // Credentials written into the file as they are: masked like `${VAR}`s,
                // whole and without their scheme (`Bearer`), as a receiver may echo either.
                let credentials = x.text.split_once(' ').map(|(_, c)| c.trim().to_string());
                cx.secrets.borrow_mut().extend(std::iter::once(x.text.clone()).chain(credentials));
            }
            headers.push((name.clone(), x.text));
        }
    }
    let body = raw.request.body.as_ref().and_then(|b| {
        expand_json(b, &mut |v| {
            let x = cx.expand_template("request.body", v, d)?;
            // Short values would be masked by position in the URL (query values equal to
            // them), where a body's value has nothing to do.
            masked.extend(x.values.iter().filter(|v| v.chars().count() >= crate::secret::MIN_MASKED_LEN).cloned());
            Some(x)
        })
    });
    let body = body.map(|mut b| {
        super::spelling::as_written(&mut b, cx.text);
        b
    });
    for (path, value) in super::spelling::non_finite_leaves(cx.text) {
        cx.error(
            super::spelling::line_of_non_finite(cx.text, &path).or_else(|| line_of_key(cx.text, "request.body")),
            format!(
                "{path}: {value} is a number JSON cannot carry (JSON numbers are finite); \
                 quote it to send it as text (\"{value}\"), or write the number meant"
            ),
        );
    }
    Request { url, ping_url, headers, sensitive, body, masked, url_shown }
}

/// A URL template with its `${VAR}`s expanded as text; what the URL rule hides of their
/// values joins `masked`, the values that are no secret in themselves `shown`.
fn expand_url(
    cx: &FileContext<'_>,
    field: &str,
    url: &str,
    d: &Delimiters,
    (masked, shown): (&mut Vec<String>, &mut Vec<String>),
) -> Option<String> {
    let x = cx.expand_template(field, url, d)?;
    if let Some(chars) = super::url_rule::shape_breaker(&x.text, &x) {
        let list = |f: fn(char) -> String| chars.iter().map(|c| f(*c)).collect::<Vec<_>>().join(", ");
        cx.field_error(
            field,
            format!(
                "a ${{VAR}} value in it holds {}, which would move where the URL's parts begin and end \
                 (a request sent to another host, a query value split in two); percent-encode them in the \
                 variable ({})",
                list(|c| format!("{c:?}")),
                list(|c| format!("%{:02X}", c as u32))
            ),
        );
        return None;
    }
    let rule = super::url_rule::url_masking(&x.text, &x);
    masked.extend(rule.masked);
    shown.extend(rule.shown);
    Some(x.text)
}

fn compile_signature(cx: &FileContext<'_>, raw: &RawSubscription) -> Option<Signer> {
    let s = raw.signature.as_ref()?;
    let texts: Vec<&String> = s.secret.iter().chain(s.secrets.iter().flatten()).collect();
    let secrets: Vec<Secret> =
        texts.iter().filter_map(|t| cx.expand("signature.secret", t)).map(|x| Secret::new(x.text)).collect();
    if secrets.len() != texts.len() {
        return None;
    }
    let field = if s.secret.is_some() { "signature.secret" } else { "signature.secrets" };
    if let Some(empty) = texts.iter().zip(&secrets).find(|(_, x)| x.expose().is_empty()).map(|(t, _)| t) {
        // The variable that came out empty is what to fix, not the signature block.
        let what = if empty.contains("${") { format!("{empty} is empty") } else { "is empty".to_string() };
        let line = line_of_value(cx.text, field, empty);
        cx.error(line, format!("{field}: {what}: the receiver checks the signature with this secret"));
        return None;
    }
    // A secret written into the file as it is, not through `${VAR}`, is as secret: it is
    // masked wherever the subscription's secrets are (its file on the console, history).
    cx.secrets.borrow_mut().extend(secrets.iter().map(|s| s.expose().to_string()));
    Signer::new(s.scheme, s.header.clone(), secrets).map_err(|m| cx.field_error("signature", m)).ok()
}

/// `retry.give_up_on` lists answers that fail a delivery: a 2xx is a success whatever the
/// list says, and a number outside 300–599 is no answer a receiver gives.
fn check_give_up_on(cx: &FileContext<'_>, statuses: &[u16]) {
    for &status in statuses {
        let why = match status {
            200..=299 => "is a success, which never ends a delivery as failed",
            300..=599 => continue,
            _ => "is not an HTTP status a receiver answers with (300 to 599 can end a delivery)",
        };
        cx.error(
            line_of_value(cx.text, "retry.give_up_on", &status.to_string()),
            format!("retry.give_up_on: {status} {why}"),
        );
    }
}

/// The request timeout and the retry schedule, each duration bounded.
fn timing(cx: &FileContext<'_>, raw: &RawSubscription) -> (Duration, Vec<Duration>) {
    let timeout = match raw.request.timeout.as_deref().map(|t| cx.duration("request.timeout", t, MAX_TIMEOUT)) {
        None => DEFAULT_TIMEOUT,
        Some(Some(t)) if t.is_zero() => {
            cx.field_error("request.timeout", "must be more than 0".into());
            t
        }
        Some(t) => t.unwrap_or_default(),
    };
    let schedule: Vec<Duration> = match &raw.retry.schedule {
        None => DEFAULT_SCHEDULE.to_vec(),
        Some(texts) => {
            texts.iter().map(|t| cx.duration("retry.schedule", t, MAX_RETRY_WAIT).unwrap_or_default()).collect()
        }
    };
    if schedule.len() > MAX_RETRIES {
        cx.field_error("retry.schedule", format!("at most {MAX_RETRIES} retries"));
    }
    (timeout, schedule)
}

/// Headers hookshape owns, or that would break HTTP framing, cannot be set by a file.
/// `X-Webhook-Event` can: some platforms' formats define it as their own event name
/// (TheMembers'), and the subscription's value then replaces the Topic. `X-Webhook-Id` and
/// `X-Webhook-Attempt` are receivers' idempotency and retry facts: hookshape's alone.
/// Whether header `name` is written as YAML's null, unquoted: `X-A: ~`, `X-A: null`, or
/// `X-A:` with nothing after it (and nothing more indented on the lines below). Header
/// values are read as the text of their scalar, which cannot tell `~` from `"~"`.
fn written_as_null(text: &str, name: &str) -> bool {
    let Some(line) = line_of_key(text, name) else { return false };
    let lines: Vec<&str> = text.lines().collect();
    let Some(row) = lines.get(line - 1) else { return false };
    let Some(at) =
        [format!("{name}:"), format!("\"{name}\":")].iter().find_map(|k| row.find(k.as_str()).map(|i| i + k.len()))
    else {
        return false;
    };
    let value = row[at..].split(" #").next().unwrap_or_default();
    let value = value.split([',', '}']).next().unwrap_or_default().trim();
    match value {
        "~" | "null" | "Null" | "NULL" => true,
        "" => {
            let indent = |l: &str| l.len() - l.trim_start().len();
            let below = lines[line..].iter().find(|l| !l.trim().is_empty());
            below.is_none_or(|next| indent(next) <= indent(row))
        }
        _ => false,
    }
}

fn check_header_name(name: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    let lower = name.to_ascii_lowercase();
    if ["host", "content-length", "transfer-encoding", "connection"].contains(&lower.as_str())
        || (lower.starts_with("x-webhook-") && lower != "x-webhook-event")
    {
        return Err(format!("{name} is set by hookshape and cannot be overridden"));
    }
    Ok(())
}

/// Expands `${VAR}` in every string of a structured body; None when a variable is missing.
fn expand_json(
    value: &serde_json::Value,
    expand: &mut dyn FnMut(&str) -> Option<Expanded>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_may_set_x_webhook_event_but_not_hookshapes_other_headers() {
        assert_eq!(check_header_name("X-Webhook-Event"), Ok(()));
        assert_eq!(check_header_name("x-webhook-event"), Ok(()));
        for owned in ["X-Webhook-Id", "x-webhook-attempt", "X-Webhook-Anything", "Host", "Content-Length"] {
            let refused = check_header_name(owned).unwrap_err();
            assert!(refused.contains("set by hookshape"), "{owned}: {refused}");
        }
    }
}
