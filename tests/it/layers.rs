//! The modules stand one above the other: no two top-level modules of `src/` reach each
//! other, directly or around a longer circle, and neither do the files inside `console/`
//! and `render/` (ARCHITECTURE.md "Layers"). Read from the source, so a new `use` line
//! or an inline `crate::x::` path that closes a circle fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A graph of rooms: each one's name, and the rooms its code names.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_two_top_level_modules_import_each_other() {
    let files = source_files();
    let modules: BTreeSet<String> = files.iter().map(|f| f.top.clone()).collect();
    let mut graph = Graph::new();
    for file in &files {
        let edges = graph.entry(file.top.clone()).or_default();
        for path in crate_paths(&file.code) {
            // `crate::now_ms` and the like are items of `lib.rs`, the floor under everything.
            if let Some(first) = path.first().filter(|m| modules.contains(*m) && **m != file.top) {
                edges.insert(first.clone());
            }
        }
    }
    // A reader that found nothing would pass: the API surely reaches the store.
    assert!(graph.get("api").is_some_and(|e| e.contains("store")), "no api → store arrow found: {graph:?}");
    assert_no_circle("top-level modules", &graph);
}

#[test]
fn the_files_inside_console_and_render_import_no_circle() {
    let files = source_files();
    let mut circles = Vec::new();
    for group in ["console", "render"] {
        let children: BTreeSet<String> =
            files.iter().filter(|f| f.top == group).filter_map(|f| f.child.clone()).collect();
        assert!(children.len() > 3, "{group}/ has only {children:?}: did the source move?");
        let mut graph = Graph::new();
        for file in files.iter().filter(|f| f.top == group) {
            // mod.rs is the group's root: it declares its children, and what they take
            // from it (`super::field`) is the floor under them, like `lib.rs` above.
            let Some(child) = &file.child else { continue };
            let edges = graph.entry(child.clone()).or_default();
            let named = super_paths(&file.code).into_iter().chain(
                crate_paths(&file.code).into_iter().filter(|p| p.first().map(String::as_str) == Some(group)).map(
                    |mut p| {
                        p.remove(0);
                        p
                    },
                ),
            );
            for path in named {
                if let Some(other) = path.first().filter(|m| children.contains(*m) && *m != child) {
                    edges.insert(other.clone());
                }
            }
        }
        circles.extend(circle_message(&format!("files of {group}/"), &graph));
    }
    assert!(circles.is_empty(), "{}", circles.join("\n"));
}

#[test]
fn the_reader_sees_use_lines_groups_and_inline_paths_but_not_comments_or_tests() {
    let code = strip(
        "use crate::{api::{a, b}, store::X as Y};\n\
         // crate::console::x in a comment\n\
         /* crate::reload /* nested */ crate::sign */\n\
         fn f() { let s = \"crate::source::x\"; let c = '\"'; crate::metrics::count(); }\n\
         fn g<'a>(x: &'a str) -> crate::event::Event { todo!() }\n\
         #[cfg(test)]\nmod tests { use crate::dispatch::x; }\n\
         use super::{page::{A, B}, overview::Rates, field};\n",
    );
    let firsts = |paths: Vec<Vec<String>>| paths.into_iter().map(|p| p[0].clone()).collect::<Vec<_>>();
    assert_eq!(firsts(crate_paths(&code)), ["api", "api", "store", "metrics", "event"]);
    assert_eq!(firsts(super_paths(&code)), ["page", "page", "overview", "field"]);
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_circle(&graph), None);
}

fn assert_no_circle(what: &str, graph: &Graph) {
    if let Some(message) = circle_message(what, graph) {
        panic!("{message}");
    }
}

fn circle_message(what: &str, graph: &Graph) -> Option<String> {
    find_circle(graph).map(|circle| {
        format!(
            "the {what} import each other around a circle: {} (move what they share into a module below both)",
            circle.join(" → ")
        )
    })
}

/// The first circle a depth-first walk meets, from its first room back to it.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn walk(graph: &Graph, at: &str, stack: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|s| s == at) {
            let mut circle = stack[start..].to_vec();
            circle.push(at.to_string());
            return Some(circle);
        }
        if done.contains(at) {
            return None;
        }
        stack.push(at.to_string());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(circle) = walk(graph, next, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|room| walk(graph, room, &mut Vec::new(), &mut done))
}

/// One file of the library: the top-level module it belongs to, and within it the file
/// directly under the module's directory it belongs to (`None` for `mod.rs` itself).
struct SourceFile {
    top: String,
    child: Option<String>,
    code: String,
}

fn source_files() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    collect_rs(&src, &mut paths);
    let mut files = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(&src).unwrap();
        let parts: Vec<String> =
            relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
        // lib.rs and main.rs are the root, not a room; test-only files are not the library.
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") || test_only(&path) {
            continue;
        }
        let child = parts.get(1).filter(|c| *c != "mod").cloned();
        let code = strip(&std::fs::read_to_string(&path).unwrap());
        files.push(SourceFile { top: parts[0].clone(), child, code });
    }
    assert!(files.len() > 50, "read only {} files of src/", files.len());
    files
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether the file's parent declares it `#[cfg(test)] mod name;`.
fn test_only(path: &Path) -> bool {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else { return false };
    let parent = [dir.join("mod.rs"), dir.with_extension("rs")];
    let declared = format!("#[cfg(test)]\nmod {};", stem.to_string_lossy());
    parent.iter().filter_map(|p| std::fs::read_to_string(p).ok()).any(|text| text.contains(&declared))
}

/// The code without comments, string and char literals, and `#[cfg(test)]` items.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            i = skip_block_comment(&chars, i);
        } else if let Some(end) = string_end(&chars, i) {
            out.push_str("\"\"");
            i = end;
        } else if chars[i] == '\'' {
            i = skip_char_literal(&chars, i, &mut out);
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    drop_test_items(&out)
}

fn skip_block_comment(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if chars[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Where the string literal starting at `i` ends (plain, byte or raw), if one starts there.
fn string_end(chars: &[char], i: usize) -> Option<usize> {
    let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let mut j = i;
    if chars[j] == 'b' && !ident_before {
        j += 1;
    }
    if chars.get(j) == Some(&'r') && (j > i || !ident_before) {
        let hashes = chars[j + 1..].iter().take_while(|c| **c == '#').count();
        if chars.get(j + 1 + hashes) != Some(&'"') {
            return None;
        }
        let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        let mut k = j + 2 + hashes;
        while k < chars.len() && !chars[k..].starts_with(&close) {
            k += 1;
        }
        return Some(k + close.len());
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    let mut k = j + 1;
    while k < chars.len() && chars[k] != '"' {
        k += if chars[k] == '\\' { 2 } else { 1 };
    }
    Some(k + 1)
}

/// A char literal (`'x'`, `'\n'`, `'"'`) is skipped; a lifetime (`'a`) is kept.
fn skip_char_literal(chars: &[char], i: usize, out: &mut String) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut k = i + 2;
        while k < chars.len() && chars[k] != '\'' {
            k += 1;
        }
        return k + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    out.push('\'');
    i + 1
}

/// The code without each item marked `#[cfg(test)]`: up to its `;`, or its `{…}` block.
fn drop_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let semicolon = rest.find(';').unwrap_or(rest.len());
        match rest.find('{').filter(|brace| *brace < semicolon) {
            Some(brace) => {
                let mut depth = 0;
                let mut end = rest.len();
                for (k, c) in rest[brace..].char_indices() {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        end = brace + k + 1;
                        break;
                    }
                }
                rest = &rest[end..];
            }
            None => rest = &rest[(semicolon + 1).min(rest.len())..],
        }
    }
    out.push_str(rest);
    out
}

/// Every path after `crate::`, each as its leading names (`use crate::{a::b, c}` gives
/// `[a, b]` and `[c]`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    paths_after(code, "crate")
}

/// Every path after `super::`, as `crate_paths`.
fn super_paths(code: &str) -> Vec<Vec<String>> {
    paths_after(code, "super")
}

fn paths_after(code: &str, root: &str) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut paths = Vec::new();
    for (k, window) in tokens.windows(2).enumerate() {
        let before = k.checked_sub(1).map(|b| tokens[b].as_str());
        // `super::super::x` or `a::super` are not paths from this file's parent.
        if window[0] == root && window[1] == "::" && before != Some("::") {
            let mut at = k + 2;
            paths.extend(use_tree(&tokens, &mut at, Vec::new()));
        }
    }
    paths
}

/// The paths of one use-tree (`a::b`, `a::{b, c::d}`, `{a, b}`) starting at `at`.
fn use_tree(tokens: &[String], at: &mut usize, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut prefix = prefix;
    while let Some(token) = tokens.get(*at) {
        if token == "{" {
            *at += 1;
            let mut paths = Vec::new();
            while tokens.get(*at).is_some_and(|t| t != "}") {
                let before = *at;
                paths.extend(use_tree(tokens, at, prefix.clone()));
                // `,` between items, or what is not a path (`*`): step over it.
                if *at == before || tokens.get(*at).is_some_and(|t| t == ",") {
                    *at += 1;
                }
            }
            *at += 1;
            return paths;
        }
        if !token.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            break;
        }
        prefix.push(token.clone());
        *at += 1;
        if tokens.get(*at).is_some_and(|t| t == "::") {
            *at += 1;
        } else {
            break;
        }
    }
    // `x as y`: the new name is not a path.
    if tokens.get(*at).is_some_and(|t| t == "as") {
        *at += 2;
    }
    if prefix.is_empty() || prefix[0] == "self" {
        return Vec::new();
    }
    vec![prefix]
}

/// Identifiers, `::` and single punctuation characters, whitespace dropped.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if chars[i..].starts_with(&[':', ':']) {
            tokens.push("::".into());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}
