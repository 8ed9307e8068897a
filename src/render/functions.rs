//! hookshape's template filters and functions beyond minijinja's built-ins:
//! `jsonpath`, dates, `digits`, `sha256`, `hmac_sha256`, `base64`, `uuid()`, `now()`,
//! `date_add`, `abort()`; numbers are in `super::numbers`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, State, Value};
use sha2::{Digest, Sha256};

use super::dates;
use super::syntax::invalid;
use super::values::{from_json, to_json, ExactNumbers};

pub fn register(env: &mut Environment<'static>) {
    env.add_function("jsonpath", jsonpath_event);
    env.add_filter("jsonpath", jsonpath_filter);
    env.add_filter("date", date);
    env.add_filter("parse_date", parse_date);
    env.add_filter("digits", digits);
    env.add_filter("sha256", sha256);
    env.add_filter("hmac_sha256", hmac_sha256);
    env.add_filter("base64", base64);
    env.add_function("uuid", super::clock::uuid);
    env.add_function("now", now);
    env.add_filter("tojson", tojson);
    env.add_filter("date_add", date_add);
    env.add_function("abort", abort);
    super::positions::register(env);
    super::numbers::register(env);
    super::compare::register(env);
    super::ordering::register(env);
    super::text::register(env);
}

/// `jsonpath("$.Payload.Items[*].Sku")`: an RFC 9535 query over the whole event
/// envelope; the list of every match.
fn jsonpath_event(state: &State, query: String) -> Result<Value, Error> {
    let event = state.lookup("event").ok_or_else(|| invalid("jsonpath() needs the event context"))?;
    jsonpath_filter(state, event, query)
}

/// `value | jsonpath("$.a.b")`: the same query over any value.
fn jsonpath_filter(state: &State, value: Value, query: String) -> Result<Value, Error> {
    let table = ExactNumbers::in_state(state);
    let json = to_json(&value, table.as_ref().and_then(|t| t.downcast_ref::<ExactNumbers>()))?;
    let found =
        jsonpath_rust::query::js_path_vals(&query, &json).map_err(|e| invalid(format!("jsonpath {query:?}: {e}")))?;
    // The context's table already knows the digits of every number found.
    let found: Vec<serde_json::Value> = found.into_iter().cloned().collect();
    Ok(from_json(&serde_json::Value::Array(found), &mut ExactNumbers::default()))
}

/// `value | tojson`: minijinja's, but numbers keep their original digits, and an undefined
/// value is an error as it is when printed (minijinja writes `null` for it: a missing field
/// would reach the receiver as a null nobody asked for).
fn tojson(state: &State, value: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    // `tojson(2)` or, as Jinja writes it, `tojson(indent=2)`.
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    kwargs.assert_all_used()?;
    if super::undefined::refused(state) && value.is_undefined() {
        return Err(Error::from(minijinja::ErrorKind::UndefinedError));
    }
    let table = ExactNumbers::in_state(state);
    let json = to_json(&value, table.as_ref().and_then(|t| t.downcast_ref::<ExactNumbers>()))?;
    let text = match indent.filter(|i| i.is_true()) {
        Some(_) => serde_json::to_string_pretty(&json),
        None => serde_json::to_string(&json),
    };
    text.map(Value::from_safe_string).map_err(|e| invalid(format!("tojson: {e}")))
}

fn to_date(value: &Value) -> Result<chrono::DateTime<chrono::FixedOffset>, Error> {
    match value.kind() {
        ValueKind::Number => {
            let secs = f64::try_from(value.clone()).map_err(|e| invalid(format!("date: {e}")))?;
            dates::from_unix_seconds(secs).map_err(invalid)
        }
        ValueKind::String => dates::parse_any(value.as_str().unwrap_or_default()).map_err(invalid),
        _ => Err(invalid(format!("date: cannot read a date from {}", value.kind()))),
    }
}

/// `Date | date("dd/MM/yyyy HH:mm:ss", "America/Sao_Paulo")`.
fn date(value: Value, pattern: String, tz: Option<String>) -> Result<String, Error> {
    dates::format(to_date(&value)?, &pattern, tz.as_deref()).map_err(invalid)
}

/// `"15/04/2025 11:30:00" | parse_date("dd/MM/yyyy HH:mm:ss", "America/Sao_Paulo")`: ISO 8601 text.
fn parse_date(value: String, pattern: String, tz: Option<String>) -> Result<String, Error> {
    let d = dates::parse_with(&value, &pattern, tz.as_deref()).map_err(invalid)?;
    Ok(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// `now()`, or `now("America/Sao_Paulo")`: the current time as ISO 8601.
fn now(tz: Option<String>) -> Result<String, Error> {
    let utc = super::clock::now();
    match tz {
        None => Ok(utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        Some(name) => dates::format(utc.fixed_offset(), "%Y-%m-%dT%H:%M:%S%.3f%:z", Some(&name)).map_err(invalid),
    }
}

/// `now() | date_add('7d')`, `Date | date_add('-1h')`: ISO 8601 text, in the input's offset.
fn date_add(value: Value, duration: String) -> Result<String, Error> {
    let date = to_date(&value)?;
    let trimmed = duration.trim();
    let (negative, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let span = crate::duration::parse(unsigned).map_err(|e| invalid(format!("date_add: {e}")))?;
    let span = chrono::Duration::from_std(span).map_err(|e| invalid(format!("date_add: {e}")))?;
    let moved = if negative { date.checked_sub_signed(span) } else { date.checked_add_signed(span) };
    let moved = moved.ok_or_else(|| invalid(format!("date_add: {duration:?} moves the date out of range")))?;
    Ok(moved.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// `abort('no email')`: this event is not for this subscription; nothing is delivered and
/// `render` / `test` show "aborted: no email".
fn abort(reason: String) -> Result<Value, Error> {
    Err(invalid(format!("{}{reason}", super::ABORT_MARK)))
}

/// `"123.456.789-99" | digits` → `12345678999` (CPF, CNPJ, phone numbers).
fn digits(value: Value) -> String {
    value.to_string().chars().filter(char::is_ascii_digit).collect()
}

fn sha256(value: String) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn hmac_sha256(value: String, key: String) -> Result<String, Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|e| invalid(format!("hmac_sha256: {e}")))?;
    mac.update(value.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn base64(value: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(template: &str, ctx: serde_json::Value) -> Result<String, Error> {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(template, from_json(&ctx, &mut ExactNumbers::default()))
    }

    #[test]
    fn every_helper_renders() {
        let ctx = serde_json::json!({
            "event": {"Payload": {"Items": [{"Sku": "A"}, {"Sku": "B"}]}},
            "Cpf": "123.456.789-99",
            "Date": "2025-04-15T14:30:00.123Z",
        });
        let cases = [
            ("{{ jsonpath('$.Payload.Items[*].Sku') }}", "['A', 'B']"),
            ("{{ event | jsonpath('$.Payload.Items[0].Sku') | first }}", "A"),
            ("{{ Cpf | digits }}", "12345678999"),
            ("{{ Date | date('dd/MM/yyyy HH:mm:ss') }}", "15/04/2025 14:30:00"),
            ("{{ Date | date('yyyy-MM-dd HH:mm:ss', 'America/Sao_Paulo') }}", "2025-04-15 11:30:00"),
            ("{{ 1744727400 | date('yyyy-MM-dd') }}", "2025-04-15"),
            (
                "{{ '15/04/2025 11:30:00' | parse_date('dd/MM/yyyy HH:mm:ss', 'America/Sao_Paulo') }}",
                "2025-04-15T11:30:00-03:00",
            ),
            ("{{ 'abc' | sha256 }}", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("{{ 'abc' | base64 }}", "YWJj"),
            (
                "{{ 'The quick brown fox jumps over the lazy dog' | hmac_sha256('key') }}",
                "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
            ),
        ];
        for (template, want) in cases {
            assert_eq!(eval(template, ctx.clone()).unwrap(), want, "{template}");
        }
        assert_eq!(eval("{{ uuid() }}", ctx.clone()).unwrap().len(), 36);
        assert!(eval("{{ now() }}", ctx.clone()).unwrap().ends_with('Z'));
        assert!(eval("{{ Date | date('yyyy', 'Nowhere/Land') }}", ctx).is_err());
    }

    #[test]
    fn tojson_indents_as_jinja_writes_it_too() {
        let ctx = serde_json::json!({"A": {"b": 1}});
        let indented = "{\n  \"b\": 1\n}";
        assert_eq!(eval("{{ A | tojson(indent=2) }}", ctx.clone()).unwrap(), indented);
        assert_eq!(eval("{{ A | tojson(2) }}", ctx.clone()).unwrap(), indented);
        assert_eq!(eval("{{ A | tojson }}", ctx.clone()).unwrap(), "{\"b\":1}");
        assert!(eval("{{ A | tojson(width=2) }}", ctx).is_err(), "an unknown argument is an error");
    }
}
