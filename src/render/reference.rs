//! The reference page of template filters and functions (docs/reference/template-functions.md)
//! checked against the code: every example on it renders to the output it documents, and
//! every filter and function hookshape offers has an entry.

use super::environment::{self, TemplateFiles, TEXT_PREFIX};
use super::syntax::Delimiters;

const PAGE: &str = include_str!("../../docs/reference/template-functions.md");

const PAYLOAD: &str = r#"{"Customer": {"Id": 42, "Name": "ana souza", "Email": "ana@example.com"},
 "Points": "9", "Score": 60, "Amount": 1234.50, "Price": 10.5, "Tags": ["vip", "new", "vip"],
 "Items": [{"Sku": "A", "Qty": 2}, {"Sku": "B", "Qty": 1}],
 "Created": "2025-04-15T14:30:00Z", "Document": "123.456.789-99"}"#;

/// Every name a template can call: minijinja's built-ins and hookshape's.
const NAMES: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
    "debug",
    "dict",
    "namespace",
    "range",
    "decimal",
    "format_number",
    "date",
    "parse_date",
    "date_add",
    "now",
    "digits",
    "sha256",
    "hmac_sha256",
    "base64",
    "jsonpath",
    "uuid",
    "abort",
];

/// `- `template` → `output`` or `- `template` → error: `text``.
fn examples() -> Vec<(&'static str, Result<String, String>)> {
    PAGE.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (template, want) = rest.split_once("` → ")?;
            let unquote = |s: &str| s.trim().trim_matches('`').replace("\\n", "\n");
            Some(match want.strip_prefix("error: ") {
                Some(error) => (template, Err(unquote(error))),
                None => (template, Ok(unquote(want))),
            })
        })
        .collect()
}

fn render(template: &str) -> Result<String, String> {
    let payload = crate::json::parse(PAYLOAD.as_bytes()).map_err(|e| e.to_string())?;
    let event = crate::event::Event {
        uuid: "u".into(),
        date: "2025-04-15T14:30:00Z".into(),
        topic: "T".into(),
        payload: payload.as_object().cloned().unwrap_or_default(),
        source_id: None,
    };
    let d = Delimiters::default();
    let mut env = environment::build(&d, TemplateFiles::default()).map_err(|e| e.to_string())?;
    let source = super::source::prepare(template, &d)?;
    let name = format!("{TEXT_PREFIX}example");
    env.add_template_owned(name.clone(), source).map_err(|e| super::describe(&e))?;
    environment::render_guarded(&env, &name, &super::context(&event))
}

#[test]
fn every_example_on_the_reference_page_renders_as_documented() {
    let examples = examples();
    assert!(examples.len() > 80, "the page's examples were not found: {}", examples.len());
    let mut wrong = Vec::new();
    for (template, want) in examples {
        let got = render(template);
        let ok = match (&want, &got) {
            (Ok(w), Ok(g)) => w == g,
            (Err(w), Err(g)) => g.contains(w.as_str()),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{template}\n  documented: {want:?}\n  got:        {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_filter_and_function_has_an_entry() {
    let missing: Vec<&&str> = NAMES
        .iter()
        .filter(|name| !PAGE.contains(&format!("### `{name}`")) && !PAGE.contains(&format!("### `{name}(")))
        .collect();
    assert!(missing.is_empty(), "not on the reference page: {missing:?}");
}
