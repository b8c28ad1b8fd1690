//! Layering: only `src/commands/` (and `lib.rs`, `main.rs`) may name `crate::commands` or
//! `crate::cli`. The stages (`pipeline/`), the clients (`registry/`, `trivy/`, `vcs/`, ...)
//! and the reports take narrow typed options that the commands build from the flags; a
//! stage that reached for a clap argument struct, or a command's helper, would tie it to one
//! command line again. The test reads the text of `src/`: paths (`crate::cli::X`), grouped
//! imports (`use crate::{cli, ...}`), and doc links alike, since each is a dependency.

use std::path::{Path, PathBuf};

/// The modules the command line belongs to.
const COMMAND_LINE: [&str; 2] = ["commands", "cli"];

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `word` at `text[at..]`, not as the start of a longer identifier (`cli` but not `client`).
fn word_at(text: &str, at: usize, word: &str) -> bool {
    text[at..].starts_with(word) && !text[at + word.len()..].starts_with(is_ident)
}

/// The command-line modules `text` names through `crate::`, with the line of each mention.
fn mentions(text: &str) -> Vec<(usize, &'static str)> {
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let after = at + "crate::".len();
        if at > 0 && text[..at].ends_with(is_ident) {
            continue; // `some_crate::cli` is another crate
        }
        for module in COMMAND_LINE {
            if word_at(text, after, module) {
                found.push((line_of(at), module));
            }
        }
        // `crate::{cli::Common, pipeline}`: each top-level item of the group.
        if text[after..].starts_with('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in text[after..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        item_start = depth == 1;
                        continue;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if c.is_whitespace() => continue,
                    _ if item_start && depth == 1 => {
                        for module in COMMAND_LINE {
                            if word_at(text, after + i, module) {
                                found.push((line_of(after + i), module));
                            }
                        }
                        item_start = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        }
    }
    found
}

#[test]
fn layering_mentions_are_found_in_paths_groups_and_docs() {
    let text = "use crate::cli::Common;\nuse crate::{config, commands::mapper_for};\n/// [`crate::cli`]\nuse crate::client; use my_crate::cli;\nuse crate::{\n    cli,\n};\n";
    assert_eq!(
        mentions(text),
        [(1, "cli"), (2, "commands"), (3, "cli"), (6, "cli")]
    );
}

#[test]
fn layering_only_commands_name_commands_or_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for path in rust_files(&src) {
        let rel = path.strip_prefix(&src).unwrap();
        if rel.starts_with("commands") || rel == Path::new("lib.rs") || rel == Path::new("main.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, module) in mentions(&text) {
            // cli.rs naming its own items is no dependency.
            if rel == Path::new("cli.rs") && module == "cli" {
                continue;
            }
            let shown = text.lines().nth(line - 1).unwrap_or_default().trim();
            offenders.push(format!(
                "src/{}:{line}: crate::{module}: {shown}",
                rel.display()
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "only src/commands/ (and lib.rs, main.rs) may use the command line; move the code into \
         commands/ or give the stage a typed option instead:\n{}",
        offenders.join("\n")
    );
}
