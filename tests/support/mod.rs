//! Test support shared by the integration tests (`tests/integration/main.rs`):
//!
//! - `common`: running the binary, temp trees, JSON helpers.
//! - `git`: bare remotes with hooks, clones, commits.
//! - `github`: the local GitHub REST service (endpoints harborize uses).
//! - `harbor`: the local Harbor REST service, checked against Harbor's Swagger.
//! - `trivy`: the tiny Trivy DB and images for scans.
//! - `registry`: `RegistryHarness` (a real distribution registry with a
//!   Harbor-like token service), `FaultProxy`, image pushing helpers.
#![allow(dead_code, unused_imports)]

pub mod common;
pub mod fault;
pub mod git;
pub mod github;
pub mod harbor;
pub mod http1;
pub mod oci;
pub mod registry;
pub mod trivy;
