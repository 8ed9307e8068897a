//! Reading text as a receiver may have escaped it (JSON's `\/` and `\uXXXX`, as PHP's
//! `json_encode` writes them; HTML character references; percent-encoding with either
//! case of hex, and `+` for a space as forms write it), in any mix, while remembering
//! where each character came from, so that a secret found in the decoded text can be
//! masked in the text itself.

/// One decoded character and the bytes of the original text it was read from.
#[derive(Debug, Clone, Copy)]
struct Unit {
    c: char,
    start: usize,
    end: usize,
}

/// Text with its escapes decoded, and the way back to the original's byte ranges.
pub struct Decoded {
    pub text: String,
    units: Vec<Unit>,
    /// Where each unit starts in `text`.
    offsets: Vec<usize>,
}

/// Rounds of decoding: two read `&amp;quot;` and `\u0026quot;` too.
const ROUNDS: usize = 2;

/// Which escapes a reading decodes. Percent-encoding is read apart from the others: a
/// secret that holds `%2F` itself, echoed with `\/` around it, must still be found as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// JSON's and HTML's escapes.
    Escapes,
    /// Those, and percent-encoding in either case of hex.
    Percent,
    /// Those, percent-encoding, and a `+` for a space, as a form or a query writes one.
    Form,
}

impl Decoded {
    /// JSON and HTML escapes decoded; None when `text` holds none, the common case.
    pub fn new(text: &str) -> Option<Self> {
        Self::decode(text, Reading::Escapes)
    }

    /// As `new`, percent-encoding decoded too.
    pub fn new_percent(text: &str) -> Option<Self> {
        Self::decode(text, Reading::Percent)
    }

    /// As `new_percent`, reading a `+` as a space.
    pub fn new_form(text: &str) -> Option<Self> {
        Self::decode(text, Reading::Form)
    }

    fn decode(text: &str, reading: Reading) -> Option<Self> {
        // Each reading only when it has something of its own to decode: the JSON/HTML one
        // is not repeated by the percent one for text with no percent-encoding.
        let percent = || text.as_bytes().windows(2).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit());
        let wanted = match reading {
            Reading::Escapes => has_escape(text.as_bytes()),
            Reading::Percent => percent(),
            Reading::Form => percent() || text.contains('+'),
        };
        if !wanted {
            return None;
        }
        let mut units: Vec<Unit> =
            text.char_indices().map(|(i, c)| Unit { c, start: i, end: i + c.len_utf8() }).collect();
        let mut changed = false;
        for round in 0..ROUNDS {
            // A `+` is a space as written, not once an escape made it (`%2B`).
            let reading = if reading == Reading::Form && round > 0 { Reading::Percent } else { reading };
            let (next, decoded_any) = decode_round(&units, reading);
            if !decoded_any {
                break;
            }
            changed = true;
            units = next;
        }
        if !changed {
            return None;
        }
        let mut decoded = String::with_capacity(units.len());
        let mut offsets = Vec::with_capacity(units.len());
        for u in &units {
            offsets.push(decoded.len());
            decoded.push(u.c);
        }
        Some(Self { text: decoded, units, offsets })
    }

    /// The original text's byte range behind `text[at..at + len]` (a match of a non-empty needle).
    pub fn original(&self, at: usize, len: usize) -> (usize, usize) {
        let first = self.offsets.partition_point(|&o| o <= at).saturating_sub(1);
        let last = self.offsets.partition_point(|&o| o < at + len).saturating_sub(1);
        (self.units[first].start, self.units[last].end)
    }
}

/// Whether `text` may hold an escape at all: a receiver's body is checked on every attempt,
/// so the common case (none) costs one scan and no allocation.
fn has_escape(text: &[u8]) -> bool {
    text.windows(2).any(|w| match w[0] {
        b'\\' => b"\"\\/bfnrtu".contains(&w[1]),
        b'&' => w[1] == b'#' || w[1].is_ascii_alphabetic(),
        _ => false,
    })
}

fn decode_round(units: &[Unit], reading: Reading) -> (Vec<Unit>, bool) {
    let chars: Vec<char> = units.iter().map(|u| u.c).collect();
    let mut out = Vec::with_capacity(units.len());
    let mut decoded_any = false;
    let mut i = 0;
    while i < units.len() {
        let escape = match chars[i] {
            '\\' => json_escape(&chars[i..]),
            '&' => html_reference(&chars[i..]),
            '%' if reading != Reading::Escapes => percent_escape(&chars[i..]),
            '+' if reading == Reading::Form => Some((' ', 1)),
            _ => None,
        };
        match escape {
            Some((c, used)) => {
                out.push(Unit { c, start: units[i].start, end: units[i + used - 1].end });
                decoded_any = true;
                i += used;
            }
            None => {
                out.push(units[i]);
                i += 1;
            }
        }
    }
    (out, decoded_any)
}

/// `\/`, `\"`, `\n`, … and `\uXXXX` (a surrogate pair as one character): the character and
/// how many characters the escape took.
fn json_escape(s: &[char]) -> Option<(char, usize)> {
    let c = match s.get(1)? {
        '"' => '"',
        '\\' => '\\',
        '/' => '/',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => return unicode_escape(s),
        _ => return None,
    };
    Some((c, 2))
}

fn unicode_escape(s: &[char]) -> Option<(char, usize)> {
    let unit = |at: usize| -> Option<u32> {
        (s.get(at) == Some(&'\\') && s.get(at + 1) == Some(&'u')).then_some(())?;
        let hex: String = s.get(at + 2..at + 6)?.iter().collect();
        u32::from_str_radix(&hex, 16).ok().filter(|_| hex.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let high = unit(0)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = unit(6).filter(|l| (0xDC00..0xE000).contains(l))?;
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return char::from_u32(code).map(|c| (c, 12));
    }
    char::from_u32(high).map(|c| (c, 6))
}

/// `%2F`, `%2f`, and a character of several bytes written byte by byte (`%C3%A9`): the
/// character and how many characters its escapes took.
fn percent_escape(s: &[char]) -> Option<(char, usize)> {
    let byte = |at: usize| -> Option<u8> {
        (s.get(at) == Some(&'%')).then_some(())?;
        let (high, low) = (s.get(at + 1)?.to_digit(16)?, s.get(at + 2)?.to_digit(16)?);
        u8::try_from(high * 16 + low).ok()
    };
    let len = match byte(0)? {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let bytes: Vec<u8> = (0..len).map(|k| byte(3 * k)).collect::<Option<_>>()?;
    let c = std::str::from_utf8(&bytes).ok()?.chars().next()?;
    Some((c, 3 * len))
}

/// The named references a receiver's HTML escaping writes for the characters a secret may
/// hold (`htmlspecialchars`, HTML5's `&sol;` and friends).
const NAMED: &[(&str, char)] = &[
    ("quot", '"'),
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("apos", '\''),
    ("sol", '/'),
    ("bsol", '\\'),
    ("plus", '+'),
    ("equals", '='),
    ("num", '#'),
    ("percnt", '%'),
    ("colon", ':'),
    ("semi", ';'),
    ("comma", ','),
    ("period", '.'),
    ("excl", '!'),
    ("quest", '?'),
    ("commat", '@'),
    ("dollar", '$'),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("verbar", '|'),
    ("grave", '`'),
    ("Hat", '^'),
    ("lowbar", '_'),
    ("tilde", '~'),
    ("nbsp", '\u{a0}'),
];

/// `&quot;`, `&#47;`, `&#x2F;` (the `;` optional after digits, as browsers read it).
fn html_reference(s: &[char]) -> Option<(char, usize)> {
    if s.get(1) == Some(&'#') {
        let hex = matches!(s.get(2), Some('x' | 'X'));
        let first = if hex { 3 } else { 2 };
        let radix = if hex { 16 } else { 10 };
        let digits = s[first.min(s.len())..].iter().take(8).take_while(|c| c.is_digit(radix)).count();
        if digits == 0 {
            return None;
        }
        let text: String = s[first..first + digits].iter().collect();
        let c = u32::from_str_radix(&text, radix).ok().and_then(char::from_u32)?;
        let end = first + digits;
        return Some((c, if s.get(end) == Some(&';') { end + 1 } else { end }));
    }
    let name_len = s[1..].iter().take(8).take_while(|c| c.is_ascii_alphanumeric()).count();
    if s.get(1 + name_len) != Some(&';') {
        return None;
    }
    let name: String = s[1..1 + name_len].iter().collect();
    NAMED.iter().find(|(n, _)| *n == name).map(|&(_, c)| (c, name_len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> String {
        Decoded::new(text).map_or_else(|| text.to_string(), |d| d.text)
    }

    #[test]
    fn json_and_html_escapes_decode_in_any_mix() {
        for (text, want) in [
            (r"abc\/def", "abc/def"),
            (r"\u0041b\u00e9\u00E9", "Abéé"),
            (r"\ud83d\ude00!", "😀!"),
            (r"\ud83d alone", r"\ud83d alone"),
            ("&quot;a&amp;b&#x2F;c&#47;d&#X2f&lt;", "\"a&b/c/d/<"),
            ("&amp;quot;", "\""),
            (r"\u0026quot;", "\""),
            ("&unknown; & &#; &#xZZ;", "&unknown; & &#; &#xZZ;"),
            (r"\q \u12 \", r"\q \u12 \"),
        ] {
            assert_eq!(decode(text), want, "{text}");
        }
        let percent = |text: &str| Decoded::new_percent(text).map_or_else(|| text.to_string(), |d| d.text);
        for (text, want) in [
            ("Pc%20t%2fS3cr~et%3a%2B%C3%a9", "Pc t/S3cr~et:+é"),
            ("50%off 100%ab %zz %", "50%off 100%ab %zz %"),
            ("a%252F", "a/"),
            ("Pc+t%2F", "Pc+t/"),
        ] {
            assert_eq!(percent(text), want, "{text}");
        }
        assert_eq!(decode(r"a%2F\/b"), "a%2F/b", "percent-encoding is read apart");
        assert_eq!(Decoded::new_form("Pc+t%2FS3cr~et").unwrap().text, "Pc t/S3cr~et");
        assert!(Decoded::new("nothing escaped here").is_none());
    }

    #[test]
    fn a_match_maps_back_to_the_bytes_it_came_from() {
        let text = r"x=s\/e&#99;ret;";
        let d = Decoded::new(text).unwrap();
        assert_eq!(d.text, "x=s/ecret;");
        let at = d.text.find("s/ecret").unwrap();
        let (start, end) = d.original(at, "s/ecret".len());
        assert_eq!(&text[start..end], r"s\/e&#99;ret");
    }
}
