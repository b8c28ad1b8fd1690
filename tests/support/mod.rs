//! Test support shared by the integration tests (`tests/integration/main.rs`):
//!
//! - `common`: running the binary, temp trees, JSON helpers.
//! - `git`: bare remotes with hooks, clones, commits.
//! - `github`: the local GitHub REST service (endpoints harborize uses).
//! - `harbor`: the local Harbor REST service, checked against Harbor's Swagger.
//! - `trivy`: the tiny Trivy DB and images for scans.
//! - `registry`: `RegistryHarness` (a real distribution registry with a
//!   Harbor-like token service), `FaultProxy`, image pushing helpers; `registry::Registry`,
//!   the same registry plain (htpasswd or TLS, no token service) for the scan tests.
//! - `http1`: HTTP/1.1 framing, the server core and a small client; `serve`: the one
//!   request/response server on it (GitHub, Harbor, git smart HTTP, the modules' fakes).
//! - `tls`: the one test CA and the rustls configurations.
#![allow(dead_code, unused_imports)]

pub mod common;
pub mod fault;
pub mod git;
pub mod github;
pub mod harbor;
pub mod http1;
pub mod oci;
pub mod registry;
pub mod serve;
pub mod tls;
pub mod trivy;
