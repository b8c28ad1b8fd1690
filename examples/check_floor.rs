//! The floor under `check` (BENCHMARKS.md row 1f): what any checker that parses the files
//! which can hold a reference must do at least, with the same walker and YAML parser as
//! harborize and nothing else. It walks the tree in parallel with the run's own walker
//! (`pipeline::walk::builder`: gitignore honoured, `.git` skipped), reads every file
//! check reads (`.yaml`, `.yml`, `.json`, `Kustomization`), and runs saphyr's parser over
//! the ones holding one of check's keywords, draining its events: no tree, no lookup, no
//! report. Like check, it blanks the documents of a file that cannot hold a reference
//! first (`yaml::skim`) and parses around the blanked documents
//! (`yaml::events_without_blank_documents`), so the parser sees what check's parser sees.
//!
//! Usage: `check_floor [--no-parse] DIR` prints the files read and parsed. `--no-parse`
//! stops after the reads: the walk and the reads alone.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use harborize::pipeline::engine::KEYWORDS;
use harborize::pipeline::walk::{builder, is_manifest};
use harborize::yaml::events_without_blank_documents;
use harborize::yaml::skim::blank_documents_without;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = !args.iter().any(|a| a == "--no-parse");
    let Some(root) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: check_floor [--no-parse] DIR");
        std::process::exit(2);
    };
    let (read, parsed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    builder(Path::new(root)).build_parallel().run(|| {
        let (read, parsed) = (&read, &parsed);
        Box::new(move |entry| {
            let Ok(e) = entry else {
                return ignore::WalkState::Continue;
            };
            if !(is_manifest(e.path()) && e.file_type().is_some_and(|t| t.is_file())) {
                return ignore::WalkState::Continue;
            }
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                return ignore::WalkState::Continue;
            };
            read.fetch_add(1, Ordering::Relaxed);
            let bytes = text.as_bytes();
            let keyword = KEYWORDS
                .iter()
                .any(|w| memchr::memmem::find(bytes, w.as_bytes()).is_some());
            if parse && keyword {
                let view = blank_documents_without(&text, &KEYWORDS);
                let view = view.as_deref().unwrap_or(&text);
                let events = events_without_blank_documents(view)
                    .take_while(Result::is_ok)
                    .count();
                std::hint::black_box(events);
                parsed.fetch_add(1, Ordering::Relaxed);
            }
            ignore::WalkState::Continue
        })
    });
    println!(
        "{} files read, {} parsed",
        read.load(Ordering::Relaxed),
        parsed.load(Ordering::Relaxed)
    );
}
