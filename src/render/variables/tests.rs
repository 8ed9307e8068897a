//! What `RequestTemplate::reads` finds, template by template.

use std::sync::Arc;

use super::{path_text, Read};
use crate::render::{BodyFormat, Delimiters, RequestSpec, RequestTemplate, TemplateFiles};

struct Spec<'a> {
    url: &'a str,
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
    body_template: Option<&'a str>,
    filter: Option<&'a str>,
    files: &'a [(&'a str, &'a str)],
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            url: "https://h.example/",
            headers: Vec::new(),
            body: None,
            body_template: None,
            filter: None,
            files: &[],
        }
    }
}

fn reads(spec: Spec<'_>) -> Vec<Read> {
    let files: TemplateFiles = Arc::new(spec.files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let t = RequestTemplate::compile(RequestSpec {
        url: spec.url,
        headers: &spec.headers,
        body: spec.body.as_ref(),
        body_template: spec.body_template,
        body_format: BodyFormat::Json,
        filter: spec.filter,
        ping_url: None,
        delimiters: &Delimiters::default(),
        files,
    })
    .unwrap();
    t.reads()
}

/// Each read as `place:line written => Payload.path`.
fn shown(reads: &[Read]) -> Vec<String> {
    reads
        .iter()
        .map(|r| {
            let guarded = if r.guarded { " (guarded)" } else { "" };
            let place = r.file.as_deref().unwrap_or(&r.field);
            format!("{place}:{} {} => {}{guarded}", r.line, r.written, path_text(&r.path))
        })
        .collect()
}

fn body_file(text: &str) -> Vec<String> {
    let files = [("b.j2", text)];
    shown(&reads(Spec { body_template: Some("b.j2"), files: &files, ..Spec::default() }))
}

#[test]
fn every_part_of_a_request_is_read_with_its_field_and_line() {
    let found = reads(Spec {
        url: "https://h.example/c/{{ Customer.Id }}",
        headers: vec![("X-Email".into(), "{{ Payload.Customer.Email }}".into())],
        body: Some(serde_json::json!({"points": "{{ Points }}", "note": "n {{ event.Payload.Note }} {{ Topic }}"})),
        filter: Some("Points > 10 and Tier == 'gold'"),
        ..Spec::default()
    });
    assert_eq!(
        shown(&found),
        [
            "request.url:1 Customer.Id => Payload.Customer.Id",
            "request.headers.X-Email:1 Payload.Customer.Email => Payload.Customer.Email",
            "request.body.points:1 Points => Payload.Points",
            "request.body.note:1 event.Payload.Note => Payload.Note",
            "filter:1 Points => Payload.Points (guarded)",
            "filter:1 Tier => Payload.Tier (guarded)",
        ]
    );
}

#[test]
fn files_are_read_with_their_lines_and_includes_see_the_includers_names() {
    let files = [
        ("b.j2", "{\n  \"id\": {{ Customer.Id }},\n  {% for i in Items %}{% include 'item.j2' %}{% endfor %}\n}"),
        ("item.j2", "\n{{ i.Sku }}"),
    ];
    let found = shown(&reads(Spec { body_template: Some("b.j2"), files: &files, ..Spec::default() }));
    assert_eq!(
        found,
        [
            "b.j2:2 Customer.Id => Payload.Customer.Id",
            "b.j2:3 Items => Payload.Items",
            "item.j2:2 i.Sku => Payload.Items[].Sku"
        ]
    );
}

#[test]
fn names_bound_by_set_with_and_for_are_followed() {
    let found = body_file(
        "{% set x = Payload.Items %}{% for i in x | sort(attribute='Sku') %}{{ i.Sku }}{{ loop.index }}{% endfor %}\
         {% with c = Customer %}{{ c.Name }}{% endwith %}{{ (Lines | first).Qty }}{% set n = 1 %}{{ n }}",
    );
    assert_eq!(
        found,
        [
            "b.j2:1 Payload.Items => Payload.Items",
            "b.j2:1 x => Payload.Items",
            "b.j2:1 i.Sku => Payload.Items[].Sku",
            "b.j2:1 Customer => Payload.Customer",
            "b.j2:1 c.Name => Payload.Customer.Name",
            "b.j2:1 Lines => Payload.Lines",
            "b.j2:1 (Lines | first).Qty => Payload.Lines[].Qty",
        ]
    );
}

#[test]
fn subscripts_get_and_filter_arguments_are_paths_too() {
    let found = body_file(
        "{{ Payload[\"Customer\"].Id }} {{ Items[0].Sku }} {{ Customer.get('Email') }} {{ A | default(B.C) }} \
         {{ Customer.Name.upper() }} {{ M[key] }}",
    );
    assert_eq!(
        found,
        [
            "b.j2:1 Payload[\"Customer\"].Id => Payload.Customer.Id",
            "b.j2:1 Items[0].Sku => Payload.Items[].Sku",
            "b.j2:1 Customer.get('Email') => Payload.Customer.Email",
            "b.j2:1 B.C => Payload.B.C",
            "b.j2:1 A => Payload.A (guarded)",
            "b.j2:1 Customer.Name => Payload.Customer.Name",
            "b.j2:1 M => Payload.M",
            "b.j2:1 key => Payload.key",
        ]
    );
}

#[test]
fn the_envelope_macro_arguments_and_imports_are_not_payload_paths() {
    let files = [
        ("b.j2", "{% import 'm.j2' as m %}{% from 'm.j2' import tier %}{{ m.tier(Points) }}{{ tier(1) }}{{ Uuid }}{{ event.Topic }}{{ Date }}"),
        ("m.j2", "{% macro tier(v) %}{{ v.Level }}{{ Region }}{% endmacro %}"),
    ];
    let found = shown(&reads(Spec { body_template: Some("b.j2"), files: &files, ..Spec::default() }));
    assert_eq!(found, ["m.j2:1 Region => Payload.Region", "b.j2:1 Points => Payload.Points"]);
}

#[test]
fn an_include_cycle_ends() {
    let files = [("b.j2", "{{ A }}{% if A %}{% include 'c.j2' %}{% endif %}"), ("c.j2", "{{ C }}{% include 'b.j2' %}")];
    let found = shown(&reads(Spec { body_template: Some("b.j2"), files: &files, ..Spec::default() }));
    assert_eq!(found, ["b.j2:1 A => Payload.A", "b.j2:1 A => Payload.A (guarded)", "c.j2:1 C => Payload.C"]);
}

#[test]
fn reads_that_expect_absence_are_guarded() {
    let found = body_file(
        "{{ Customer.Name | default('') }}{% if Coupon %}{{ Coupon.Code }}{% endif %}{{ Coupon.Kind }}\
         {{ Voucher.Id if Voucher is defined else '' }}{{ Points }}",
    );
    assert_eq!(
        found,
        [
            // hookshape guards a `default`'s parents (`Customer is defined`): read too.
            "b.j2:1 Customer => Payload.Customer (guarded)",
            "b.j2:1 Customer.Name => Payload.Customer.Name (guarded)",
            "b.j2:1 Coupon => Payload.Coupon (guarded)",
            "b.j2:1 Coupon.Code => Payload.Coupon.Code (guarded)",
            "b.j2:1 Coupon.Kind => Payload.Coupon.Kind",
            "b.j2:1 Voucher => Payload.Voucher (guarded)",
            "b.j2:1 Voucher.Id => Payload.Voucher.Id (guarded)",
            "b.j2:1 Points => Payload.Points",
        ]
    );
}

#[test]
fn a_subscriptions_own_delimiters_are_read_with() {
    let delimiters = Delimiters {
        variable: ("[[".into(), "]]".into()),
        block: ("[%".into(), "%]".into()),
        comment: ("[#".into(), "#]".into()),
    };
    let t = RequestTemplate::compile(RequestSpec {
        url: "https://h.example/[[ Customer.Id ]]/{{ literal }}",
        headers: &[],
        body: None,
        body_template: None,
        body_format: BodyFormat::Json,
        filter: None,
        ping_url: None,
        delimiters: &delimiters,
        files: TemplateFiles::default(),
    })
    .unwrap();
    assert_eq!(shown(&t.reads()), ["request.url:1 Customer.Id => Payload.Customer.Id"]);
}
