//! `${VAR}` and `${VAR:-default}` in subscription files, resolved from the environment
//! when files load. `$${` writes a literal `${`; a default may itself hold `${OTHER}`
//! (`${A:-${B}}`). `${secret:VAR}` says the value is a secret wherever it lands, even in
//! the parts of a URL that are otherwise shown. hookshape's own `HOOKSHAPE_*` settings (its tokens among them) cannot
//! be read this way. In a template field a value is data, never template code: markup in
//! it is written so that the template engine prints it as it is.

use super::template_place::{self as place, Place};
use crate::render::Delimiters;

/// The result of expanding one string: the text, and the values substituted into it (from
/// the environment or from a default: all treated as secrets, since a default is often a
/// development secret).
#[derive(Debug, PartialEq)]
pub struct Expanded {
    pub text: String,
    pub values: Vec<String>,
    /// Whether any `${VAR}` was expanded, from the environment or from its default.
    pub used_vars: bool,
    /// Variables that were unset, had no default, and got a placeholder instead.
    pub placeholders: Vec<String>,
    /// The values of `${secret:VAR}`s (also in `values`): masked wherever they land.
    pub secrets: Vec<String>,
}

impl Expanded {
    pub fn used_vars(&self) -> bool {
        self.used_vars
    }
}

/// Variables a subscription or source may not read.
const RESERVED_PREFIX: &str = "HOOKSHAPE_";

/// `${secret:VAR}`: a variable whose value is a secret wherever it lands.
const SECRET_PREFIX: &str = "secret:";

/// Expands `text` that is not a template (a secret, a duration, `hookshape.yaml`).
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    expand_with(text, lookup, None, None)
}

/// Expands `text` that is a template with delimiters `d`: each value arrives as the
/// characters it holds, `{{`, `{%` and `}}` included.
#[cfg(test)]
pub fn expand_template(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    d: &Delimiters,
) -> Result<Expanded, String> {
    expand_with(text, lookup, Some(d), None)
}

/// Expands `text`, a template with delimiters `markup` or plain text without. A variable
/// that is unset and has no default takes `placeholder(name)` when given (`validate
/// --allow-missing-env`), and is named in `placeholders`; a default is always kept.
pub fn expand_with(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    markup: Option<&Delimiters>,
    placeholder: Option<&dyn Fn(&str) -> String>,
) -> Result<Expanded, String> {
    Expander {
        lookup,
        placeholder,
        markup,
        values: Vec::new(),
        used_vars: false,
        placeholders: Vec::new(),
        secrets: Vec::new(),
    }
    .run(text)
}

struct Expander<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    placeholder: Option<&'a dyn Fn(&str) -> String>,
    markup: Option<&'a Delimiters>,
    values: Vec<String>,
    used_vars: bool,
    placeholders: Vec<String>,
    secrets: Vec<String>,
}

impl Expander<'_> {
    fn run(mut self, text: &str) -> Result<Expanded, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('$') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            if let Some(escaped) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = escaped;
            } else if let Some(inner) = after.strip_prefix("${") {
                let (name, value, tail) = self.variable(inner, text)?;
                self.write_value(&mut out, &name, &value)?;
                rest = tail;
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(Expanded {
            text: out,
            values: self.values,
            used_vars: self.used_vars,
            placeholders: self.placeholders,
            secrets: self.secrets,
        })
    }

    /// `inner` follows a `${`: the variable's name, its value and the text after its `}`.
    fn variable<'t>(&mut self, inner: &'t str, whole: &str) -> Result<(String, String, &'t str), String> {
        let unclosed = || format!("unclosed ${{ in {whole:?}");
        let (secret, inner) = match inner.strip_prefix(SECRET_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let name_end = inner.find(['}', ':']).ok_or_else(unclosed)?;
        let name = &inner[..name_end];
        let values_before = self.values.len();
        let (default, tail) = match inner[name_end..].strip_prefix(":-") {
            Some(d) => {
                let end = default_end(d).ok_or_else(unclosed)?;
                (Some(&d[..end]), &d[end + 1..])
            }
            None if inner[name_end..].starts_with('}') => (None, &inner[name_end + 1..]),
            None => {
                let shown = inner.find('}').map_or(inner, |e| &inner[..e]);
                // `${NAME:default}` is another shell's way: say the one taken here.
                let hint = match shown.split_once(':') {
                    Some((n, d)) if is_name(n) => format!(" (a default is written ${{{n}:-{d}}})"),
                    _ => String::new(),
                };
                return Err(format!("${{{shown}}} is not a valid variable name{hint}"));
            }
        };
        check_name(name)?;
        self.used_vars = true;
        let value = match ((self.lookup)(name), default) {
            (Some(v), _) => v,
            // A default is expanded only when it is used: `${A:-${B}}` needs no B when A is set.
            (None, Some(d)) => self.default_value(d)?,
            (None, None) => match self.placeholder {
                Some(placeholder) => {
                    self.placeholders.push(name.to_string());
                    placeholder(name)
                }
                None => return Err(format!("environment variable {name} is not set")),
            },
        };
        if secret {
            // A default's own variables are part of the secret value too.
            let inner_values = self.values[values_before..].to_vec();
            self.secrets.extend(inner_values);
            self.secrets.push(value.clone());
        }
        self.values.push(value.clone());
        Ok((name.to_string(), value, tail))
    }

    /// A default's text with its own `${VAR}`s expanded, as plain text (the whole
    /// default is written out, escaped if need be, as the outer variable's value).
    fn default_value(&mut self, default: &str) -> Result<String, String> {
        let inner = Expander {
            lookup: self.lookup,
            placeholder: self.placeholder,
            markup: None,
            values: Vec::new(),
            used_vars: false,
            placeholders: Vec::new(),
            secrets: Vec::new(),
        };
        let x = inner.run(default)?;
        self.values.extend(x.values);
        self.placeholders.extend(x.placeholders);
        self.secrets.extend(x.secrets);
        Ok(x.text)
    }

    fn write_value(&self, out: &mut String, name: &str, value: &str) -> Result<(), String> {
        match self.markup {
            None => {
                out.push_str(value);
                Ok(())
            }
            Some(d) => write_as_text(out, name, value, d),
        }
    }
}

/// Where a default that starts `d` ends: its `}`, the first one that closes no `{` of its own
/// (`${A:-${B}}`, `${A:-{"k": 1}}`).
fn default_end(d: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in d.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn check_name(name: &str) -> Result<(), String> {
    if !is_name(name) {
        return Err(format!("${{{name}}} is not a valid variable name"));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "${{{name}}}: {RESERVED_PREFIX}* variables are hookshape's own settings (its tokens among them) \
             and cannot be read by subscriptions or sources; use another name"
        ));
    }
    Ok(())
}

/// Writes `value` into template text so that it renders as itself, wherever it stands
/// (`super::template_place`): in text, each opening delimiter in it goes inside a `raw`
/// block; inside a tag's string literal (`{{ x | default('${TOKEN}') }}`) its quotes and
/// backslashes are escaped for the literal, since a quote would end it and run the rest as
/// code (event data spliced into a credential); elsewhere in a tag it is code, so only a
/// number or `true`/`false`. Markup that cannot be made harmless is refused, naming it.
fn write_as_text(out: &mut String, name: &str, value: &str, d: &Delimiters) -> Result<(), String> {
    let opens = [d.variable.0.as_str(), d.block.0.as_str(), d.comment.0.as_str()];
    let closes = [d.variable.1.as_str(), d.block.1.as_str(), d.comment.1.as_str()];
    let refuse = |found: &str, place: &str| {
        Err(format!(
            "${{{name}}}: its value holds {found:?} and stands inside a {place}, where it would be template \
             code; write ${{{name}}} outside it"
        ))
    };
    match place::at_end(out, d) {
        Place::Text => {
            let mut rest = value;
            while let Some((at, open)) = place::earliest(rest, &opens) {
                out.push_str(&rest[..at]);
                out.push_str(&format!("{b0} raw {b1}{open}{b0} endraw {b1}", b0 = d.block.0, b1 = d.block.1));
                rest = &rest[at + open.len()..];
            }
            out.push_str(rest);
        }
        Place::Raw if value.contains(d.block.0.as_str()) => return refuse(&d.block.0, "raw block"),
        Place::Comment if value.contains(d.comment.1.as_str()) => return refuse(&d.comment.1, "comment"),
        Place::Raw | Place::Comment => out.push_str(value),
        Place::Tag { quote } => {
            if let Some(found) = opens.iter().chain(&closes).find(|m| value.contains(**m)) {
                return refuse(found, "template tag");
            }
            match quote {
                Some(quote) => {
                    for c in value.chars() {
                        if c == quote || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                None if is_literal(value) => out.push_str(value),
                None => {
                    return Err(format!(
                        "${{{name}}} stands inside a template tag but not in a quoted string, where its value \
                         would be template code; write it in quotes ('${{{name}}}') or outside the tag"
                    ))
                }
            }
        }
    }
    Ok(())
}

/// A number or a boolean: all a `${VAR}` may be where it is code.
fn is_literal(value: &str) -> bool {
    value == "true" || value == "false" || value.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "MARKUP" => Some("{{ Topic }}-x {% if %} }} {# c #}".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let e = |t: &str| expand(t, &lookup);
        assert_eq!(
            e("Bearer ${TOKEN}").unwrap(),
            Expanded {
                text: "Bearer s3cret".into(),
                values: vec!["s3cret".into()],
                used_vars: true,
                placeholders: vec![],
                secrets: vec![]
            }
        );
        assert_eq!(e("${MISSING:-http://x:1}/a").unwrap().text, "http://x:1/a");
        assert_eq!(e("${TOKEN:-dflt}").unwrap().text, "s3cret");
        assert_eq!(
            e("cost $5, $${LITERAL}").unwrap(),
            Expanded {
                text: "cost $5, ${LITERAL}".into(),
                values: vec![],
                used_vars: false,
                placeholders: vec![],
                secrets: vec![]
            }
        );
        assert!(e("${HOOKSHAPE_ADMIN_TOKEN}").unwrap_err().contains("hookshape's own settings"));
        assert!(e("${HOOKSHAPE_ADMIN_TOKEN:-x}").is_err(), "not even with a default");
        assert_eq!(e("${MISSING}").unwrap_err(), "environment variable MISSING is not set");
        assert!(e("${1BAD}").is_err());
        assert_eq!(e("${A:x}").unwrap_err(), "${A:x} is not a valid variable name (a default is written ${A:-x})");
        assert!(e("${OPEN").is_err());
    }

    #[test]
    fn a_secret_variable_is_expanded_and_noted_as_secret() {
        let e = |t: &str| expand(t, &lookup).unwrap();
        let x = e("https://chat.example/hooks/${secret:TOKEN}?a=${MISSING:-b}");
        assert_eq!(x.text, "https://chat.example/hooks/s3cret?a=b");
        assert_eq!(x.values, ["s3cret", "b"]);
        assert_eq!(x.secrets, ["s3cret"], "only the secret variable's value");
        let x = e("${secret:MISSING:-${TOKEN}-x}");
        assert_eq!(x.text, "s3cret-x");
        assert_eq!(x.secrets, ["s3cret", "s3cret-x"], "a default's own variables are secret too");
        assert_eq!(e("${MISSING:-${secret:TOKEN}}").secrets, ["s3cret"]);
        assert!(expand("${secret:HOOKSHAPE_ADMIN_TOKEN}", &lookup).unwrap_err().contains("own settings"));
        assert_eq!(expand("${secret:}", &lookup).unwrap_err(), "${} is not a valid variable name");
        assert_eq!(expand("${secret:NOPE}", &lookup).unwrap_err(), "environment variable NOPE is not set");
    }

    #[test]
    fn a_placeholder_stands_in_only_for_a_variable_without_a_default() {
        let p = |name: &str| format!("<{name}>");
        let e = |t: &str| expand_with(t, &lookup, None, Some(&p)).unwrap();
        let x = e("${URL:-http://127.0.0.1:9000}/a ${TOKEN} ${SECRET} ${A:-${B}}");
        assert_eq!(x.text, "http://127.0.0.1:9000/a s3cret <SECRET> <B>");
        assert_eq!(x.placeholders, ["SECRET", "B"]);
    }

    #[test]
    fn defaults_nest() {
        let e = |t: &str| expand(t, &lookup).map(|x| x.text);
        assert_eq!(e("${MISSING:-${TOKEN}}/a").unwrap(), "s3cret/a", "no stray }}");
        assert_eq!(e("<${A:-${B:-${TOKEN}}}>").unwrap(), "<s3cret>");
        assert_eq!(e("${A:-${B:-deep}-x}").unwrap(), "deep-x");
        assert_eq!(e("${TOKEN:-${UNSET}}").unwrap(), "s3cret", "an unused default needs no variable");
        assert_eq!(e("${A:-{\"k\": 1}}").unwrap(), "{\"k\": 1}", "braces in a default balance");
        assert_eq!(e("${A:-$${B}}").unwrap(), "${B}");
        assert_eq!(e("${A:-${B}}").unwrap_err(), "environment variable B is not set");
        assert!(e("${A:-${B}").unwrap_err().contains("unclosed"));
        assert_eq!(expand("${A:-${TOKEN}}", &lookup).unwrap().values, ["s3cret", "s3cret"]);
    }

    #[test]
    fn in_a_template_a_value_is_text_not_code() {
        let d = Delimiters::default();
        let e = |t: &str| expand_template(t, &lookup, &d);
        let x = e("a ${MARKUP} b").unwrap();
        assert_eq!(
            x.text,
            "a {% raw %}{{{% endraw %} Topic }}-x {% raw %}{%{% endraw %} if %} }} {% raw %}{#{% endraw %} c #} b"
        );
        assert_eq!(x.values, ["{{ Topic }}-x {% if %} }} {# c #}"], "the real value is what is masked");
        assert_eq!(e("{{ Id }}/${TOKEN}").unwrap().text, "{{ Id }}/s3cret", "plain values are untouched");
        assert_eq!(e("{{ x | default('${TOKEN}') }}").unwrap().text, "{{ x | default('s3cret') }}");
        let refused = e("{{ x | default('${MARKUP}') }}").unwrap_err();
        assert!(refused.contains("${MARKUP}") && refused.contains("inside a template tag"), "{refused}");
        // A quote in the value stays inside its string literal; outside one, only a word.
        let quoted = |value: &'static str| {
            let lookup = move |n: &str| (n == "Q").then(|| value.to_string());
            expand_template("{{ 'svc:${Q}' | base64 }} {{ \"${Q}\" }}", &lookup, &d).map(|x| x.text)
        };
        assert_eq!(
            quoted("p' ~ Payload.Who ~ '").unwrap(),
            r#"{{ 'svc:p\' ~ Payload.Who ~ \'' | base64 }} {{ "p' ~ Payload.Who ~ '" }}"#
        );
        assert_eq!(quoted(r#"a\"b"#).unwrap(), r#"{{ 'svc:a\\"b' | base64 }} {{ "a\\\"b" }}"#);
        let bare = |value: &'static str| {
            let lookup = move |n: &str| (n == "N").then(|| value.to_string());
            expand_template("{{ Points + ${N} }}", &lookup, &d).map(|x| x.text)
        };
        assert_eq!(bare("10").unwrap(), "{{ Points + 10 }}");
        for code in ["1 ~ Payload.Secret", "Payload.Who", "1+Payload.Secret"] {
            let refused = bare(code).unwrap_err();
            assert!(refused.contains("${N}") && refused.contains("not in a quoted string"), "{refused}");
        }
        // A delimiter inside an earlier string literal does not end the tag.
        let lookup = |n: &str| (n == "Q").then(|| "a' ~ Payload.Who ~ 'b".to_string());
        let x = expand_template("{{ '}}' ~ '${Q}' }}", &lookup, &d).unwrap();
        assert_eq!(x.text, r#"{{ '}}' ~ 'a\' ~ Payload.Who ~ \'b' }}"#);
        let in_raw = |t: &str| expand_template(t, &lookup, &d).map(|x| x.text);
        assert_eq!(in_raw("{% raw %}${Q}{% endraw %}").unwrap(), "{% raw %}a' ~ Payload.Who ~ 'b{% endraw %}");
        let custom = Delimiters { variable: ("<<".into(), ">>".into()), block: ("<%".into(), "%>".into()), ..d };
        assert_eq!(expand_template("${X:-<< a >>}", &lookup, &custom).unwrap().text, "<% raw %><<<% endraw %> a >>");
    }
}
