//! The integrator's tools through the real binary: `--allow-missing-env` keeping defaults,
//! `validate` running every reachable template, and what `test` cases can expect.

use std::collections::BTreeSet;
use std::process::Output;

use crate::helpers::*;

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every `${NAME}` the repository's own subscriptions and sources read.
fn variables_of_the_repository() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["subscriptions", "sources"] {
        for entry in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).unwrap() {
            let content = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (at, _) in content.match_indices("${") {
                let rest = &content[at + 2..];
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                names.insert(rest[..end].to_string());
            }
        }
    }
    names
}

/// `hookshape COMMAND --allow-missing-env` in the repository, with none of its variables
/// (nor any `*_URL`, `*_TOKEN`, `*_SECRET` of the caller's environment) set.
fn in_the_repository_without_variables(command: &str) -> Output {
    let mut cmd = hookshape();
    cmd.arg(command).arg("--allow-missing-env").current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in variables_of_the_repository() {
        cmd.env_remove(name);
    }
    for (name, _) in std::env::vars() {
        if [("_URL"), ("_TOKEN"), ("_SECRET")].iter().any(|s| name.ends_with(s)) {
            cmd.env_remove(name);
        }
    }
    cmd.output().unwrap()
}

#[test]
fn the_repository_passes_validate_and_test_with_allow_missing_env_and_no_variables_set() {
    assert!(variables_of_the_repository().contains("CRM_URL"), "the scan finds the variables");
    let out = in_the_repository_without_variables("test");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.lines().last().unwrap().ends_with("passed, 0 failed"), "{stdout}");
    let out = in_the_repository_without_variables("validate");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
}

#[test]
fn allow_missing_env_keeps_defaults_and_names_the_variables_given_placeholders() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: \"${HS_AME_URL:-http://127.0.0.1:9/a}/{{ Id }}\"\n  headers:\n    \
         Authorization: \"Bearer ${HS_AME_TOKEN}\"\n    X-Env: \"${HS_AME_ENV:-staging}\"\n",
    );
    ws.subscription(
        "s.test.yaml",
        "cases:\n  - name: defaults are kept\n    event: { Topic: T, Payload: { Id: x } }\n    expect:\n      \
         s: { url: \"http://127.0.0.1:9/a/x\", headers: { X-Env: staging } }\n",
    );
    for command in ["test", "validate"] {
        let out = hookshape()
            .arg(command)
            .arg("--allow-missing-env")
            .arg("--subscriptions")
            .arg(ws.path().join("subscriptions"))
            .arg("--templates")
            .arg(ws.path().join("templates"))
            .arg("--sources")
            .arg(ws.path().join("sources"))
            .env_remove("HS_AME_URL")
            .env_remove("HS_AME_TOKEN")
            .env_remove("HS_AME_ENV")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{command}: {stdout}{stderr}");
        let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note:")).collect();
        assert_eq!(notes.len(), 1, "{command}: only the variable without a default: {stderr}");
        assert!(notes[0].contains("${HS_AME_TOKEN}") && notes[0].contains("s.yaml"), "{stderr}");
    }
}

#[test]
fn allow_missing_env_shows_the_host_of_a_url_whose_base_is_unset() {
    let ws = Workspace::new();
    ws.subscription(
        "erp.yaml",
        "topics: [T]\nrequest:\n  url: \"${HS_AME_BASE}/orders/{{ Id }}?k=${HS_AME_KEY}\"\n  headers:\n    \
         Authorization: \"Bearer ${HS_AME_SECRET}\"\n",
    );
    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {"Id": 7}}"#).unwrap();
    let out = hookshape()
        .args(["render", "--allow-missing-env", "--subscription", "erp", "--event"])
        .arg(&event)
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .env_remove("HS_AME_BASE")
        .env_remove("HS_AME_KEY")
        .env_remove("HS_AME_SECRET")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    // Only the query value and the header are secrets: the placeholder host shows, as a real one would.
    assert_eq!(stdout.lines().next(), Some("POST https://placeholder.invalid/orders/7?k=***"), "{stdout}");
    assert!(stdout.contains("Authorization: ***"), "{stdout}");
}

/// A workspace whose subscription `name` renders `erp/NAME.json.j2`.
fn with_body_template(ws: &Workspace, name: &str, template: &str) {
    ws.subscription(
        &format!("{name}.yaml"),
        &format!("topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: erp/{name}.json.j2\n"),
    );
    ws.template(&format!("erp/{name}.json.j2"), template);
}

const ENUMS: &str = "{%- macro coupon_type(v) -%}{{ {0: \"Fixed\", 1: \"Percent\"}[v] }}{%- endmacro -%}\n\
                     {%- macro tier(points, scale) -%}{{ points // scale }}{%- endmacro -%}\n";

#[test]
fn validate_names_a_misspelt_macro_a_missing_import_and_too_many_arguments_with_file_and_line() {
    let ws = Workspace::new();
    ws.template("loyalty/enums.j2", ENUMS);
    with_body_template(
        &ws,
        "misspelt",
        "{% import 'loyalty/enums.j2' as enums %}\n{\n  \"coupon\": {{ enums.coupon_typ(CouponType) }}\n}\n",
    );
    with_body_template(&ws, "missing", "{\"a\": 1}\n{% import 'loyalty/nope.j2' as enums %}\n");
    with_body_template(
        &ws,
        "arguments",
        "{% import 'loyalty/enums.j2' as enums %}\n{\"a\": {{ enums.coupon_type(CouponType, 1, 2) }}}\n",
    );
    with_body_template(
        &ws,
        "from",
        "{% from 'loyalty/enums.j2' import coupon_type, cupon %}\n\n{\"a\": {{ cupon(1) }}}\n",
    );
    let out = on_workspace("validate", &ws);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = |prefix: &str| {
        stdout.lines().find(|l| l.contains(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in:\n{stdout}")).to_string()
    };
    let misspelt = line("erp/misspelt.json.j2:3: ");
    assert!(
        misspelt.contains("unknown macro `coupon_typ` (loyalty/enums.j2 defines: coupon_type, tier)"),
        "{misspelt}"
    );
    assert!(misspelt.contains("misspelt.yaml"), "names the subscription that reaches it: {misspelt}");
    assert!(!stdout.contains("map has no method"), "{stdout}");
    let missing = line("erp/missing.json.j2:2: ");
    assert!(missing.contains("loyalty/nope.j2"), "{missing}");
    let arguments = line("erp/arguments.json.j2:2: ");
    assert!(arguments.contains("macro `enums.coupon_type(v)` takes 1 argument, called with 3"), "{arguments}");
    let from = line("erp/from.json.j2:3: ");
    assert!(from.contains("unknown macro `cupon`"), "{from}");
    assert_eq!(stdout.lines().count(), 4, "one line each, nothing deployed as OK: {stdout}");
}

#[test]
fn validate_runs_the_templates_against_the_test_cases_events_to_reach_every_branch() {
    let ws = Workspace::new();
    ws.template("loyalty/enums.j2", ENUMS);
    with_body_template(
        &ws,
        "branch",
        "{% import 'loyalty/enums.j2' as enums %}\n{% if Points > 10 %}\n{\"tier\": {{ enums.tier(Points, 10) }}, \
         \"x\": {{ enums.tire(Points, 10) }}}\n{% else %}{\"tier\": 0}{% endif %}\n",
    );
    let valid = on_workspace("validate", &ws);
    assert_eq!(valid.status.code(), Some(0), "an empty event does not take the branch: {:?}", text(&valid));
    ws.subscription(
        "branch.test.yaml",
        "cases:\n  - name: big\n    event: { Topic: T, Payload: { Points: 50 } }\n    expect:\n      branch: { body: { tier: 5 } }\n",
    );
    let out = on_workspace("validate", &ws);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("erp/branch.json.j2:3: unknown macro `tire`"), "{stdout}");
    assert!(!stdout.contains("OK"), "{stdout}");
}

#[test]
fn validate_names_a_test_file_it_cannot_read_with_file_and_line() {
    let ws = Workspace::new();
    with_body_template(&ws, "branch", "{\"tier\": 0}\n");
    ws.subscription(
        "branch.test.yaml",
        "cases:\n  - name: big\n    event: { Topic: T, Payload: { Points: 50 } }\n    expct:\n      branch: { body: { tier: 0 } }\n",
    );
    let out = on_workspace("validate", &ws);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "a misspelt key passed: {stdout}{stderr}");
    assert!(stdout.contains("branch.test.yaml:4:") && stdout.contains("expct"), "{stdout}");
    assert!(!stdout.contains("OK"), "{stdout}");
}

#[test]
fn test_cases_expect_a_render_error_a_source_refusal_and_a_frozen_clock() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n  headers:\n    X-Name: \"{{ Name }}\"\n  \
         body: { at: \"{{ now() }}\", later: \"{{ now('UTC') }}\" }\n",
    );
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    std::fs::write(
        ws.path().join("sources/p.yaml"),
        "verify: {scheme: header, header: X-Key, secrets: [\"platform-key\"]}\nevent:\n  Topic: \"{{ kind }}\"\n  \
         Payload: { Name: \"{{ name }}\" }\n",
    )
    .unwrap();
    ws.subscription(
        "s.test.yaml",
        r#"cases:
  - name: a header with a line break is a render error
    event: { Topic: T, Payload: { Name: "a\nb" } }
    expect:
      s: { error: "may not contain CR, LF or NUL" }
  - name: the clock is frozen
    now: 2026-01-01T00:00:00Z
    event: { Topic: T, Payload: { Name: a } }
    expect:
      s: { body: { at: "2026-01-01T00:00:00.000Z", later: "2026-01-01T00:00:00.000+00:00" } }
  - name: a wrong key is refused
    source: p
    request: { headers: { X-Key: wrong }, body: { kind: T, name: a } }
    status: 401
  - name: a body without the topic is refused
    source: p
    request: { sign: true, body: { name: a } }
    status: 422
  - name: expects an error but renders
    event: { Topic: T, Payload: { Name: a } }
    expect:
      s: { error: "anything" }
  - name: expects a refusal but is accepted
    source: p
    request: { sign: true, body: { kind: T, name: a } }
    status: 401
"#,
    );
    let out = on_workspace("test", &ws);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for want in [
        "ok   s.test.yaml: a header with a line break is a render error",
        "ok   s.test.yaml: the clock is frozen",
        "ok   s.test.yaml: a wrong key is refused",
        "ok   s.test.yaml: a body without the topic is refused",
        "FAIL s.test.yaml: expects an error but renders",
        "s: rendered, but the case expects an error containing \"anything\"",
        "FAIL s.test.yaml: expects a refusal but is accepted",
        "source p accepted the request; the case expects 401",
        "4 passed, 2 failed",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

#[test]
fn test_and_render_mask_secrets_in_urls_and_bodies_and_show_headers_as_sent() {
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        "topics: [T]\nrequest:\n  url: \"http://hook-user:${HS_MASK_PASS:-pass-word-1}@127.0.0.1:9/hooks/\
         ${HS_MASK_PATH:-path-shown-2}/${secret:HS_MASK_SEG:-seg-key-2}?token=${HS_MASK_Q:-query-key-3}&id={{ Id }}\"\n  headers:\n    \
         Content-Type: application/vnd.api+json\n  body: { id: \"{{ Id }}\", key: \"${HS_MASK_BODY:-body-key-4}\" }\n",
    );
    ws.subscription(
        "s.test.yaml",
        "cases:\n  - name: differs\n    event: { Topic: T, Payload: { Id: x } }\n    expect:\n      \
         s: { url: \"http://127.0.0.1:9/other\", body: { id: y } }\n",
    );
    let secrets = ["pass-word-1", "seg-key-2", "query-key-3", "body-key-4"];
    let out = on_workspace("test", &ws);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The URL rule: the path shows (support needs to see where it went), even from a
    // variable; the userinfo, a variable's query value and a `${secret:…}` do not.
    assert!(stdout.contains("got      http://***@127.0.0.1:9/hooks/path-shown-2/***?token=***&id=x"), "{stdout}");
    assert!(stdout.contains("body.key: unexpected (got \"***\")"), "{stdout}");
    for s in secrets {
        assert!(!stdout.contains(s), "{s} in:\n{stdout}");
    }

    let event = ws.path().join("event.json");
    std::fs::write(&event, r#"{"Topic": "T", "Payload": {"Id": "x"}}"#).unwrap();
    let out = hookshape()
        .args(["render", "--subscription", "s", "--event"])
        .arg(&event)
        .arg("--subscriptions")
        .arg(ws.path().join("subscriptions"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for s in secrets {
        assert!(!stdout.contains(s), "{s} in:\n{stdout}");
    }
    let content_types: Vec<&str> =
        stdout.lines().filter(|l| l.to_ascii_lowercase().starts_with("content-type:")).collect();
    assert_eq!(content_types, ["Content-Type: application/vnd.api+json"], "as sent:\n{stdout}");
}
