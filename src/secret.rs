//! Keeping secrets out of what people read: `Secret`, a string whose `Debug` and `Display`
//! show `***`, and `Masker`, which finds secret values in text in every form they take
//! when written out (percent-encoded, JSON-escaped, base64, URL userinfo, and escaped by a
//! receiver: `\/`, `\uXXXX`, HTML references) and masks them.

mod escapes;

use std::fmt;

use base64::Engine as _;

/// What secrets look like wherever a person could read them.
pub const MASK: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for signing and comparing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Values shorter than this are not masked: masking them would mangle other text, and a
/// secret that short protects nothing.
pub const MIN_MASKED_LEN: usize = 4;

/// Finds secret values in text, in each of the forms they take when written out, and
/// replaces them with `***`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Masker {
    /// Every form of every value, longest first, so a longer form is masked whole.
    forms: Vec<String>,
    /// The values shorter than `MIN_MASKED_LEN`: masked only where they stand in a URL.
    short: Vec<String>,
}

impl Masker {
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        let (long, short): (Vec<S>, Vec<S>) =
            values.into_iter().partition(|v| v.as_ref().chars().count() >= MIN_MASKED_LEN);
        let mut forms: Vec<String> = long.iter().flat_map(|v| forms_of(v.as_ref())).collect();
        // A secret URL (`${secret:SLACK_URL}`) travels without its scheme and host too: a
        // receiver echoes the path it was asked for.
        forms.extend(long.iter().flat_map(|v| secret_url_parts(v.as_ref())).flat_map(|p| forms_of(&p)));
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        let short = short.iter().map(|v| v.as_ref().to_string()).filter(|v| !v.is_empty()).collect();
        Self { forms, short }
    }

    /// A URL as people may see it: `mask`, and the short values where they stand as a
    /// query value or the fragment (`mask_short_url_values`).
    pub fn mask_url(&self, url: &str) -> String {
        mask_short_url_values(&self.mask(url), &self.short)
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every form of every secret, and any URL userinfo, replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let masked = self.forms.iter().fold(text.to_string(), |t, form| t.replace(form.as_str(), MASK));
        let masked = self.mask_escaped(masked);
        mask_userinfo(&masked)
    }

    /// `text`, cut to a part of itself, with what it ends with of a secret masked: the
    /// beginning of a secret that went on past the cut would otherwise show (all of it but
    /// its last character, at worst). Beginnings shorter than `MIN_MASKED_LEN` stay.
    pub fn mask_cut_end(&self, mut text: String) -> String {
        // The longest beginning of any form the text ends with.
        let longest = self
            .forms
            .iter()
            .filter_map(|form| {
                let cuts = form.char_indices().map(|(i, _)| i).filter(|&i| i >= MIN_MASKED_LEN);
                cuts.rev().find(|&i| text.ends_with(&form[..i]))
            })
            .max();
        if let Some(at) = longest.map(|len| text.len() - len) {
            text.truncate(at);
            text.push_str(MASK);
        }
        text
    }

    /// A receiver's own escaping of what it echoes (PHP's `json_encode` writes `\/` and
    /// `\u00e9`, HTML `&quot;` and `&#x2F;`, any character, in any mix) cannot be listed
    /// form by form: the text is decoded, searched, and masked where the match came from.
    /// Text with no `\` or `&` costs one scan.
    fn mask_escaped(&self, text: String) -> String {
        if self.forms.is_empty() {
            return text;
        }
        // A `+` is a space only in a form or a query: read so only for a secret with a space.
        let form = self.forms.iter().any(|f| f.contains(' ')).then(|| escapes::Decoded::new_form(&text)).flatten();
        let decodings: Vec<escapes::Decoded> =
            escapes::Decoded::new(&text).into_iter().chain(escapes::Decoded::new_percent(&text)).chain(form).collect();
        let mut spans: Vec<(usize, usize)> = decodings
            .iter()
            .flat_map(|decoded| {
                self.forms.iter().flat_map(move |form| {
                    decoded.text.match_indices(form.as_str()).map(|(at, m)| decoded.original(at, m.len()))
                })
            })
            .collect();
        if spans.is_empty() {
            return text;
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for (start, end) in spans {
            if start >= done {
                out.push_str(&text[done..start]);
                out.push_str(MASK);
                done = end;
            } else {
                done = done.max(end); // overlaps the span just masked
            }
        }
        out.push_str(&text[done..]);
        out
    }
}

/// `text` cut to at most `limit` bytes, at a character boundary.
pub fn cut_to(mut text: String, limit: usize) -> String {
    // `str::floor_char_boundary` is newer than the crate's rust-version (1.89).
    if text.len() > limit {
        let at = (0..=limit).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(at);
    }
    text
}

/// The ways a value can appear in a URL, a JSON document, a form or a header.
/// A path or query value shorter than this (`/api`, `/hooks`, `?wait=true`,
/// `?format=json`) is no secret of its own: masked as free text, it would hide ordinary
/// words everywhere (`true`, `json`). Such parts stay masked where they stand in the URL.
const MIN_SECRET_PART: usize = 8;

/// The path of a secret that is a URL, when it is long enough to be a secret of its own (a
/// webhook URL's token path, `/services/T000/B000/XXXX`): None for `/` and short ones.
pub fn secret_path(value: &str) -> Option<&str> {
    let rest = value.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    let path = path.split(['?', '#']).next().unwrap_or(path).trim_end_matches('/');
    (path.chars().count() >= MIN_SECRET_PART).then_some(path)
}

/// What of a secret URL travels without its scheme and host, each masked on its own: its
/// path, everything after the host (path and query, as a request line has it), and each
/// query value (`?key=K123&token=T456`, as a receiver may echo one alone).
fn secret_url_parts(value: &str) -> Vec<String> {
    let Some(rest) = value.split_once("://").map(|(_, rest)| rest) else { return Vec::new() };
    let after_host = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
    let mut parts: Vec<String> = secret_path(value).into_iter().map(str::to_string).collect();
    if after_host.chars().count() >= MIN_SECRET_PART {
        parts.push(after_host.to_string());
    }
    if let Some((_, query)) = after_host.split_once('?') {
        let query = query.split('#').next().unwrap_or(query);
        let values = url::form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned());
        parts.extend(values.filter(|v| v.chars().count() >= MIN_SECRET_PART));
    }
    parts
}

fn forms_of(value: &str) -> Vec<String> {
    let percent = |set| percent_encoding::utf8_percent_encode(value, set).to_string();
    let upper = percent(percent_encoding::NON_ALPHANUMERIC);
    let component = percent(crate::percent::COMPONENT);
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.get(1..json.len().saturating_sub(1)).unwrap_or_default().to_string();
    let html_safe_json =
        json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026").replace('\'', "\\u0027");
    let mut forms = vec![
        value.to_string(),
        component.to_ascii_lowercase(),
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        url_path_form(value),
        url_query_form(value),
        base64::engine::general_purpose::STANDARD.encode(value),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value),
        upper.to_ascii_lowercase(),
        upper,
        component,
        json,
        html_safe_json,
        percent(TEMPLATE_URLENCODE),
        percent(TEMPLATE_URLENCODE).to_ascii_lowercase(),
        hex::encode(value),
        hex::encode_upper(value),
    ];
    // A receiver that echoes the request base64-encoded (a debugging endpoint, a log
    // shipper) encodes the secret as it was sent: JSON-escaped in a body, percent-encoded
    // in a URL or a form, not only as it is.
    let mut sent_forms: Vec<String> = forms.iter().filter(|f| is_sent_form(f, value)).cloned().collect();
    sent_forms.sort();
    sent_forms.dedup();
    forms.extend(base64_cores(value));
    for sent in &sent_forms {
        forms.extend(base64_cores(sent));
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// Whether `form` is `value` as written into a request (escaped or percent-encoded, so
/// other than `value`), rather than one of its binary encodings.
fn is_sent_form(form: &str, value: &str) -> bool {
    let encoded = |f: &str| {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        f == STANDARD.encode(value) || f == URL_SAFE_NO_PAD.encode(value) || f.eq_ignore_ascii_case(&hex::encode(value))
    };
    form != value && !encoded(form)
}

/// What the templates' `urlencode` filter (minijinja's) leaves as it is: `/` among them,
/// which the URL component form encodes.
const TEMPLATE_URLENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'.').remove(b'-').remove(b'_');

/// A core shorter than this could match base64 text by chance.
const MIN_BASE64_CORE: usize = 8;

/// The characters every base64 text holding `value` contains, wherever `value` starts in
/// what was encoded (`'api:' ~ token | base64`, a Basic credential built by a template):
/// for each of the three byte alignments, the characters made of `value`'s bits alone.
/// The one or two characters at each end that share bits with the text around it stay
/// shown; they give away less than a byte of it each.
fn base64_cores(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut cores = Vec::new();
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(value.as_bytes());
            let encoded = engine.encode(&bytes);
            let (start, end) = ((8 * offset).div_ceil(6), 8 * (offset + value.len()) / 6);
            if let Some(core) = encoded.get(start..end).filter(|c| c.len() >= MIN_BASE64_CORE) {
                cores.push(core.to_string());
            }
        }
    }
    cores
}

/// How the `url` crate writes `value` in a path, which is how a rendered URL is stored.
fn url_path_form(value: &str) -> String {
    let Ok(mut url) = url::Url::parse("http://h/") else { return String::new() };
    url.set_path(value);
    url.path().trim_start_matches('/').to_string()
}

/// How the `url` crate writes `value` in a query.
fn url_query_form(value: &str) -> String {
    let Ok(mut url) = url::Url::parse("http://h/") else { return String::new() };
    url.set_query(Some(value));
    url.query().unwrap_or_default().to_string()
}

/// The credentials a URL's userinfo carries, `user:password` percent-decoded: what a
/// delivery sends, base64-encoded, as Basic `Authorization`.
pub fn userinfo_credentials(url: &url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    Some(format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or_default())))
}

/// The values to mask for a URL's userinfo besides the URL form `mask_userinfo` finds:
/// the credential pair (so its base64, as a receiver may echo the `Authorization` header
/// back, is masked too), that base64 as a value of its own (echoed in hex, or base64
/// again), and the password alone.
pub fn userinfo_secrets(url: &url::Url) -> Vec<String> {
    let password = url.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    let pair = userinfo_credentials(url);
    let wire = pair.as_ref().map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    pair.into_iter().chain(wire).chain(password).collect()
}

/// `url` with each query parameter's value, and the fragment, that is exactly one of the
/// `short` values (shorter than `MIN_MASKED_LEN`) shown as `***`: the URL rule hides a query value
/// that came from a variable however short (`?pin=42`), where masking it as text would
/// mangle everything else that holds those characters. By value, not by the parameter
/// that came from the variable: another parameter with the same short value shows `***`
/// too (erring toward hiding).
fn mask_short_url_values(url: &str, short: &[String]) -> String {
    if short.is_empty() {
        return url.to_string();
    }
    let is_short = |text: &str| {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
        short.iter().any(|v| *v == text || *v == decoded)
    };
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let mut out = match rest.split_once('?') {
        Some((head, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((name, value)) if is_short(value) => format!("{name}={MASK}"),
                    None if is_short(param) => MASK.to_string(),
                    _ => param.to_string(),
                })
                .collect();
            format!("{head}?{}", params.join("&"))
        }
        None => rest.to_string(),
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(if is_short(f) { MASK } else { f });
    }
    out
}

/// `scheme://user:password@host…` → `scheme://***@host…`, wherever it stands in `text`.
pub fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end =
            tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"').unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(MASK);
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_urls_path_is_masked_where_a_receiver_echoes_it() {
        let masker = Masker::new(["http://127.0.0.1:47311/fail/T000/SlackPathSecret123"]);
        assert_eq!(masker.mask(r#"{"path": "/fail/T000/SlackPathSecret123"}"#), r#"{"path": "***"}"#);
        assert_eq!(masker.mask("GET /fail/T000/SlackPathSecret123/x?y=1"), "GET ***/x?y=1");
        assert_eq!(secret_path("https://h/"), None, "a bare host has no path of its own");
        assert_eq!(secret_path("https://h/api?k=1"), None, "too short to be a secret alone");
        let chat = Masker::new(["https://chat.example/v1/spaces/AAA/messages?key=K123&token=T456"]);
        assert_eq!(chat.mask("POST /v1/spaces/AAA/messages?key=K123&token=T456"), "POST ***");
        assert_eq!(chat.mask("POST /v1/spaces/AAA/messages"), "POST ***", "the path alone");
        let token = Masker::new(["https://chat.example/v1/spaces?key=K123&token=T456xyzw"]);
        assert_eq!(token.mask("bad token T456xyzw"), "bad token ***", "a long query value alone");
        // Short parts are ordinary words: never masked as free text.
        let discord = Masker::new(["https://discord.example/api/webhooks/1/abc?wait=true&format=json"]);
        assert_eq!(
            discord.mask(r#"{"tts": true, "type": "application/json"}"#),
            r#"{"tts": true, "type": "application/json"}"#
        );
        assert_eq!(secret_path("not a url"), None);
    }

    #[test]
    fn a_basic_credential_is_masked_as_sent_and_in_the_receivers_encodings_of_it() {
        let url = url::Url::parse("https://basicuser:BasicP%40ss%2Fw+rd%3D7x@127.0.0.1/x").unwrap();
        let masker = Masker::new(userinfo_secrets(&url));
        let header =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("basicuser:BasicP@ss/w+rd=7x"));
        for echoed in [header.clone(), hex::encode(&header), base64::engine::general_purpose::STANDARD.encode(&header)]
        {
            let masked = masker.mask(&format!("auth: {echoed}"));
            assert!(masked.contains("***") && !masked.contains(&echoed), "{echoed} → {masked}");
        }
    }

    #[test]
    fn a_secret_is_masked_in_every_form_it_is_written_in() {
        let secret = "s3cr3t/v@lue \"é\"+&<x>";
        let masker = Masker::new([secret]);
        let encodings = [
            secret.to_string(),
            crate::percent::encode_component(secret),
            crate::percent::encode_component(secret).to_ascii_lowercase(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            serde_json::to_string(secret).unwrap(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            url::Url::parse(&format!("http://h/a/{}", crate::percent::encode_component(secret))).unwrap().to_string(),
            url::Url::parse(&format!("http://h/?q={secret}")).unwrap().to_string(),
        ];
        for text in encodings {
            let shown = masker.mask(&format!("before {text} after"));
            assert!(shown.contains(MASK), "{text} → {shown}");
            for part in ["s3cr3t", "v%40lue", "v@lue", "czNjcjN0"] {
                assert!(!shown.contains(part), "{text} → {shown}");
            }
        }
    }

    #[test]
    fn a_secret_is_masked_in_hex_in_the_templates_urlencode_and_inside_longer_base64() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "slack-S3CRET/iiii?";
        let masker = Masker::new([secret]);
        let mut texts = vec![
            hex::encode(secret),
            hex::encode_upper(secret),
            "slack-S3CRET/iiii%3F".to_string(), // minijinja's urlencode keeps '/'
        ];
        for prefix in ["", "a", "ap", "api:", "Basic user:", "x\u{e9}"] {
            let joined = format!("{prefix}{secret}");
            texts.push(STANDARD.encode(&joined));
            texts.push(URL_SAFE_NO_PAD.encode(format!("{joined} and more")));
        }
        for text in texts {
            let shown = masker.mask(&format!("before {text} after"));
            assert!(shown.contains(MASK), "{text} → {shown}");
            // No run of 8 characters of the secret's own base64 (any alignment) is left.
            for core in base64_cores(secret) {
                assert!(!shown.contains(&core[..8]), "{text} → {shown}");
            }
        }
        // Short secrets get no cores: eight characters of base64 could match by chance.
        assert!(base64_cores("abc").is_empty());
    }

    #[test]
    fn short_url_values_are_masked_where_they_stand_in_the_query_only() {
        let masker = Masker::new(["qq", "7", "long-enough"]);
        let url = "https://h7.example/qq/7?pin=qq&n=7&page=17&qq=x&flag&k=long-enough#7";
        assert_eq!(masker.mask_url(url), "https://h7.example/qq/7?pin=***&n=***&page=17&qq=x&flag&k=***#***");
        assert_eq!(masker.mask("?pin=qq"), "?pin=qq", "as text elsewhere, a short value is left alone");
        assert_eq!(masker.mask_url("https://h/?a=q%71"), "https://h/?a=***", "percent-encoded");
        assert_eq!(masker.mask_url("https://h/qq"), "https://h/qq", "no query");
        assert_eq!(masker.mask_url("https://h/qq#qq"), "https://h/qq#***", "a fragment alone");
        assert_eq!(Masker::new([""; 0]).mask_url(url), url);
    }

    #[test]
    fn a_secret_is_masked_in_base64_of_the_forms_it_is_sent_in() {
        use base64::engine::general_purpose::STANDARD;
        for (secret, sent) in [
            (r#"k3y"Quoted\Secret77"#, r#"{"api_key":"k3y\"Quoted\\Secret77"}"#.to_string()),
            ("query Secret88", "/b64echo/q?api_key=query%20Secret88".to_string()),
            ("form Secret+55&x", "key=form%20Secret%2B55%26x".to_string()),
            ("hdrS3cretQ/+ab=zz", "hdrS3cretQ%2F%2Bab%3Dzz".to_string()),
        ] {
            let masker = Masker::new([secret]);
            let echoed = STANDARD.encode(&sent);
            let masked = masker.mask(&echoed);
            assert!(masked.contains(MASK), "{secret:?} sent as {sent:?}: {masked}");
            assert!(masked.len() < echoed.len() - 8, "{secret:?}: {masked} against {echoed}");
        }
    }

    #[test]
    fn a_secret_a_receiver_escaped_its_own_way_is_masked() {
        let secret = "s3cr3t/K+y\"é&<";
        let base64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let masker = Masker::new([secret]);
        for echoed in [
            r#"s3cr3t\/K+y\"\u00e9&<"#.to_string(),
            r#"\u0073\u0033cr3t\u002FK+y\u0022\u00E9\u0026\u003c"#.to_string(),
            "s3cr3t&#x2F;K&#43;y&quot;&eacute;&amp;&lt;".replace("&eacute;", "é"),
            "s3cr3t&sol;K+y&#34;é&#38;&#60;".to_string(),
            "s3cr3t&amp;#x2F;K+y&amp;quot;é&amp;amp;&amp;lt;".to_string(),
            base64.replace('/', "\\/"),
            base64.replace('/', "&#x2F;").replace('+', "&#43;"),
        ] {
            let shown = masker.mask(&format!("<p>echo: {echoed}</p>"));
            assert_eq!(shown, "<p>echo: ***</p>", "{echoed}");
        }
        let around = masker.mask(r#"{"a":"s3cr3t\/K+y\"\u00e9&<","b":"s3cr3t\/K","c":"\u00e9"}"#);
        assert_eq!(around, r#"{"a":"***","b":"s3cr3t\/K","c":"\u00e9"}"#, "the rest is left as it was");
    }

    #[test]
    fn a_secret_percent_encoded_in_lower_case_hex_or_as_a_form_is_masked() {
        let masker = Masker::new(["Pc t/S3cr~et:+?&=x"]);
        for echoed in
            ["Pc%20t%2fS3cr~et%3a%2b%3f%26%3dx", "Pc+t%2FS3cr~et%3A%2B%3F%26%3Dx", "Pc+t%2fS3cr%7eet%3A%2B%3F%26%3Dx"]
        {
            assert_eq!(masker.mask(&format!("{{\"k\": \"{echoed}\"}}")), r#"{"k": "***"}"#, "{echoed}");
        }
        // Without a space in the secret a `+` stays itself.
        assert_eq!(Masker::new(["K+y/Secret"]).mask("K+y%2FSecret"), "***");
        // A secret that holds percent-encoding itself, echoed with other escapes around it.
        let url = Masker::new(["https://h.example/a%20b/tok-long"]);
        assert_eq!(url.mask(r#"{"u":"https:\/\/h.example\/a%20b\/tok-long"}"#), r#"{"u":"***"}"#);
    }

    #[test]
    fn a_body_cut_inside_a_secret_shows_none_of_it() {
        let masker = Masker::new(["HdrApiKey_77zz"]);
        let body = format!("{}HdrApiKey_77zz{}", "A".repeat(10), "B".repeat(10));
        let masked = masker.mask(&body);
        assert_eq!(masker.mask_cut_end(cut_to(masked, 12)), format!("{}**", "A".repeat(10)), "the mask cut");
        // Cut inside the secret's text itself (as read, before masking): its beginning goes.
        assert_eq!(masker.mask_cut_end(cut_to(body.clone(), 23)), format!("{}***", "A".repeat(10)));
        assert_eq!(masker.mask_cut_end(cut_to(body.clone(), 13)), format!("{}Hdr", "A".repeat(10)), "three stay");
        assert_eq!(masker.mask_cut_end(cut_to(body, 14)), format!("{}***", "A".repeat(10)), "four do not");
        assert_eq!(cut_to("aé".to_string(), 2), "a", "at a character boundary");
    }

    #[test]
    fn userinfo_is_masked_and_short_values_are_not() {
        assert_eq!(mask_userinfo("https://user:pw@crm.example/x?a=b"), "https://***@crm.example/x?a=b");
        assert_eq!(mask_userinfo("see http://h/a@b and https://a:b@c"), "see http://h/a@b and https://***@c");
        assert_eq!(Masker::new(["abc"]).mask("abcdef"), "abcdef");
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }
}
