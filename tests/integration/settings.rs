//! Settings resolved once (issue #10, item 3): flags, harborize.yaml and the environment
//! become one `Settings` at the top of a command; the shared `--harbor` / `--config` flags
//! keep their help; only `commands/`, `report/` and `term` print; library stages do not
//! read the process environment.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use crate::support::common::*;

const CONFIG: &str =
    "harbor: {host: harbor.example.com}\nregistries:\n  docker.io: {project: docker-hub}\n";

/// How many times the command opened `--config`: counted by the kernel (inotify IN_OPEN
/// events on the file, read once the command has exited), so nothing depends on timing.
/// Closes are watched too: inotify merges identical events in a row, and OPEN, CLOSE,
/// OPEN, CLOSE keeps each open apart.
fn config_reads(args: &[&str], dir: &Path) -> (usize, String) {
    let config = dir.join("cfg").join("harborize.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CONFIG).unwrap();
    let path = std::ffi::CString::new(config.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain system calls on a descriptor this function owns and closes.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    assert!(
        fd >= 0,
        "inotify_init1: {}",
        std::io::Error::last_os_error()
    );
    let wd = unsafe {
        libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_OPEN | libc::IN_CLOSE_NOWRITE)
    };
    assert!(
        wd >= 0,
        "inotify_add_watch: {}",
        std::io::Error::last_os_error()
    );
    let out = harborize()
        .args(args)
        .arg("--config")
        .arg(&config)
        .current_dir(dir)
        .output()
        .unwrap();
    let mut opens = 0;
    let mut buf = [0u8; 4096];
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0;
        let header = std::mem::size_of::<libc::inotify_event>();
        while at + header <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the offset.
            let event: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(at).cast()) };
            if event.mask & libc::IN_OPEN != 0 {
                opens += 1;
            }
            at += header + event.len as usize;
        }
    }
    unsafe { libc::close(fd) };
    (opens, show(&out))
}

/// A command loaded harborize.yaml for its mapper, then again for the rest (scan policy,
/// bump rules, render settings, platforms): two reads that could disagree. Now once.
#[test]
fn settings_read_the_config_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n",
    )
    .unwrap();
    let cases: &[&[&str]] = &[
        &["rewrite", "--dry-run", "repo"],
        &[
            "bump",
            "--image",
            "nginx",
            "--tag",
            "1.28",
            "--dry-run",
            "repo",
        ],
        &["run", "--dry-run", "--skip-verify", "--skip-scan", "repo"],
        // Harbor is not there (port 9, plain HTTP): the run fails after the settings.
        &[
            "warm",
            "--image",
            "nginx:1.27",
            "--harbor",
            "127.0.0.1:9",
            "--plain-http",
            "--retries",
            "0",
        ],
    ];
    for args in cases {
        let (reads, out) = config_reads(args, tmp.path());
        assert!(
            !out.contains("cannot load the configuration"),
            "{args:?}: {out}"
        );
        assert_eq!(reads, 1, "{args:?} read --config {reads} times\n{out}");
    }
}

/// `--harbor` and `--config` are one shared flag struct now: every command still lists
/// them, with its own words for where the config is found.
#[test]
fn shared_harbor_flags_keep_their_help() {
    let next_to_path = "Config file (default: harborize.yaml found next to PATH or above it)";
    let here = "Config file (default: harborize.yaml found in the current directory or above it)";
    let cases: &[(&[&str], &str)] = &[
        (&["rewrite"], next_to_path),
        (&["check"], next_to_path),
        (&["verify"], next_to_path),
        (&["run"], next_to_path),
        (&["warm"], next_to_path),
        (&["bump"], next_to_path),
        (&["scan"], next_to_path),
        (&["policy"], next_to_path),
        (&["mirrors"], here),
        (&["harbor", "setup"], here),
        (
            &["promote"],
            "Config file (default: harborize.yaml found next to --to or above it)",
        ),
        (
            &["migrate"],
            "Config file for every repository (default: each repository's harborize.yaml)",
        ),
    ];
    for (cmd, config_help) in cases {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = stdout(&run(&args));
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            "--harbor <HOST[:PORT]>",
            "Harbor host (HOST[:PORT], no scheme). Overrides `harbor.host` in the config",
            "[env: HARBORIZE_HARBOR=]",
            "--config <FILE>",
            config_help,
        ] {
            assert!(
                flat.contains(want),
                "{cmd:?} --help lacks {want:?}:\n{help}"
            );
        }
        assert_eq!(
            help.matches("--config <FILE>").count(),
            1,
            "{cmd:?}:\n{help}"
        );
    }
}

/// The Rust sources of the library (src/, without main.rs).
fn library_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel != "main.rs" {
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Only `commands/`, `report/`, `term.rs` (and `main_with` in lib.rs) print: the crate
/// warns on print macros elsewhere (clippy::print_stdout/print_stderr, denied in CI), and
/// no file outside those has one.
#[test]
fn only_commands_report_and_term_print() {
    let sources = library_sources();
    let lib = &sources.iter().find(|(p, _)| p == "lib.rs").unwrap().1;
    assert!(
        lib.contains("#![warn(clippy::print_stdout, clippy::print_stderr)]"),
        "lib.rs lost the crate-level print lint"
    );
    let allowed = |p: &str| {
        p.starts_with("commands/") || p.starts_with("report/") || p == "term.rs" || p == "lib.rs"
    };
    let mut found = Vec::new();
    for (path, text) in &sources {
        if allowed(path) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if ["println!", "print!(", "eprintln!", "eprint!(", "dbg!("]
                .iter()
                .any(|m| code.contains(m))
            {
                found.push(format!("src/{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "printing outside commands/report/term:\n{}",
        found.join("\n")
    );
}

/// Library stages take values (or a lookup) from `commands::settings`, never the process
/// environment. The entries below are the ones still to move, each with its owner's
/// reason; the list may only shrink.
#[test]
fn library_stages_do_not_read_the_environment() {
    let still_reading: &[(&str, &str)] = &[
        // Debug-build test hooks (fault injection, tampered edits): not behaviour.
        ("fsio.rs", "debug-only fault hook"),
        (
            "fsio/count.rs",
            "debug-only read counter (HARBORIZE_TEST_COUNT_READS)",
        ),
        (
            "finding/code.rs",
            "test-only: UPDATE_README regenerates the codes table",
        ),
        ("yaml/tamper.rs", "debug-only tamper hook"),
        // PATH lookups of child programs and the variables passed through to them.
        (
            "trivy/runner.rs",
            "PATH lookup of trivy, TRIVY_* passed through to it",
        ),
        ("pipeline/render/mod.rs", "PATH lookup of helm/kubectl"),
        ("vcs/git/mod.rs", "git's own GIT_* / HOME for the git child"),
        ("vcs/git/auth.rs", "HOME for the ssh keys"),
        ("repo_path.rs", "GITHUB_WORKSPACE for annotation paths"),
    ];
    let mut found = Vec::new();
    for (path, text) in library_sources() {
        if path.starts_with("commands/") {
            continue;
        }
        let reads = text.lines().enumerate().filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("env::var") || code.contains("env::vars")
        });
        for (n, line) in reads {
            if !still_reading.iter().any(|(p, _)| *p == path) {
                found.push(format!("src/{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a library stage reads the environment (read it in commands/settings.rs and pass the value):\n{}",
        found.join("\n")
    );
}
