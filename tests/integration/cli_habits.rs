//! The habits of tools users already trust (issue #14, items 4 and 5): global `-q`, `-v`,
//! `--color`; diagnostics on stderr in every format; completions and man pages of what
//! users can type, with an EXIT STATUS section; an editor-ready schema; annotation paths
//! GitHub can resolve; the README's commands as written ([`readme`]); Trivy's conventions
//! ([`trivy`]).

mod readme;
mod trivy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::common::*;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// A real git work tree `repo/` with `apps/pod.yaml` (bypasses Harbor) and harborize.yaml.
fn git_repo(tmp: &Path) -> PathBuf {
    let repo = tmp.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let st = Command::new("git")
        .args(["init", "-q"])
        .arg(&repo)
        .status()
        .expect("git runs");
    assert!(st.success());
    write(
        &repo,
        "harborize.yaml",
        &format!("harbor:\n  host: {HARBOR}\n"),
    );
    write(&repo, "apps/pod.yaml", POD);
    repo
}

fn in_dir(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = harborize();
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("harborize runs")
}

const COMMANDS: &[&[&str]] = &[
    &["rewrite"],
    &["check"],
    &["verify"],
    &["warm"],
    &["run"],
    &["bump"],
    &["promote"],
    &["scan"],
    &["schema"],
    &["mirrors"],
    &["policy"],
    &["harbor", "setup"],
    &["completions"],
    &["man"],
    &["migrate"],
];

#[test]
fn quiet_verbose_and_color_are_global_flags_of_every_command() {
    for cmd in COMMANDS {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(&args);
        assert_eq!(code(&out), 0, "{cmd:?}: {}", stderr(&out));
        let help = stdout(&out);
        for flag in ["-q, --quiet", "-v, --verbose", "--color <WHEN>"] {
            assert!(help.contains(flag), "{cmd:?} --help lacks {flag}:\n{help}");
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(tmp.path());
    // --quiet: no text report, the exit status still says it (1: bypasses Harbor).
    for args in [&["-q", "check", "."][..], &["check", ".", "--quiet"]] {
        let out = in_dir(&repo, args, &[]);
        assert_eq!(code(&out), 1, "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    // ... but a machine format asked for is still printed.
    let out = in_dir(&repo, &["check", ".", "-q", "--format", "json"], &[]);
    assert_eq!(json(&out)["summary"]["rewritten"], 1);
    // --verbose says which config and host were used, on stderr.
    let out = in_dir(&repo, &["check", ".", "-v", "--format", "json"], &[]);
    let err = stderr(&out);
    assert!(
        err.contains("harborize.yaml") && err.contains(HARBOR),
        "{err}"
    );
    json(&out);
    assert_eq!(code(&in_dir(&repo, &["check", ".", "-q", "-v"], &[])), 2);
    // --color: always wins over NO_COLOR; never and auto (not a terminal) print none.
    let esc = |o: &Output| stdout(o).contains('\u{1b}');
    let colour = [("NO_COLOR", "1")];
    assert!(esc(&in_dir(
        &repo,
        &["--color", "always", "check", "."],
        &colour
    )));
    assert!(esc(&in_dir(&repo, &["check", ".", "--color=always"], &[])));
    assert!(!esc(&in_dir(
        &repo,
        &["check", ".", "--color", "never"],
        &[]
    )));
    assert!(!esc(&in_dir(&repo, &["check", "."], &[])));
    let bad = in_dir(&repo, &["check", ".", "--color", "sometimes"], &[]);
    assert_eq!(code(&bad), 2);
}

#[test]
fn errors_go_to_stderr_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(tmp.path());
    write(&repo, "apps/broken.yaml", "image: [unclosed\nkey: : :\n");
    for format in ["text", "json", "github"] {
        let out = in_dir(&repo, &["check", ".", "--format", format], &[]);
        assert_eq!(code(&out), 2, "{format}");
        let err = stderr(&out);
        assert!(
            err.lines()
                .any(|l| l.starts_with("error: ") && l.contains("broken.yaml:")),
            "{format}: stderr lacks the error:\n{err}"
        );
        let out_text = stdout(&out);
        match format {
            "json" => assert!(json(&out)["errors"][0]["file"].is_string()),
            // the annotation is the github format's report, on stdout as GitHub reads it
            "github" => assert!(out_text.contains("::error file=apps/broken.yaml")),
            _ => assert!(
                !out_text.contains("error:") && out_text.contains("pod.yaml"),
                "text report holds the error:\n{out_text}"
            ),
        }
    }
}

#[test]
fn completions_and_man_pages_hold_only_what_users_can_type() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}");
        let script = stdout(&out);
        assert!(script.contains("migrate"), "{shell}");
        for hidden in [
            "GitHub Action entrypoint",
            "harborize__action",
            "harborize;action",
        ] {
            assert!(!script.contains(hidden), "{shell} completes `action`");
        }
        // global flags (fish spells them `-l quiet`)
        assert!(
            script.contains("quiet") && script.contains("color"),
            "{shell}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["man", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pages: Vec<String> = files(tmp.path())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let want: Vec<String> = [
        "harborize-bump.1",
        "harborize-check.1",
        "harborize-completions.1",
        "harborize-harbor-setup.1",
        "harborize-harbor.1",
        "harborize-man.1",
        "harborize-migrate.1",
        "harborize-mirrors.1",
        "harborize-policy.1",
        "harborize-promote.1",
        "harborize-rewrite.1",
        "harborize-run.1",
        "harborize-scan.1",
        "harborize-schema.1",
        "harborize-verify.1",
        "harborize-warm.1",
        "harborize.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(pages, want);
    for page in &pages {
        let roff = std::fs::read_to_string(tmp.path().join(page)).unwrap();
        assert!(roff.contains(".SH \"EXIT STATUS\""), "{page}");
        assert!(!roff.contains("GitHub Action entrypoint"), "{page}");
    }
    let root = stdout(&run(&["man"]));
    assert!(root.contains(".SH \"EXIT STATUS\"") && root.contains("\\fB2\\fR"));
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("EXIT STATUS:"), "{help}");
    assert!(!help.contains("GitHub Action entrypoint"), "{help}");
}

#[test]
fn schema_has_an_id_and_title_and_the_readme_shows_its_modeline() {
    let schema = json(&run(&["schema"]));
    assert_eq!(schema["title"], "harborize.yaml");
    let id = schema["$id"].as_str().expect("$id");
    assert!(
        id.starts_with("https://") && id.ends_with("/harborize.schema.json"),
        "{id}"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let modeline = format!("# yaml-language-server: $schema={id}");
    assert!(
        readme.lines().any(|l| l == modeline),
        "README lacks `{modeline}`"
    );
}

/// (working directory, PATHs, environment) of one run.
type Case<'a> = (&'a Path, &'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn annotation_paths_are_relative_to_the_repository_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(tmp.path());
    let apps = repo.join("apps");
    let abs = apps.to_str().unwrap().to_string();
    let ws = repo.to_str().unwrap().to_string();
    let cases: [Case; 4] = [
        // the Action's working-directory: a subdirectory, PATH "."
        (&apps, &["."], &[]),
        // an absolute PATH from anywhere
        (Path::new("/"), &[&abs], &[]),
        // GITHUB_WORKSPACE is the root GitHub resolves against
        (&apps, &["./pod.yaml"], &[("GITHUB_WORKSPACE", &ws)]),
        (&repo, &["apps"], &[("GITHUB_WORKSPACE", &ws)]),
    ];
    for (cwd, paths, env) in cases {
        let mut args = vec!["check", "--format", "github", "--harbor", HARBOR];
        args.extend_from_slice(paths);
        let out = in_dir(cwd, &args, env);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let text = stdout(&out);
        let files: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("file=").nth(1))
            .map(|rest| rest.split(',').next().unwrap())
            .collect();
        assert_eq!(files, ["apps/pod.yaml"], "{cwd:?} {paths:?}:\n{text}");
    }
}
