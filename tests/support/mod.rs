//! Test support shared by integration tests. Include it with
//! `#[path = "support/mod.rs"] mod support;` (or `mod support;` from tests/).
//!
//! - `registry`: `RegistryHarness` (a real distribution registry with a
//!   Harbor-like token service), `FaultProxy`, image pushing helpers.
#![allow(dead_code, unused_imports)]

pub mod fault;
pub mod http1;
pub mod oci;
pub mod registry;
