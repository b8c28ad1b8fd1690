//! Golden fixtures: `fixtures/rewrite/<case>/{in,out}` — every quirk of the byte-exact
//! editor is its own case. Each case also proves idempotence (a second run changes
//! nothing) and that `--revert` gives back references equal to the originals.

use crate::support::common;

use std::path::Path;

use common::*;

fn normalized_refs(dir: &Path) -> Vec<(String, Option<String>)> {
    let out = run(&[
        "check",
        dir.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    let v = json(&out);
    v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let file = r["file"].as_str().unwrap();
            let rel = Path::new(file)
                .strip_prefix(dir)
                .unwrap()
                .display()
                .to_string();
            (rel, r["normalized"].as_str().map(str::to_string))
        })
        .collect()
}

#[test]
fn every_golden_case_matches_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rewrite");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "golden cases missing");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join(name);
        copy_tree(&case.join("in"), &work);
        let expected_code: i32 = std::fs::read_to_string(case.join("exit-code"))
            .map_or(0, |s| s.trim().parse().unwrap());

        let out = run(&["rewrite", work.to_str().unwrap(), "--harbor", HARBOR]);
        if code(&out) != expected_code {
            failures.push(format!(
                "{name}: exit {} (want {expected_code})\n{}",
                code(&out),
                stdout(&out)
            ));
            continue;
        }
        let want_files = files(&case.join("out"));
        assert_eq!(files(&work), want_files, "{name}: file list");
        for f in &want_files {
            let got = std::fs::read(work.join(f)).unwrap();
            let want = std::fs::read(case.join("out").join(f)).unwrap();
            if got != want {
                failures.push(format!(
                    "{name}/{}: bytes differ\n--- got\n{}\n--- want\n{}",
                    f.display(),
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                ));
            }
        }

        // Idempotent: a second run changes nothing.
        let again = run(&[
            "rewrite",
            work.to_str().unwrap(),
            "--harbor",
            HARBOR,
            "--format",
            "json",
        ]);
        assert_eq!(
            json(&again)["files_changed"],
            serde_json::json!([]),
            "{name}: second run changed files"
        );

        // Revert gives back the references the forward run rewrote, equal after
        // normalization (Docker Hub aliases fold to docker.io). Regex rules are not
        // invertible, so that case is left out.
        if expected_code == 0 && name != "regex-rule" {
            let original = tmp.path().join("original");
            copy_tree(&case.join("in"), &original);
            let before = normalized_refs(&original);
            let forward = run(&[
                "check",
                original.to_str().unwrap(),
                "--harbor",
                HARBOR,
                "--format",
                "json",
            ]);
            let statuses: Vec<String> = json(&forward)["references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["status"].as_str().unwrap().to_string())
                .collect();
            let out = run(&[
                "rewrite",
                work.to_str().unwrap(),
                "--harbor",
                HARBOR,
                "--revert",
            ]);
            assert_eq!(code(&out), 0, "{name}: revert failed\n{}", stdout(&out));
            let after = normalized_refs(&work);
            assert_eq!(
                before.len(),
                after.len(),
                "{name}: reference count after revert"
            );
            let fold = |s: &Option<String>| {
                s.as_deref().map(|s| {
                    [
                        "index.docker.io/",
                        "registry-1.docker.io/",
                        "registry.hub.docker.com/",
                    ]
                    .iter()
                    .fold(s.to_string(), |acc, alias| acc.replace(alias, "docker.io/"))
                })
            };
            for ((b, a), status) in before.iter().zip(&after).zip(&statuses) {
                if status == "rewritten" && fold(&b.1) != fold(&a.1) {
                    failures.push(format!("{name}: revert of {:?} gave {:?}", b.1, a.1));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
