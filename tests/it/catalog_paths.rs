//! `hookshape validate` checks every Payload path a subscription's templates read against
//! the schemas of the catalog topics it takes: a misspelt field is an error with its file,
//! line and the nearest name, wherever the template is (body file, URL, header, filter).

use crate::helpers::*;

const EARN: &str = r##"
name: Communication_EarnPurchasePoints
schema:
  type: object
  required: [Customer, Points]
  properties:
    Customer:
      $ref: "#/$defs/Customer"
    Points: {type: integer}
    Items:
      type: array
      items:
        allOf:
          - properties: {Sku: {type: string}}
          - properties: {Qty: {type: integer}}
  $defs:
    Customer:
      type: object
      properties:
        Id: {type: string}
        Email: {type: string}
"##;

const COUPON: &str = r##"
name: Communication_CouponGenerated
schema:
  type: object
  properties:
    Customer: {type: object, properties: {Id: {type: string}, Email: {type: string}}}
    Coupon: {type: object, properties: {Code: {type: string}}}
"##;

/// (exit code, stdout lines) of `validate` on `ws`.
fn validate(ws: &Workspace) -> (Option<i32>, Vec<String>) {
    let out = on_workspace("validate", ws);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty() || out.status.code() == Some(1), "{stderr}");
    (out.status.code(), stdout.lines().map(str::to_string).collect())
}

fn workspace(subscription: &str) -> Workspace {
    let ws = Workspace::new();
    ws.topic("earn.yaml", EARN);
    ws.subscription("points.yaml", subscription);
    ws
}

#[test]
fn a_misspelt_field_in_a_body_file_is_caught_with_its_line_and_the_nearest_name() {
    let ws = workspace("topics: [Communication_EarnPurchasePoints]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: points.json.j2\n");
    ws.template("points.json.j2", "{\n  \"id\": {{ Custmer.Id }},\n  \"points\": {{ Points }}\n}\n");
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1), "{lines:?}");
    let file = ws.path().join("templates/points.json.j2");
    assert_eq!(
        lines,
        [format!(
            "{}:2: Payload.Custmer.Id: topic Communication_EarnPurchasePoints has no field `Custmer` in Payload \
             (did you mean `Customer`?) (reached from {} request.body_template)",
            file.display(),
            ws.path().join("subscriptions/points.yaml").display()
        )]
    );
}

#[test]
fn the_url_a_header_and_the_filter_are_checked_where_the_subscription_file_writes_them() {
    let ws = workspace(
        "# points\ntopics: [Communication_EarnPurchasePoints]\nfilter: \"Pionts > 10\"\nrequest:\n  \
         url: \"http://127.0.0.1:9/c/{{ Customer.Idd }}\"\n  headers:\n    X-Email: \"{{ Customer.email }}\"\n",
    );
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1), "{lines:?}");
    let file = ws.path().join("subscriptions/points.yaml").display().to_string();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:5: request.url: Payload.Customer.Idd: topic Communication_EarnPurchasePoints has no field \
                 `Idd` in Payload.Customer (did you mean `Id`?)"
            ),
            format!(
                "{file}:7: request.headers.X-Email: Payload.Customer.email: topic Communication_EarnPurchasePoints \
                 has no field `email` in Payload.Customer (did you mean `Email`?)"
            ),
            format!(
                "{file}:3: filter: Payload.Pionts: topic Communication_EarnPurchasePoints has no field `Pionts` in \
                 Payload (did you mean `Points`?)"
            ),
        ]
    );
}

#[test]
fn correct_paths_loops_refs_and_all_of_pass() {
    let ws = workspace(
        "topics: [Communication_EarnPurchasePoints]\nrequest:\n  url: http://127.0.0.1:9/x\n  body_template: b.j2\n",
    );
    ws.template(
        "b.j2",
        "{% set items = Payload.Items %}{\"c\": {{ Customer.Id }}, \"e\": {{ Payload[\"Customer\"].Email }}, \
         \"l\": [{% for i in items %}{{ i.Sku }}{{ i.Qty }}{% endfor %}], \"t\": {{ Topic }}, \"u\": {{ event.Uuid }}}",
    );
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(0), "{lines:?}");
    // The same loop with an item field no branch has.
    ws.template("b.j2", "{% for i in Payload.Items %}{{ i.Price }}{% endfor %}");
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1));
    assert!(lines[0].contains("b.j2:1: i.Price (Payload.Items[].Price): topic Communication_EarnPurchasePoints has no field `Price` in Payload.Items[] (it has: Sku, Qty)"), "{lines:?}");
}

#[test]
fn a_subscription_taking_two_topics_needs_a_plain_read_in_both_and_a_guarded_one_in_either() {
    let ws = workspace(
        "topics: [\"Communication_*\"]\nrequest:\n  url: http://127.0.0.1:9/x\n  \
         body: {points: \"{{ Points }}\", code: \"{{ Coupon.Code | default('') }}\", id: \"{{ Customer.Id }}\", \
         typo: \"{{ Coupon.Cod | default('') }}\"}\n",
    );
    ws.topic("coupon.yaml", COUPON);
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(
            "request.body.points: Payload.Points: topic Communication_CouponGenerated has no field `Points` in Payload \
             (it has: Customer, Coupon); Communication_EarnPurchasePoints has it, but the template renders for every \
             topic the subscription takes"
        ),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("request.body.typo: Payload.Coupon.Cod: topic Communication_CouponGenerated has no field `Cod` in Payload.Coupon (did you mean `Code`?) (Communication_EarnPurchasePoints has no Payload.Coupon at all)"),
        "{lines:?}"
    );
}

#[test]
fn a_glob_topic_describes_the_family_with_each_named_topic() {
    let ws = workspace("topics: [\"Communication_Earn*\"]\nrequest:\n  url: \"http://127.0.0.1:9/{{ Customer.Id }}/{{ Points }}/{{ Store }}\"\n");
    ws.topic("family.yaml", "name: Communication_*\nschema: {type: object, properties: {Store: {type: string}}}\n");
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(0), "the glob adds Store, the named topic the rest: {lines:?}");
}

/// A topic the subscription names is checked against what describes it whether the catalog
/// names it or only a glob does, with another named topic beside it or not: one listed
/// beside a named topic was left out (a typo passed), and a guarded read of a field only
/// it has failed as if the named topic were the only one.
#[test]
fn a_named_topic_only_a_glob_describes_counts_beside_a_topic_the_catalog_names() {
    let family = "name: Communication_*\nschema: {type: object, properties: {Customer: {type: object}, Store: {type: string}}}\n";
    let ws = workspace(
        "topics: [Communication_EarnPurchasePoints, Communication_PointsExpired]\nrequest:\n  url: http://127.0.0.1:9/x\n  \
         body: {points: \"{{ Points }}\"}\n",
    );
    ws.topic("family.yaml", family);
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1), "Points is not a field of Communication_PointsExpired: {lines:?}");
    assert!(lines[0].contains("topic Communication_PointsExpired has no field `Points`"), "{lines:?}");

    let ws = workspace(
        "topics: [Communication_EarnPurchasePoints, Web_Visit]\nrequest:\n  url: http://127.0.0.1:9/x\n  \
         body: {page: \"{{ Page | default('') }}\", known: \"{{ Page is defined }}\"}\n",
    );
    ws.topic("web.yaml", "name: Web_*\nschema: {type: object, properties: {Page: {type: string}}}\n");
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(0), "a guarded read of a field one of the two has: {lines:?}");
}

#[test]
fn topics_without_a_schema_and_subscriptions_reaching_no_topic_are_not_checked() {
    let ws = Workspace::new();
    ws.topic("plain.yaml", "name: Plain\ndescription: no schema\n");
    ws.subscription("a.yaml", "topics: [Plain]\nrequest:\n  url: \"http://127.0.0.1:9/{{ Anything.At.All }}\"\n");
    ws.subscription("b.yaml", "topics: [Other]\nrequest:\n  url: \"http://127.0.0.1:9/{{ Whatever }}\"\n");
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(0), "{lines:?}");
}

#[test]
fn the_repositorys_own_catalog_catches_a_typo_in_its_own_templates() {
    let ws = Workspace::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["subscriptions", "templates", "sources", "topics"] {
        copy_dir(&root.join(dir), &ws.path().join(dir));
    }
    let out = on_workspace("validate", &ws);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let xml = ws.path().join("templates/erp/points.xml.j2");
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("Customer.Name"), "the test's premise: {text}");
    std::fs::write(&xml, text.replacen("Customer.Name", "Customer.Nmae", 1)).unwrap();
    let (code, lines) = validate(&ws);
    assert_eq!(code, Some(1), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("erp/points.xml.j2:")
            && l.contains("Payload.Customer.Nmae: topic Communication_EarnPurchasePoints has no field `Nmae`")
            && l.contains("did you mean `Name`?")),
        "{lines:?}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
