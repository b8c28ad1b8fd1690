//! Findings (issue #10): a per-file problem is one `Finding` that every format renders
//! from the same value, and the escapers of each format exist once, in `src/report/`.

use crate::support::common;

use common::*;

/// A YAML file harborize cannot parse: its error must name the same place and say the
/// same thing on stderr (text), in the JSON `errors` row (whose shape is the version-1
/// contract: no other keys) and in the GitHub annotation.
#[test]
fn a_file_error_is_one_finding_in_text_json_and_github() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("broken.yaml");
    std::fs::write(&file, "image: nginx:1.27\nkey: [unclosed\n").unwrap();
    let path = file.to_str().unwrap();

    let out = run(&["check", path, "--harbor", HARBOR, "--format", "json"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let v = json(&out);
    let row = v["errors"][0].as_object().expect("an errors row");
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["column", "file", "line", "message"], "{row:?}");
    let (line, column) = (
        row["line"].as_u64().unwrap(),
        row["column"].as_u64().unwrap(),
    );
    let message = row["message"].as_str().unwrap();
    assert_eq!(row["file"], path);
    assert_eq!(v["notes"], serde_json::json!([]));

    let out = run(&["check", path, "--harbor", HARBOR]);
    let text = stderr(&out);
    let want = format!("error: {path}:{line}:{column}: {message}");
    assert!(text.lines().any(|l| l == want), "want {want:?} in:\n{text}");

    let out = run(&["check", path, "--harbor", HARBOR, "--format", "github"]);
    let annotations = stdout(&out);
    // GitHub resolves `file=` against the repository; outside one the path stays as given
    // (commas and colons escaped as workflow-command properties).
    let prefix = "::error file=";
    let suffix = format!(",line={line},col={column},title=harborize error::{message}");
    assert!(
        annotations
            .lines()
            .any(|l| l.starts_with(prefix) && l.ends_with(&suffix) && l.contains("broken.yaml")),
        "want {prefix}…broken.yaml{suffix} in:\n{annotations}"
    );
}

/// Markdown cell escaping and workflow-command escaping are written once, in
/// src/report/ (markdown.rs, github.rs); a copy elsewhere drifts (the migrate and
/// pull-request copies did: one left backticks, the other carriage returns).
#[test]
fn escapers_are_written_once_in_report() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let copies = ["replace('|', \"\\\\|\")", "\"%0A\"", "\"%25\"", "\"&lt;\""];
    let mut found = Vec::new();
    for path in files(&src) {
        let shown = path.display().to_string();
        if !shown.ends_with(".rs") || shown.starts_with("report/") {
            continue;
        }
        let text = std::fs::read_to_string(src.join(&path)).unwrap();
        for c in copies {
            if text.contains(c) {
                found.push(format!("src/{shown}: {c}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "escaping copied outside src/report/ (use report::escape_markdown_cell / escape_data):\n{}",
        found.join("\n")
    );
}
