//! Property-based tests (proptest) of the pure code hostile input reaches: event parsing,
//! strict JSON, the URL/header/body renderers with generated templates and payloads, every
//! filter and function with generated arguments, topic matching against a reference
//! matcher, and signatures. A panic anywhere is a failure. They run in `cargo test` with
//! proptest's default 256 cases; `PROPTEST_CASES=100000 cargo test properties` runs longer.

use std::sync::Arc;

use hookshape::event::Event;
use hookshape::render::{Delimiters, RequestSpec, RequestTemplate, TemplateFiles};
use hookshape::sign::{self, Scheme, Signer};
use hookshape::subscription::topics::{glob_match, TopicIndex};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// JSON numbers in the spellings producers send (`1234.50`, `-0`, huge integers).
fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?",
    ]
    .prop_filter_map("a JSON number", |text| hookshape::json::parse(text.as_bytes()).ok())
}

fn json_value() -> impl Strategy<Value = Value> {
    let number = json_number();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text with what breaks things: separators, quotes, escapes, template and URL syntax,
/// control characters, non-ASCII, date and format fields.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{0,6}",
        Just("../".to_string()),
        Just("%".to_string()),
        Just("%Q%".to_string()),
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{%".to_string()),
        Just("\r\n".to_string()),
        Just("\0".to_string()),
        Just("\"'\\".to_string()),
        Just("?&=#/".to_string()),
        Just("é中😀".to_string()),
        Just("yyyy-MM-dd'T'HH:mm".to_string()),
        Just("2025-04-15T14:30:00.123Z".to_string()),
        Just("America/Sao_Paulo".to_string()),
        Just("$.a[0]".to_string()),
        Just("whsec_".to_string()),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|parts| parts.concat())
}

fn event_with(payload: Map<String, Value>) -> Event {
    Event {
        uuid: "f47ac10b-58cc-4372-a567-0e02b2c3d479".into(),
        date: "2025-04-15T14:30:00.123Z".into(),
        topic: "T".into(),
        payload,
        source_id: None,
    }
}

fn compile(
    url: &str,
    headers: &[(String, String)],
    body: Option<&Value>,
    files: TemplateFiles,
) -> Option<RequestTemplate> {
    let delimiters = Delimiters::default();
    RequestTemplate::compile(RequestSpec {
        url,
        headers,
        body,
        body_template: None,
        body_format: hookshape::render::BodyFormat::Json,
        filter: None,
        ping_url: None,
        delimiters: &delimiters,
        files,
    })
    .ok()
}

/// Every filter and function hookshape adds, and the built-ins a body is likely to use.
const FILTERS: &[&str] = &[
    "jsonpath",
    "date",
    "parse_date",
    "digits",
    "sha256",
    "hmac_sha256",
    "base64",
    "tojson",
    "urlencode",
    "default",
    "upper",
    "lower",
    "trim",
    "int",
    "float",
    "round",
    "length",
    "first",
    "last",
    "join",
    "replace",
    "string",
];

fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_text().prop_map(|t| format!("{:?}", t)),
        any::<i32>().prop_map(|n| n.to_string()),
        Just("Value".to_string()),
        Just("none".to_string()),
        Just("Nested.Key".to_string()),
    ]
}

proptest! {
    #[test]
    fn event_parsing_never_panics_and_valid_events_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..200),
                                                              payload in json_value()) {
        let _ = hookshape::event::parse(&bytes);
        let _ = hookshape::event::parse_batch(&bytes, 10);
        // Written out, not through `json!` (serde_json's to_value respells an exponent).
        let body = format!(r#"{{"Topic":"T.x","Payload":{{"p":{}}}}}"#, serde_json::to_string(&payload).unwrap());
        let event = hookshape::event::parse(body.as_bytes()).unwrap();
        prop_assert_eq!(&event.payload["p"], &payload);
        // Read back as hookshape reads its store (serde_json's own parser respells `1E2`).
        let stored: Value = hookshape::json::parse(event.envelope_json().as_bytes()).unwrap();
        prop_assert_eq!(&stored["Payload"]["p"], &payload);
    }

    #[test]
    fn strict_json_keeps_every_value_and_names_any_key_given_twice(value in json_value(), key in "[a-z]{1,4}") {
        let text = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(hookshape::json::parse(text.as_bytes()).unwrap(), value.clone());
        let doubled = format!(r#"{{"outer":{{"{key}":1,"{key}":{text}}}}}"#);
        let err = hookshape::json::parse(doubled.as_bytes()).unwrap_err();
        prop_assert_eq!(err, hookshape::json::JsonError::DuplicateKey { path: format!("outer.{key}") });
    }

    #[test]
    fn a_value_carried_whole_keeps_every_number_as_written(a in json_value(), b in json_value()) {
        // Two generated values in one event: numbers of equal value and different digits
        // (`1.5` and `1.50`, `1e2` and `100.0`) meet often enough to matter.
        let payload: Map<String, Value> = [("A".to_string(), a.clone()), ("B".to_string(), b.clone())].into_iter().collect();
        let body = json!({ "a": "{{ A }}", "b": "{{ Payload.B }}", "both": "{{ Payload | tojson }}", "list": "{{ [A, B] | tojson }}" });
        let template = compile("http://h.example/", &[], Some(&body), TemplateFiles::default()).unwrap();
        let rendered = template.render(&hookshape::render::context(&event_with(payload.clone()))).unwrap();
        let text = |v: &Value| serde_json::to_string(v).unwrap();
        let whole = format!(r#"{{"a":{},"b":{},"both":{}"#, text(&a), text(&b), text(&Value::Object(payload)));
        let body = rendered.body.unwrap();
        prop_assert!(body.starts_with(&whole), "{} does not start with {}", body, whole);
    }

    #[test]
    fn a_value_stays_inside_its_url_segment_whatever_it_holds(text in hostile_text(), number in json_number()) {
        let template = compile("http://h.example/c/{{ V }}/x?q={{ W }}", &[], None, TemplateFiles::default()).unwrap();
        let mut payload = Map::new();
        payload.insert("V".into(), Value::String(text.clone()));
        payload.insert("W".into(), number);
        let ctx = hookshape::render::context(&event_with(payload));
        if let Ok(url) = template.render_url(&ctx) {
            let parsed = url::Url::parse(&url).unwrap();
            prop_assert_eq!(parsed.host_str(), Some("h.example"));
            let segments: Vec<&str> = parsed.path_segments().unwrap().collect();
            prop_assert_eq!(segments.len(), 3, "{}", url);
            prop_assert_eq!(segments[0], "c");
            prop_assert_eq!(segments[2], "x");
            let decoded = percent_encoding::percent_decode_str(segments[1]).decode_utf8().unwrap();
            prop_assert_eq!(decoded, text.as_str());
            prop_assert_eq!(parsed.query_pairs().count(), 1, "{}", url);
        } else {
            prop_assert!(text.is_empty() || text == "." || text == "..", "refused {:?}", text);
        }
    }

    #[test]
    fn generated_templates_render_or_fail_but_never_panic(
        payload in prop::collection::btree_map("[A-Z][a-z]{0,4}", json_value(), 0..4),
        filter in prop::sample::select(FILTERS),
        args in prop::collection::vec(argument(), 0..3),
        literal in hostile_text(),
        value in json_value(),
    ) {
        let mut payload: Map<String, Value> = payload.into_iter().collect();
        payload.insert("Value".into(), value);
        let call = if args.is_empty() { filter.to_string() } else { format!("{filter}({})", args.join(", ")) };
        let expression = format!("{{{{ Value | {call} }}}}");
        let body = json!({ "typed": expression, "text": format!("{literal}{expression}"), "fixed": literal });
        let headers = vec![("X-H".to_string(), format!("h-{expression}"))];
        let files: TemplateFiles = Arc::new([("t.j2".to_string(), format!("{{\"v\": {expression}}}"))].into_iter().collect());
        let ctx = hookshape::render::context(&event_with(payload));
        if let Some(template) = compile("http://h.example/{{ Value }}", &headers, Some(&body), files) {
            if let Ok(rendered) = template.render(&ctx) {
                let body = rendered.body.unwrap();
                prop_assert!(serde_json::from_str::<Value>(&body).is_ok(), "{}", body);
                for (_, v) in &rendered.headers {
                    prop_assert!(!v.contains(['\r', '\n', '\0']), "{:?}", v);
                }
            }
        }
        for function in ["jsonpath", "now", "uuid"] {
            let call = format!("{{{{ {function}({}) }}}}", args.join(", "));
            let body = json!({ "f": call });
            if let Some(template) = compile("http://h.example/", &[], Some(&body), TemplateFiles::default()) {
                let _ = template.render(&ctx);
            }
        }
    }

    #[test]
    fn topic_routing_agrees_with_a_reference_matcher(
        patterns in prop::collection::vec("[ab*é.]{1,5}", 1..6),
        topics in prop::collection::vec("[abé.]{0,6}", 1..10),
    ) {
        let mut index = TopicIndex::default();
        for (i, p) in patterns.iter().enumerate() {
            index.insert(p, i);
        }
        for topic in &topics {
            let mut want: Vec<usize> =
                patterns.iter().enumerate().filter(|(_, p)| reference_glob(p, topic)).map(|(i, _)| i).collect();
            want.dedup();
            prop_assert_eq!(index.lookup(topic), want, "topic {:?} patterns {:?}", topic, patterns);
            for p in &patterns {
                prop_assert_eq!(glob_match(p, topic), reference_glob(p, topic), "{:?} ~ {:?}", p, topic);
            }
        }
    }

    #[test]
    fn a_signature_verifies_its_body_and_nothing_else(
        secret in "[ -~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        junk in "[ -~]{0,80}",
    ) {
        let standard = format!("whsec_{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret.as_bytes()));
        for (scheme, secret) in [(Scheme::HmacSha256Hex, secret.clone()), (Scheme::HmacSha256Prefixed, secret.clone()), (Scheme::StandardWebhooks, standard)] {
            let signer = Signer::new(scheme, None, vec![hookshape::secret::Secret::new(secret.clone())]).unwrap();
            let headers = signer.headers("dlv_1", 1_700_000_000, &body);
            let lookup = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
            prop_assert_eq!(sign::verify(scheme, &secret, None, &lookup, &body), Ok(()));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip.index(tampered.len());
                tampered[i] ^= 1;
                prop_assert!(sign::verify(scheme, &secret, None, &lookup, &tampered).is_err());
            }
            let garbage = |_: &str| Some(junk.clone());
            prop_assert!(sign::verify(scheme, &secret, None, &garbage, &body).is_err());
        }
    }
}

/// `*` matches any run of characters: the textbook recursive definition, over characters.
fn reference_glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>())
}
