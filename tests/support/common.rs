//! Shared helpers for the integration tests: run the real binary with a clean environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HARBOR: &str = "harbor.example.com";

/// A tool the tests drive (helm, kubectl, pre-commit, ...): the project's `.tools/bin`
/// first, then PATH; a missing one fails the test with how to install it.
pub fn tool(name: &str) -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin");
    std::iter::once(local)
        .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found in .tools/bin or on PATH: run `bash scripts/install-test-tools.sh` and `source scripts/test-env.sh`")
        })
}

/// The Python of the test tools' venv (`HARBORIZE_TOOLS_DIR`, default `.tools`), which
/// holds the engines and readers the tests use.
pub fn venv_python() -> PathBuf {
    let tools = std::env::var_os("HARBORIZE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools"));
    let py = tools.join("venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run `bash scripts/install-test-tools.sh`",
        py.display()
    );
    py
}

/// A port on 127.0.0.1 that was free a moment ago (bound, then released), for a server
/// that takes its port on the command line.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port on 127.0.0.1 nothing listens on (bound, then closed): connecting is refused.
pub fn closed_port() -> u16 {
    free_port()
}

/// The machine-wide build lock every cargo invocation goes through (`flock LOCK cargo …`):
/// `$CARGO_LOCK_FILE`, default `/tmp/cargo.lock`. Tests that build (the demo, the wheel,
/// the source-built hooks) take it from here, never from a literal.
pub fn cargo_lock() -> PathBuf {
    std::env::var_os("CARGO_LOCK_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CARGO_LOCK))
}

/// [`cargo_lock`] when `CARGO_LOCK_FILE` is not set (the path the README's commands use).
pub const DEFAULT_CARGO_LOCK: &str = "/tmp/cargo.lock";

/// A run's output for an assertion message.
pub fn show(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// The binary under test, as this test process first found it: a hard link (or a copy)
/// of cargo's `target/debug/harborize` made on first use. Two tests build the crate again
/// while the others run (the wheel and the demo: `cargo build`, whose dependency features
/// differ from `cargo test`'s), and cargo then replaces `target/debug/harborize`; the link
/// keeps every test on the binary this run was built with, and no test meets the moment
/// between cargo's unlink and its new link.
pub fn binary() -> &'static std::path::Path {
    static BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let built = std::path::Path::new(env!("CARGO_BIN_EXE_harborize"));
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let pinned = dir.join(format!("harborize-under-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&pinned);
        if std::fs::hard_link(built, &pinned).is_err() {
            std::fs::copy(built, &pinned).expect("copy the harborize binary for the tests");
        }
        // Links of earlier runs whose process is gone are stale: remove them (a run that
        // overlaps this one keeps its own).
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let pid = name.to_string_lossy();
                let Some(pid) = pid.strip_prefix("harborize-under-test-") else {
                    continue;
                };
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        pinned
    })
}

/// The binary under test, with the environment cleared (no HARBORIZE_*, no colour) but
/// PATH, on which the project's `.tools/bin` comes first: the child finds the same helm
/// and kubectl that [`tool`] found for the test, whether `scripts/test-env.sh` was sourced
/// or not.
pub fn harborize() -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear();
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(local).chain(std::env::split_paths(&path));
    cmd.env(
        "PATH",
        std::env::join_paths(dirs).expect("PATH entries hold no separator"),
    );
    cmd
}

pub fn run(args: &[&str]) -> Output {
    harborize().args(args).output().expect("harborize runs")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copy a directory tree (files only; symlinks are not expected in fixtures).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// All files under a directory, relative, sorted.
pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn go(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                go(root, &entry.path(), out);
            } else {
                out.push(entry.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    go(root, root, &mut out);
    out.sort();
    out
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", stdout(out)))
}

/// The shared material beside the repository (../shared).
pub fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("corpus").is_dir(),
        "../shared/corpus is missing: check out ../shared beside the repository"
    );
    p
}

/// `chattr +i` on a directory: nothing can be created in it, not even by root (the tests
/// run as root, who ignores permission bits). Undone on drop so the directory can go.
pub struct Immutable(PathBuf);

impl Immutable {
    pub fn set(dir: &Path) -> Self {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .expect("chattr (e2fsprogs) is installed");
        assert!(
            status.success(),
            "chattr +i {} failed: the test needs a filesystem with the immutable flag (ext4)",
            dir.display()
        );
        Immutable(dir.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}
