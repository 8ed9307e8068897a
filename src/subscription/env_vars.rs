//! `${VAR}` and `${VAR:-default}` in subscription files, resolved from the environment
//! when files load. `$${` writes a literal `${`.

/// The result of expanding one string: the text, and the values substituted into it
/// (values that came from the environment are treated as secrets).
#[derive(Debug, PartialEq)]
pub struct Expanded {
    pub text: String,
    pub values: Vec<String>,
}

impl Expanded {
    pub fn used_vars(&self) -> bool {
        !self.values.is_empty()
    }
}

pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
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
            let value = match (lookup(name), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => return Err(format!("environment variable {name} is not set")),
            };
            out.push_str(&value);
            values.push(value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Expanded { text: out, values })
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
            Expanded { text: "Bearer s3cret".into(), values: vec!["s3cret".into()] }
        );
        assert_eq!(e("${MISSING:-http://x:1}/a").unwrap().text, "http://x:1/a");
        assert_eq!(e("${TOKEN:-dflt}").unwrap().text, "s3cret");
        assert_eq!(e("cost $5, $${LITERAL}").unwrap(), Expanded { text: "cost $5, ${LITERAL}".into(), values: vec![] });
        assert_eq!(e("${MISSING}").unwrap_err(), "environment variable MISSING is not set");
        assert!(e("${1BAD}").is_err());
        assert!(e("${OPEN").is_err());
    }
}
