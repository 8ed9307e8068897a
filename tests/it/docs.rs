//! The manual (docs/) held to the code: the generated pages are current, and every command,
//! flag, route, metric, configuration setting and file field the code has is on its page.
//! Tests write files only when asked: `HOOKSHAPE_REGENERATE_DOCS=1 cargo test --test it docs::`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

const REGENERATE: &str = "HOOKSHAPE_REGENERATE_DOCS=1 cargo test --test it docs::";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn page(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A generated file equals what the code generates now; asked to, writes it instead.
fn check_generated(rel: &str, generated: &str) {
    let path = root().join(rel);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var_os("HOOKSHAPE_REGENERATE_DOCS").is_some() {
        if committed != generated {
            std::fs::write(&path, generated).unwrap();
        }
        return;
    }
    if committed == generated {
        return;
    }
    let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
    let line = line.unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "{rel} is not current (first difference at line {}): run `{REGENERATE}`\n committed: {:?}\n generated: {:?}",
        line + 1,
        committed.lines().nth(line).unwrap_or("<end>"),
        generated.lines().nth(line).unwrap_or("<end>"),
    );
}

fn run(args: &[&str]) -> String {
    let out = hookshape().args(args).env_remove("HOOKSHAPE_LOG_FORMAT").output().unwrap();
    assert!(out.status.success(), "hookshape {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the first `##`/`###` section whose heading contains `heading`, up to the
/// next heading of either level.
fn section(text: &str, heading: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with('#') && l.contains(heading))?;
    let rest = &lines[start + 1..];
    let end = rest.iter().position(|l| l.starts_with("## ") || l.starts_with("### ")).unwrap_or(rest.len());
    Some(rest[..end].join("\n"))
}

// ---- the command line ----

#[test]
fn the_cli_reference_is_generated_from_the_commands_and_is_current() {
    check_generated("docs/reference/cli.md", &run(&["docs", "cli"]));
}

/// The names under "Commands:" and the `--flags` under "Options:" of a `--help` text.
fn help_entries(help: &str) -> (Vec<String>, Vec<String>) {
    let mut commands = Vec::new();
    let mut flags = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            in_commands = line.starts_with("Commands:");
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        if in_commands && line.starts_with("  ") && !line.starts_with("   ") && word != "help" {
            commands.push(word.to_string());
        }
        if let Some(flag) = line.split_whitespace().find(|w| w.starts_with("--")) {
            let flag = flag.trim_end_matches(',');
            if line.trim_start().starts_with('-') && !["--help", "--version"].contains(&flag) {
                flags.push(flag.to_string());
            }
        }
    }
    (commands, flags)
}

#[test]
fn every_command_and_flag_the_binary_offers_has_its_entry() {
    let reference = page("docs/reference/cli.md");
    let globals = section(&reference, "Global options").expect("a Global options section");
    let mut todo: Vec<Vec<String>> = help_entries(&run(&["--help"])).0.into_iter().map(|c| vec![c]).collect();
    assert!(todo.len() >= 10, "{todo:?}");
    let mut checked = 0;
    while let Some(path) = todo.pop() {
        let name = format!("hookshape {}", path.join(" "));
        let own = section(&reference, &format!("`{name}`"))
            .unwrap_or_else(|| panic!("no entry for `{name}`: run `{REGENERATE}`"));
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (subcommands, flags) = help_entries(&run(&args));
        for flag in flags {
            // A global flag is listed where it is declared: here, a parent, or the globals.
            let listed = (1..=path.len()).any(|n| {
                section(&reference, &format!("`hookshape {}`", path[..n].join(" ")))
                    .is_some_and(|s| s.contains(&format!("`{flag}")))
            }) || globals.contains(&format!("`{flag}"));
            assert!(listed, "`{name} {flag}` has no entry in docs/reference/cli.md: run `{REGENERATE}`");
            checked += 1;
        }
        assert!(own.contains("```"), "`{name}` has no usage line");
        todo.extend(subcommands.into_iter().map(|s| [path.clone(), vec![s]].concat()));
    }
    assert!(checked > 40, "only {checked} flags found in --help: is the parsing still right?");
}

// ---- the HTTP API ----

#[tokio::test]
async fn the_committed_openapi_document_is_what_the_server_serves_and_every_route_has_its_entry() {
    let ws = Workspace::new();
    let mut config = ws.config();
    config.max_batch_items = hookshape::api::DEFAULT_MAX_BATCH_ITEMS;
    let app = TestApp::spawn(config).await;
    let served = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().text().await.unwrap();
    let doc: Value = serde_json::from_str(&served).unwrap();
    check_generated("docs/reference/openapi.json", &(serde_json::to_string_pretty(&doc).unwrap() + "\n"));
    let readable = api_page(&doc);
    check_generated("docs/reference/http-api.md", &readable);
    let committed = page("docs/reference/http-api.md");
    let mut routes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let heading = format!("### `{} {path}`", method.to_uppercase());
            assert!(
                committed.contains(&heading),
                "{heading} missing from docs/reference/http-api.md: run `{REGENERATE}`"
            );
            routes += 1;
        }
    }
    assert!(routes >= 14, "{routes} routes");
    app.stop().await;
}

const API_HEADER: &str = "# HTTP API reference

<!-- Generated from docs/reference/openapi.json (what `GET /v1/openapi.json` serves) by
     tests/it/docs.rs: do not edit. Regenerate with
     `HOOKSHAPE_REGENERATE_DOCS=1 cargo test --test it docs::`. -->

Every route of `hookshape serve`, from the OpenAPI 3.1 document the server itself serves at
`GET /v1/openapi.json` (committed as [openapi.json](openapi.json), for code generators and
API tools). Errors are JSON: `{\"error\": \"what and where\"}`.

**Tokens.** *intake* routes take `Authorization: Bearer <HOOKSHAPE_INTAKE_TOKEN>`, *admin*
routes `Authorization: Bearer <HOOKSHAPE_ADMIN_TOKEN>` (the console's session cookie is for
its own pages under `/console/`, not these routes); *public* routes take none. Without tokens hookshape listens on loopback only and every route
is open to this machine (see [configuration](configuration.md)).
";

/// The readable page: each operation with its parameters, body and answers, then each
/// schema the operations name.
fn api_page(doc: &Value) -> String {
    let mut out = String::from(API_HEADER);
    out.push_str("\n## Routes\n\n| route | tokens | what it does |\n|---|---|---|\n");
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let anchor = format!("{method}-{path}").replace(['/', '{', '}', '.'], "").replace(' ', "-");
            let _ = writeln!(
                out,
                "| [`{} {path}`](#{anchor}) | {} | {} |",
                method.to_uppercase(),
                who(op),
                op["summary"].as_str().unwrap_or("")
            );
        }
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operation_section(&mut out, method, path, op);
        }
    }
    out.push_str("\n## Schemas\n\nThe bodies and answers named above (JSON Schema 2020-12).\n");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        schema_section(&mut out, name, schema);
    }
    out
}

fn who(op: &Value) -> &'static str {
    match op["security"][0].as_object().and_then(|o| o.keys().next()).map(String::as_str) {
        Some("intake") => "intake",
        Some("admin") => "admin",
        _ => "public",
    }
}

fn operation_section(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = writeln!(out, "\n### `{} {path}`\n", method.to_uppercase());
    let _ = writeln!(out, "{}. Tokens: {}.\n", op["summary"].as_str().unwrap_or("").trim_end_matches('.'), who(op));
    if let Some(params) = op["parameters"].as_array() {
        out.push_str("| parameter | in | type | what it is |\n|---|---|---|---|\n");
        for p in params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                p["name"].as_str().unwrap_or(""),
                p["in"].as_str().unwrap_or(""),
                type_of(&p["schema"]),
                cell(p["description"].as_str().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if let Some(body) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
        let _ = writeln!(out, "Body (JSON): {}.\n", type_of(&Value::Object(body.clone())));
    }
    out.push_str("| status | when | answer |\n|---|---|---|\n");
    for (status, answer) in op["responses"].as_object().unwrap() {
        let content = answer["content"].as_object().and_then(|c| c.iter().next());
        let body = match content {
            Some((kind, c)) if kind == "application/json" => type_of(&c["schema"]),
            Some((kind, _)) => format!("`{kind}`"),
            None => String::new(),
        };
        let _ = writeln!(out, "| {status} | {} | {body} |", cell(answer["description"].as_str().unwrap_or("")));
    }
}

/// A schema in a few words: a link to a named one, or its type.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(choices) = schema["enum"].as_array() {
        let names: Vec<String> = choices.iter().map(|c| format!("`{}`", c.as_str().unwrap_or(""))).collect();
        return format!("one of {}", names.join(", "));
    }
    if let Some(any) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        let kinds: Vec<String> = any.iter().map(type_of).collect();
        return kinds.join(" or ");
    }
    if let Some(c) = schema.get("const") {
        return format!("`{}`", c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()));
    }
    match &schema["type"] {
        Value::String(t) if t == "array" => match schema["maxItems"].as_u64() {
            Some(max) => format!("array of {} (at most {max})", type_of(&schema["items"])),
            None => format!("array of {}", type_of(&schema["items"])),
        },
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ => "any JSON".into(),
    }
}

fn schema_section(out: &mut String, name: &str, schema: &Value) {
    let _ = writeln!(out, "\n### {name}\n");
    if let Some(d) = schema["description"].as_str() {
        let _ = writeln!(out, "{}\n", one_line(d));
    }
    let Some(props) = schema["properties"].as_object() else {
        let _ = writeln!(out, "Type: {}.", type_of(schema));
        return;
    };
    let required: BTreeSet<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    out.push_str("| field | type | required | what it is |\n|---|---|---|---|\n");
    for (field, p) in props {
        let _ = writeln!(
            out,
            "| `{field}` | {} | {} | {} |",
            type_of(p),
            if required.contains(field.as_str()) { "yes" } else { "" },
            cell(p["description"].as_str().unwrap_or(""))
        );
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

// ---- metrics ----

/// Every metric name spelled in the code: a new metric is caught before anything observes it.
fn metric_names_in_code() -> BTreeSet<String> {
    let code = page("src/metrics.rs");
    let mut names = BTreeSet::new();
    for piece in code.split('"').skip(1).step_by(2) {
        if piece.starts_with("hookshape_") && piece.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            names.insert(piece.to_string());
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_server_registers_has_its_entry_with_its_type_and_labels() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("s.yaml", &format!("topics: [T]\nrequest:\n  url: {}/hook\n", receiver.url()));
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(
        ws.path().join("sources/p.yaml"),
        "verify: {scheme: header, header: X-Secret, secrets: [s3cret]}\nevent: {Topic: T, Payload: \"{{ data }}\"}\n",
    )
    .unwrap();
    // A catalog topic that warns: the event below lacks its `x`.
    ws.topic("t.yaml", "name: T\nschema: {required: [x]}\nvalidation: warn\n");
    let app = TestApp::spawn(ws.config()).await;
    // Something in every labelled family: an event (that does not conform to its topic), a
    // delivery that finished, a source refusal.
    let (status, _) = app.post_event(&serde_json::json!({"Topic": "T", "Payload": {}})).await;
    assert_eq!(status, 202);
    app.wait_for_status("succeeded", 1).await;
    let (status, _) = app.post_raw("/v1/sources/p", r#"{"data": {}}"#.into(), None).await;
    assert_eq!(status, 401);
    let text = eventually(Duration::from_secs(10), "every family in /metrics", || async {
        let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        let scraped: BTreeSet<String> = types(&text).into_iter().map(|(n, _)| n).collect();
        metric_names_in_code().is_subset(&scraped).then_some(text)
    })
    .await;
    let reference = page("docs/reference/metrics.md");
    for (name, kind) in types(&text) {
        let row = reference
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}`")))
            .unwrap_or_else(|| panic!("metric {name} has no row in docs/reference/metrics.md"));
        assert!(row.contains(&format!("| {kind} |")), "{name} is a {kind}; its row says otherwise: {row}");
        for label in labels(&text, &name) {
            assert!(row.contains(&format!("`{label}`")), "{name}'s label {label} is not in its row: {row}");
        }
    }
    let scraped: BTreeSet<String> = types(&text).into_iter().map(|(n, _)| n).collect();
    for documented in rows(&reference) {
        assert!(
            scraped.contains(&documented),
            "metrics.md has a row for {documented}, which the server does not export"
        );
    }
    app.stop().await;
}

/// `# TYPE name kind` lines.
fn types(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect()
}

/// The label names of a family's series (a histogram's `le` is its buckets, not a label).
fn labels(text: &str, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, rest)) = line.split_once('{') else { continue };
        let series = series.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        if series != name {
            continue;
        }
        let inside = rest.split('}').next().unwrap_or("");
        for pair in inside.split("\",") {
            if let Some((label, _)) = pair.split_once('=') {
                if label != "le" {
                    out.insert(label.trim().to_string());
                }
            }
        }
    }
    out
}

// ---- configuration ----

/// Every key `hookshape.yaml` takes, as the real loader lists them when refusing one.
fn config_keys() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookshape.yaml");
    std::fs::write(&file, "no_such_setting: 1\n").unwrap();
    let e = hookshape::config::ServeConfig::resolve(Some(&file), Default::default()).unwrap_err().to_string();
    let list = e.split("expected one of").nth(1).unwrap_or_else(|| panic!("no key list in {e:?}"));
    let keys: Vec<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
    assert!(keys.len() >= 15, "{e}");
    keys
}

/// `serve`'s flags and the variable each reads, from its `--help`.
fn serve_flags() -> Vec<(String, Option<String>)> {
    let help = run(&["serve", "--help"]);
    let mut out = Vec::new();
    let mut current: Option<(String, Option<String>)> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") || trimmed.starts_with('-') && trimmed.contains(", --") {
            out.extend(current.take());
            let flag = trimmed.split_whitespace().find(|w| w.starts_with("--")).unwrap().trim_end_matches(',');
            current = Some((flag.to_string(), None));
        }
        if let (Some((_, env)), Some(at)) = (current.as_mut(), line.find("[env: ")) {
            let name = &line[at + 6..];
            *env = Some(name[..name.find(['=', ']']).unwrap()].to_string());
        }
    }
    out.extend(current);
    out.retain(|(f, _)| f != "--help");
    out
}

#[test]
fn every_configuration_setting_has_its_flag_variable_and_key_on_the_page() {
    let reference = page("docs/reference/configuration.md");
    let row_of =
        |needle: &str| reference.lines().find(|l| l.starts_with('|') && l.contains(needle)).map(str::to_string);
    let flags = serve_flags();
    assert!(flags.len() >= 18, "{flags:?}");
    for key in config_keys() {
        let row = row_of(&format!("`{key}`")).unwrap_or_else(|| panic!("key {key} has no row in configuration.md"));
        let flag = format!("--{}", key.replace('_', "-"));
        if let Some((_, env)) = flags.iter().find(|(f, _)| *f == flag) {
            assert!(row.contains(&format!("`{flag}`")), "{key}'s row does not name {flag}: {row}");
            let env = env.as_ref().unwrap_or_else(|| panic!("{flag} reads no variable"));
            assert!(row.contains(&format!("`{env}`")), "{key}'s row does not name {env}: {row}");
        } else {
            // Tokens: no flag (a flag would show in `ps`), only the variable.
            let env = format!("HOOKSHAPE_{}", key.to_uppercase());
            assert!(row.contains(&format!("`{env}`")), "{key}'s row does not name {env}: {row}");
        }
    }
    let keys = config_keys();
    let settings = section(&reference, "Settings").expect("a Settings section");
    for documented in rows(&settings) {
        assert!(
            keys.contains(&documented),
            "configuration.md has a row for `{documented}`, which the file does not take"
        );
    }
    for line in settings.lines().filter(|l| l.starts_with("| ")) {
        if let Some(flag) = line.split(" | ").nth(1).and_then(|c| c.strip_prefix("`--")) {
            let flag = format!("--{}", flag.trim_end_matches('`'));
            assert!(flags.iter().any(|(f, _)| *f == flag), "configuration.md names {flag}, which serve does not take");
        }
    }
    for (flag, env) in flags {
        let row = row_of(&format!("`{flag}`")).unwrap_or_else(|| panic!("serve {flag} has no row in configuration.md"));
        if let Some(env) = env {
            assert!(row.contains(&format!("`{env}`")), "{flag}'s row does not name {env}: {row}");
        }
    }
}

#[test]
fn the_example_hookshape_yaml_loads_through_the_real_loader_and_states_the_defaults() {
    let path = root().join("examples/hookshape.yaml");
    let resolve = |file: &std::path::Path| {
        hookshape::config::ServeConfig::resolve(Some(file), Default::default())
            .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()))
    };
    let example = resolve(&path);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("hookshape.yaml");
    std::fs::write(&empty, "{}\n").unwrap();
    assert_eq!(
        format!("{example:?}"),
        format!("{:?}", resolve(&empty)),
        "examples/hookshape.yaml should load as the defaults do"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let reference = page("docs/reference/configuration.md");
    for key in config_keys() {
        let line = text.lines().find(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{key}:")));
        let line =
            line.unwrap_or_else(|| panic!("examples/hookshape.yaml does not show `{key}` (set or commented out)"));
        if line.starts_with('#') {
            continue;
        }
        // The default the reference states is the value the example sets.
        let value = line[key.len() + 1..].split(" #").next().unwrap().trim();
        let row = reference.lines().find(|l| l.starts_with(&format!("| `{key}` |"))).unwrap();
        let default = row.split(" | ").nth(3).unwrap_or("");
        let stated = if value == "[]" { default.starts_with("none") } else { default.contains(&format!("`{value}`")) };
        assert!(stated, "configuration.md gives {key} the default {default:?}; the code's is {value}");
    }
}

// ---- subscription and source files ----

/// Every field path (`request.body_format`, `verify.secrets`) a JSON Schema allows, with
/// the default the schema states for it.
fn field_paths(schema: &Value) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    walk(schema, schema, "", &mut out, 0);
    out
}

fn walk(root: &Value, node: &Value, prefix: &str, out: &mut Vec<(String, Option<Value>)>, depth: usize) {
    assert!(depth < 16, "schema nests too deep at {prefix}");
    if let Some(r) = node["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        walk(root, &root["$defs"][name], prefix, out, depth + 1);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for choice in node[key].as_array().into_iter().flatten() {
            walk(root, choice, prefix, out, depth + 1);
        }
    }
    for (field, sub) in node["properties"].as_object().into_iter().flatten() {
        let path = if prefix.is_empty() { field.clone() } else { format!("{prefix}.{field}") };
        out.push((path.clone(), sub.get("default").cloned()));
        walk(root, sub, &path, out, depth + 1);
    }
}

/// Each field has its row, and the row's default column says what the schema's default is.
fn check_fields(schema_args: &[&str], rel: &str) {
    check_at_least(schema_args, rel, 10);
}

/// `check_fields` for a file of at least `fields` fields.
fn check_at_least(schema_args: &[&str], rel: &str, at_least: usize) {
    let schema: Value = serde_json::from_str(&run(schema_args)).unwrap();
    let reference = page(rel);
    let fields = field_paths(&schema);
    assert!(fields.len() >= at_least, "{fields:?}");
    let known: BTreeSet<String> = fields.iter().map(|(p, _)| p.clone()).collect();
    for (path, default) in fields {
        let row = reference
            .lines()
            .find(|l| l.starts_with(&format!("| `{path}` |")))
            .unwrap_or_else(|| panic!("field `{path}` has no row in {rel}"));
        let stated = row.split(" | ").nth(2).unwrap_or("");
        let agrees = match &default {
            None | Some(Value::Object(_)) => true,
            Some(Value::Array(a)) if a.is_empty() => stated.contains("`[]`") || stated.starts_with("none"),
            Some(Value::String(v)) => stated.contains(&format!("`{v}`")),
            Some(v) => stated.contains(&format!("`{v}`")),
        };
        assert!(agrees, "{rel}: `{path}` defaults to {default:?} in the code; its row says {stated:?}");
    }
    for documented in rows(&reference) {
        assert!(known.contains(&documented), "{rel} has a row for `{documented}`, which the file does not take");
    }
}

/// The first cells of the table rows that start with a code span: the names a page lists.
fn rows(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn every_subscription_file_field_has_its_entry_with_its_default() {
    check_fields(&["schema"], "docs/reference/subscription-file.md");
}

#[test]
fn every_source_file_field_has_its_entry_with_its_default() {
    check_fields(&["schema", "--sources"], "docs/reference/source-file.md");
}

#[test]
fn every_topic_file_field_has_its_entry_with_its_default() {
    check_at_least(&["schema", "--topics"], "docs/reference/topic-file.md", 6);
}

// ---- the repository stands alone ----

fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"].iter().map(|f| root().join(f)).collect();
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The targets of `[text](target)` links, outside code spans and blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for piece in prose.split("](").skip(1) {
            if let Some(end) = piece.find(')') {
                out.push(piece[..end].to_string());
            }
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        let slug: String = title
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.insert(slug);
    }
    out
}

#[test]
fn every_link_in_the_manual_resolves_inside_the_repository() {
    let root = root().canonicalize().unwrap();
    let mut problems = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            let Ok(resolved) = resolved.canonicalize() else {
                problems.push(format!("{name}: {target}: no such file"));
                continue;
            };
            if !resolved.starts_with(&root) {
                problems.push(format!("{name}: {target}: outside the repository"));
                continue;
            }
            if !anchor.is_empty() && resolved.extension().is_some_and(|e| e == "md") {
                let there = std::fs::read_to_string(&resolved).unwrap();
                if !anchors(&there).contains(anchor) {
                    problems.push(format!("{name}: {target}: no such heading"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository_and_the_license_is_the_one_cargo_names() {
    let mut files = markdown_files();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let outside = ["../shared", "shared/seeds", "PRODUCT.md", "your-org", "github.com/example", "git.example"];
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for needle in outside {
            assert!(!text.contains(needle), "{} mentions {needle:?}: the repository must stand alone", file.display());
        }
    }
    let cargo = page("Cargo.toml");
    assert!(cargo.contains("license = \"MIT\""), "Cargo.toml's license changed: change LICENSE too");
    let license = page("LICENSE");
    assert!(license.starts_with("MIT License") && license.contains("the hookshape authors"), "LICENSE: {license}");
}

#[test]
fn every_console_picture_is_on_the_console_page() {
    let reference = page("docs/reference/console.md");
    for entry in std::fs::read_dir(root().join("docs/console")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(reference.contains(&format!("(../console/{name})")), "docs/reference/console.md does not show {name}");
    }
}

#[test]
fn every_reference_page_is_linked_from_the_manual_index() {
    let index = page("docs/README.md");
    for entry in std::fs::read_dir(root().join("docs/reference")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(index.contains(&format!("reference/{name}")), "docs/README.md does not link reference/{name}");
    }
}
