//! Every event field a subscription's templates read, and where: the paths `validate`
//! checks against the catalog's topic schemas (`crate::catalog::paths`). Read from the
//! parsed templates (minijinja's AST, `walk`), from the URL, the headers, the filter and
//! the body, and from the files those include; names that `set`, `with` and `for` bind are
//! followed to what they stand for. What cannot be followed (a macro's argument, most
//! filters' results, a computed key) is left out rather than guessed, so a path listed here
//! is one every render of the template really reads.

mod walk;

pub use walk::{names, NameKind, NameUse};

use std::fmt;

use super::body::Node;
use super::environment::{JSON_PREFIX, TEXT_PREFIX, URL_PREFIX, XML_PREFIX};
use super::{BodyKind, Piece, RequestTemplate, FILTER_TEMPLATE};

/// One step of a path below `Payload`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A field: `.Customer`, `["Customer"]`, `.get("Customer")`.
    Key(String),
    /// Any item of a list (`[0]`, or a `for` loop's item): written `[]`.
    Item,
}

/// A Payload path as a template writer would write it: `Payload.Items[].Sku`.
pub fn path_text(path: &[Segment]) -> String {
    let mut text = String::from("Payload");
    for segment in path {
        match segment {
            Segment::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Segment::Item => text.push_str("[]"),
        }
    }
    text
}

/// A Payload path a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Below `Payload` (`Customer.Id` and `Payload.Customer.Id` are both `[Customer, Id]`).
    pub path: Vec<Segment>,
    /// The expression as the template wrote it (`i.Sku`, `Payload["Customer"].Id`).
    pub written: String,
    /// The subscription field whose template reads it (`request.url`, `filter`,
    /// `request.headers.X-Customer`, `request.body.points`, `request.body_template`).
    pub field: String,
    /// The file under the templates directory it is in; None when it is in the
    /// subscription file itself.
    pub file: Option<String>,
    /// The line in that template (an inline template's lines count from its first).
    pub line: usize,
    /// Read where its absence is expected: under `| default(…)`, tested (`is defined`, an
    /// `if` condition), or inside an `if` that tested it or a field above it.
    pub guarded: bool,
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.file.as_deref().unwrap_or(&self.field);
        write!(f, "{}:{}: {} ({})", at, self.line, self.written, path_text(&self.path))
    }
}

impl RequestTemplate {
    /// Every Payload path the URL, headers, filter and body read (the ping's URL is left
    /// out: it renders for the ping, not for the topics' events), each once per place.
    pub fn reads(&self) -> Vec<Read> {
        let mut reads = Vec::new();
        for (field, root) in self.roots() {
            for read in walk::template(&self.env, &root, &field) {
                if !reads.contains(&read) {
                    reads.push(read);
                }
            }
        }
        reads
    }

    /// Each template a delivery renders, with the subscription field it renders.
    fn roots(&self) -> Vec<(String, String)> {
        let mut roots = Vec::new();
        let mut piece = |piece: &Piece| {
            if let Piece::Template(name) = piece {
                roots.push((field_of(name), name.clone()));
            }
        };
        piece(&self.url_rest);
        self.headers.iter().for_each(|(_, p)| piece(p));
        match &self.body {
            BodyKind::None => {}
            BodyKind::Tree(node) | BodyKind::Form(node) => {
                body_templates(node, &mut |name| roots.push((field_of(name), name.to_string())))
            }
            BodyKind::File(name) => roots.push(("request.body_template".into(), name.clone())),
            BodyKind::Text(Piece::Template(name)) if !is_inline(name) => {
                roots.push(("request.body_template".into(), name.clone()))
            }
            BodyKind::Text(p) => piece(p),
        }
        if let Some(filter) = &self.filter {
            roots.push(("filter".into(), filter.clone()));
        }
        roots
    }
}

fn body_templates(node: &Node, found: &mut dyn FnMut(&str)) {
    match node {
        Node::Literal(_) => {}
        Node::Text(name) | Node::Typed { template: name, .. } => found(name),
        Node::Array(items) => items.iter().for_each(|n| body_templates(n, found)),
        Node::Object(fields) => fields.iter().for_each(|(_, n)| body_templates(n, found)),
    }
}

const INLINE: [&str; 4] = [URL_PREFIX, TEXT_PREFIX, JSON_PREFIX, XML_PREFIX];

/// The subscription field an inline template renders (`url:request.url` → `request.url`).
fn field_of(name: &str) -> String {
    if name == FILTER_TEMPLATE {
        return "filter".into();
    }
    INLINE.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name).to_string()
}

fn is_inline(name: &str) -> bool {
    INLINE.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests;
