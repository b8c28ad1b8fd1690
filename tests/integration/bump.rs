//! `harborize bump` on plain directories: every place an image hides gets the new tag as
//! its Harbor path, byte-exact; a missing image is an error; nothing is half-written.
//! `bump --pull-request` against real git (a bare remote on disk, clones made by the test)
//! and the local GitHub REST service (`support::github`, whose branches are the bare
//! remote's): the branch named after the change is pushed and a pull request opened, a
//! second bump of the same change updates it, the base branch is never touched.

use crate::support;
// serde_json's `json!` for GitHub's wide objects in `support::github`.
use crate::support::common;

use std::path::{Path, PathBuf};

use common::*;
use harborize::vcs::github::{branch_name, change_key};
use support::github::{GitHubService, OWNER, REPO, TOKEN};

const IMG: &str = "ghcr.io/org/app";
const DIGEST: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OLD_DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn bump(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["bump", "--harbor", HARBOR, "--image", IMG];
    args.extend_from_slice(extra);
    let d = dir.to_str().unwrap().to_string();
    harborize()
        .args(&args)
        .arg(&d)
        .output()
        .expect("harborize runs")
}

const DEPLOY: &str = "apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: app\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: app\r\n          image: ghcr.io/org/app:v1 # {\"$imagepolicy\": \"flux:app:tag\"}\r\n        - name: other\r\n          image: ghcr.io/org/app-other:v1\r\n      initContainers:\r\n        - name: migrate\r\n          image: 'harbor.example.com/ghcr/org/app:v1'\r\n";

#[test]
fn manifests_upstream_and_harbor_form_get_the_new_harbor_reference() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // CRLF, comments, quoting and the other image stay; both references are bumped.
    assert_eq!(
        read(tmp.path(), "deploy.yaml"),
        DEPLOY
            .replace(
                "image: ghcr.io/org/app:v1 #",
                "image: harbor.example.com/ghcr/org/app:v2 #"
            )
            .replace(
                "'harbor.example.com/ghcr/org/app:v1'",
                "'harbor.example.com/ghcr/org/app:v2'"
            )
    );
    let text = stdout(&out);
    assert!(
        text.contains("rewritten ghcr.io/org/app:v1 -> harbor.example.com/ghcr/org/app:v2"),
        "{text}"
    );
    assert!(!text.contains("app-other"), "{text}");

    // Again: nothing to do, exit 0, bytes untouched.
    let before = read(tmp.path(), "deploy.yaml");
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("already at v2"), "{}", stdout(&out));
    assert_eq!(read(tmp.path(), "deploy.yaml"), before);
}

/// Documents without a reference (a ConfigMap whose embedded config mentions `image:`) are
/// blanked for planning and proof; the bump still writes the real bytes around them.
#[test]
fn documents_around_the_bumped_one_keep_every_byte() {
    let config = "---\r\napiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  conf.yaml: |\r\n    image: ghcr.io/org/app:v1\r\n  key: \"1\" # note\r\n";
    let text = format!("{config}---\r\n{DEPLOY}{config}");
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", &text);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let expected = text
        .replace(
            "image: ghcr.io/org/app:v1 #",
            "image: harbor.example.com/ghcr/org/app:v2 #",
        )
        .replace(
            "'harbor.example.com/ghcr/org/app:v1'",
            "'harbor.example.com/ghcr/org/app:v2'",
        );
    assert_eq!(read(tmp.path(), "deploy.yaml"), expected);
    // The ConfigMap's embedded text is not a reference: untouched, twice.
    assert_eq!(
        expected
            .matches("    image: ghcr.io/org/app:v1\r\n")
            .count(),
        2
    );
}

#[test]
fn kustomize_entries_get_new_tag_and_harbor_name() {
    let tmp = tempfile::tempdir().unwrap();
    let kust = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deploy.yaml\nimages:\n  - name: ghcr.io/org/app # the app\n    newTag: v1\n  - name: ghcr.io/org/app-other\n    newTag: v1\n";
    write(tmp.path(), "base/kustomization.yaml", kust);
    let already = "images:\n- name: ghcr.io/org/app\n  newName: harbor.example.com/ghcr/org/app\n  newTag: \"v1\"\n";
    write(tmp.path(), "prod/kustomization.yaml", already);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // `name` keeps matching the resources; `newName` carries the Harbor name.
    assert_eq!(
        read(tmp.path(), "base/kustomization.yaml"),
        kust.replace(
            "  - name: ghcr.io/org/app # the app\n    newTag: v1\n",
            "  - name: ghcr.io/org/app # the app\n    newName: harbor.example.com/ghcr/org/app\n    newTag: v2\n"
        )
    );
    assert_eq!(
        read(tmp.path(), "prod/kustomization.yaml"),
        already.replace("\"v1\"", "\"v2\"")
    );
}

#[test]
fn helm_values_split_fields_and_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let values = "\
image:
  registry: ghcr.io
  repository: org/app
  tag: \"v1\"
  pullPolicy: IfNotPresent
worker:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v1
migrations:
  image:
    repository: ghcr.io/org/app
sidecar:
  image: ghcr.io/org/app:v1
unrelated:
  image:
    repository: ghcr.io/org/app-other
    tag: v1
";
    write(tmp.path(), "chart/values.yaml", values);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "chart/values.yaml"),
        "\
image:
  registry: harbor.example.com/ghcr
  repository: org/app
  tag: \"v2\"
  pullPolicy: IfNotPresent
worker:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v2
migrations:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v2
sidecar:
  image: harbor.example.com/ghcr/org/app:v2
unrelated:
  image:
    repository: ghcr.io/org/app-other
    tag: v1
"
    );
}

#[test]
fn argo_and_flux_embedded_values_are_bumped_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: ghcr.io/org/app\n          tag: v1\n    kustomize:\n      images:\n        - ghcr.io/org/app:v1\n        - app=ghcr.io/org/app:v1\n";
    write(tmp.path(), "app.yaml", app);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "app.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: harbor.example.com/ghcr/org/app\n          tag: v2\n    kustomize:\n      images:\n        - ghcr.io/org/app=harbor.example.com/ghcr/org/app:v2\n        - app=harbor.example.com/ghcr/org/app:v2\n"
    );
}

#[test]
fn digest_is_set_everywhere_and_inserted_where_missing() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "deploy.yaml",
        &format!("kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - image: ghcr.io/org/app:v1@{OLD_DIGEST}\n"),
    );
    write(
        tmp.path(),
        "values.yaml",
        &format!("image:\n  repository: ghcr.io/org/app\n  tag: v1\n  digest: \"{OLD_DIGEST}\"\nother:\n  image:\n    registry: ghcr.io\n    repository: org/app\n    tag: v1\n"),
    );
    write(
        tmp.path(),
        "kustomization.yaml",
        "images:\n  - name: harbor.example.com/ghcr/org/app\n    newTag: v1\n",
    );
    let out = bump(tmp.path(), &["--tag", "v2", "--digest", DIGEST]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "deploy.yaml"),
        format!("kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - image: harbor.example.com/ghcr/org/app:v2@{DIGEST}\n")
    );
    assert_eq!(
        read(tmp.path(), "values.yaml"),
        format!("image:\n  repository: harbor.example.com/ghcr/org/app\n  tag: v2\n  digest: \"{DIGEST}\"\nother:\n  image:\n    registry: harbor.example.com/ghcr\n    repository: org/app\n    tag: v2\n    digest: {DIGEST}\n")
    );
    assert_eq!(
        read(tmp.path(), "kustomization.yaml"),
        format!("images:\n  - name: harbor.example.com/ghcr/org/app\n    newTag: v2\n    digest: {DIGEST}\n")
    );
}

#[test]
fn a_pinned_digest_without_digest_blocks_the_whole_bump() {
    let tmp = tempfile::tempdir().unwrap();
    let values =
        format!("image:\n  repository: ghcr.io/org/app\n  tag: v1\n  digest: {OLD_DIGEST}\n");
    write(tmp.path(), "a/values.yaml", &values);
    write(tmp.path(), "b/deploy.yaml", DEPLOY);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("pass --digest"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    // Not half-done: the other file is untouched too.
    assert_eq!(read(tmp.path(), "a/values.yaml"), values);
    assert_eq!(read(tmp.path(), "b/deploy.yaml"), DEPLOY);
}

/// Issue #13 item 1: a short commit SHA that reads as a number (`1234567`, `427e111`,
/// `0000001`) in a plain Helm `tag`, kustomize `newTag` or compose `image:` is written
/// quoted where it would change type (the comment stays), plain where it is part of a
/// reference; a missing `newTag` is inserted quoted.
#[test]
fn seven_digit_shas_that_read_as_numbers_are_written_quoted() {
    let values = "image:\n  repository: ghcr.io/org/app\n  tag: c2dd9cd  # set by CI\n";
    let kust = "images:\n  - name: ghcr.io/org/app\n    newName: harbor.example.com/ghcr/org/app\n    newTag: c2dd9cd # set by CI\n";
    let kust_missing =
        "images:\n  - name: ghcr.io/org/app\n    newName: harbor.example.com/ghcr/org/app\n";
    let compose = "services:\n  app:\n    image: ghcr.io/org/app:c2dd9cd # set by CI\n";
    for sha in ["1234567", "427e111", "0000001", "1234e56"] {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "chart/values.yaml", values);
        write(tmp.path(), "base/kustomization.yaml", kust);
        write(tmp.path(), "prod/kustomization.yaml", kust_missing);
        write(tmp.path(), "compose.yaml", compose);
        let out = bump(tmp.path(), &["--tag", sha]);
        assert_eq!(code(&out), 0, "{sha}: {}{}", stdout(&out), stderr(&out));
        assert_eq!(
            read(tmp.path(), "chart/values.yaml"),
            format!("image:\n  repository: harbor.example.com/ghcr/org/app\n  tag: \"{sha}\"  # set by CI\n")
        );
        assert_eq!(
            read(tmp.path(), "base/kustomization.yaml"),
            format!("images:\n  - name: ghcr.io/org/app\n    newName: harbor.example.com/ghcr/org/app\n    newTag: \"{sha}\" # set by CI\n")
        );
        assert_eq!(
            read(tmp.path(), "prod/kustomization.yaml"),
            format!("{kust_missing}    newTag: \"{sha}\"\n")
        );
        assert_eq!(
            read(tmp.path(), "compose.yaml"),
            format!(
                "services:\n  app:\n    image: harbor.example.com/ghcr/org/app:{sha} # set by CI\n"
            )
        );
        // Once quoted, the next bump writes between the quotes, numeric or not.
        let out = bump(tmp.path(), &["--tag", "c2dd9ce"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        assert!(read(tmp.path(), "chart/values.yaml").contains("  tag: \"c2dd9ce\"  # set by CI\n"));
    }
}

/// The old scalar of the quoting table: plain, single or double quoted, with or without a
/// trailing comment.
const STYLES: [(&str, &str, &str); 6] = [
    ("plain", "", ""),
    ("plain_comment", "", "  # set by CI"),
    ("single", "'", ""),
    ("single_comment", "'", "  # set by CI"),
    ("double", "\"", ""),
    ("double_comment", "\"", "  # set by CI"),
];

/// Values that YAML 1.1 or the 1.2 core schema read as something other than a string,
/// and a few that stay strings (written plain).
fn quoting_table() -> Vec<String> {
    let mut values: Vec<String> = [
        // ints: decimal, leading zeros, signs, radix prefixes, 1.1's `_` and base 60
        "1234567",
        "0000001",
        "0",
        "7",
        "+1",
        "-1",
        "017",
        "0x1f",
        "0X1F",
        "0x_1",
        "0o17",
        "0b101",
        "1_000",
        "-_1",
        "1:20",
        "190:20:30",
        // floats: exponents with and without a dot or sign, 1.1's `1.`, specials
        "1e5",
        "427e111",
        "1234e56",
        "1E+5",
        "1e-5",
        "1.5",
        "1.",
        ".5",
        "1_0.5",
        "1:20.5",
        ".inf",
        "-.Inf",
        "+.INF",
        ".nan",
        ".NaN",
        ".NAN",
        "._",
        // null
        "null",
        "Null",
        "NULL",
        "~",
        "",
        // timestamps
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14T21:59:43Z",
        "2001-12-14 21:59:43.10 -5",
        "2001-1-2 1:02:03",
        // 1.1 merge and value keys
        "<<",
        "=",
        // strings that stay plain
        "c2dd9ce",
        "v2",
        "1.2.3",
        "e5",
        "0xg",
        "1:60",
        "yesno",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every spelling of a bool YAML 1.1 lists (y/n, yes/no, on/off, true/false).
    for word in ["y", "n", "yes", "no", "on", "off", "true", "false"] {
        values.push(word.to_string());
        values.push(word.to_ascii_uppercase());
        let mut title = word.to_string();
        title[..1].make_ascii_uppercase();
        values.push(title);
    }
    values.sort();
    values.dedup();
    values
}

/// Read every (file, keys) back with PyYAML (1.1) and ruamel.yaml (1.2): each must be
/// exactly the string given.
fn assert_reads_back(checks: &[serde_json::Value]) {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(crate::support::common::venv_python())
        .arg(root.join("tests/quote_readback.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(checks).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "values that do not read back:\n{text}"
    );
    assert!(
        text.contains(&format!("OK: {} values", checks.len())),
        "{text}"
    );
}

/// `tag: X{comment}` with X the value, plain or in quotes; quoted styles keep their quotes.
fn assert_tag_line(line: &str, indent: &str, value: &str, quote: &str, comment: &str) {
    let options: Vec<String> = if quote.is_empty() {
        vec![
            value.to_string(),
            format!("\"{value}\""),
            format!("'{value}'"),
        ]
    } else {
        vec![format!("{quote}{value}{quote}")]
    };
    assert!(
        options
            .iter()
            .any(|o| line == format!("{indent}tag: {o}{comment}")),
        "{line:?} is not tag: {value:?} in {quote:?} quotes with {comment:?}"
    );
}

/// Issue #13 item 1: the quoting rule over a table of values × the three scalar styles ×
/// with or without a trailing comment, through `harborize bump` (every value that is a
/// valid tag) and through the edit layer every command shares (all of them, `~`, `.inf`
/// and `1:20` included, which no tag can be). Both a YAML 1.1 and a 1.2 reader must read
/// every written value back as exactly that string.
#[test]
fn every_value_reads_back_as_the_same_string_in_yaml_1_1_and_1_2() {
    use harborize::yaml::edit::{apply_checked, Edit};
    use harborize::yaml::{quote, Style};
    let tmp = tempfile::tempdir().unwrap();
    let mut checks = Vec::new();
    let valid_tag = |v: &str| {
        v.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    let old = "c2dd9cd";
    let mut bumped = 0;
    for (n, value) in quoting_table().iter().enumerate() {
        // Edit layer: a flat map, one key per style, edited in place.
        let mut text = String::new();
        let mut edits = Vec::new();
        for (i, (key, q, comment)) in STYLES.iter().enumerate() {
            let start = text.len() + key.len() + 2 + q.len();
            text.push_str(&format!("{key}: {q}{old}{q}{comment}\n"));
            let style = match *q {
                "" => Style::Plain,
                "'" => Style::Single,
                _ => Style::Double,
            };
            let (written, requote) = quote::encode(value, style).expect("writable");
            edits.push(Edit {
                range: start..start + old.len(),
                text: written,
                owner: 2 * i + 1,
                value_range: 0..old.len(),
                insert: None,
                requote,
            });
        }
        let out = apply_checked(&text, &edits).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        for (line, (key, quote, comment)) in out.lines().zip(STYLES) {
            let tag = line.replacen(&format!("{key}: "), "tag: ", 1);
            assert_tag_line(&tag, "", value, quote, comment);
        }
        let file = tmp.path().join(format!("edit-{n}.yaml"));
        std::fs::write(&file, out).unwrap();
        for (key, ..) in STYLES {
            checks.push(serde_json::json!({"file": file, "keys": [key], "want": value}));
        }

        // The CLI: a Helm image map per style, bumped to the value.
        if !valid_tag(value) {
            continue;
        }
        let dir = tmp.path().join(format!("bump-{n}"));
        let mut values = String::new();
        for (key, quote, comment) in STYLES {
            values.push_str(&format!(
                "{key}:\n  image:\n    repository: ghcr.io/org/app\n    tag: {quote}{old}{quote}{comment}\n"
            ));
        }
        write(&dir, "values.yaml", &values);
        let out = bump(&dir, &["--tag", value]);
        assert_eq!(code(&out), 0, "{value:?}: {}{}", stdout(&out), stderr(&out));
        let written = read(&dir, "values.yaml");
        let tags: Vec<&str> = written.lines().filter(|l| l.contains("tag:")).collect();
        assert_eq!(tags.len(), STYLES.len(), "{written}");
        for (line, (_, quote, comment)) in tags.iter().zip(STYLES) {
            assert_tag_line(line, "    ", value, quote, comment);
        }
        for (key, ..) in STYLES {
            checks.push(serde_json::json!({
                "file": dir.join("values.yaml"), "keys": [key, "image", "tag"], "want": value
            }));
        }
        bumped += 1;
    }
    assert!(bumped >= 40, "only {bumped} table values were valid tags");
    assert_reads_back(&checks);
}

#[test]
fn an_image_found_nowhere_is_an_error_that_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = harborize()
        .args([
            "bump",
            "--harbor",
            HARBOR,
            "--image",
            "ghcr.io/org/missing",
            "--tag",
            "v2",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("ghcr.io/org/missing not found"), "{err}");
    assert!(err.contains(tmp.path().to_str().unwrap()), "{err}");
    assert!(err.contains("1 file(s)"), "{err}");
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
}

#[test]
fn bad_arguments_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    for (image, tag, want) in [
        ("ghcr.io/org/app:v1", "v2", "without tag"),
        ("ghcr.io/org/app", "bad tag!", "invalid --tag"),
        (
            "gcr.io/org/app",
            "v2",
            "no Harbor project for registry gcr.io",
        ),
        ("goharbor/harbor-core", "v2", "excluded"),
    ] {
        let out = harborize()
            .args(["bump", "--harbor", HARBOR, "--image", image, "--tag", tag])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{image}");
        assert!(stderr(&out).contains(want), "{image}: {}", stderr(&out));
    }
    let out = bump(tmp.path(), &["--tag", "v2", "--digest", "sha256:short"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("invalid --digest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
}

#[test]
fn dry_run_and_json_report() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = bump(
        tmp.path(),
        &["--tag", "v2", "--dry-run", "--format", "json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
    let v = json(&out);
    assert_eq!(v["version"], 1);
    let refs = v["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert!(refs
        .iter()
        .all(|r| r["status"] == "rewritten" && r["applied"] == false));
    assert_eq!(refs[0]["rewritten"], "harbor.example.com/ghcr/org/app:v2");
    assert_eq!(v["bump"]["images"][0]["image"], IMG);
    assert_eq!(
        v["bump"]["images"][0]["to"],
        "harbor.example.com/ghcr/org/app:v2"
    );

    let out = bump(tmp.path(), &["--tag", "v2", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    assert!(v["references"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["applied"] == true));
    assert_eq!(v["files_changed"].as_array().unwrap().len(), 1);
}

#[test]
fn github_outputs_are_written_without_git() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "repo/deploy.yaml", DEPLOY);
    let output = tmp.path().join("gh_output");
    let summary = tmp.path().join("gh_summary");
    let out = harborize()
        .args(["bump", "--harbor", HARBOR, "--image", IMG, "--tag", "v2"])
        .arg(tmp.path().join("repo"))
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("changed=true\n"), "{o}");
    assert!(o.contains("commit=\n"), "{o}");
    let images = o.lines().find_map(|l| l.strip_prefix("images=")).unwrap();
    let v: serde_json::Value = serde_json::from_str(images).unwrap();
    assert_eq!(v[0]["to"], "harbor.example.com/ghcr/org/app:v2");
    assert_eq!(v[0]["from"][0], "ghcr.io/org/app:v1");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains("### harborize bump"), "{s}");
    assert!(s.contains("`harbor.example.com/ghcr/org/app:v2`"), "{s}");
}

#[test]
fn a_failed_bump_write_is_an_error_and_not_listed_as_changed() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "ok/deploy.yaml", DEPLOY);
    write(tmp.path(), "ro/deploy.yaml", DEPLOY);
    let _immutable = Immutable::set(&tmp.path().join("ro"));
    let out = bump(tmp.path(), &["--tag", "v2", "--format", "json"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    let ok = tmp.path().join("ok/deploy.yaml");
    let ro = tmp.path().join("ro/deploy.yaml");
    assert_eq!(
        v["files_changed"],
        serde_json::json!([ok.to_str().unwrap()])
    );
    assert_eq!(v["errors"][0]["file"], ro.to_str().unwrap());
    assert!(v["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("cannot write"));
    assert!(
        !v["bump"].to_string().contains("ro/deploy.yaml"),
        "{}",
        v["bump"]
    );
    assert_eq!(read(tmp.path(), "ro/deploy.yaml"), DEPLOY);
    assert!(read(tmp.path(), "ok/deploy.yaml").contains("harbor.example.com/ghcr/org/app:v2"));
}

// ---------------------------------------------------------------------------------------
// Durable writes at one sync (issue 13 item 4)

/// Six directories of one deployment each.
fn six_dirs() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..6 {
        write(tmp.path(), &format!("d{i}/deploy.yaml"), DEPLOY);
    }
    tmp
}

/// Every file under `root` with its bytes.
fn contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(root)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(root.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// The writing runs of issue 13: `bump` and `rewrite` of a directory.
fn writing_runs(dir: &Path) -> Vec<Vec<String>> {
    let d = dir.to_str().unwrap().to_string();
    vec![
        [
            "bump", "--harbor", HARBOR, "--image", IMG, "--tag", "v2", &d,
        ]
        .map(String::from)
        .to_vec(),
        ["rewrite", "--harbor", HARBOR, &d]
            .map(String::from)
            .to_vec(),
    ]
}

/// Issue 13 item 4: a run writes all its temporary files, syncs once, then renames. A
/// failure after the temporary files are written and before the first rename (injected
/// there, debug builds only) leaves every file as it was and no temporary file behind,
/// for `bump` and `rewrite` alike.
#[test]
fn a_failure_between_the_temporary_files_and_the_renames_leaves_every_file_as_it_was() {
    for i in 0..2 {
        let tmp = six_dirs();
        let run = writing_runs(tmp.path()).swap_remove(i);
        let before = contents(tmp.path());
        let out = harborize()
            .env(harborize::fsio::FAULT_BEFORE_RENAME_ENV, "1")
            .args(&run)
            .output()
            .unwrap();
        let shown = format!("run {i} {run:?}: {}{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), 2, "{shown}");
        assert!(
            shown.contains("injected fault before the renames"),
            "{shown}"
        );
        // Nothing renamed, every temporary file gone.
        assert_eq!(contents(tmp.path()), before, "{shown}");
        // The same run without the fault writes every file.
        let out = harborize().args(&run).output().unwrap();
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        for d in 0..6 {
            let text = read(tmp.path(), &format!("d{d}/deploy.yaml"));
            assert!(
                text.contains("image: harbor.example.com/ghcr/org/app"),
                "{text}"
            );
        }
        assert_eq!(files(tmp.path()).len(), 6, "{:?}", files(tmp.path()));
    }
}

/// Issue 13 item 4: writing N files in M directories costs two `syncfs` (the temporary
/// files, then the renames in every directory), not one `fsync` per file or directory
/// (counted with strace).
#[test]
fn bump_and_rewrite_sync_the_filesystem_twice_not_each_file() {
    let probe = std::process::Command::new("strace").arg("-V").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "strace is not installed: apt-get install strace"
    );
    for i in 0..2 {
        let tmp = six_dirs();
        let run = writing_runs(tmp.path()).swap_remove(i);
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("strace.log");
        let out = std::process::Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs,sync", "-o"])
            .arg(&log)
            .arg(crate::support::common::binary())
            .args(&run)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{run:?}: {}{}", stdout(&out), stderr(&out));
        let calls = std::fs::read_to_string(&log).unwrap();
        let count = |name: &str| {
            calls
                .lines()
                .filter(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .is_some_and(|c| c.starts_with(&format!("{name}(")))
                })
                .count()
        };
        assert_eq!(count("syncfs"), 2, "{run:?}:\n{calls}");
        assert_eq!(count("fsync") + count("fdatasync"), 0, "{run:?}:\n{calls}");
    }
}

// ---------------------------------------------------------------------------------------
// --pull-request

const PR_DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/org/app:v1 # keep\n";

/// A bare remote (`main`: the deployment and a README) in a temporary directory.
fn pr_remote() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let remote = support::git::bare_remote(&tmp.path().join("srv/gitops.git"));
    support::git::seed(
        &remote,
        &tmp.path().join("seed"),
        &[
            ("apps/app/deploy.yaml".to_string(), PR_DEPLOY.to_string()),
            ("README.md".to_string(), "# gitops\n".to_string()),
        ],
    );
    (tmp, remote)
}

/// A fresh clone of the remote, as a CI checkout.
fn pr_clone(tmp: &Path, remote: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(name);
    support::git::clone(remote, &dir);
    dir
}

/// `harborize bump --pull-request` in `dir` with a GitHub Actions-like environment.
fn pr_bump(dir: &Path, tag: &str, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = harborize();
    cmd.current_dir(dir)
        .args(["bump", "--harbor", HARBOR, "--image", IMG, "--tag", tag])
        .args(["--pull-request", "--author-name", "Bump Bot"])
        .args(["--author-email", "bot@example.com"])
        .args(extra)
        .arg("apps")
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("harborize runs")
}

fn show_out(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn writes(svc: &GitHubService) -> Vec<String> {
    svc.log()
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

fn assert_no_token(texts: &[&str]) {
    for t in texts {
        assert!(!t.contains(TOKEN), "the token leaked into: {t}");
    }
}

/// The branch harborize names a bump of the app to `tag` on `main`.
fn expected_branch(tag: &str) -> String {
    branch_name(&change_key(
        "bump",
        "main",
        &[format!("{IMG}=harbor.example.com/ghcr/org/app:{tag}")],
    ))
}

#[test]
fn pull_request_is_opened_from_the_change_branch_then_updated() {
    let (tmp, remote) = pr_remote();
    let t = tmp.path();
    let svc = GitHubService::start_for_repo(&remote);
    let api = svc.api_url();
    let main_before = support::git::rev(&remote, "main");
    let head = expected_branch("v2");
    assert!(head.starts_with("harborize/"), "{head}");

    // 1. The first bump: push the change branch, open the pull request.
    let a = pr_clone(t, &remote, "a");
    let output = t.join("gh_output");
    let summary = t.join("gh_summary");
    let env = [
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let out = pr_bump(&a, "v2", &[], &env);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let pr_url = format!("http://{}/{OWNER}/{REPO}/pull/1", svc.addr);
    assert!(
        stdout(&out).contains(&format!("opened pull request #1 ({head} → main): {pr_url}")),
        "{}",
        show_out(&out)
    );

    let log = svc.log();
    assert_eq!(
        writes(&svc),
        [format!("POST /repos/{OWNER}/{REPO}/pulls")],
        "{:#?}",
        log.iter().map(|e| e.line()).collect::<Vec<_>>()
    );
    let list = &log[0];
    assert_eq!(list.method, "GET");
    assert_eq!(
        list.query_value("head"),
        Some(format!("{OWNER}:{head}").as_str())
    );
    for e in &log {
        assert_eq!(
            e.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    let post = log.iter().find(|e| e.method == "POST").unwrap();
    assert_eq!(post.status, 201);
    let body = post.json();
    assert_eq!(body["title"], "harborize: bump ghcr.io/org/app to v2");
    assert_eq!(body["head"], head.as_str());
    assert_eq!(body["base"], "main");
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains("| `ghcr.io/org/app:v1` | `harbor.example.com/ghcr/org/app:v2` |"),
        "{text}"
    );
    assert!(text.contains("`apps/app/deploy.yaml`"), "{text}");

    // The branch is on the remote with our commit on top of main; main did not move.
    assert_eq!(support::git::rev(&remote, "main"), main_before);
    let pr_sha = support::git::rev(&remote, &head);
    assert_eq!(
        support::git::rev(&remote, &format!("{pr_sha}^")),
        main_before
    );
    assert_eq!(
        support::git::show(&remote, &head, "apps/app/deploy.yaml"),
        PR_DEPLOY
            .replace("ghcr.io/org/app:v1", "harbor.example.com/ghcr/org/app:v2")
            .trim_end()
    );
    assert_eq!(
        support::git::git(&remote, &["show", "--name-only", "--format=", &pr_sha]),
        "apps/app/deploy.yaml"
    );
    let pulls = svc.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (pulls[0].head.as_str(), pulls[0].base.as_str()),
        (head.as_str(), "main")
    );

    // The clone is back on main, which was neither committed to nor moved; clean.
    assert_eq!(
        support::git::git(&a, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
    assert_eq!(support::git::rev(&a, "main"), main_before);
    assert_eq!(support::git::rev(&a, &head), pr_sha);
    assert_eq!(
        support::git::git(&a, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );

    // GitHub Actions outputs and summary.
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains(&format!("pr-url={pr_url}\n")), "{o}");
    assert!(o.contains("changed=true\n"), "{o}");
    assert!(o.contains(&format!("commit={pr_sha}\n")), "{o}");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains(&format!("Pull request: {pr_url}")), "{s}");
    assert_no_token(&[&stdout(&out), &stderr(&out), &o, &s]);

    // 2. The same change from another CI run (a fresh clone): the push of its own commit
    // is refused (never forced), it lands on the branch already there, and the pull
    // request is updated: a PATCH, no second POST.
    svc.clear_log();
    std::fs::remove_file(&output).unwrap();
    let b = pr_clone(t, &remote, "b");
    let out = pr_bump(&b, "v2", &[], &env);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(
        stdout(&out).contains(&format!(
            "updated pull request #1 ({head} → main): {pr_url}"
        )),
        "{}",
        show_out(&out)
    );
    // Within the same second both clones build the very same commit (same tree, parent,
    // identity and time), so the push is then a no-op rather than a rejection.
    assert!(
        stderr(&out).contains(&format!("push rejected (refs/heads/{head}"))
            || stdout(&out).contains(&pr_sha[..12]),
        "{}",
        show_out(&out)
    );
    assert_eq!(
        writes(&svc),
        [format!("PATCH /repos/{OWNER}/{REPO}/pulls/1")],
        "an update, never a second POST"
    );
    let patch = svc
        .log()
        .into_iter()
        .find(|e| e.method == "PATCH")
        .unwrap()
        .json();
    assert_eq!(patch["title"], "harborize: bump ghcr.io/org/app to v2");
    assert!(
        patch["body"]
            .as_str()
            .unwrap()
            .contains("| `ghcr.io/org/app:v1` | `harbor.example.com/ghcr/org/app:v2` |"),
        "{patch}"
    );
    assert_eq!(svc.pulls().len(), 1);
    assert_eq!(support::git::rev(&remote, &head), pr_sha, "never forced");
    assert_eq!(support::git::rev(&remote, "main"), main_before);
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains(&format!("pr-url={pr_url}\n")), "{o}");
    assert!(o.contains(&format!("commit={pr_sha}\n")), "{o}");
    assert_no_token(&[&stdout(&out), &stderr(&out), &o]);

    // 3. Again in the first clone (back on main): the same, an update.
    svc.clear_log();
    let out = pr_bump(&a, "v2", &[], &env);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(
        writes(&svc),
        [format!("PATCH /repos/{OWNER}/{REPO}/pulls/1")]
    );
    assert_eq!(
        support::git::git(&a, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );

    // 4. Merged: the base has the change, so there is nothing to propose.
    support::git::git(&remote, &["update-ref", "refs/heads/main", &pr_sha]);
    svc.clear_log();
    std::fs::remove_file(&output).unwrap();
    let c = pr_clone(t, &remote, "c");
    let out = pr_bump(&c, "v2", &[], &env);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(
        stdout(&out).contains("the base already has this change; no pull request"),
        "{}",
        show_out(&out)
    );
    assert!(writes(&svc).is_empty(), "{:?}", writes(&svc));
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("pr-url=\n"), "{o}");
    assert!(o.contains("changed=false\n"), "{o}");
}

#[test]
fn pull_request_honours_an_enterprise_api_url() {
    let (tmp, remote) = pr_remote();
    let svc = GitHubService::start_enterprise();
    svc.state.lock().unwrap().git_dir = Some(remote.clone());
    let api = svc.api_url();
    assert!(api.ends_with("/api/v3"), "{api}");
    let dir = pr_clone(tmp.path(), &remote, "work");
    let out = pr_bump(
        &dir,
        "v3",
        &["--format", "json"],
        &[
            ("HARBORIZE_GIT_TOKEN", TOKEN),
            ("GITHUB_API_URL", api.as_str()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let head = expected_branch("v3");
    assert_eq!(
        writes(&svc),
        [format!("POST /api/v3/repos/{OWNER}/{REPO}/pulls")]
    );
    assert!(svc
        .log()
        .iter()
        .all(|e| e.path.starts_with("/api/v3/repos/")));
    let v = json(&out);
    let pr = &v["bump"]["git"]["pull_request"];
    assert_eq!(
        pr["url"],
        format!("http://{}/{OWNER}/{REPO}/pull/1", svc.addr)
    );
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["created"], true);
    assert_eq!(pr["head"], head.as_str());
    assert_eq!(pr["base"], "main");
    assert_eq!(v["bump"]["git"]["pushed"], true);
    assert_eq!(
        v["bump"]["git"]["commit"],
        support::git::rev(&remote, &head).as_str()
    );
    assert_no_token(&[&stdout(&out), &stderr(&out)]);
}

#[test]
fn pull_request_without_a_token_stops_before_anything_is_written() {
    let (tmp, remote) = pr_remote();
    let svc = GitHubService::start_for_repo(&remote);
    let api = svc.api_url();
    let dir = pr_clone(tmp.path(), &remote, "work");
    let out = pr_bump(&dir, "v2", &[], &[("GITHUB_API_URL", api.as_str())]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("set HARBORIZE_GIT_TOKEN or GITHUB_TOKEN"),
        "{}",
        show_out(&out)
    );
    assert_eq!(
        support::git::read(&dir, "apps/app/deploy.yaml"),
        PR_DEPLOY,
        "nothing written"
    );
    let branches = |repo: &Path| {
        support::git::git(repo, &["for-each-ref", "--format=%(refname)", "refs/heads"])
    };
    assert_eq!(branches(&remote), "refs/heads/main");
    assert_eq!(branches(&dir), "refs/heads/main");
    assert!(svc.log().is_empty());

    // A token GitHub refuses: the branch is pushed, the error says 401 and never shows the
    // token; the clone is back on main.
    let wrong = "ghp_Wrong0Token0Zz9Yy8Xx7Ww6";
    let out = pr_bump(
        &dir,
        "v2",
        &[],
        &[("GITHUB_TOKEN", wrong), ("GITHUB_API_URL", api.as_str())],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("the token from GITHUB_TOKEN"), "{err}");
    assert!(
        !err.contains(wrong) && !stdout(&out).contains(wrong),
        "{err}"
    );
    assert!(svc.pulls().is_empty());
    assert_eq!(
        support::git::git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
}
