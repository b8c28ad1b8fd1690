//! The integration tests: one binary (linking git2, reqwest and octocrab once), one module
//! per command or area. Shared helpers (real registry, git remotes, the local GitHub and
//! Harbor services, Trivy fixtures, HTTP/1 and fault injection) live in `tests/support/`.
//!
//! Run one area with `cargo test --test integration bump::` (module path as filter).
#![recursion_limit = "256"]

#[path = "../support/mod.rs"]
mod support;

mod bench_verify;
mod bump;
mod bump_envs;
mod cli;
mod corpus;
mod git_push;
mod github;
mod golden;
mod harbor_setup;
mod helm;
mod migrate;
mod mirrors;
mod packaging;
mod precommit;
mod proof;
mod properties;
mod registry_harness;
mod render;
mod render_proof;
mod run;
mod scan;
mod skim;
mod verify;
