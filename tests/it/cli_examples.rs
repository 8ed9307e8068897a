//! `hookshape test --examples`: the topic catalog's examples run as cases through the
//! subscriptions that take their topics, with the real binary on a workspace's files. A
//! failing example is named by its topic file and line; without the flag they do not run.

use std::process::Output;

use crate::helpers::*;

fn test_examples(ws: &Workspace, extra: &[&str]) -> (Option<i32>, String) {
    let out: Output = on_workspace_with("test", extra, ws);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

const POINTS: &str = "name: Communication_EarnPurchasePoints
description: A customer earned points on a purchase
schema:
  type: object
  required: [Customer, Points]
  properties:
    Customer:
      type: object
      properties:
        Id: {type: string}
        Email: {type: string}
    Points: {type: integer}
examples:
  - Customer: {Id: C-1001, Email: joao@exemplo.com}
    Points: 120
  - Customer: {Id: C-1002}
    Points: 0
search_keys: [Customer.Id]
validation: warn
";

/// `loyalty` takes the points topic; its filter leaves out zero points; `audit` takes every
/// `Communication_*` topic; `orders` takes another topic.
fn workspace(loyalty_body: &str) -> Workspace {
    let ws = Workspace::new();
    ws.subscription(
        "loyalty.yaml",
        &format!(
            "topics: [Communication_EarnPurchasePoints]\nfilter: \"Payload.Points > 0\"\nrequest:\n  url: \"http://127.0.0.1:9/points/{{{{ Payload.Customer.Id }}}}\"\n  body:\n    points: \"{loyalty_body}\"\n"
        ),
    );
    ws.subscription(
        "audit.yaml",
        "topics: [\"Communication_*\"]\nrequest:\n  url: \"http://127.0.0.1:9/audit\"\n  body:\n    topic: \"{{ Topic }}\"\n",
    );
    ws.subscription(
        "orders.yaml",
        "topics: [order.paid]\nrequest:\n  url: \"http://127.0.0.1:9/orders\"\n  body:\n    id: \"{{ Payload.Id }}\"\n",
    );
    ws.topic("points.yaml", POINTS);
    ws.topic("refund.yaml", "name: order.refunded\nexamples:\n  - {Id: R-1}\n");
    ws
}

#[test]
fn every_catalog_example_renders_through_each_subscription_that_takes_its_topic() {
    let ws = workspace("{{ Payload.Points }}");
    let (code, out) = test_examples(&ws, &["--examples"]);
    assert_eq!(code, Some(0), "{out}");
    let points = ws.path().join("topics/points.yaml");
    let points = points.display();
    for line in [
        format!("ok   {points}:14: example: Communication_EarnPurchasePoints #1 → audit"),
        format!("ok   {points}:14: example: Communication_EarnPurchasePoints #1 → loyalty"),
        format!("ok   {points}:16: example: Communication_EarnPurchasePoints #2 → loyalty (its filter leaves this example out)"),
        "no subscription takes topic order.refunded".to_string(),
    ] {
        assert!(out.contains(&line), "{line:?} missing from:\n{out}");
    }
    assert!(!out.contains("→ orders"), "orders does not take the topic:\n{out}");
    assert!(out.trim_end().ends_with("4 passed, 0 failed"), "{out}");

    // Without the flag, the examples are not cases, and a run of no case fails: a
    // mistyped directory must not pass CI.
    let (code, out) = test_examples(&ws, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("example:"), "{out}");
    assert!(out.contains("0 passed, 0 failed"), "{out}");
    assert!(out.trim_end().ends_with("(--examples runs the topic files' examples as cases)"), "{out}");
    assert!(out.contains("no test cases ran: no case in a *.test.yaml file of "), "{out}");
}

#[test]
fn an_example_that_a_template_cannot_render_fails_naming_the_topic_file_and_line() {
    // A typo in the field name: the first example has no `Pointz`.
    let ws = workspace("{{ Payload.Pointz + 1 }}");
    let (code, out) = test_examples(&ws, &["--examples"]);
    assert_eq!(code, Some(1), "{out}");
    let at = format!("{}:14", ws.path().join("topics/points.yaml").display());
    let fail = format!("FAIL {at}: example: Communication_EarnPurchasePoints #1 → loyalty");
    let lines: Vec<&str> = out.lines().collect();
    let i = lines.iter().position(|l| *l == fail).unwrap_or_else(|| panic!("{fail:?} missing from:\n{out}"));
    let why = lines[i + 1];
    assert!(why.trim_start().starts_with("render failed:") && why.contains("Pointz"), "{why}");
    assert!(out.contains(&format!("ok   {at}: example: Communication_EarnPurchasePoints #1 → audit")), "{out}");
    assert!(out.trim_end().ends_with("3 passed, 1 failed"), "{out}");
}

#[test]
fn a_filter_that_fails_on_an_example_is_a_failure_and_abort_is_not() {
    let ws = workspace("{{ Payload.Points }}");
    // The second example has no Email: the filter cannot lowercase it.
    ws.subscription(
        "loyalty.yaml",
        "topics: [Communication_EarnPurchasePoints]\nfilter: \"Payload.Customer.Email | lower != 'x'\"\nrequest:\n  url: \"http://127.0.0.1:9/p\"\n",
    );
    ws.subscription(
        "audit.yaml",
        "topics: [\"Communication_*\"]\nrequest:\n  url: \"http://127.0.0.1:9/audit\"\n  body:\n    n: \"{% if Payload.Points == 0 %}{{ abort('nothing earned') }}{% endif %}{{ Payload.Points }}\"\n",
    );
    let (code, out) = test_examples(&ws, &["--examples"]);
    assert_eq!(code, Some(1), "{out}");
    let at = format!("{}:16", ws.path().join("topics/points.yaml").display());
    let fail = format!("FAIL {at}: example: Communication_EarnPurchasePoints #2 → loyalty");
    let lines: Vec<&str> = out.lines().collect();
    let i = lines.iter().position(|l| *l == fail).unwrap_or_else(|| panic!("{fail:?} missing from:\n{out}"));
    assert!(lines[i + 1].trim_start().starts_with("filter failed:"), "{}", lines[i + 1]);
    let aborted = format!("ok   {at}: example: Communication_EarnPurchasePoints #2 → audit (abort: nothing earned)");
    assert!(out.contains(&aborted), "{aborted:?} missing from:\n{out}");
    assert!(out.trim_end().ends_with("3 passed, 1 failed"), "{out}");
}

/// The catalog shipped in this repository: every example renders through every
/// subscription that takes it, and a family's example goes only where it fits.
#[test]
fn the_repository_catalog_examples_render_through_its_subscriptions() {
    let out = hookshape()
        .args(["test", "--examples", "--allow-missing-env"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().last().unwrap().ends_with("passed, 0 failed"), "{stdout}");
    let earn = "topics/Communication_EarnPurchasePoints.yaml:23: example: Communication_EarnPurchasePoints #1";
    for sub in ["crm-activity", "crm-points", "erp-points", "loyalty"] {
        assert!(stdout.contains(&format!("ok   {earn} → {sub}\n")), "{sub}: {stdout}");
    }
    // The family's example lacks the Points that erp-points' one topic requires.
    let skipped = "--   topics/Communication.yaml:17: example: Communication_* #1 → erp-points: skipped: the example fits no topic it takes: as Communication_EarnPurchasePoints, Payload: \"Points\" is a required property";
    assert!(stdout.contains(skipped), "{stdout}");
}
