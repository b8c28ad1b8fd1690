//! The import graph of a Rust source tree, read from the text (no rustc, no extra crate).
//!
//! An import is every `crate::…` path (in code, and in comments where rustdoc resolves
//! intra-doc links), every `use crate::{…}` group (nested groups too) and every `super::…`
//! path, resolved to the module it names. String and char literals are skipped, and so
//! are `#[cfg(test)]` modules, inline or in a file of their own: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use super::lex::{lex, strip_test_modules, Tok, Token};

/// One source file: its module path (`["pipeline", "locate", "helm"]`) and its imports.
pub struct File {
    rel: String,
    module: Vec<String>,
    /// Submodules declared `#[cfg(test)] mod x;` (their files are test code).
    test_mods: Vec<String>,
    /// (line, absolute module path named).
    imports: Vec<(usize, Vec<String>)>,
}

/// Where an edge was seen first: `src/x.rs:12 crate::y::Z`.
pub type Evidence = String;

/// Every `.rs` file under `src`, parsed; the files of `#[cfg(test)]` modules left out.
pub fn read_src(src: &Path) -> Vec<File> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap();
                let text = std::fs::read_to_string(&path).unwrap();
                files.push(parse(
                    &format!("src/{}", rel.display()),
                    module_path(rel),
                    &text,
                ));
            }
        }
    }
    let tests: Vec<Vec<String>> = files
        .iter()
        .flat_map(|f| {
            f.test_mods
                .iter()
                .map(|m| [f.module.clone(), vec![m.clone()]].concat())
        })
        .collect();
    files.retain(|f| !tests.iter().any(|t| f.module.starts_with(t)));
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// Parse one file's text.
fn parse(rel: &str, module: Vec<String>, text: &str) -> File {
    let (tokens, test_mods) = strip_test_modules(lex(text));
    let mut imports = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let after_sep = i > 0 && tokens[i - 1].tok == Tok::Sep;
        match &t.tok {
            Tok::Ident(s)
                if s == "crate" && !after_sep && tok(&tokens, i + 1) == Some(&Tok::Sep) =>
            {
                tree(&tokens, i + 2, Vec::new(), t.line, &mut imports)
            }
            Tok::Ident(s) if s == "super" && !after_sep => {
                let mut j = i;
                while tok(&tokens, j) == Some(&Tok::Ident("super".into()))
                    && tok(&tokens, j + 1) == Some(&Tok::Sep)
                {
                    j += 2;
                }
                let up = (j - i) / 2;
                if up > 0 && up <= module.len() {
                    let base = module[..module.len() - up].to_vec();
                    tree(&tokens, j, base, t.line, &mut imports);
                }
            }
            Tok::Comment(text) => {
                for (at, _) in text.match_indices("crate::") {
                    let chain: String = text[at + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let path: Vec<String> = chain
                        .split("::")
                        .take_while(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    if !path.is_empty() {
                        imports.push((t.line, path));
                    }
                }
            }
            _ => {}
        }
    }
    File {
        rel: rel.to_string(),
        module,
        test_mods,
        imports,
    }
}

fn tok(tokens: &[Token], i: usize) -> Option<&Tok> {
    tokens.get(i).map(|t| &t.tok)
}

/// The paths of one use-tree starting at `i` (`a::b`, `a::{b, c::{d, self}}`, `a::*`).
fn tree(
    t: &[Token],
    mut i: usize,
    mut prefix: Vec<String>,
    line: usize,
    out: &mut Vec<(usize, Vec<String>)>,
) {
    loop {
        match tok(t, i) {
            Some(Tok::Ident(s)) => {
                if s != "self" {
                    prefix.push(s.clone());
                }
                if tok(t, i + 1) != Some(&Tok::Sep) {
                    break;
                }
                i += 2;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while !matches!(tok(t, i), None | Some(Tok::Punct('}'))) {
                    tree(t, i, prefix.clone(), line, out);
                    let mut depth = 0;
                    while let Some(x) = tok(t, i) {
                        match x {
                            Tok::Punct('{') => depth += 1,
                            Tok::Punct('}') if depth == 0 => break,
                            Tok::Punct('}') => depth -= 1,
                            Tok::Punct(',') if depth == 0 => {
                                i += 1;
                                break;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                }
                return;
            }
            _ => break,
        }
    }
    if !prefix.is_empty() {
        out.push((line, prefix));
    }
}

/// The edges between the children of module `parent` (`&[]`: the top-level modules),
/// each with where it was first seen.
pub fn graph(files: &[File], parent: &[&str]) -> BTreeMap<String, BTreeMap<String, Evidence>> {
    let depth = parent.len();
    let under = |m: &[String]| m.len() > depth && m.iter().zip(parent).all(|(a, b)| a == b);
    let nodes: BTreeSet<&String> = files
        .iter()
        .filter(|f| under(&f.module))
        .map(|f| &f.module[depth])
        .collect();
    let mut edges: BTreeMap<String, BTreeMap<String, Evidence>> = BTreeMap::new();
    for f in files.iter().filter(|f| under(&f.module)) {
        let from = &f.module[depth];
        for (line, path) in &f.imports {
            if under(path) && nodes.contains(&path[depth]) && &path[depth] != from {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(path[depth].clone())
                    .or_insert_with(|| format!("{}:{line} crate::{}", f.rel, path.join("::")));
            }
        }
    }
    edges
}

/// Every cycle of the graph (one per strongly connected set of modules), each shown as
/// `a → b → a` with the import that makes each step.
pub fn cycles(edges: &BTreeMap<String, BTreeMap<String, Evidence>>) -> Vec<String> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for next in edges.get(&n).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|k| (k, reach(k))).collect();
    let mut shown = BTreeSet::new();
    let mut out = Vec::new();
    for (&start, from_start) in &reached {
        if !from_start.contains(start) || shown.contains(start) {
            continue;
        }
        let members: BTreeSet<String> = from_start
            .iter()
            .filter(|m| reached.get(m).is_some_and(|r| r.contains(start)))
            .cloned()
            .collect();
        shown.extend(members.iter().cloned());
        out.push(describe(edges, start, &members));
    }
    out
}

/// The shortest cycle through `start` inside `members`, step by step.
fn describe(
    edges: &BTreeMap<String, BTreeMap<String, Evidence>>,
    start: &String,
    members: &BTreeSet<String>,
) -> String {
    let mut back: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    'search: while let Some(n) = queue.pop_front() {
        for next in edges[&n].keys().filter(|k| members.contains(*k)) {
            if next == start {
                back.insert(format!("{start}#end"), n.clone());
                break 'search;
            }
            if !back.contains_key(next) {
                back.insert(next.clone(), n.clone());
                queue.push_back(next.clone());
            }
        }
    }
    let mut ring = vec![start.clone()];
    let mut at = back[&format!("{start}#end")].clone();
    while &at != start {
        ring.push(at.clone());
        at = back[&at].clone();
    }
    ring.push(start.clone());
    let last = ring.len() - 1;
    ring[1..last].reverse();
    let steps: Vec<String> = ring
        .windows(2)
        .map(|w| format!("  {} → {}: {}", w[0], w[1], edges[&w[0]][&w[1]]))
        .collect();
    format!(
        "import cycle {} (modules in it: {})\n{}",
        ring.join(" → "),
        members.iter().cloned().collect::<Vec<_>>().join(", "),
        steps.join("\n")
    )
}
