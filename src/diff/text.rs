//! The report for a terminal (`--format text`) and for a pull request comment
//! (`--format markdown`: a summary table, then a collapsed section per subscription).

use std::fmt::Write;

use super::pairs::Kind;
use super::report::{Counted, Examples, FieldChange, Report, SubscriptionReport};

/// A value as the report shows it: JSON as it was, absent as `(none)`, long ones cut.
fn value(v: &Option<String>) -> String {
    const MAX: usize = 120;
    match v {
        None => "(none)".into(),
        Some(v) if v.chars().count() > MAX => format!("{}…", v.chars().take(MAX).collect::<String>()),
        Some(v) => v.clone(),
    }
}

fn field_change(c: &FieldChange) -> String {
    format!("{}: {} → {}", c.field, value(&c.before), value(&c.after))
}

fn kind_of(s: &SubscriptionReport) -> String {
    match (&s.change, &s.renamed_from) {
        (Kind::Renamed, Some(from)) => format!("renamed from {from}"),
        (Kind::Added, _) => "added".into(),
        (Kind::Removed, _) => "removed".into(),
        _ => "changed".into(),
    }
}

fn summary(r: &Report) -> String {
    let c = &r.counts;
    format!(
        "{} events; subscriptions: {} changed, {} added, {} removed, {} renamed; events: {} newly delivered, {} no longer delivered, {} changed requests, {} new errors, {} fixed errors",
        r.events,
        c.changed,
        c.added,
        c.removed,
        c.renamed,
        c.newly_delivered,
        c.no_longer_delivered,
        c.changed_requests,
        c.new_errors,
        c.fixed_errors
    )
}

/// "…and N more" when the examples do not show them all.
fn more<T>(e: &Examples<T>) -> Option<String> {
    let more = e.count.saturating_sub(e.examples.len() as u64);
    (more > 0).then(|| format!("…and {more} more"))
}

/// Each section of one subscription as (heading, lines).
fn sections(s: &SubscriptionReport) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let events = |title: &str, e: &Examples<super::report::EventRef>| {
        let mut lines: Vec<String> = e.examples.iter().map(|x| format!("{} {}", x.uuid, x.topic)).collect();
        lines.extend(more(e));
        (format!("{title}: {} events", e.count), lines)
    };
    if s.newly_delivered.count > 0 {
        out.push(events("newly delivered", &s.newly_delivered));
    }
    if s.no_longer_delivered.count > 0 {
        out.push(events("no longer delivered", &s.no_longer_delivered));
    }
    if s.changed_requests.count > 0 {
        let mut lines: Vec<String> = s.changed_fields.iter().map(counted).collect();
        for x in &s.changed_requests.examples {
            lines.push(format!("e.g. {} {}", x.uuid, x.topic));
            lines.extend(x.changes.iter().map(|c| format!("  {}", field_change(c))));
        }
        lines.extend(more(&s.changed_requests));
        out.push((format!("changed requests: {} events", s.changed_requests.count), lines));
    }
    if s.new_errors.count > 0 {
        let mut lines: Vec<String> = s.error_messages.iter().map(counted).collect();
        lines.extend(s.new_errors.examples.iter().map(|x| format!("e.g. {} {}", x.uuid, x.topic)));
        lines.extend(more(&s.new_errors));
        out.push((format!("new errors: {} events", s.new_errors.count), lines));
    }
    if s.fixed_errors.count > 0 {
        out.push(events("fixed errors", &s.fixed_errors));
    }
    if !s.settings.is_empty() {
        out.push(("settings".to_string(), s.settings.iter().map(field_change).collect()));
    }
    out
}

fn counted(c: &Counted) -> String {
    format!("{} ({} events)", c.text, c.events)
}

/// `--format text`.
pub fn text(r: &Report) -> String {
    let mut out = summary(r);
    out.push('\n');
    for s in &r.subscriptions {
        let _ = write!(out, "\n{} ({})\n", s.name, kind_of(s));
        for (heading, lines) in sections(s) {
            let _ = writeln!(out, "  {heading}");
            for line in lines {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

/// Markdown's special characters in text that came from files or events.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '<' | '>' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// `--format markdown`: counts first, then one `<details>` per changed subscription.
pub fn markdown(r: &Report) -> String {
    let c = &r.counts;
    let mut out = String::from("### hookshape diff\n\n");
    let _ = writeln!(out, "{} events rendered through the base and the working files.\n", r.events);
    out.push_str("| subscriptions | changed | added | removed | renamed |\n|---|---|---|---|---|\n");
    let _ =
        writeln!(out, "| {} | {} | {} | {} | {} |\n", r.subscriptions.len(), c.changed, c.added, c.removed, c.renamed);
    out.push_str("| events | newly delivered | no longer delivered | changed requests | new errors | fixed errors |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        r.events, c.newly_delivered, c.no_longer_delivered, c.changed_requests, c.new_errors, c.fixed_errors
    );
    if r.subscriptions.is_empty() {
        out.push_str("\nNo subscription changes what it delivers.\n");
    }
    for s in &r.subscriptions {
        let _ = write!(out, "\n<details><summary><b>{}</b> ({})</summary>\n\n", md(&s.name), md(&kind_of(s)));
        for (heading, lines) in sections(s) {
            let _ = writeln!(out, "**{}**\n", md(&heading));
            for line in lines {
                // An example's changes are indented under it: nested items.
                let nested = if line.starts_with("  ") { "  " } else { "" };
                let _ = writeln!(out, "{nested}- {}", md(line.trim_start()));
            }
            out.push('\n');
        }
        out.push_str("</details>\n");
    }
    out
}
