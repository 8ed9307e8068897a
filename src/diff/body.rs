//! Two request bodies compared by JSON path: `Customer.Id: "C-1" → (removed)`. A body that
//! is not JSON (form, text, XML) is compared whole, as one value at the path `(body)`.

use serde_json::Value;

/// One value that differs; None on a side where the path is absent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PathChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The paths whose values differ, in the order the bodies hold them.
pub fn changes(before: Option<&str>, after: Option<&str>) -> Vec<PathChange> {
    if before == after {
        return Vec::new();
    }
    let parse = |b: Option<&str>| b.map(|t| crate::json::parse_rendered(t).ok());
    match (parse(before), parse(after)) {
        (Some(Some(a)), Some(Some(b))) => {
            let mut out = Vec::new();
            walk(&a, &b, "", &mut out);
            out
        }
        _ => vec![PathChange {
            path: "(body)".into(),
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        }],
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(a: &Value, b: &Value, path: &str, out: &mut Vec<PathChange>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => walk(va, vb, &join(path, k), out),
                    None => out.push(PathChange { path: join(path, k), before: Some(va.to_string()), after: None }),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(PathChange { path: join(path, k), before: None, after: Some(vb.to_string()) });
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let at = format!("{path}[{i}]");
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => walk(va, vb, &at, out),
                    (va, vb) => out.push(PathChange {
                        path: at,
                        before: va.map(Value::to_string),
                        after: vb.map(Value::to_string),
                    }),
                }
            }
        }
        _ if a == b => {}
        _ => out.push(PathChange {
            path: if path.is_empty() { "(body)".into() } else { path.to_string() },
            before: Some(a.to_string()),
            after: Some(b.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(c: &[PathChange]) -> Vec<String> {
        c.iter()
            .map(|c| {
                let side = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
                format!("{}: {} → {}", c.path, side(&c.before), side(&c.after))
            })
            .collect()
    }

    #[test]
    fn json_bodies_differ_by_path() {
        let a = r#"{"Customer":{"Id":"C-1","Name":"Ana"},"Points":[1,2],"Same":1.50}"#;
        let b = r#"{"Customer":{"Name":"Ana","Code":"C-1"},"Points":[1,3,4],"Same":1.50}"#;
        assert_eq!(
            shown(&changes(Some(a), Some(b))),
            [
                r#"Customer.Id: "C-1" → (none)"#,
                r#"Customer.Code: (none) → "C-1""#,
                "Points[1]: 2 → 3",
                "Points[2]: (none) → 4",
            ]
        );
    }

    #[test]
    fn the_same_json_spelt_otherwise_is_no_change_and_text_is_compared_whole() {
        assert!(changes(Some(r#"{"a": 1}"#), Some(r#"{"a":1}"#)).is_empty());
        assert_eq!(shown(&changes(Some("a=1"), Some("a=2"))), ["(body): a=1 → a=2"]);
        assert_eq!(shown(&changes(None, Some("{}"))), ["(body): (none) → {}"]);
    }
}
