//! The walk over one template's AST (and the files it includes or imports) that finds the
//! Payload paths it reads. Names resolve as the event context resolves them
//! (`super::super::context`): `Payload` and `event.Payload` are the Payload, `Uuid`,
//! `Date`, `Topic`, `SourceId` and the rest of `event` the envelope, and any other free
//! name a top-level Payload field (`Customer.Id` is `Payload.Customer.Id`).

use std::collections::HashMap;

use minijinja::machinery::{ast, parse, Span};
use minijinja::{Environment, Value};

use super::{Read, Segment};

/// How deep includes may nest before the walk stops following them (a cycle is cut
/// earlier, by name).
const MAX_DEPTH: usize = 16;

/// What a name or an expression stands for.
#[derive(Debug, Clone)]
enum Meaning {
    /// A place in the Payload.
    Payload(Vec<Segment>),
    /// `event`: its `Payload` is the Payload, the rest is the envelope.
    Event,
    /// The envelope (`Topic`, `Uuid`, …): always there, not described by a topic schema.
    Envelope,
    /// Anything the walk cannot follow.
    Unknown,
}

/// Filters whose result holds the same items as their input (`for i in Items | sort`).
const SAME_ITEMS: [&str; 8] = ["sort", "reverse", "unique", "list", "select", "reject", "selectattr", "rejectattr"];
/// Filters whose result is one item of their input.
const ONE_ITEM: [&str; 2] = ["first", "last"];

/// The Payload paths template `root` reads, `field` being the subscription field it renders.
pub fn template(env: &Environment<'static>, root: &str, field: &str) -> Vec<Read> {
    walked(env, root, field).found
}

/// Every filter and test template `root` (and what it includes or imports) names, in every
/// branch, whether or not a render would reach it.
pub fn names(env: &Environment<'static>, root: &str) -> Vec<NameUse> {
    walked(env, root, "").names
}

fn walked<'e>(env: &'e Environment<'static>, root: &str, field: &str) -> Walker<'e> {
    let mut walker = Walker {
        env,
        field: field.to_string(),
        file: String::new(),
        source: String::new(),
        stack: Vec::new(),
        scope: vec![HashMap::new()],
        guarded: 0,
        guards: Vec::new(),
        recent: Vec::new(),
        found: Vec::new(),
        names: Vec::new(),
    };
    walker.file(root);
    walker
}

/// A filter or test a template names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameUse {
    pub kind: NameKind,
    pub name: String,
    /// The template it is written in (an inline one's name, or a file's under templates/).
    pub file: String,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Filter,
    Test,
}

struct Walker<'e> {
    env: &'e Environment<'static>,
    field: String,
    /// The template being walked, and its source (what spans point into).
    file: String,
    source: String,
    /// The templates being walked, outermost first: an include of one of them is a cycle.
    stack: Vec<String>,
    /// Names bound by `set`, `with`, `for`, macros and imports, innermost frame last.
    scope: Vec<HashMap<String, Meaning>>,
    /// Above zero while walking an expression that tests for a value (`default`'s input,
    /// `is defined`, an `if` condition): what it reads may be missing.
    guarded: usize,
    /// The paths enclosing `if`s tested: what is read below them may be missing elsewhere.
    guards: Vec<Vec<Segment>>,
    /// Every path recorded, repeats included, in order (what a condition read).
    recent: Vec<Vec<Segment>>,
    found: Vec<Read>,
    /// Filters and tests named, each once per template and name.
    names: Vec<NameUse>,
}

impl Walker<'_> {
    /// Walks template `name` where it is reached, in the current scope.
    fn file(&mut self, name: &str) {
        if self.stack.iter().any(|n| n == name) || self.stack.len() >= MAX_DEPTH {
            return;
        }
        // The source as compiled (prepared), so lines and spans match minijinja's own.
        let Ok(source) = self.env.get_template(name).map(|t| t.source().to_string()) else { return };
        let Ok(ast) = parse(&source, name, self.env.syntax().clone()) else { return };
        let outer_file = std::mem::replace(&mut self.file, name.to_string());
        let outer_source = std::mem::replace(&mut self.source, source.clone());
        self.stack.push(name.to_string());
        self.stmt(&ast);
        self.stack.pop();
        self.file = outer_file;
        self.source = outer_source;
    }

    fn stmts(&mut self, stmts: &[ast::Stmt<'_>]) {
        stmts.iter().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, stmt: &ast::Stmt<'_>) {
        use ast::Stmt as S;
        match stmt {
            S::Template(t) => self.stmts(&t.children),
            S::EmitExpr(e) => self.visit(&e.expr),
            S::EmitRaw(_) => {}
            S::ForLoop(f) => self.for_loop(f),
            S::IfCond(c) => {
                let tested = self.condition(&c.expr);
                self.guards.extend(tested.iter().cloned());
                self.stmts(&c.true_body);
                self.guards.truncate(self.guards.len() - tested.len());
                self.stmts(&c.false_body);
            }
            S::WithBlock(w) => {
                self.scope.push(HashMap::new());
                for (target, expr) in &w.assignments {
                    let meaning = self.value(expr);
                    self.bind(target, meaning);
                }
                self.stmts(&w.body);
                self.scope.pop();
            }
            S::Set(s) => {
                let meaning = self.value(&s.expr);
                self.bind(&s.target, meaning);
            }
            S::SetBlock(s) => {
                self.stmts(&s.body);
                s.filter.iter().for_each(|f| self.visit(f));
                self.bind(&s.target, Meaning::Unknown);
            }
            S::AutoEscape(a) => {
                self.visit(&a.enabled);
                self.stmts(&a.body);
            }
            S::FilterBlock(f) => {
                self.visit(&f.filter);
                self.stmts(&f.body);
            }
            S::Block(b) => self.stmts(&b.body),
            S::Import(i) => {
                self.module(&i.expr);
                self.bind(&i.name, Meaning::Unknown);
            }
            S::FromImport(i) => {
                self.module(&i.expr);
                for (name, alias) in &i.names {
                    self.bind(alias.as_ref().unwrap_or(name), Meaning::Unknown);
                }
            }
            S::Extends(e) => self.include(&e.name),
            S::Include(i) => self.include(&i.name),
            S::Macro(m) => {
                self.bind_name(m.name, Meaning::Unknown);
                self.macro_body(m);
            }
            S::CallBlock(c) => {
                self.call(&c.call);
                self.macro_body(&c.macro_decl);
            }
            S::Do(d) => {
                self.call(&d.call);
            }
        }
    }

    /// `for x in Items`: `x` is an item of `Items`; `loop` and a pair of names are not followed.
    fn for_loop(&mut self, f: &ast::ForLoop<'_>) {
        let item = match self.value(&f.iter) {
            Meaning::Payload(mut path) => {
                path.push(Segment::Item);
                Meaning::Payload(path)
            }
            _ => Meaning::Unknown,
        };
        self.scope.push(HashMap::new());
        self.bind_name("loop", Meaning::Unknown);
        self.bind(&f.target, item);
        f.filter_expr.iter().for_each(|e| self.visit(e));
        self.stmts(&f.body);
        self.scope.pop();
        self.stmts(&f.else_body);
    }

    /// A macro's body: its arguments (and `caller`, `varargs`, `kwargs`) are not followed.
    fn macro_body(&mut self, m: &ast::Macro<'_>) {
        m.defaults.iter().for_each(|e| self.visit(e));
        self.scope.push(HashMap::new());
        for name in ["caller", "varargs", "kwargs"] {
            self.bind_name(name, Meaning::Unknown);
        }
        for arg in &m.args {
            self.bind(arg, Meaning::Unknown);
        }
        self.stmts(&m.body);
        self.scope.pop();
    }

    /// An imported file: its macros read the event as any template does, but none of the
    /// importer's names.
    fn module(&mut self, expr: &ast::Expr<'_>) {
        match constant(expr).as_ref().and_then(Value::as_str) {
            Some(name) => {
                let outer = std::mem::replace(&mut self.scope, vec![HashMap::new()]);
                self.file(name);
                self.scope = outer;
            }
            None => self.visit(expr),
        }
    }

    /// An included (or extended) file sees the names in scope where it is included.
    fn include(&mut self, expr: &ast::Expr<'_>) {
        let names: Vec<String> = match constant(expr) {
            Some(v) if v.as_str().is_some() => v.as_str().map(str::to_string).into_iter().collect(),
            Some(v) => v.try_iter().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string)).collect(),
            None => {
                self.visit(expr);
                Vec::new()
            }
        };
        for name in names {
            self.scope.push(HashMap::new());
            self.file(&name);
            self.scope.pop();
        }
    }

    fn bind(&mut self, target: &ast::Expr<'_>, meaning: Meaning) {
        match target {
            ast::Expr::Var(v) => self.bind_name(v.id, meaning),
            ast::Expr::Tuple(t) => t.items.iter().for_each(|item| self.bind(item, Meaning::Unknown)),
            ast::Expr::List(l) => l.items.iter().for_each(|item| self.bind(item, Meaning::Unknown)),
            // `ns.x = …` sets an attribute of a namespace: nothing to bind.
            _ => {}
        }
    }

    fn bind_name(&mut self, name: &str, meaning: Meaning) {
        if let Some(frame) = self.scope.last_mut() {
            frame.insert(name.to_string(), meaning);
        }
    }

    fn lookup(&self, name: &str) -> Meaning {
        if let Some(m) = self.scope.iter().rev().find_map(|frame| frame.get(name)) {
            return m.clone();
        }
        match name {
            "Payload" => Meaning::Payload(Vec::new()),
            "event" => Meaning::Event,
            "Uuid" | "Date" | "Topic" | "SourceId" => Meaning::Envelope,
            // hookshape's own rewrites (number spellings, comparisons) and Jinja's own names.
            n if n.starts_with("__hookshape") => Meaning::Unknown,
            "self" | "super" | "loop" | "caller" | "varargs" | "kwargs" => Meaning::Unknown,
            n => Meaning::Payload(vec![Segment::Key(n.to_string())]),
        }
    }

    /// Reads whatever `expr` reads.
    fn visit(&mut self, expr: &ast::Expr<'_>) {
        self.value(expr);
    }

    /// What `expr` stands for; a Payload path it stands for is recorded as read.
    fn value(&mut self, expr: &ast::Expr<'_>) -> Meaning {
        let meaning = self.meaning(expr);
        if let Meaning::Payload(path) = &meaning {
            self.record(path, path_expr(expr));
        }
        meaning
    }

    /// What `expr` stands for, recording what its parts read but not the whole.
    fn meaning(&mut self, expr: &ast::Expr<'_>) -> Meaning {
        use ast::Expr as E;
        match expr {
            E::Var(v) => self.lookup(v.id),
            E::GetAttr(g) => {
                let base = self.meaning(&g.expr);
                step(base, Segment::Key(g.name.to_string()))
            }
            E::GetItem(g) => self.get_item(g),
            E::Slice(s) => {
                [&s.start, &s.stop, &s.step].into_iter().flatten().for_each(|e| self.visit(e));
                self.meaning(&s.expr)
            }
            E::Call(c) => self.call(c),
            E::Filter(f) => {
                self.named(NameKind::Filter, f.name, expr.span());
                self.filter(f)
            }
            E::Test(t) => {
                self.named(NameKind::Test, t.name, expr.span());
                let existence = ["defined", "undefined", "none"].contains(&t.name);
                self.guarded += usize::from(existence);
                self.visit(&t.expr);
                self.guarded -= usize::from(existence);
                self.args(&t.args);
                Meaning::Unknown
            }
            E::Const(_) => Meaning::Unknown,
            E::UnaryOp(u) => self.unknown(&[&u.expr]),
            E::BinOp(b) => self.unknown(&[&b.left, &b.right]),
            E::Compare(c) => {
                self.visit(&c.expr);
                c.ops.iter().for_each(|op| self.visit(&op.expr));
                Meaning::Unknown
            }
            E::IfExpr(i) => {
                let tested = self.condition(&i.test_expr);
                self.guards.extend(tested.iter().cloned());
                self.visit(&i.true_expr);
                self.guards.truncate(self.guards.len() - tested.len());
                i.false_expr.iter().for_each(|e| self.visit(e));
                Meaning::Unknown
            }
            E::List(l) => self.unknown(&l.items.iter().collect::<Vec<_>>()),
            E::Tuple(t) => self.unknown(&t.items.iter().collect::<Vec<_>>()),
            E::Map(m) => self.unknown(&m.keys.iter().chain(&m.values).collect::<Vec<_>>()),
        }
    }

    /// Walks an `if` condition, whose reads are guarded; returns the paths it read, which
    /// guard what the true branch reads below them.
    fn condition(&mut self, expr: &ast::Expr<'_>) -> Vec<Vec<Segment>> {
        let before = self.recent.len();
        self.guarded += 1;
        self.visit(expr);
        self.guarded -= 1;
        self.recent.split_off(before)
    }

    fn unknown(&mut self, parts: &[&ast::Expr<'_>]) -> Meaning {
        parts.iter().for_each(|e| self.visit(e));
        Meaning::Unknown
    }

    /// `x["Key"]` and `x[0]` step into `x`; `x[k]` reads `x` and `k`, and is not followed.
    fn get_item(&mut self, g: &ast::GetItem<'_>) -> Meaning {
        let segment = match constant(&g.subscript_expr) {
            Some(v) if v.as_str().is_some() => v.as_str().map(|s| Segment::Key(s.to_string())),
            Some(v) if v.is_integer() => Some(Segment::Item),
            _ => None,
        };
        match segment {
            Some(segment) => {
                let base = self.meaning(&g.expr);
                step(base, segment)
            }
            None => {
                self.visit(&g.expr);
                self.visit(&g.subscript_expr);
                Meaning::Unknown
            }
        }
    }

    /// `x.get("Key")` steps into `x`; another method reads `x`; a function or macro call
    /// reads its arguments.
    fn call(&mut self, c: &ast::Call<'_>) -> Meaning {
        let meaning = match &c.expr {
            ast::Expr::GetAttr(g) if g.name == "get" => match c.args.first().and_then(positional_str) {
                Some(key) => {
                    let base = self.meaning(&g.expr);
                    self.args(&c.args[1..]);
                    return step(base, Segment::Key(key));
                }
                None => {
                    self.visit(&g.expr);
                    Meaning::Unknown
                }
            },
            ast::Expr::GetAttr(g) => {
                self.visit(&g.expr);
                Meaning::Unknown
            }
            ast::Expr::Var(_) => Meaning::Unknown,
            other => {
                self.visit(other);
                Meaning::Unknown
            }
        };
        self.args(&c.args);
        meaning
    }

    /// A filter reads its input and arguments; `sort`, `first` and the like keep pointing
    /// into their input, so `for i in Items | sort` still knows what `i` is.
    fn filter(&mut self, f: &ast::Filter<'_>) -> Meaning {
        // hookshape's own rewrites pass a prefix of the path they print: already read.
        if !f.name.starts_with("__hookshape") {
            self.args(&f.args);
        }
        let Some(input) = &f.expr else { return Meaning::Unknown };
        if ["default", "d"].contains(&f.name) {
            self.guarded += 1;
            let meaning = self.value(input);
            self.guarded -= 1;
            return if matches!(meaning, Meaning::Payload(_)) { Meaning::Unknown } else { meaning };
        }
        if passes_through(f.name) {
            return self.meaning(input);
        }
        match self.value(input) {
            Meaning::Payload(mut path) if ONE_ITEM.contains(&f.name) => {
                path.push(Segment::Item);
                Meaning::Payload(path)
            }
            _ => Meaning::Unknown,
        }
    }

    fn args(&mut self, args: &[ast::CallArg<'_>]) {
        for arg in args {
            match arg {
                ast::CallArg::Pos(e)
                | ast::CallArg::Kwarg(_, e)
                | ast::CallArg::PosSplat(e)
                | ast::CallArg::KwargSplat(e) => self.visit(e),
            }
        }
    }

    fn named(&mut self, kind: NameKind, name: &str, span: Span) {
        let known = |n: &NameUse| n.kind == kind && n.name == name && n.file == self.file;
        if !self.names.iter().any(known) {
            let line = usize::from(span.start_line);
            self.names.push(NameUse { kind, name: name.to_string(), file: self.file.clone(), line });
        }
    }

    fn record(&mut self, path: &[Segment], expr: &ast::Expr<'_>) {
        if path.is_empty() {
            return;
        }
        self.recent.push(path.to_vec());
        // A step's span starts at its `.` or `[`: the expression starts at its base's.
        let span = leftmost(expr);
        let (start, end) = (span.start_offset as usize, expr.span().end_offset as usize);
        let written = with_parentheses(&self.source, start, end).trim().to_string();
        let read = Read {
            path: path.to_vec(),
            written,
            field: self.field.clone(),
            file: (!super::is_inline(&self.file)).then(|| self.file.clone()),
            line: usize::from(span.start_line),
            guarded: self.guarded > 0 || self.guards.iter().any(|g| path.starts_with(g)),
        };
        if !self.found.contains(&read) {
            self.found.push(read);
        }
    }
}

/// Whether a filter's result points where its input does.
fn passes_through(name: &str) -> bool {
    SAME_ITEMS.contains(&name) || name.starts_with("__hookshape")
}

/// The path itself in `expr`, without the filters that pass it through (so the place
/// shows `Customer.Id`, not `Customer.Id | default('')` or hookshape's rewrite).
fn path_expr<'a, 'b>(expr: &'a ast::Expr<'b>) -> &'a ast::Expr<'b> {
    match expr {
        ast::Expr::Filter(f) if passes_through(f.name) => f.expr.as_ref().map_or(expr, path_expr),
        _ => expr,
    }
}

/// `source[start..end]`, widened to the `(` that a `)` in it closes (spans leave
/// parentheses out: `(Lines | first).Qty`).
fn with_parentheses(source: &str, mut start: usize, end: usize) -> &str {
    let Some(text) = source.get(start..end) else { return "" };
    let open = text.matches(')').count().saturating_sub(text.matches('(').count());
    for _ in 0..open {
        match source.get(..start).and_then(|before| before.rfind('(')) {
            Some(at) => start = at,
            None => break,
        }
    }
    source.get(start..end).unwrap_or(text)
}

/// The span of the innermost base of a chain of steps and calls.
fn leftmost(expr: &ast::Expr<'_>) -> Span {
    match expr {
        ast::Expr::GetAttr(g) => leftmost(&g.expr),
        ast::Expr::GetItem(g) => leftmost(&g.expr),
        ast::Expr::Slice(s) => leftmost(&s.expr),
        ast::Expr::Call(c) => leftmost(&c.expr),
        ast::Expr::Filter(f) => f.expr.as_ref().map_or(expr.span(), leftmost),
        other => other.span(),
    }
}

/// `meaning` one step further in.
fn step(base: Meaning, segment: Segment) -> Meaning {
    match (base, segment) {
        (Meaning::Payload(mut path), segment) => {
            path.push(segment);
            Meaning::Payload(path)
        }
        (Meaning::Event, Segment::Key(k)) if k == "Payload" => Meaning::Payload(Vec::new()),
        (Meaning::Event | Meaning::Envelope, _) => Meaning::Envelope,
        (Meaning::Unknown, _) => Meaning::Unknown,
    }
}

fn constant(expr: &ast::Expr<'_>) -> Option<Value> {
    match expr {
        ast::Expr::Const(c) => Some(c.value.clone()),
        ast::Expr::List(l) => l.as_const(),
        _ => None,
    }
}

fn positional_str(arg: &ast::CallArg<'_>) -> Option<String> {
    match arg {
        ast::CallArg::Pos(e) => constant(e).and_then(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}
