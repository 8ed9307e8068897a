//! What an action did, carried through its redirect in the address (post, redirect, get:
//! a reload sends nothing again) and believed only for the viewer it was done for: the
//! address carries a mark made with that viewer's form key over what it says and where,
//! so a link shared, forged or opened in another session says nothing.

use subtle::ConstantTimeEq;

use super::session::Viewer;

/// The query parameter holding the mark.
const MARK: &str = "done";

/// The query (`resent=held&done=…`) that says `pairs` on the page of `scope`
/// (`delivery:ID`, `subscription:NAME`, `event:UUID`) to `viewer` only.
pub fn query(viewer: &Viewer, scope: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        out.append_pair(key, value);
    }
    out.append_pair(MARK, &mark(viewer, scope, pairs.iter().copied()));
    out.finish()
}

/// The pairs of `query` named in `keys`, when its mark is `viewer`'s for them on `scope`;
/// none otherwise (a link from someone else, or one edited).
pub fn believed<'a>(
    viewer: &Viewer,
    scope: &str,
    query: &'a [(String, String)],
    keys: &[&str],
) -> Vec<(&'a str, &'a str)> {
    let said: Vec<(&str, &str)> =
        query.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let given = query.iter().find(|(k, _)| k == MARK).map(|(_, v)| v.as_bytes());
    let expected = mark(viewer, scope, said.iter().copied());
    match given {
        Some(given) if bool::from(given.ct_eq(expected.as_bytes())) => said,
        _ => Vec::new(),
    }
}

fn mark<'a>(viewer: &Viewer, scope: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = format!("notice\n{scope}\n");
    for (key, value) in pairs {
        text.push_str(&format!("{key}={value}\n"));
    }
    crate::sign::hmac_hex(viewer.csrf.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(csrf: &str) -> Viewer {
        Viewer { csrf: csrf.into(), signed_in: true }
    }

    fn parsed(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    #[test]
    fn a_notice_is_believed_only_by_its_viewer_on_its_page_as_it_was_said() {
        let me = viewer("mine");
        let said = parsed(&query(&me, "subscription:crm", &[("enabled", "200"), ("released", "3")]));
        let keys = ["enabled", "released"];
        assert_eq!(believed(&me, "subscription:crm", &said, &keys), [("enabled", "200"), ("released", "3")]);
        assert!(believed(&viewer("theirs"), "subscription:crm", &said, &keys).is_empty(), "another session");
        assert!(believed(&me, "subscription:erp", &said, &keys).is_empty(), "another page");
        let edited: Vec<(String, String)> =
            said.iter().map(|(k, v)| (k.clone(), if k == "released" { "999".into() } else { v.clone() })).collect();
        assert!(believed(&me, "subscription:crm", &edited, &keys).is_empty(), "an edited link");
        let unmarked = parsed("enabled=200&released=3");
        assert!(believed(&me, "subscription:crm", &unmarked, &keys).is_empty(), "a link without a mark");
    }
}
