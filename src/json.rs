//! Strict JSON for what producers send: an object naming a key twice is refused (with the
//! key's path), numbers keep the text they came with (serde_json's `arbitrary_precision`,
//! and an exponent as written: serde_json would respell `1E2` as `1e+2`), and a top-level
//! array can be bounded while it is read, so a huge batch is refused before it is built.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum JsonError {
    /// Not JSON: where it stopped making sense.
    Syntax { line: usize, column: usize, message: String },
    /// JSON, but an object names `path`'s last key twice (`Payload.Customer.Id`, `[2].Topic`).
    DuplicateKey { path: String },
    /// The top-level array holds more than `limit` items.
    TooManyItems { limit: usize },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line, column, message } => {
                write!(f, "invalid JSON at line {line} column {column}: {message}")
            }
            Self::DuplicateKey { path } => write!(f, "{path}: the key is given twice in one object"),
            Self::TooManyItems { limit } => write!(f, "the array holds more than {limit} items"),
        }
    }
}

/// Parses `bytes` as one JSON value.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    parse_bounded(bytes, usize::MAX)
}

/// The items of a top-level array, each as its own text (to be parsed on its own), at most
/// `max_items` of them (else `TooManyItems`); None when `bytes` is not an array. Only for a
/// body already read whole as JSON; the text is not checked for keys given twice.
pub fn array_items(bytes: &[u8], max_items: usize) -> Option<Result<Vec<&serde_json::value::RawValue>, JsonError>> {
    // Set by the visitor, so that "too many" is told from "not an array" without reading
    // serde's wording of the error.
    struct Items<'a> {
        max_items: usize,
        too_many: &'a Cell<bool>,
    }
    impl<'de> serde::de::Visitor<'de> for Items<'_> {
        type Value = Vec<&'de serde_json::value::RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if items.len() == self.max_items {
                    self.too_many.set(true);
                    return Err(serde::de::Error::custom("too many items"));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde::Deserializer::deserialize_seq(&mut de, Items { max_items, too_many: &too_many }) {
        Ok(items) => Some(Ok(items)),
        Err(_) if too_many.get() => Some(Err(JsonError::TooManyItems { limit: max_items })),
        Err(_) => None,
    }
}

/// Parses `bytes`, refusing a top-level array of more than `max_items` as soon as it has read
/// one item too many.
pub fn parse_bounded(bytes: &[u8], max_items: usize) -> Result<Value, JsonError> {
    parse_with(serde_json::Deserializer::from_slice(bytes), bytes, max_items, false)
}

/// Parses JSON that hookshape's own templates wrote (a `body_template`'s output): numbers
/// keep their text as `parse` keeps it, and a key given twice keeps its last value, as
/// serde_json's own parser does. Text, not bytes: its strings need no UTF-8 check.
pub fn parse_rendered(text: &str) -> Result<Value, JsonError> {
    parse_with(serde_json::Deserializer::from_str(text), text.as_bytes(), usize::MAX, true)
}

fn parse_with<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    source: &[u8],
    max_items: usize,
    last_key_wins: bool,
) -> Result<Value, JsonError> {
    let shared = Shared { problem: RefCell::new(None), source, numbers: Cell::new(0), cursor: Cell::new((0, 0)) };
    let strict = Strict { shared: &shared, max_items, last_key_wins };
    let parsed = strict.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match shared.problem.into_inner() {
        Some(Problem::Duplicate(path)) => JsonError::DuplicateKey { path: render_path(&path) },
        Some(Problem::TooMany(limit)) => JsonError::TooManyItems { limit },
        None => syntax(&e, source),
    })
}

/// How deep arrays and objects may nest in what is parsed (serde_json's own limit).
pub const MAX_NESTING: usize = 128;

/// serde_json's error in a producer's words, at a line and a column counted in characters
/// (serde_json counts bytes: `"João"` would put everything after it a column off).
fn syntax(e: &serde_json::Error, source: &[u8]) -> JsonError {
    let at = |byte: usize| position(source, byte);
    if source.starts_with(b"\xEF\xBB\xBF") {
        let message = "the text begins with a byte order mark (U+FEFF), which is no part of JSON: send it without one";
        return JsonError::Syntax { line: 1, column: 1, message: message.into() };
    }
    // serde_json appends " at line L column C" to its message; they are reported separately.
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_string();
    if message == "invalid unicode code point" {
        if let Err(bad) = std::str::from_utf8(source) {
            let (line, column) = at(bad.valid_up_to());
            let message = "a byte that is not UTF-8 (JSON is UTF-8: Latin-1 or Windows-1252 text must be converted)";
            return JsonError::Syntax { line, column, message: message.into() };
        }
    }
    let line_start: usize = source.split(|b| *b == b'\n').take(e.line().saturating_sub(1)).map(|l| l.len() + 1).sum();
    let offset = line_start + e.column().saturating_sub(1);
    let message = match message.as_str() {
        "recursion limit exceeded" => {
            format!("arrays and objects nest deeper than {MAX_NESTING} levels, more than is taken")
        }
        "unexpected end of hex escape" | "lone leading surrogate in hex escape" if after_surrogate(source, offset) => {
            "a lone UTF-16 surrogate (\\uD800 to \\uDBFF not followed by \\uDC00 to \\uDFFF) is no character: \
             JSON text must be Unicode"
                .to_string()
        }
        _ => message,
    };
    let (line, column) = at(offset);
    JsonError::Syntax { line, column, message }
}

/// Whether the text just before byte `at` of `source` holds a high surrogate's escape
/// (`\ud800` to `\udbff`): serde_json's "unexpected end of hex escape" then means its pair
/// is missing, not that the escape was cut short.
fn after_surrogate(source: &[u8], at: usize) -> bool {
    let before = &source[at.saturating_sub(12).min(source.len())..at.min(source.len())];
    before
        .windows(4)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2].eq_ignore_ascii_case(&b'd') && b"89abAB".contains(&w[3]))
}

/// The line and the column, in characters and from 1, of byte `at` of `source`.
fn position(source: &[u8], at: usize) -> (usize, usize) {
    let before = &source[..at.min(source.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    // Characters start at every byte that is not a UTF-8 continuation byte.
    let column = before[line_start..].iter().filter(|b| (**b & 0xC0) != 0x80).count() + 1;
    (line, column)
}

/// Why parsing stopped on valid JSON. Paths are built innermost first, as the error unwinds.
enum Problem {
    Duplicate(Vec<Segment>),
    TooMany(usize),
}

enum Segment {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path.iter().rev() {
        match segment {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde_json hands an arbitrary-precision number to a visitor as a one-entry map under this key.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A JSON number with exactly `text` as its digits. `text` must be one JSON number token
/// (every caller takes it from JSON that was parsed). serde_json's public constructors
/// re-scan the text and respell an exponent (`1E2` → `1e+2`); `from_string_unchecked` is
/// the one that keeps it (hidden, but pinned by Cargo.lock and by this module's tests).
pub fn exact_number(text: String) -> Number {
    Number::from_string_unchecked(text)
}

/// What one parse shares between the visitors of its nested values.
struct Shared<'p> {
    problem: RefCell<Option<Problem>>,
    /// The bytes being parsed: where an exponent's own spelling is read back from.
    source: &'p [u8],
    /// Numbers visited so far, in document order.
    numbers: Cell<usize>,
    /// Where the last read-back stopped: (byte offset, numbers before it).
    cursor: Cell<(usize, usize)>,
}

impl Shared<'_> {
    /// Counts a number as visited and returns its index in document order.
    fn count_number(&self) -> usize {
        let index = self.numbers.get();
        self.numbers.set(index + 1);
        index
    }

    /// The text of number `index` as the source spells it. Only exponents need this
    /// (rare), so the source is scanned only then, and only onwards from the last one.
    fn original_number(&self, index: usize) -> Option<String> {
        let (end, text) = nth_number(self.source, self.cursor.get(), index)?;
        self.cursor.set((end, index + 1));
        Some(text.to_string())
    }
}

/// Finds number `index` (in document order) in `bytes`, starting from `from` = (offset,
/// numbers before it); returns the offset after it and its text. Strings are skipped;
/// outside strings, only numbers contain `-` or digits.
fn nth_number(bytes: &[u8], from: (usize, usize), index: usize) -> Option<(usize, &str)> {
    let (mut at, mut seen) = from;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                at += 1;
                while let Some(&b) = bytes.get(at) {
                    at += if b == b'\\' { 2 } else { 1 };
                    if b == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                while bytes.get(at).is_some_and(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
                    at += 1;
                }
                if seen == index {
                    return std::str::from_utf8(bytes.get(start..at)?).ok().map(|text| (at, text));
                }
                seen += 1;
            }
            _ => at += 1,
        }
    }
    None
}

/// One spelling for every JSON number of the same value (`1`, `1.0`, `1e0`, `10E-1` are
/// all `1`; `-0` is `0`; `1.50` is `1.5`), exactly, whatever its size: an integer or a
/// plain decimal when that takes at most 40 digits, else `<digits>e<exponent>`. Where a
/// number is an identity (a platform's event id), not a value to carry.
pub fn number_identity(text: &str) -> Option<String> {
    if !is_number_token(text) {
        return None;
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let significant = all.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        // Zero, whatever its exponent.
        return Some("0".into());
    }
    // The exponent without its leading zeros, in i128: one no i128 holds has no identity.
    let exponent: i128 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, digits) = e.strip_prefix('-').map_or((1, e.trim_start_matches('+')), |d| (-1, d));
            let digits = digits.trim_start_matches('0');
            if digits.is_empty() {
                0
            } else {
                sign * digits.parse::<i128>().ok()?
            }
        }
    };
    // The value is trimmed × 10^scale.
    let scale = exponent.checked_sub(frac.len() as i128)?.checked_add((significant.len() - trimmed.len()) as i128)?;
    let sign = if negative { "-" } else { "" };
    let width = trimmed.len() as i128;
    const PLAIN: i128 = 40;
    Some(match scale {
        0.. if width + scale <= PLAIN => format!("{sign}{trimmed}{}", "0".repeat(scale as usize)),
        ..0 if -scale < width => {
            let (whole, part) = trimmed.split_at((width + scale) as usize);
            format!("{sign}{whole}.{part}")
        }
        ..0 if -scale <= PLAIN => format!("{sign}0.{}{trimmed}", "0".repeat((-scale - width) as usize)),
        _ => format!("{sign}{trimmed}e{scale}"),
    })
}

/// Whether `text` is one JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_number_token(text: &str) -> bool {
    fn digits(s: &[u8]) -> usize {
        s.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let mut s = text.as_bytes();
    s = s.strip_prefix(b"-").unwrap_or(s);
    let int = digits(s);
    if int == 0 || (int > 1 && s.first() == Some(&b'0')) {
        return false;
    }
    s = &s[int..];
    if let Some(rest) = s.strip_prefix(b".") {
        let frac = digits(rest);
        if frac == 0 {
            return false;
        }
        s = &rest[frac..];
    }
    if let Some(rest) = s.strip_prefix(b"e").or_else(|| s.strip_prefix(b"E")) {
        let rest = rest.strip_prefix(b"+").or_else(|| rest.strip_prefix(b"-")).unwrap_or(rest);
        let exp = digits(rest);
        if exp == 0 {
            return false;
        }
        s = &rest[exp..];
    }
    s.is_empty()
}

/// Whether `original` (the source's text) is the number serde_json read as `digits`: the
/// same but for the exponent's `E` and `+`. A guard: the two always agree on valid JSON.
fn same_number(original: &str, digits: &str) -> bool {
    fn parts(t: &str) -> Option<(&str, &str)> {
        t.split_once(['e', 'E']).map(|(m, e)| (m, e.strip_prefix('+').unwrap_or(e)))
    }
    parts(original) == parts(digits)
}

#[derive(Clone, Copy)]
struct Strict<'p> {
    shared: &'p Shared<'p>,
    /// Items allowed in this array (only the top level is bounded).
    max_items: usize,
    /// For hookshape's own output: a key given twice is not an error.
    last_key_wins: bool,
}

impl Strict<'_> {
    fn nested(self) -> Self {
        Self { max_items: usize::MAX, ..self }
    }

    /// Adds the segment an error passed through to a problem's path.
    fn through(&self, segment: impl FnOnce() -> Segment) {
        if let Some(Problem::Duplicate(path)) = self.shared.problem.borrow_mut().as_mut() {
            path.push(segment());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        self.shared.count_number();
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        self.shared.count_number();
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.shared.count_number();
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let index = items.len();
            if index == self.max_items {
                // One more item would be one too many: stop before building it.
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    *self.shared.problem.borrow_mut() = Some(Problem::TooMany(self.max_items));
                    return Err(A::Error::custom("too many items"));
                }
                break;
            }
            match seq.next_element_seed(self.nested()) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    self.through(|| Segment::Index(index));
                    return Err(e);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let Some(mut key) = access.next_key::<String>()? else { return Ok(Value::Object(Map::new())) };
        if key == NUMBER_TOKEN {
            let digits: String = access.next_value()?;
            // An object that names this key itself is no number: its text must be one.
            if !is_number_token(&digits) {
                return Err(A::Error::custom(format!("{digits:?} is not a number")));
            }
            let index = self.shared.count_number();
            // serde_json writes every exponent as `e` with a sign; the source has the spelling.
            let text = match digits.contains('e') {
                true => self.shared.original_number(index).filter(|o| same_number(o, &digits)).unwrap_or(digits),
                false => digits,
            };
            return Ok(Value::Number(exact_number(text)));
        }
        let mut map = Map::new();
        loop {
            if !self.last_key_wins && map.contains_key(&key) {
                *self.shared.problem.borrow_mut() = Some(Problem::Duplicate(vec![Segment::Key(key)]));
                return Err(A::Error::custom("duplicate key"));
            }
            match access.next_value_seed(self.nested()) {
                Ok(value) => map.insert(key, value),
                Err(e) => {
                    self.through(|| Segment::Key(key));
                    return Err(e);
                }
            };
            match access.next_key::<String>()? {
                Some(next) => key = next,
                None => return Ok(Value::Object(map)),
            }
        }
    }
}

/// A JSON file's bytes without the byte order mark some editors (Windows') write first:
/// no part of JSON, and `expected value at line 1 column 1` with it.
pub fn without_bom(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_identity_is_the_same_for_the_same_value() {
        let same = |texts: &[&str], want: &str| {
            for t in texts {
                assert_eq!(number_identity(t).as_deref(), Some(want), "{t}");
            }
        };
        same(&["1", "1.0", "1e0", "10E-1", "0.1e1", "1.000"], "1");
        same(&["0", "-0", "0.0", "0e5", "-0.0E-3"], "0");
        same(&["1.5", "1.50", "15e-1", "0.15E1"], "1.5");
        same(&["-12", "-1.2e1", "-120e-1"], "-12");
        same(&["1e2", "100", "100.00"], "100");
        same(&["0.001", "1e-3", "10e-4"], "0.001");
        same(
            &["123456789012345678901234567890", "1.23456789012345678901234567890e29"],
            "123456789012345678901234567890",
        );
        same(&["1e100", "10e99"], "1e100");
        same(&["1e-100", "0.1e-99"], "1e-100");
        assert_ne!(number_identity("1.5"), number_identity("15"));
        assert_ne!(number_identity("-1"), number_identity("1"));
        assert_eq!(number_identity("1e99999999999999999999").as_deref(), Some("1e99999999999999999999"));
        assert_eq!(number_identity("1E9223372036854775808"), number_identity("10e9223372036854775807"));
        assert_eq!(number_identity("0e99999999999999999999").as_deref(), Some("0"), "zero whatever its exponent");
        assert_eq!(number_identity("1e0000000000000000000000000000000000000005").as_deref(), Some("100000"));
        assert_eq!(number_identity(&format!("1e{}", "9".repeat(60))), None, "no i128 holds it");
        // Exponents at i64's ends: no arithmetic wraps, nothing huge is built.
        assert_eq!(number_identity("1e9223372036854775807").as_deref(), Some("1e9223372036854775807"));
        assert_eq!(number_identity("1e-9223372036854775808").as_deref(), Some("1e-9223372036854775808"));
        assert_eq!(number_identity("10.5e-9223372036854775808").as_deref(), Some("105e-9223372036854775809"));
        assert_eq!(number_identity("123456789e9223372036854775807").as_deref(), Some("123456789e9223372036854775807"));
        assert_eq!(number_identity("01"), None);
        assert_eq!(number_identity("abc"), None);
    }

    #[test]
    fn numbers_keep_their_digits() {
        for text in [
            "1234.50",
            "-0",
            "123456789012345678901234567890",
            "1e+400",
            "0.1",
            "18446744073709551616",
            "-1.0",
            "1e2",
            "1.0E-7",
            "1E+2",
            "-2.5e-3",
            "0e0",
        ] {
            let value = parse(text.as_bytes()).unwrap();
            assert_eq!(serde_json::to_string(&value).unwrap(), text);
            assert_eq!(serde_json::to_string(&parse_rendered(text).unwrap()).unwrap(), text);
        }
        let nested = r#"{"Payload":{"Amount":1234.50,"Items":[{"Qty":-0}]}}"#;
        assert_eq!(serde_json::to_string(&parse(nested.as_bytes()).unwrap()).unwrap(), nested);
    }

    #[test]
    fn each_exponent_keeps_its_own_spelling_whatever_comes_before_it() {
        // Strings with digits, escaped quotes and exponent-like text must not shift which
        // number of the source an exponent is read back from.
        let text = r#"{"s":"-1 2e3 \"4E5","a":[1,-0,1e2,{"k\\":"\"7"},1E2,1e+2],"b":1.0E-7,"c":[2.50,1e-7]}"#;
        assert_eq!(serde_json::to_string(&parse(text.as_bytes()).unwrap()).unwrap(), text);
    }

    #[test]
    fn an_object_that_names_serdes_number_key_is_no_number() {
        for text in [r#"{"$serde_json::private::Number":"1,\"x\":2"}"#, r#"{"$serde_json::private::Number":"01"}"#] {
            assert!(matches!(parse(text.as_bytes()), Err(JsonError::Syntax { .. })), "{text}");
        }
    }

    #[test]
    fn a_number_token_is_what_json_calls_a_number() {
        for yes in ["0", "-0", "10", "1.5", "1e2", "1E+2", "1.0e-7", "-0.0"] {
            assert!(is_number_token(yes), "{yes}");
        }
        for no in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "1,2", "NaN", "1.5.5"] {
            assert!(!is_number_token(no), "{no}");
        }
    }

    #[test]
    fn rendered_json_keeps_the_last_of_a_key_given_twice() {
        assert_eq!(parse_rendered(r#"{"a":1,"a":2E1}"#).unwrap().to_string(), r#"{"a":2E1}"#);
    }

    #[test]
    fn a_key_given_twice_is_named_with_its_path() {
        let cases = [
            (r#"{"Topic":"a","Topic":"b"}"#, "Topic"),
            (r#"{"Payload":{"Customer":{"Id":1,"Id":2}}}"#, "Payload.Customer.Id"),
            (r#"[{"a":1},{"Payload":{"x":[0,{"k":1,"k":1}]}}]"#, "[1].Payload.x[1].k"),
        ];
        for (text, path) in cases {
            assert_eq!(parse(text.as_bytes()), Err(JsonError::DuplicateKey { path: path.into() }), "{text}");
        }
        assert!(parse(br#"{"a":{"k":1},"b":{"k":1}}"#).is_ok(), "the same key in two objects is fine");
    }

    #[test]
    fn a_long_array_is_refused_at_the_first_item_too_many() {
        assert_eq!(parse_bounded(b"[1,2,3]", 2), Err(JsonError::TooManyItems { limit: 2 }));
        assert_eq!(parse_bounded(b"[1,2]", 2).unwrap(), serde_json::json!([1, 2]));
        assert_eq!(parse_bounded(b"[[1,2,3]]", 2).unwrap(), serde_json::json!([[1, 2, 3]]), "only the top level");
    }

    #[test]
    fn a_lone_surrogate_is_named_as_such() {
        for lone in [r#"{"a": "\ud800 lone"}"#, r#"{"a": "x\uD83D"}"#, r#"{"a": "\udbff\u0041"}"#] {
            let Err(JsonError::Syntax { message, .. }) = parse(lone.as_bytes()) else { panic!("{lone} parsed") };
            assert!(message.starts_with("a lone UTF-16 surrogate"), "{lone}: {message}");
        }
        let Err(JsonError::Syntax { message, .. }) = parse(br#"{"a": "\u12"}"#) else { panic!("parsed") };
        assert!(!message.contains("surrogate"), "{message}");
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(
            parse(b"{\n  \"a\": 1,\n  oops\n}"),
            Err(JsonError::Syntax { line: 3, column: 3, message: "key must be a string".into() })
        );
        assert!(matches!(parse(b"{} x"), Err(JsonError::Syntax { line: 1, column: 4, .. })));
        assert!(matches!(parse(b""), Err(JsonError::Syntax { line: 1, column: 1, .. })));
        // Columns count characters: the `}` after the trailing comma is the 28th (34th byte).
        let accented = r#"{"Topic":"çãoçãoção","a":1,}"#;
        assert!(
            matches!(parse(accented.as_bytes()), Err(JsonError::Syntax { line: 1, column: 28, .. })),
            "{:?}",
            parse(accented.as_bytes())
        );
        let latin1 = parse(b"{\n\"n\": \"Jo\xe3o\"}");
        assert!(
            matches!(&latin1, Err(JsonError::Syntax { line: 2, column: 9, message }) if message.contains("not UTF-8")),
            "{latin1:?}"
        );
        assert_eq!(parse(&without_bom(b"\xEF\xBB\xBF{}".to_vec())), Ok(serde_json::json!({})), "a file's BOM goes");
        let bom = parse(b"\xEF\xBB\xBF{}");
        assert!(
            matches!(&bom, Err(JsonError::Syntax { message, .. }) if message.contains("byte order mark")),
            "{bom:?}"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let deep = parse(deep.as_bytes());
        assert!(
            matches!(&deep, Err(JsonError::Syntax { message, .. }) if message.contains("deeper than 128")),
            "{deep:?}"
        );
    }
}
