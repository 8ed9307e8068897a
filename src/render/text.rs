//! The built-in filters that change text (`lower`, `upper`, `title`, `capitalize`, `trim`),
//! refusing a null: minijinja turns it into the text `none` first, so
//! `/customers/{{ Email | lower }}` with `"Email": null` went to `/customers/none`, a
//! resource nobody meant, where the bare `{{ Email }}` is refused as an empty segment.

use std::borrow::Cow;

use minijinja::value::{from_args, StringInput, ValueKind};
use minijinja::{filters, Environment, Error, ErrorKind, State, Value};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("lower", |state: &State, value: Value| text_of(state, &value, "lower").map(filters::lower));
    env.add_filter("upper", |state: &State, value: Value| text_of(state, &value, "upper").map(filters::upper));
    env.add_filter("capitalize", |state: &State, value: Value| {
        text_of(state, &value, "capitalize").map(filters::capitalize)
    });
    env.add_filter("title", |state: &State, value: Value| {
        refuse_null(state, &value, "title")?;
        let (text,): (Cow<'_, str>,) = from_args(std::slice::from_ref(&value))?;
        Ok::<_, Error>(filters::title(text))
    });
    env.add_filter("trim", |state: &State, value: Value, chars: Option<String>| {
        text_of(state, &value, "trim").map(|text| filters::trim(text, chars.map(Cow::Owned)))
    });
}

/// `value` as the built-ins take it, unless it is null.
fn text_of<'a>(state: &State, value: &'a Value, filter: &str) -> Result<StringInput<'a>, Error> {
    refuse_null(state, value, filter)?;
    let (text,): (StringInput<'a>,) = from_args(std::slice::from_ref(value))?;
    Ok(text)
}

/// A null refused; an undefined value as the template's undefined behaviour says (the
/// built-ins' own check, which `from_args` without the state would skip).
fn refuse_null(state: &State, value: &Value, filter: &str) -> Result<(), Error> {
    if value.is_undefined() && super::undefined::refused(state) {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    match value.kind() {
        ValueKind::None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "| {filter} was given null, which has no text: leave it out (`if`), or say what to use \
                 (`| default('', true) | {filter}`)"
            ),
        )),
        _ => Ok(()),
    }
}
