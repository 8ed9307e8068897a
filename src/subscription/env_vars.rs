//! `${VAR}` and `${VAR:-default}` in subscription files, resolved from the environment
//! when files load. `$${` writes a literal `${`. hookshape's own `HOOKSHAPE_*` settings
//! (its tokens among them) cannot be read this way.

/// The result of expanding one string: the text, and the values substituted into it (from
/// the environment or from a default: all treated as secrets, since a default is often a
/// development secret).
#[derive(Debug, PartialEq)]
pub struct Expanded {
    pub text: String,
    pub values: Vec<String>,
    /// Whether any `${VAR}` was expanded, from the environment or from its default.
    pub used_vars: bool,
}

impl Expanded {
    pub fn used_vars(&self) -> bool {
        self.used_vars
    }
}

/// Variables a subscription or source may not read.
const RESERVED_PREFIX: &str = "HOOKSHAPE_";

pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
    let mut used_vars = false;
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(inner) = after.strip_prefix("${") {
            let end = inner.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let (name, default) = match inner[..end].split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (&inner[..end], None),
            };
            if !is_name(name) {
                return Err(format!("${{{name}}} is not a valid variable name"));
            }
            if name.starts_with(RESERVED_PREFIX) {
                return Err(format!(
                    "${{{name}}}: {RESERVED_PREFIX}* variables are hookshape's own settings (its tokens among them) \
                     and cannot be read by subscriptions or sources; use another name"
                ));
            }
            used_vars = true;
            match (lookup(name), default) {
                (Some(v), _) => {
                    out.push_str(&v);
                    values.push(v);
                }
                (None, Some(d)) => {
                    out.push_str(d);
                    values.push(d.to_string());
                }
                (None, None) => return Err(format!("environment variable {name} is not set")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Expanded { text: out, values, used_vars })
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
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let e = |t: &str| expand(t, &lookup);
        assert_eq!(
            e("Bearer ${TOKEN}").unwrap(),
            Expanded { text: "Bearer s3cret".into(), values: vec!["s3cret".into()], used_vars: true }
        );
        assert_eq!(e("${MISSING:-http://x:1}/a").unwrap().text, "http://x:1/a");
        assert_eq!(e("${TOKEN:-dflt}").unwrap().text, "s3cret");
        assert_eq!(
            e("cost $5, $${LITERAL}").unwrap(),
            Expanded { text: "cost $5, ${LITERAL}".into(), values: vec![], used_vars: false }
        );
        assert!(e("${HOOKSHAPE_ADMIN_TOKEN}").unwrap_err().contains("hookshape's own settings"));
        assert!(e("${HOOKSHAPE_ADMIN_TOKEN:-x}").is_err(), "not even with a default");
        assert_eq!(e("${MISSING}").unwrap_err(), "environment variable MISSING is not set");
        assert!(e("${1BAD}").is_err());
        assert!(e("${OPEN").is_err());
    }
}
