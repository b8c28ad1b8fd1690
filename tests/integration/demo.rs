//! scripts/demo.sh as a new user runs it: the first line says what the build costs before
//! it starts, cargo's progress is shown while it builds (no `--quiet`), and the demo ends
//! with `check` passing on the rewritten copy. The script's cargo build goes through the
//! machine-wide build lock like every build here (`support::common::cargo_lock`); it shares target/debug with the wheel
//! build of tests/integration/precommit.rs (both `cargo build` the dev profile).

use std::path::Path;
use std::process::Command;

#[test]
fn demo_says_how_long_the_first_build_takes_and_shows_progress() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("flock")
        .args(["-w", "3600"])
        .arg(crate::support::common::cargo_lock())
        .arg("bash")
        .arg(root.join("scripts/demo.sh"))
        .env_remove("HARBORIZE_HARBOR")
        .env_remove("CARGO_TERM_QUIET")
        .output()
        .expect("flock runs bash (util-linux flock)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo.sh failed:\n{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("== building harborize")
            && first.contains("first build")
            && first.contains("minutes"),
        "the first line must say how long the first build takes: {first:?}"
    );
    // cargo reports what it did (Compiling ... / Finished): the build is not silent
    assert!(
        stderr.contains("Finished `dev` profile"),
        "cargo's progress is not shown:\n{stderr}"
    );
    // set -e: a zero exit means the final check passed
    assert!(stdout.contains("== harborize check (after)"), "{stdout}");
}
