//! The integration tests: one binary (linking git2, reqwest and octocrab once), one module
//! per command or area. Shared helpers (real registry, git remotes, the local GitHub and
//! Harbor services, Trivy fixtures, HTTP/1 and fault injection) live in `tests/support/`.
//!
//! Run one area with `cargo test --test integration bump::` (module path as filter).
#![recursion_limit = "256"]

#[path = "../support/mod.rs"]
mod support;

mod action_install;
mod architecture;
mod bench_verify;
mod bench_warm;
mod bump;
mod bump_envs;
mod cache_kinds;
mod charts;
mod cli;
mod cli_habits;
mod corpus;
mod demo;
mod fidelity;
mod findings;
mod git_push;
mod github;
mod golden;
mod harbor_setup;
mod helm;
mod layering;
mod migrate;
mod migrate_shard;
mod mirrors;
mod mirrors_runtimes;
mod packaging;
mod policy;
mod precommit;
mod proof;
mod properties;
mod publish;
mod reads;
mod registry_harness;
mod render;
mod render_proof;
mod run;
mod scan;
mod settings;
mod skim;
mod test_support;
mod verify;
mod warm;
mod workflows;
