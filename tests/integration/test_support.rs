//! The test suite's own hygiene (issue #10 item 4, issue #14's test debts): one HTTP
//! server and one test CA in `tests/support/`, no compiled Python committed, and one place
//! that names the machine-wide build lock. Each is a scan of the files under tests/ (and
//! git's index), so a copy that comes back fails here instead of drifting unnoticed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under tests/, relative to the repository root.
fn test_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("tests"), &mut out);
    out.sort();
    out
}

/// The files (other than this one and `allowed`) whose text contains `needle`.
fn files_containing(needle: &str, allowed: &[&str]) -> Vec<String> {
    test_sources()
        .into_iter()
        .map(|p| p.display().to_string())
        .filter(|p| p != file!() && !allowed.contains(&p.as_str()))
        .filter(|p| std::fs::read_to_string(root().join(p)).is_ok_and(|t| t.contains(needle)))
        .collect()
}

#[test]
fn one_http_server_and_one_test_ca_in_the_tests() {
    // Listening sockets: the server core (http1) and the free/closed port helpers (common).
    let listeners = files_containing(
        "TcpListener::bind",
        &["tests/support/http1.rs", "tests/support/common.rs"],
    );
    assert!(
        listeners.is_empty(),
        "a hand-written server (or port helper) outside tests/support/http1.rs, serve.rs \
         and common.rs: {listeners:?}"
    );
    let accept_loops = files_containing(".incoming()", &["tests/support/http1.rs"]);
    assert!(accept_loops.is_empty(), "{accept_loops:?}");
    // Certificates: the test CA (tls), and the registry's JWT signing key, which is no CA.
    let pki = files_containing(
        "rcgen::",
        &["tests/support/tls.rs", "tests/support/registry/mod.rs"],
    );
    assert!(
        pki.is_empty(),
        "test CA code outside tests/support/tls.rs: {pki:?}"
    );
    let registry = std::fs::read_to_string(root().join("tests/support/registry/mod.rs")).unwrap();
    assert!(
        !registry.contains("IsCa::Ca"),
        "tests/support/registry/mod.rs makes a CA of its own"
    );
    // One way to start the registry binary: the watchdog of support::registry.
    let spawns = files_containing(".arg(\"serve\")", &[]);
    assert!(spawns.is_empty(), "{spawns:?}");
}

#[test]
fn no_compiled_python_is_committed() {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(out.status.success());
    let compiled: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| n.ends_with(".pyc") || n.contains("__pycache__/"))
        .collect();
    assert!(compiled.is_empty(), "committed: {compiled:?}");
    let ignore = std::fs::read_to_string(root().join(".gitignore")).unwrap();
    for pattern in ["__pycache__/", "*.pyc"] {
        assert!(
            ignore.lines().any(|l| l.trim() == pattern),
            ".gitignore lacks {pattern}"
        );
    }
}

#[test]
fn the_build_lock_is_named_in_one_place() {
    let lock = crate::support::common::DEFAULT_CARGO_LOCK;
    let literal = files_containing(lock, &["tests/support/common.rs"]);
    assert!(
        literal.is_empty(),
        "{lock} written out instead of support::common::cargo_lock(): {literal:?}"
    );
    // The README's test section says how to point the tests at another lock.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("CARGO_LOCK_FILE"),
        "README.md does not document CARGO_LOCK_FILE"
    );
}
