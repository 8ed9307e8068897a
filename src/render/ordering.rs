//! minijinja's comparison tests (`Points is ge(50)`, `select("eq", 9)`, `is in([9])`)
//! and the filters that order values (`max`, `min`, `sort`), with the refusal the
//! comparison operators have (`super::compare`): a string is never set against a number.
//! The built-ins order them by kind (`["9", 50] | max` is quietly `"9"`).

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::compare::{check, numeric, shown};

/// Each test name minijinja registers for a comparison, with the operator it stands for.
const TESTS: [(&str, &str); 16] = [
    ("eq", "=="),
    ("equalto", "=="),
    ("==", "=="),
    ("ne", "!="),
    ("!=", "!="),
    ("lt", "<"),
    ("lessthan", "<"),
    ("<", "<"),
    ("le", "<="),
    ("<=", "<="),
    ("gt", ">"),
    ("greaterthan", ">"),
    (">", ">"),
    ("ge", ">="),
    (">=", ">="),
    ("in", "in"),
];

pub fn register(env: &mut Environment<'static>) {
    for (name, op) in TESTS {
        env.add_test(name, move |state: &State, value: Value, other: Value| {
            // A test has no source text to show: each side is named by its value.
            check(state, op, (&shown(&value), &value), (&shown(&other), &other))
        });
    }
    env.add_filter("max", max);
    env.add_filter("min", min);
    env.add_filter("sort", sort);
}

fn max(state: &State, value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    refuse_mixed(&value, &kwargs, "max")?;
    minijinja::filters::max(state, value, kwargs)
}

fn min(state: &State, value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    refuse_mixed(&value, &kwargs, "min")?;
    minijinja::filters::min(state, value, kwargs)
}

fn sort(state: &State, value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    refuse_mixed(&value, &kwargs, "sort")?;
    minijinja::filters::sort(state, value, kwargs)
}

/// `item`'s value at a dotted `attribute` path (`"1.name"` indexes a list, then a map).
fn at_path(item: &Value, path: &str) -> Value {
    path.split('.')
        .try_fold(item.clone(), |value, segment| match segment.parse::<usize>() {
            Ok(index) if value.kind() == ValueKind::Seq => value.get_item(&Value::from(index)).ok(),
            _ => value.get_attr(segment).ok(),
        })
        .unwrap_or(Value::UNDEFINED)
}

/// The first string, number and boolean among the keys of one slot.
#[derive(Clone, Default)]
struct Seen {
    text: Option<Value>,
    number: Option<Value>,
    boolean: Option<Value>,
    null: Option<Value>,
}

/// An error when the keys `filter` would order hold both a string and a number, a boolean
/// and a number (minijinja orders `true` as 1), or a null beside numbers or strings.
fn refuse_mixed(value: &Value, kwargs: &Kwargs, filter: &str) -> Result<(), Error> {
    // Not a list: the built-in says so in its own words.
    let Ok(items) = value.try_iter() else { return Ok(()) };
    let attribute: Option<&str> = kwargs.peek("attribute")?;
    let paths: Vec<&str> =
        attribute.map_or(vec![], |a| a.split(',').map(str::trim).filter(|p| !p.is_empty()).collect());
    let mut first: Vec<Seen> = vec![Seen::default(); paths.len().max(1)];
    for item in items {
        for (slot, seen) in first.iter_mut().enumerate() {
            let key = numeric(paths.get(slot).map_or(item.clone(), |p| at_path(&item, p)));
            match key.kind() {
                ValueKind::String => seen.text = seen.text.take().or(Some(key)),
                ValueKind::Number => seen.number = seen.number.take().or(Some(key)),
                ValueKind::Bool => seen.boolean = seen.boolean.take().or(Some(key)),
                ValueKind::None => seen.null = seen.null.take().or(Some(key)),
                _ => {}
            }
            let other = match (&seen.number, &seen.text, &seen.boolean, &seen.null) {
                (Some(number), Some(text), _, _) => Some((text, "a string", number, "a number")),
                (Some(number), None, Some(boolean), _) => Some((boolean, "a boolean", number, "a number")),
                (Some(value), _, _, Some(null)) | (None, Some(value), _, Some(null)) => Some((
                    null,
                    "no value",
                    value,
                    if value.kind() == ValueKind::Number { "a number" } else { "a string" },
                )),
                _ => None,
            };
            if let Some((other, kind, value, value_kind)) = other {
                let by = paths.get(slot).map(|p| format!(" by {p}")).unwrap_or_default();
                let advice = match other.is_none() {
                    true => "leave the nulls out first: `| reject('none')`",
                    false => "convert explicitly: `| map('int')`, `| map('float')` or `| map('decimal')`",
                };
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "cannot compare {} ({kind}) with {} ({value_kind}) in | {filter}{by}; {advice}",
                        shown(other),
                        shown(value)
                    ),
                ));
            }
        }
    }
    Ok(())
}
