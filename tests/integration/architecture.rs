//! The layering of src/ (issue #10): no import cycles between the top-level modules, nor
//! between the stages of src/pipeline/. A cycle ties modules together: neither can be
//! read, tested or moved without the other. The layers the graph follows are leaf
//! libraries (reference, yaml, fsio, term) ← config ← target, mapping ← pipeline ← the
//! stages and clients (bump, migrate, warm, policy, mirrors, registry, trivy, vcs,
//! report) ← commands ← cli; ARCHITECTURE.md describes them.
//!
//! The graph is read from the source text (see `modgraph`), so the test needs no tool.

mod lex;
mod modgraph;

use std::path::Path;

use modgraph::{cycles, graph, read_src, File};

fn src() -> Vec<File> {
    let files = read_src(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        files.len() > 50,
        "src/ holds the crate: {} files",
        files.len()
    );
    files
}

fn assert_acyclic(files: &[File], parent: &[&str], what: &str) {
    let edges = graph(files, parent);
    assert!(!edges.is_empty(), "no imports found between {what}");
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "{} import cycle(s) between {what}; move the type to the lower module (or a leaf \
         both use) so imports go one way:\n\n{}",
        found.len(),
        found.join("\n\n")
    );
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    assert_acyclic(&src(), &[], "the top-level modules of src/");
}

#[test]
fn no_import_cycles_between_pipeline_stages() {
    assert_acyclic(&src(), &["pipeline"], "the submodules of src/pipeline/");
}

/// The checker itself: a planted cycle is found and named, through each kind of path it
/// reads, while test modules (inline and in their own file), string and char literals,
/// and imports that go one way are no cycle.
#[test]
fn cycle_check_names_a_planted_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let tree = [
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod pipeline;\npub mod x;\n"),
        // a → b through a nested use group, b → a through a doc link: the cycle.
        ("a.rs", "use crate::{x, b::{self, inner::{T}}};\npub fn f() {}\n"),
        ("b/mod.rs", "//! Called by [`crate::a::f`].\nmod inner;\n"),
        ("b/inner.rs", "pub struct T;\n"),
        // c → a only in a test module and in literals; c → x and x → c only from x's
        // test file: no cycle.
        (
            "c.rs",
            "const S: &str = \"crate::a\"; const R: &str = r#\"crate::a \" \"#;\n\
             const Q: char = '\"'; fn g<'l>(x: &'l str) {}\n\
             #[cfg(test)]\nmod tests { use crate::a::f; fn h() { let _ = \"}\"; } }\n\
             pub fn k() { crate::x::y(); }\n",
        ),
        ("x.rs", "pub fn y() {}\n#[cfg(test)]\n#[allow(unused)]\nmod more;\n"),
        ("x/more.rs", "use crate::c::k;\n"),
        // Pipeline stages: p → q through `super::`, q → p through a `crate::pipeline::{…}`
        // group; q's submodule climbs to the crate root with `super::super::super`.
        ("pipeline/mod.rs", "pub mod p;\npub mod q;\n"),
        ("pipeline/p.rs", "use super::q::Z;\n"),
        ("pipeline/q/mod.rs", "pub mod deep;\npub struct Z;\n"),
        (
            "pipeline/q/deep.rs",
            "use crate::pipeline::{p::W as _};\npub(super) fn z() { super::super::super::x::y(); }\n",
        ),
    ];
    for (rel, text) in tree {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let files = read_src(&src);
    let top = graph(&files, &[]);
    let found = cycles(&top);
    assert_eq!(found.len(), 1, "{found:#?}");
    let cycle = &found[0];
    assert!(
        cycle.starts_with("import cycle a → b → a (modules in it: a, b)"),
        "{cycle}"
    );
    assert!(cycle.contains("a → b: src/a.rs:1 crate::b"), "{cycle}");
    assert!(
        cycle.contains("b → a: src/b/mod.rs:1 crate::a::f"),
        "{cycle}"
    );
    assert!(!top["c"].contains_key("a"), "{top:?}");
    assert!(
        top["c"].contains_key("x") && !top.contains_key("x"),
        "{top:?}"
    );
    assert!(top["pipeline"].contains_key("x"), "{top:?}");

    let stages = cycles(&graph(&files, &["pipeline"]));
    assert_eq!(stages.len(), 1, "{stages:#?}");
    assert!(
        stages[0].starts_with("import cycle p → q → p"),
        "{}",
        stages[0]
    );
}
