//! Comparisons without silent coercion. minijinja orders a string and a number by their
//! kinds (`"9" >= 50` is quietly true), so every comparison in a template is rewritten,
//! before it compiles, into a call that refuses a string against a number and names both:
//! `Points >= 50` → `__hookshape_cmp(Points, ">=", 50, "Points\u{1}50")`. A chain
//! (`0 < Points < 50`) becomes one call with every operand and operator, and `in` /
//! `not in` are rewritten the same way (`Points in [9, 10]` compares with each item).
//! The same check serves the tests and filters that compare (`super::ordering`).

use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::values::NumberText;

const CMP: &str = "__hookshape_cmp";
/// Between the operands' source texts in the call's last argument.
const SEPARATOR: char = '\u{1}';
const OPERATORS: [&str; 6] = ["==", "!=", "<=", ">=", "<", ">"];
const NOT_IN: &str = "not in";

pub fn register(env: &mut Environment<'static>) {
    env.add_function(CMP, compare);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Open,
    Close,
    Op,
    /// A word that ends an operand (`and`, `if`, `,`, `=` …).
    Stop,
    /// Part of an operand.
    Part,
}

/// What the words before the current one say about an `in`.
#[derive(Default)]
struct Words<'a> {
    previous: &'a str,
    before_previous: &'a str,
    /// `{% for x in … %}` before its own `in`: that `in` is the loop's, not a test.
    for_target: bool,
}

impl Words<'_> {
    /// `in` is the loop's (a stop), a test name after `is` / `is not` (part), or an operator.
    fn kind_of_in(&mut self) -> Tok {
        if self.previous == "is" || (self.previous == "not" && self.before_previous == "is") {
            Tok::Part
        } else if self.for_target {
            self.for_target = false;
            Tok::Stop
        } else {
            Tok::Op
        }
    }
}

/// The region's tokens as (start, end, kind); strings are single `Part`s.
fn tokens(region: &str) -> Vec<(usize, usize, Tok)> {
    let bytes = region.as_bytes();
    let mut out: Vec<(usize, usize, Tok)> = Vec::new();
    let mut words = Words::default();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'"' || b == b'\'' {
            i = super::syntax::string_end(bytes, i, b);
            Tok::Part
        } else if super::syntax::is_name_start(b) {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &region[start..i];
            let kind = match word {
                "for" if out.is_empty() => {
                    words.for_target = true;
                    Tok::Stop
                }
                // `is not none` and `not in` keep `not` inside the operand.
                "not" if words.previous == "is" => Tok::Part,
                "in" => words.kind_of_in(),
                "and" | "or" | "not" | "if" | "elif" | "else" | "recursive" | "for" | "set" | "with" | "print" => {
                    Tok::Stop
                }
                _ => Tok::Part,
            };
            // `a not in b`: one operator from `not` to `in`.
            let not_in = kind == Tok::Op && words.previous == "not";
            let start = match not_in {
                true => out.pop().map_or(start, |(s, _, _)| s),
                false => start,
            };
            (words.before_previous, words.previous) = (words.previous, word);
            out.push((start, i, kind));
            continue;
        } else if let Some(op) = OPERATORS.iter().find(|op| bytes[i..].starts_with(op.as_bytes())) {
            i += op.len();
            Tok::Op
        } else {
            i += 1;
            match b {
                b'(' | b'[' | b'{' => Tok::Open,
                b')' | b']' | b'}' => Tok::Close,
                b',' | b':' | b'=' => Tok::Stop,
                _ => Tok::Part,
            }
        };
        (words.before_previous, words.previous) = (words.previous, "");
        out.push((start, i, kind));
    }
    out
}

/// The token index where the operand left of `op` starts, and whether an operator ends
/// it there (then `op` continues a chain that started further left).
fn left_start(toks: &[(usize, usize, Tok)], op: usize) -> (usize, bool) {
    let mut depth = 0i32;
    let mut i = op;
    while i > 0 {
        match toks[i - 1].2 {
            Tok::Close => depth += 1,
            Tok::Open if depth == 0 => break,
            Tok::Open => depth -= 1,
            Tok::Op if depth == 0 => return (i, true),
            Tok::Stop if depth == 0 => break,
            _ => {}
        }
        i -= 1;
    }
    (i, false)
}

/// The token index just past the operand right of `op` (an operator there continues the chain).
fn right_end(toks: &[(usize, usize, Tok)], op: usize) -> usize {
    let mut depth = 0i32;
    let mut i = op + 1;
    while i < toks.len() {
        match toks[i].2 {
            Tok::Open => depth += 1,
            Tok::Close if depth == 0 => break,
            Tok::Close => depth -= 1,
            Tok::Op | Tok::Stop if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    i
}

/// A string literal minijinja reads back as `text`.
fn literal(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `text` (a line of a rewritten template, for a message) with each checked call written
/// back as the comparison the user wrote: `__hookshape_cmp(A | f , ">=",  100, "A | f\u{1}100")`
/// is `A | f >= 100` again.
pub(super) fn unrewrite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(CMP) {
        out.push_str(&rest[..at]);
        let after = &rest[at + CMP.len()..];
        match after.strip_prefix('(').and_then(call_args) {
            Some((args, end)) if written_back(&args).is_some() => {
                out.push_str(&written_back(&args).unwrap_or_default());
                rest = &after[1 + end..];
            }
            _ => {
                out.push_str(CMP);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The top-level arguments of a call whose `(` came just before `text`, and where its `)`
/// ends (an index into `text`, past it); None if it does not end.
fn call_args(text: &str) -> Option<(Vec<&str>, usize)> {
    let bytes = text.as_bytes();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    let mut args = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                i = super::syntax::string_end(bytes, i, bytes[i]);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' if depth == 0 => {
                args.push(text[start..i].trim());
                return Some((args, i + 1));
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                args.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `a op b op c` from a checked call's arguments (`a, "op", b, "op", c, "sources"`): the
/// operands as written (the sources literal), the operators between them.
fn written_back(args: &[&str]) -> Option<String> {
    let unquote = |s: &str| -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
    };
    let (sources, call) = args.split_last()?;
    let sources = unquote(sources)?;
    let operands: Vec<&str> = sources.split(SEPARATOR).collect();
    let operators: Vec<String> = call.iter().skip(1).step_by(2).map(|op| unquote(op)).collect::<Option<_>>()?;
    if operands.len() != operators.len() + 1 || call.len() != operands.len() + operators.len() {
        return None;
    }
    let mut out = operands[0].to_string();
    for (op, operand) in operators.iter().zip(&operands[1..]) {
        out.push_str(&format!(" {op} {operand}"));
    }
    Some(out)
}

/// One `{{ … }}` or `{% … %}` region with its comparisons turned into checked calls.
pub fn rewrite(region: &str) -> String {
    // Whitespace control (`{{-`, `-%}`) is a sign right at the delimiter, not an operand.
    let control = |c: char| c == '-' || c == '+';
    let head = usize::from(region.starts_with(control));
    let tail = match region.len() > head && region.ends_with(control) {
        true => region.len() - 1,
        false => region.len(),
    };
    format!("{}{}{}", &region[..head], rewrite_inner(&region[head..tail]), &region[tail..])
}

/// (offset, order, text, end of the text replaced): at one offset, closing parentheses
/// (inner first) go before openings (outer first).
type Edit = (usize, i64, String, usize);

/// The edits that turn the chain whose first operator is token `first` into one call, or
/// `None` when an operand is empty (not a comparison minijinja would compile).
fn chain_edits(region: &str, toks: &[(usize, usize, Tok)], l: usize, first: usize) -> Option<Vec<Edit>> {
    let mut ops = vec![first];
    let mut r = right_end(toks, first);
    while r < toks.len() && toks[r].2 == Tok::Op {
        (r > ops[ops.len() - 1] + 1).then_some(())?;
        ops.push(r);
        r = right_end(toks, r);
    }
    (l < first && r > ops[ops.len() - 1] + 1).then_some(())?;
    let (start, end) = (toks[l].0, toks[r - 1].1);
    let span = (end - start) as i64;
    let mut edits = vec![(start, i64::MAX / 2 - span, format!("{CMP}("), start)];
    let mut sources = Vec::with_capacity(ops.len() + 1);
    let mut from = start;
    for &op in &ops {
        let (op_start, op_end, _) = toks[op];
        sources.push(region[from..op_start].trim());
        let operator = &region[op_start..op_end];
        let operator = if operator.starts_with("not") { NOT_IN } else { operator };
        edits.push((op_start, 0, format!(", {}, ", literal(operator)), op_end));
        from = op_end;
    }
    sources.push(region[from..end].trim());
    let sources = sources.join(&SEPARATOR.to_string());
    edits.push((end, span - i64::MAX / 2, format!(", {})", literal(&sources)), end));
    Some(edits)
}

fn rewrite_inner(region: &str) -> String {
    let toks = tokens(region);
    let mut edits: Vec<Edit> = Vec::new();
    for (op, &(_, _, kind)) in toks.iter().enumerate() {
        if kind != Tok::Op {
            continue;
        }
        let (l, continues) = left_start(&toks, op);
        if continues {
            continue;
        }
        let Some(chain) = chain_edits(region, &toks, l, op) else { return region.to_string() };
        edits.extend(chain);
    }
    edits.sort_by_key(|(at, order, _, _)| (*at, *order));
    let mut out = String::with_capacity(region.len() + edits.len() * 16);
    let mut at = 0;
    for (offset, _, text, replaced_end) in edits {
        if offset > at {
            out.push_str(&region[at..offset]);
            at = offset;
        }
        out.push_str(&text);
        at = at.max(replaced_end);
    }
    out.push_str(&region[at..]);
    out
}

fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::String => "a string",
        ValueKind::Number => "a number",
        ValueKind::Bool => "a boolean",
        ValueKind::Seq => "a list",
        ValueKind::Map => "a map",
        ValueKind::None => "no value",
        _ => "a value",
    }
}

pub(super) fn shown(value: &Value) -> String {
    match value.as_str() {
        Some(s) => format!("{s:?}"),
        // As the event's JSON writes it, not minijinja's `True` and `None`.
        None if value.kind() == ValueKind::Bool => value.is_true().to_string(),
        None if value.is_none() => "null".to_string(),
        None => value.to_string(),
    }
}

/// A number for comparing: plain numbers as they are, `| decimal` values by their digits.
pub(super) fn numeric(value: Value) -> Value {
    match value.downcast_object_ref::<NumberText>() {
        Some(text) => text.0.parse::<f64>().map(Value::from).unwrap_or(value),
        None => value,
    }
}

/// A string set against a number: minijinja would answer by kind (`"9" >= 50` is true),
/// never what the data says. Refused whatever the operator.
fn is_mixed(a: &Value, b: &Value) -> bool {
    let kinds = (a.kind(), b.kind());
    kinds == (ValueKind::String, ValueKind::Number) || kinds == (ValueKind::Number, ValueKind::String)
}

/// A boolean set against a number: minijinja takes `true` for 1. Ordered (`true >= 1`) it
/// is refused; for equality it is answered as JSON means it, two kinds never equal
/// (`Discount != false` stays a test a platform sending `false` for "none" relies on).
fn bool_and_number(a: &Value, b: &Value) -> bool {
    use ValueKind::{Bool, Number};
    matches!((a.kind(), b.kind()), (Bool, Number) | (Number, Bool))
}

/// Equal as JSON means it, at any depth: a boolean and a number are never equal (minijinja
/// takes `true` for 1, so `[Active] == [1]` would be true), lists item by item, maps key by key.
fn json_equal(a: &Value, b: &Value) -> bool {
    use ValueKind::{Map, Seq};
    let (a, b) = (numeric(a.clone()), numeric(b.clone()));
    match (a.kind(), b.kind()) {
        _ if bool_and_number(&a, &b) => false,
        (Seq, Seq) => match (a.try_iter(), b.try_iter()) {
            (Ok(xs), Ok(ys)) => a.len() == b.len() && xs.zip(ys).all(|(x, y)| json_equal(&x, &y)),
            _ => false,
        },
        (Map, Map) => {
            a.len() == b.len()
                && a.try_iter().is_ok_and(|mut keys| {
                    keys.all(|key| {
                        let (x, y) = (a.get_item(&key), b.get_item(&key));
                        matches!((x, y), (Ok(x), Ok(y)) if !y.is_undefined() && json_equal(&x, &y))
                    })
                })
        }
        _ => a == b,
    }
}

fn is_nan(value: &Value) -> bool {
    value.kind() == ValueKind::Number && f64::try_from(value.clone()).is_ok_and(f64::is_nan)
}

/// The first pair that ordering `a` against `b` would have to order by kind rather than by
/// value: numbers with numbers (NaN has no order), strings with strings, booleans with
/// booleans, lists item by item. minijinja orders the rest by kind (`null < 100` is quietly
/// true), so a filter such as `Points | default(0) < 100` let a `"Points": null` through.
fn unorderable(a: &Value, b: &Value) -> Option<(Value, Value)> {
    use ValueKind::{Bool, Number, Seq, String, Undefined};
    let (a, b) = (numeric(a.clone()), numeric(b.clone()));
    match (a.kind(), b.kind()) {
        (Number, Number) => (is_nan(&a) || is_nan(&b)).then_some((a, b)),
        (String, String) | (Bool, Bool) => None,
        (Seq, Seq) => a.try_iter().ok()?.zip(b.try_iter().ok()?).find_map(|(x, y)| unorderable(&x, &y)),
        // Strict templates refused it before; a lenient one keeps minijinja's answer.
        (Undefined, _) | (_, Undefined) => None,
        _ => Some((a, b)),
    }
}

/// The first string and number that comparing `a` with `b` would set against each other:
/// the values themselves, or items at the same place in two lists or two maps
/// (`[Points] == [9]`, `(Points, 1) >= (50, 1)`).
fn mixed_pair(a: &Value, b: &Value) -> Option<(Value, Value)> {
    let (a, b) = (numeric(a.clone()), numeric(b.clone()));
    if is_mixed(&a, &b) {
        return Some((a, b));
    }
    match (a.kind(), b.kind()) {
        (ValueKind::Seq, ValueKind::Seq) => {
            a.try_iter().ok()?.zip(b.try_iter().ok()?).find_map(|(x, y)| mixed_pair(&x, &y))
        }
        (ValueKind::Map, ValueKind::Map) => a.try_iter().ok()?.find_map(|key| {
            let (x, y) = (a.get_item(&key).ok()?, b.get_item(&key).ok()?);
            (!x.is_undefined() && !y.is_undefined()).then(|| mixed_pair(&x, &y)).flatten()
        }),
        _ => None,
    }
}

/// The render error for comparing `a` (written `left`) with `b` (written `right`) by `op`,
/// where `pair` is the string and the number that met; `within` says where `b` was found
/// (` in [9, 10]` for an item of a list).
fn refusal(
    op: &str,
    within: &str,
    (left, a): (&str, &Value),
    (right, b): (&str, &Value),
    pair: &(Value, Value),
) -> Error {
    // A literal is named once: `50 (a number)`, `null (no value)` for a written `none`.
    let name = |text: &str, v: &Value| match text == shown(v) || (v.is_none() && text == "none") {
        true => format!("{} ({})", shown(v), kind_name(v)),
        false => format!("{text} = {} ({})", shown(v), kind_name(v)),
    };
    let (a, b) = (numeric(a.clone()), numeric(b.clone()));
    let same = |x: &Value, y: &Value| x.kind() == y.kind() && shown(x) == shown(y);
    let inner = match same(&a, &pair.0) && same(&b, &pair.1) {
        true => String::new(),
        false => format!(" ({} against {})", name(&shown(&pair.0), &pair.0), name(&shown(&pair.1), &pair.1)),
    };
    let advice = if pair.0.is_none() || pair.1.is_none() {
        "a null has no order: test it first (`is none`) or replace it (`| default(0, true)`)"
    } else if is_nan(&pair.0) || is_nan(&pair.1) {
        "NaN has no order: test it first (`x != x` is true only for NaN)"
    } else {
        "convert explicitly: `| int`, `| float` or `| decimal`"
    };
    Error::new(
        ErrorKind::InvalidOperation,
        format!("cannot compare {} with {}{within} using {op}{inner}; {advice}", name(left, &a), name(right, &b)),
    )
}

/// `a op b` with a string never set against a number; `in` and `not in` look at each item
/// of a list (or key of a map) that `b` is.
pub(super) fn check(
    state: &State,
    op: &str,
    (left, a): (&str, &Value),
    (right, b): (&str, &Value),
) -> Result<bool, Error> {
    if op == "in" || op == NOT_IN {
        return contains(state, op, (left, a), (right, b));
    }
    if let Some(pair) = mixed_pair(a, b) {
        return Err(refusal(op, "", (left, a), (right, b), &pair));
    }
    match op {
        "==" => return Ok(json_equal(a, b)),
        "!=" => return Ok(!json_equal(a, b)),
        _ => {}
    }
    if let Some(pair) = unorderable(a, b) {
        return Err(refusal(op, "", (left, a), (right, b), &pair));
    }
    let (a, b) = (numeric(a.clone()), numeric(b.clone()));
    Ok(match op {
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    })
}

/// `needle in haystack` (or `not in`): minijinja's answer; a miss, after each item that was
/// compared with the needle is checked for a string against a number.
fn contains(
    state: &State,
    op: &str,
    (left, needle): (&str, &Value),
    (right, haystack): (&str, &Value),
) -> Result<bool, Error> {
    let needle = numeric(needle.clone());
    // `9 in "19"` would look for the number's digits in the text.
    if is_mixed(&needle, haystack) {
        return Err(refusal(op, "", (left, &needle), (right, haystack), &(needle.clone(), haystack.clone())));
    }
    if matches!(haystack.kind(), ValueKind::Number | ValueKind::Bool | ValueKind::None | ValueKind::Bytes) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot look for a value in {right} ({})", kind_name(haystack)),
        ));
    }
    // `1 in [true]` is found by minijinja, `true` being 1 to it: a list is looked through
    // with equality as JSON means it.
    if haystack.kind() == ValueKind::Seq {
        if haystack.try_iter()?.any(|item| json_equal(&needle, &item)) {
            return Ok(op != NOT_IN);
        }
    } else if minijinja::tests::is_in(state, &needle, haystack)? {
        // Found, the answer is right whatever else the haystack holds; a map's lookup and a
        // list's early exit stay as they were.
        return Ok(op != NOT_IN);
    }
    // Only a miss may hide a string set against a number.
    if matches!(haystack.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable) {
        for item in haystack.try_iter()? {
            if let Some(pair) = mixed_pair(&needle, &item) {
                return Err(refusal(op, &format!(" in {right}"), (left, &needle), (&shown(&item), &item), &pair));
            }
        }
    }
    Ok(op == NOT_IN)
}

/// `__hookshape_cmp(a, op, b, "a's source\u{1}b's source")`, or a whole chain:
/// `__hookshape_cmp(a, op, b, op, c, "…")` is `a op b and b op c`, in that order.
fn compare(state: &State, args: Rest<Value>) -> Result<bool, Error> {
    let mut args = args.0;
    let sources = args.pop().unwrap_or_default();
    let texts: Vec<&str> = sources.as_str().unwrap_or_default().split(SEPARATOR).collect();
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("{CMP}: operands and operators do not pair up")));
    }
    let strict = super::undefined::refused(state);
    let text = |i: usize| texts.get(i / 2).copied().unwrap_or_default();
    for i in (1..args.len()).step_by(2) {
        let (a, b, op) = (&args[i - 1], &args[i + 1], args[i].as_str().unwrap_or_default());
        for (value, at) in [(a, i - 1), (b, i + 1)] {
            if strict && value.is_undefined() {
                return Err(Error::new(ErrorKind::UndefinedError, super::undefined::explain(text(at), state)));
            }
        }
        if !check(state, op, (text(i - 1), a), (text(i + 1), b))? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_become_checked_calls_and_the_rest_stays() {
        let cases = [
            (" Points >= 50 ", r#" __hookshape_cmp(Points , ">=",  50, "Points|50") "#),
            (" if (Points | int) >= 50 ", r#" if __hookshape_cmp((Points | int) , ">=",  50, "(Points | int)|50") "#),
            (" a == 'x' and b ", r#" __hookshape_cmp(a , "==",  'x', "a|'x'") and b "#),
            (" f(a < 1) ", r#" f(__hookshape_cmp(a , "<",  1, "a|1")) "#),
            (" a < b < c ", r#" __hookshape_cmp(a , "<",  b , "<",  c, "a|b|c") "#),
            (
                " x > 1 and 0 < y < 5 ",
                r#" __hookshape_cmp(x , ">",  1, "x|1") and __hookshape_cmp(0 , "<",  y , "<",  5, "0|y|5") "#,
            ),
            (" a in [1, 2] ", r#" __hookshape_cmp(a , "in",  [1, 2], "a|[1, 2]") "#),
            (" a not in b ", r#" __hookshape_cmp(a , "not in",  b, "a|b") "#),
            (" a is in([1]) ", " a is in([1]) "),
            (" a is not in([1]) ", " a is not in([1]) "),
            ("for x in items if x in y", r#"for x in items if __hookshape_cmp(x , "in",  y, "x|y")"#),
            (" a == ", " a == "),
            (" x is not none ", " x is not none "),
            (" Customer.Name ", " Customer.Name "),
            ("- a > 1 -", r#"- __hookshape_cmp(a , ">",  1, "a|1") -"#),
        ];
        for (region, want) in cases {
            assert_eq!(rewrite(region).replace(SEPARATOR, "|"), want, "{region}");
        }
    }

    fn render(template: &str, payload: serde_json::Value) -> Result<String, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        super::super::functions::register(&mut env);
        let source = super::super::source::prepare(template, &Default::default())?;
        let ctx = super::super::values::from_json(&payload, &mut Default::default());
        // minijinja prints booleans as Python does (`True`).
        env.render_str(&source, ctx).map(|s| s.to_lowercase()).map_err(|e| e.detail().unwrap_or_default().to_string())
    }

    #[test]
    fn a_rewritten_line_reads_as_written_in_messages() {
        for written in [
            "Points | nope >= 100",
            "0 < Points < 50 and Tier in ['gold', \"a,b\"]",
            "{{ f(Points, 2) == 3 }} x",
            "(A == B) != (C > \"q\\\"x\")",
            "no comparison at all",
        ] {
            assert_eq!(unrewrite(&rewrite(written)), written, "{}", rewrite(written));
        }
        assert_eq!(unrewrite("__hookshape_cmp(broken"), "__hookshape_cmp(broken");
    }

    #[test]
    fn a_string_against_a_number_is_refused_however_it_is_compared() {
        let payload = serde_json::json!({"Points": "9", "Items": [{"n": 1}, {"n": "2"}], "Active": true, "N": null});
        let cases = [
            ("{{ Points >= 50 }}", "Points = \"9\" (a string) with 50 (a number) using >="),
            ("{{ Points is ge(50) }}", "\"9\" (a string) with 50 (a number) using >="),
            ("{{ Points is gt(5) }}", "using >"),
            ("{{ Points is eq(9) }}", "using =="),
            ("{{ Points is equalto 9 }}", "using =="),
            ("{{ Points is lessthan(9) }}", "using <"),
            ("{{ [Points] | select('==', 9) | list }}", "using =="),
            ("{{ Points in [9, 10] }}", "Points = \"9\" (a string) with 9 (a number) in [9, 10] using in"),
            ("{{ Points not in [9, 10] }}", "using not in"),
            ("{{ Points is in([9]) }}", "\"9\" (a string) with 9 (a number) in [9] using in"),
            ("{{ 0 < Points < 50 }}", "0 (a number) with Points = \"9\" (a string) using <"),
            ("{{ (Points, 1) >= (50, 1) }}", "(\"9\" (a string) against 50 (a number))"),
            ("{{ [Points] == [9] }}", "using =="),
            ("{{ [Points, 50] | max }}", "\"9\" (a string) with 50 (a number) in | max"),
            ("{{ [Points, 50] | min }}", "in | min"),
            ("{{ [50, Points] | sort }}", "in | sort"),
            ("{{ Items | sort(attribute='n') }}", "in | sort by n"),
            ("{{ 9 in Points }}", "9 (a number) with Points = \"9\" (a string) using in"),
            ("{{ 9 in {'9': 1} }}", "9 (a number) with \"9\" (a string) in {'9': 1} using in"),
            ("{{ Active >= 1 }}", "Active = true (a boolean) with 1 (a number) using >="),
            ("{{ 0 < Active }}", "using <"),
            ("{{ [Active, 0, 2] | sort }}", "true (a boolean) with 0 (a number) in | sort"),
            ("{{ [Active, 0] | max }}", "in | max"),
            // null and NaN have no order: minijinja puts null first and NaN last.
            ("{{ N < 100 }}", "N = null (no value) with 100 (a number) using <; a null has no order"),
            ("{{ N | default(0) < 100 }}", "using <; a null has no order"),
            ("{{ 'a' < N }}", "\"a\" (a string) with N = null (no value) using <"),
            ("{{ [N] < [1] }}", "(null (no value) against 1 (a number))"),
            ("{{ [] < 1 }}", "[] (a list) with 1 (a number) using <"),
            ("{{ Items < 1 }}", "(a list) with 1 (a number)"),
            ("{{ [N, 1] | sort }}", "null (no value) with 1 (a number) in | sort"),
            ("{{ ['b', N] | max }}", "null (no value) with \"b\" (a string) in | max"),
            ("{{ ('NaN' | float) > 0 }}", "using >; NaN has no order"),
            ("{{ 0 >= ('nan' | float) }}", "NaN has no order"),
        ];
        for (template, want) in cases {
            let error = render(template, payload.clone()).expect_err(template);
            assert!(error.contains("cannot compare") && error.contains(want), "{template}: {error}");
        }
    }

    #[test]
    fn comparisons_of_one_kind_answer_as_minijinja_does() {
        let payload = serde_json::json!({"Points": 9, "Name": "ana", "Tags": ["a", "b"], "M": {"k": 1}});
        let cases = [
            ("{{ Points >= 5 }}", "true"),
            ("{{ Points is ge(50) }}", "false"),
            ("{{ Points is eq(9) }}", "true"),
            ("{{ Points in [9, 10] }}", "true"),
            ("{{ Points not in [9, 10] }}", "false"),
            ("{{ 'a' in Tags }}", "true"),
            ("{{ 'n' in Name }}", "true"),
            ("{{ 'k' in M }}", "true"),
            ("{{ Points is in([1]) }}", "false"),
            ("{{ 0 < Points < 50 }}", "true"),
            ("{{ 0 < Points < 5 }}", "false"),
            ("{{ 10 < Points < Missing }}", "false"),
            ("{{ (Points, 1) >= (9, 2) }}", "false"),
            ("{{ [Points, 50] | max }}", "50"),
            ("{{ Tags | sort(reverse=true) | join }}", "ba"),
            ("{% for t in Tags if t in ['b'] %}{{ t }}{% endfor %}", "b"),
            ("{{ Name is none }}", "false"),
            ("{{ [none, 2, 1] | reject('none') | sort | join }}", "12"),
        ];
        for (template, want) in cases {
            assert_eq!(render(template, payload.clone()).as_deref(), Ok(want), "{template}");
        }
        // A boolean and a number are never equal (minijinja takes `true` for 1); booleans
        // among themselves compare as they always did.
        let flags = serde_json::json!({"Active": true, "Discount": 5, "Off": false, "Nothing": null});
        for (template, want) in [
            ("{{ Active == 1 }}", "false"),
            ("{{ Active != 1 }}", "true"),
            ("{{ Discount != false }}", "true"),
            ("{{ Off == false }}", "true"),
            ("{{ Active == true }}", "true"),
            ("{{ 1 in [Active] }}", "false"),
            ("{{ 1 in [Active, 1] }}", "true"),
            ("{{ Active in [true, false] }}", "true"),
            ("{{ 1 not in [true] }}", "true"),
            ("{{ Discount > 0 }}", "true"),
            // At any depth: minijinja would find `[true] == [1]`.
            ("{{ [Active] == [1] }}", "false"),
            ("{{ [Active] != [1] }}", "true"),
            ("{{ {'a': Active} == {'a': 1} }}", "false"),
            ("{{ [Active, 1] == [1, Active] }}", "false"),
            ("{{ [Active, [Discount]] == [true, [5]] }}", "true"),
            ("{{ {'a': Discount, 'b': [Off]} == {'b': [false], 'a': 5} }}", "true"),
            ("{{ {'a': 1} == {'a': 1, 'b': 2} }}", "false"),
            ("{{ [1] in [[Active]] }}", "false"),
            ("{{ Nothing == none }}", "true"),
            ("{{ Nothing is none }}", "true"),
        ] {
            assert_eq!(render(template, flags.clone()).as_deref(), Ok(want), "{template}");
        }
        let error = render("{{ Points < 50 < Missing }}", payload).unwrap_err();
        assert!(error.starts_with("Missing is undefined"), "{error}");
    }
}
