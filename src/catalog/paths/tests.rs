//! Which paths a schema allows, and what it says of the ones it does not.

use serde_json::json;

use super::{check, nearest};
use crate::render::variables::Segment;

/// `Customer.Id`, `Items[].Sku` as segments.
fn path(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in text.split('.') {
        let (key, items) = match part.find("[]") {
            Some(at) => (&part[..at], part[at..].matches("[]").count()),
            None => (part, 0),
        };
        out.push(Segment::Key(key.to_string()));
        out.extend(std::iter::repeat_n(Segment::Item, items));
    }
    out
}

fn allowed(schema: &serde_json::Value, text: &str) -> bool {
    check(schema, &path(text)).is_ok()
}

fn customer() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["Customer", "Points"],
        "properties": {
            "Customer": {"type": "object", "properties": {"Id": {"type": "string"}, "Email": {"type": "string"}}},
            "Points": {"type": "integer"},
            "Items": {"type": "array", "items": {"type": "object", "properties": {"Sku": {"type": "string"}}}},
            "Meta": {"type": "object"},
            "Pair": {"type": "array", "prefixItems": [{"properties": {"A": {}}}, {"properties": {"B": {}}}], "items": false}
        }
    })
}

#[test]
fn properties_items_and_open_objects() {
    let s = customer();
    for ok in [
        "Customer",
        "Customer.Id",
        "Points",
        "Items",
        "Items[]",
        "Items[].Sku",
        "Meta.Anything.Below",
        "Pair[].A",
        "Pair[].B",
    ] {
        assert!(allowed(&s, ok), "{ok}");
    }
    for bad in ["Custmer.Id", "Customer.Phone", "Items[].Price", "Points.Value", "Customer.Id.X", "Pair[].C"] {
        assert!(!allowed(&s, bad), "{bad}");
    }
    assert!(allowed(&json!({}), "Any.Thing[].At.All"));
    assert!(allowed(&json!(true), "Any"));
    assert!(allowed(&json!({"type": "object"}), "Any.Thing"));
}

#[test]
fn a_miss_names_the_segment_the_names_there_and_the_nearest() {
    let miss = check(&customer(), &path("Custmer.Id")).unwrap_err();
    assert_eq!(miss.at, 0);
    assert_eq!(miss.suggestion.as_deref(), Some("Customer"));
    assert_eq!(miss.names, ["Customer", "Points", "Items", "Meta", "Pair"]);
    let miss = check(&customer(), &path("Customer.Phone")).unwrap_err();
    assert_eq!((miss.at, miss.suggestion), (1, None));
    let miss = check(&customer(), &path("Points.Value")).unwrap_err();
    assert_eq!((miss.at, miss.not_object.as_deref()), (1, Some("integer")));
    let miss = check(&customer(), &path("Items[].sku")).unwrap_err();
    assert_eq!((miss.at, miss.suggestion.as_deref()), (2, Some("Sku")));
}

#[test]
fn additional_and_pattern_properties_let_names_in() {
    let s = json!({
        "properties": {"Id": {}},
        "patternProperties": {"^x-": {"properties": {"V": {}}}},
        "additionalProperties": false
    });
    assert!(allowed(&s, "Id") && allowed(&s, "x-trace.V"));
    assert!(!allowed(&s, "x-trace.W") && !allowed(&s, "Other"));
    let open = json!({"properties": {"Id": {}}, "additionalProperties": {"type": "object", "properties": {"N": {}}}});
    assert!(allowed(&open, "Anything.N") && !allowed(&open, "Anything.M"));
    assert!(allowed(&json!({"properties": {"Id": {}}, "additionalProperties": true}), "Other.Deep"));
}

#[test]
fn refs_and_combinators_are_followed_and_any_branch_allows() {
    let s = json!({
        "$defs": {"Customer": {"type": "object", "properties": {"Id": {}, "Email": {}}}},
        "type": "object",
        "allOf": [
            {"properties": {"Customer": {"$ref": "#/$defs/Customer"}}},
            {"properties": {"Points": {"type": "integer"}}}
        ],
        "properties": {
            "Reward": {"oneOf": [{"properties": {"Voucher": {}}}, {"properties": {"Cash": {}}}]},
            "Node": {"$ref": "#"}
        }
    });
    for ok in ["Customer.Id", "Points", "Reward.Voucher", "Reward.Cash", "Node.Node.Customer.Email"] {
        assert!(allowed(&s, ok), "{ok}");
    }
    let miss = check(&s, &path("Customer.Emial")).unwrap_err();
    assert_eq!((miss.at, miss.suggestion.as_deref()), (1, Some("Email")));
    let miss = check(&s, &path("Reward.Cahs")).unwrap_err();
    assert_eq!(miss.names, ["Voucher", "Cash"]);
    assert!(!allowed(&s, "Pionts"));
    // What cannot be followed allows.
    assert!(allowed(&json!({"properties": {"A": {"$ref": "https://example.com/a.json"}}}), "A.B"));
    assert!(allowed(&json!({"patternProperties": {"(?<=x)y": {}}}), "Whatever"));
}

#[test]
fn nearest_prefers_a_case_difference_then_the_closest_within_a_third() {
    let names: Vec<String> = ["Customer", "Points", "Email"].map(String::from).to_vec();
    assert_eq!(nearest("customer", &names).as_deref(), Some("Customer"));
    assert_eq!(nearest("Pionts", &names).as_deref(), Some("Points"));
    assert_eq!(nearest("Phone", &names), None);
    assert_eq!(nearest("Emial", &names).as_deref(), Some("Email"));
}
