//! Percent-encoding of one URL component (a path segment or a query value), shared by the
//! URL templates (`render::url`, `render::format`'s forms) and by the masking of secrets
//! (`secret`), which must find a secret in the form a URL carries it.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is encoded: `/ ? # & = +` included.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}
