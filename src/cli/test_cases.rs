//! `hookshape test [DIR]`: runs every `*.test.yaml` beside the subscriptions. Each case
//! gives an event and, per subscription, what must come out (method, URL, a subset of
//! headers, the body as JSON or exact bytes), `delivered: false`, or a render error; or
//! the status a source refuses a request with. `now:` freezes the templates' clock. One
//! line per case, a readable diff for each failure (secrets as `***`), a summary; exit 1
//! on any failure. With `--examples`, the catalog's examples too (`test_examples`).

use crate::cli::output::outln;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{load_or_report, FileArgs};
use crate::subscription::{LoadError, Subscription, SubscriptionSet};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the *.test.yaml files are (default: the subscriptions directory).
    dir: Option<PathBuf>,
    /// Also run every example of the topic catalog (--topics) as a case, through each
    /// subscription whose topics reach its topic: it passes when the filter evaluates and the
    /// request renders without error (abort() and a filter leaving it out pass too); a
    /// failure names the topic file and the example's line.
    #[arg(long)]
    examples: bool,
    #[command(flatten)]
    files: FileArgs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// A canonical event inline, or the path of a JSON file (relative to the test file).
    /// With `source`, the canonical event the source must make (the fields given).
    event: Option<Value>,
    /// An inbound source to send `request` through, instead of giving an event.
    source: Option<String>,
    request: Option<SourceRequest>,
    /// The status the source must refuse `request` with (401 wrong proof, 422 bad event).
    status: Option<u16>,
    /// What `now()` answers in this case's templates (RFC 3339), instead of the clock.
    now: Option<String>,
    /// Subscription name → what it must produce.
    #[serde(default)]
    expect: BTreeMap<String, Expect>,
}

/// A platform's request to a source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRequest {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The body as JSON (sent compact), or exactly these bytes with `body_raw`.
    body: Option<Value>,
    body_raw: Option<String>,
    /// Sign the body with the source's own (first) secret, as the platform would (for
    /// scheme token: put it in the URL; basic: send it as Basic credentials).
    #[serde(default)]
    sign: bool,
    /// The token the URL carries (scheme token), when not `sign`.
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// false: the topic or filter must not let the event through.
    delivered: Option<bool>,
    method: Option<String>,
    url: Option<String>,
    /// Headers that must be present with these values (others may be too).
    headers: Option<BTreeMap<String, String>>,
    /// The body, compared as JSON.
    body: Option<Value>,
    /// The body, compared byte for byte.
    body_raw: Option<String>,
    /// The filter or the render must fail with an error containing this text.
    error: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Some(set) = load_or_report(&a.files) else { return Ok(ExitCode::FAILURE) };
    let dirs = test_dirs(a.dir, &a.files);
    let files = test_files(&dirs)?;
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let text = crate::yaml_bounds::read(file).map_err(|r| {
            let line = r.line.map(|l| format!(":{l}")).unwrap_or_default();
            anyhow::anyhow!("{}{line}: {}", file.display(), r.message)
        })?;
        let tests: TestFile = match serde_norway::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                let line = e.location().map(|l| format!(":{}", l.line())).unwrap_or_default();
                outln!(
                    "FAIL {}{line}: {}",
                    file.display(),
                    e.to_string().split(" at line ").next().unwrap_or_default()
                );
                failed += 1;
                continue;
            }
        };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for case in &tests.cases {
            match run_case(&set, file, case) {
                Ok(()) => {
                    passed += 1;
                    outln!("ok   {name}: {}", case.name);
                }
                Err(problems) => {
                    failed += 1;
                    outln!("FAIL {name}: {}", case.name);
                    for p in problems {
                        outln!("       {p}");
                    }
                }
            }
        }
    }
    if a.examples {
        let tally = super::test_examples::run(&set);
        (passed, failed) = (passed + tally.passed, failed + tally.failed);
    }
    outln!("\n{passed} passed, {failed} failed");
    if passed + failed == 0 {
        // A mistyped directory would otherwise pass CI while testing nothing.
        outln!("no test cases ran: {}", nothing_found(&dirs, a.examples));
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn nothing_found(dirs: &[PathBuf], examples: bool) -> String {
    let looked = match dirs {
        [] => "no subscriptions or sources directory to look in".to_string(),
        dirs => {
            let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!("no case in a *.test.yaml file of {}", dirs.join(" or "))
        }
    };
    let hint = if examples { "" } else { " (--examples runs the topic files' examples as cases)" };
    format!("{looked}{hint}")
}

/// Where the `*.test.yaml` files are: `dir`, by default beside the subscriptions and sources.
fn test_dirs(dir: Option<PathBuf>, args: &FileArgs) -> Vec<PathBuf> {
    match dir {
        Some(dir) => vec![dir],
        None => [args.subscriptions.clone(), args.sources.clone()].into_iter().filter(|d| d.is_dir()).collect(),
    }
}

/// The `*.test.yaml` files of `dirs`.
fn test_files(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
        }));
    }
    files.sort();
    Ok(files)
}

/// Every event the test cases beside the subscriptions and sources give or make, for
/// `validate` to run the templates against, and each test file that cannot be read as one
/// (`file:line`: a misspelt key would otherwise pass `validate` unseen). Cases that do not
/// make an event are `test`'s to report, and are skipped here.
pub(super) fn case_events(set: &SubscriptionSet, args: &FileArgs) -> (Vec<crate::event::Event>, Vec<LoadError>) {
    let (mut events, mut unreadable) = (Vec::new(), Vec::new());
    for file in test_files(&test_dirs(None, args)).unwrap_or_default() {
        let text = match crate::yaml_bounds::read(&file) {
            Ok(text) => text,
            Err(r) => {
                unreadable.push(LoadError { file, line: r.line, message: r.message });
                continue;
            }
        };
        let tests = match serde_norway::from_str::<TestFile>(&text) {
            Ok(tests) => tests,
            Err(e) => {
                let message = e.to_string().split(" at line ").next().unwrap_or_default().to_string();
                unreadable.push(LoadError { file, line: e.location().map(|l| l.line()), message });
                continue;
            }
        };
        events.extend(tests.cases.iter().filter_map(|case| case_event(set, &file, case).ok().flatten()));
    }
    (events, unreadable)
}

fn load_event(test_file: &Path, source: &Value) -> Result<crate::event::Event, String> {
    let value = match source {
        Value::String(path) => {
            let full = test_file.parent().unwrap_or(Path::new(".")).join(path);
            let text = std::fs::read(&full).map_err(|e| format!("event file {}: {e}", full.display()))?;
            // As intake parses it, so the numbers render as a real event's would (`1E2`).
            crate::json::parse(&text).map_err(|e| format!("event file {}: {e}", full.display()))?
        }
        inline => inline.clone(),
    };
    crate::event::from_stored(value).map_err(|e| format!("event: {e}"))
}

/// The event a case is about: given, or made by a source from a platform's request; None
/// when the source refused the request with the status the case expects.
fn case_event(set: &SubscriptionSet, file: &Path, case: &Case) -> Result<Option<crate::event::Event>, Vec<String>> {
    let Some(name) = &case.source else {
        if case.status.is_some() {
            return Err(vec!["status: is the answer of a source; give source: and request:".to_string()]);
        }
        let given = case.event.as_ref().ok_or_else(|| vec!["give an event, or a source and a request".to_string()])?;
        return load_event(file, given).map(Some).map_err(|e| vec![e]);
    };
    let source = set.sources.get(name).ok_or_else(|| vec![format!("no source named {name:?}")])?;
    let request = case.request.as_ref().ok_or_else(|| vec![format!("source {name}: give the request it gets")])?;
    let body = match (&request.body_raw, &request.body) {
        (Some(raw), _) => raw.clone().into_bytes(),
        (None, Some(v)) => v.to_string().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut headers: Vec<(String, String)> =
        request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    if request.sign {
        headers.extend(sign_as_platform(&source.verifier, &body));
    }
    let lookup = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let signed_token = (request.sign && source.verifier.scheme == crate::source::VerifyScheme::Token)
        .then(|| source.verifier.secrets.first().map(|s| s.expose()))
        .flatten();
    let given = crate::source::Given { header: &lookup, token: request.token.as_deref().or(signed_token) };
    let made = source.verify(&given, &body).and_then(|()| source.event(&body, &headers));
    let event = match (made, case.status) {
        (Err(refused), Some(want)) if refused.status() == want => return Ok(None),
        (Err(refused), want) => {
            let expected = want.map(|w| format!("; the case expects {w}")).unwrap_or_default();
            let (status, why) = (refused.status(), source.secrets.mask(&refused.describe()));
            return Err(vec![format!("source {name} refused the request with {status} ({why}){expected}")]);
        }
        (Ok(_), Some(want)) if !(200..300).contains(&want) => {
            return Err(vec![format!("source {name} accepted the request; the case expects {want}")])
        }
        (Ok(event), _) => event,
    };
    if let Some(want) = &case.event {
        let want = match want {
            Value::String(_) => load_event(file, want).map(|e| e.envelope_value()).map_err(|e| vec![e])?,
            inline => inline.clone(),
        };
        let mut problems = Vec::new();
        diff_given("event", &want, &event.envelope_value(), &mut |d| problems.push(d));
        if !problems.is_empty() {
            return Err(problems);
        }
    }
    Ok(Some(event))
}

/// The headers the platform behind a source would send for `body`, signed with its first secret.
fn sign_as_platform(v: &crate::source::Verifier, body: &[u8]) -> Vec<(String, String)> {
    use crate::source::VerifyScheme;
    let Some(secret) = v.secrets.first() else { return Vec::new() };
    let secret = secret.expose();
    let hex = crate::sign::hmac_hex(secret.as_bytes(), body);
    match v.scheme {
        VerifyScheme::HmacSha256Hex => vec![(v.header.to_ascii_lowercase(), hex)],
        VerifyScheme::HmacSha256Prefixed => vec![(v.header.to_ascii_lowercase(), format!("sha256={hex}"))],
        VerifyScheme::Header => vec![(v.header.to_ascii_lowercase(), secret.to_string())],
        VerifyScheme::StandardWebhooks => {
            let signer = crate::sign::Signer::new(
                crate::sign::Scheme::StandardWebhooks,
                None,
                vec![crate::secret::Secret::new(secret)],
            );
            signer.map(|s| s.headers("msg_test", chrono::Utc::now().timestamp(), body)).unwrap_or_default()
        }
        VerifyScheme::Basic => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
            vec![("authorization".to_string(), format!("Basic {encoded}"))]
        }
        // The token goes in the URL, not a header.
        VerifyScheme::Token | VerifyScheme::None => Vec::new(),
    }
}

fn run_case(set: &SubscriptionSet, file: &Path, case: &Case) -> Result<(), Vec<String>> {
    let now = match &case.now {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| vec![format!("now: {text:?} is not an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}")])?
                .with_timezone(&chrono::Utc),
        ),
    };
    crate::render::clock::frozen(now, || run_case_now(set, file, case))
}

fn run_case_now(set: &SubscriptionSet, file: &Path, case: &Case) -> Result<(), Vec<String>> {
    // A case that expects nothing passes whatever the files do: a forgotten `expect:`.
    let checks_the_source = case.status.is_some() || (case.source.is_some() && case.event.is_some());
    if case.expect.is_empty() && !checks_the_source {
        return Err(vec![
            "the case checks nothing: give expect: (a subscription's name → what it must send, or {delivered: false})"
                .to_string(),
        ]);
    }
    let Some(event) = case_event(set, file, case)? else { return Ok(()) };
    let ctx = crate::render::context(&event);
    let mut problems = Vec::new();
    for (name, expect) in &case.expect {
        let Some(sub) = set.get(name) else {
            problems.push(format!("{name}: no such subscription"));
            continue;
        };
        let routed = sub.enabled && set.routes(&event.topic).any(|s| s.name == sub.name);
        let delivered = match routed.then(|| sub.template.matches(&ctx)).transpose() {
            Ok(d) => d.unwrap_or(false),
            Err(e) if crate::render::aborted(&e).is_some() => false,
            Err(e) => {
                let e = sub.secrets.mask(&e);
                match &expect.error {
                    Some(want) if e.contains(want.as_str()) => {}
                    Some(want) => problems
                        .push(format!("{name}: filter failed: {e}\n         expected an error containing {want:?}")),
                    None => problems.push(format!("{name}: filter failed: {e}")),
                }
                continue;
            }
        };
        let aborted = match delivered {
            true => aborted_render(sub, &ctx),
            false => routed.then(|| sub.template.matches(&ctx).err()).flatten(),
        };
        let delivered = delivered && aborted.is_none();
        match (expect.delivered, delivered) {
            (Some(false), false) => continue,
            (Some(false), true) => problems.push(format!("{name}: delivered, but the case expects it not to be")),
            (_, false) if aborted.is_some() => problems.push(format!("{name}: {}", aborted.unwrap_or_default())),
            (_, false) => {
                problems.push(format!("{name}: not delivered (topic {:?} or the filter does not match)", event.topic))
            }
            (_, true) => compare(name, sub, &event, &ctx, expect, &mut problems),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The render error, when the template ends with `abort(reason)`: not delivered.
fn aborted_render(sub: &Subscription, ctx: &minijinja::Value) -> Option<String> {
    sub.template.render(ctx).err().filter(|e| crate::render::aborted(e).is_some())
}

fn compare(
    name: &str,
    sub: &Subscription,
    event: &crate::event::Event,
    ctx: &minijinja::Value,
    expect: &Expect,
    problems: &mut Vec<String>,
) {
    let request = match (crate::accept::preview(sub, event, ctx, "dlv_test", crate::accept::Shown::Real), &expect.error)
    {
        (Ok(r), None) => r,
        (Ok(_), Some(want)) => {
            return problems.push(format!("{name}: rendered, but the case expects an error containing {want:?}"))
        }
        (Err(e), Some(want)) if e.contains(want.as_str()) => return,
        (Err(e), Some(want)) => {
            return problems.push(format!("{name}: render failed: {e}\n         expected an error containing {want:?}"))
        }
        (Err(e), None) => return problems.push(format!("{name}: render failed: {e}")),
    };
    // Compared as sent, printed as `render` prints it: every secret as `***`.
    let shown = request.redacted();
    let masker = crate::secret::Masker::new(&request.masked);
    let mut found = Vec::new();
    compare_request(name, &request, &shown, expect, &mut found);
    problems.extend(found.iter().map(|p| masker.mask(p)));
}

fn compare_request(
    name: &str,
    request: &crate::store::StoredRequest,
    shown: &crate::store::StoredRequest,
    expect: &Expect,
    problems: &mut Vec<String>,
) {
    if let Some(m) = &expect.method {
        if !m.eq_ignore_ascii_case(&request.method) {
            problems.push(format!("{name}: method: expected {m}, got {}", request.method));
        }
    }
    if let Some(written) = &expect.url {
        // A case may write the URL as `render` shows it, `***` for a secret part, and with
        // the subscription's own `${VAR:-default}`, so it holds wherever the variable is set.
        // What differs is shown as written and as rendered (masked): never a variable's value.
        match crate::config_file::env_vars::expand(written, &|name| std::env::var(name).ok()) {
            Err(why) => problems.push(format!("{name}: url: {why}")),
            Ok(u) if u.text != request.url && u.text != shown.url => {
                problems.push(format!("{name}: url:\n         expected {written}\n         got      {}", shown.url))
            }
            Ok(_) => {}
        }
    }
    for (h, want) in expect.headers.iter().flatten() {
        let got = request.headers.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(h)).map(|(_, v)| v);
        let secret = request.sensitive.iter().any(|s| s.eq_ignore_ascii_case(h));
        match got {
            None => problems.push(format!("{name}: header {h}: missing")),
            Some(g) if g != want && secret => {
                problems.push(format!("{name}: header {h}: differs (value hidden: it is a secret)"))
            }
            Some(g) if g != want => problems.push(format!("{name}: header {h}: expected {want:?}, got {g:?}")),
            Some(_) => {}
        }
    }
    let body = request.body.as_deref();
    if let Some(raw) = &expect.body_raw {
        if body != Some(raw.as_str()) {
            problems.push(format!(
                "{name}: body bytes:\n         expected {raw}\n         got      {}",
                body.unwrap_or("(none)")
            ));
        }
    }
    if let Some(want) = &expect.body {
        match body.map(serde_json::from_str::<Value>) {
            Some(Ok(got)) => diff("body", want, &got, &mut |d| problems.push(format!("{name}: {d}"))),
            _ => problems.push(format!("{name}: body: expected JSON, got {}", body.unwrap_or("(none)"))),
        }
    }
}

/// Reports where `got` differs from `want` in the fields `want` gives (others are not checked).
fn diff_given(path: &str, want: &Value, got: &Value, report: &mut dyn FnMut(String)) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => diff_wanted_keys(path, w, g, report),
        _ => diff(path, want, got, report),
    }
}

fn diff_wanted_keys(path: &str, w: &Map<String, Value>, g: &Map<String, Value>, report: &mut dyn FnMut(String)) {
    for (k, wv) in w {
        match g.get(k) {
            Some(gv) => diff(&format!("{path}.{k}"), wv, gv, report),
            None => report(format!("{path}.{k}: missing (expected {wv})")),
        }
    }
}

/// Reports every path where `got` differs from `want`.
fn diff(path: &str, want: &Value, got: &Value, report: &mut dyn FnMut(String)) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            diff_wanted_keys(path, w, g, report);
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                report(format!("{path}.{k}: unexpected (got {})", g[k]));
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, report);
            }
        }
        // By value: YAML reads an expected `1234.50` as 1234.5, while the body keeps the
        // digits it was sent with (`1234.50`, `1.0E-7`); both are the same number.
        (Value::Number(w), Value::Number(g)) if same_number(w, g) => {}
        _ if want != got => report(format!("{path}: expected {want}, got {got}")),
        _ => {}
    }
}

fn same_number(want: &serde_json::Number, got: &serde_json::Number) -> bool {
    let (want, got) = (want.to_string(), got.to_string());
    want == got || crate::json::number_identity(&want).is_some_and(|w| Some(w) == crate::json::number_identity(&got))
}
