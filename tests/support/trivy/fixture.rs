//! The scan fixture the `harborize scan` tests (integration `scan`) and the Trivy
//! conventions tests (integration `cli_habits::trivy`) share: a temporary directory, a
//! plain registry on loopback with the planted image `docker-hub/library/vuln` pushed as
//! `:1` and `:latest`, and harborize run with a clean environment (HOME inside the fixture,
//! no colour). Written once so the two suites scan the same image with the same findings.
//!
//! `vuln` (alpine 3.22.2; musl 1.2.5-r0, busybox 1.37.0-r0, zlib 1.3.1-r0) has, with the
//! planted DB ([`super::build_db`]): CVE-2099-0002 CRITICAL (busybox, fixed),
//! CVE-2099-0001 HIGH (musl, fixed), CVE-2099-0005 MEDIUM (zlib, fixed), CVE-2099-0004 LOW
//! and CVE-2099-0006 UNKNOWN (unfixed).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::AlpineImage;
use crate::support::registry::Registry;

/// The packages of the planted image `vuln`.
pub const VULN: &[(&str, &str)] = &[
    ("musl", "1.2.5-r0"),
    ("busybox", "1.37.0-r0"),
    ("zlib", "1.3.1-r0"),
];

/// How the fixture's registry is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryKind {
    Plain,
    /// htpasswd auth (`registry::plain::USER` / `PASSWORD`).
    Auth,
    /// HTTPS with a test CA (`reg.ca`).
    Tls,
}

/// A temporary directory and a registry holding `docker-hub/library/vuln:{1,latest}`.
pub struct ScanFixture {
    pub tmp: tempfile::TempDir,
    pub reg: Registry,
    /// The manifest digest of `vuln`.
    pub vuln_digest: String,
}

impl ScanFixture {
    pub fn start(kind: RegistryKind) -> ScanFixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("registry");
        let reg = match kind {
            RegistryKind::Auth => Registry::start_with_auth(&dir),
            RegistryKind::Tls => Registry::start_tls(&dir),
            RegistryKind::Plain => Registry::start(&dir),
        };
        let vuln_digest = reg.push(
            "docker-hub/library/vuln",
            &AlpineImage::new("3.22.2", VULN),
            &["1", "latest"],
        );
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        ScanFixture {
            tmp,
            reg,
            vuln_digest,
        }
    }

    /// A path inside the fixture's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// harborize in `cwd` with a clean environment: PATH, HOME inside the fixture, no colour.
    pub fn harborize(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(crate::support::common::binary());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("NO_COLOR", "1")
            .current_dir(cwd);
        cmd
    }
}
