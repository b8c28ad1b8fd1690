//! Link the `harborize` executable as a non-PIE binary.
//!
//! The pre-commit hook starts the process once per commit on a handful of files, so
//! start-up is most of its time. A position-independent executable makes the dynamic
//! loader patch tens of thousands of relative relocations at every start, each patch a
//! copy-on-write page fault; linked at a fixed address there are none. Only the binaries
//! get the flag: proc-macros and build scripts must stay position-independent.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
