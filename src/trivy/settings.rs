//! Where each Trivy setting of a scan comes from: harborize's flag (or its `HARBORIZE_*`
//! twin) first, then the `TRIVY_*` variable the user (or aquasecurity/setup-trivy, or a CI
//! cache step) already set, then Trivy's own default. harborize never replaces a `TRIVY_*`
//! value with one of its own, so the DB is downloaded once, into the cache the user's
//! Trivy and CI caches already share.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

/// The `TRIVY_*` variables that describe *where* and *how long* (never secrets, never what
/// to report): passed through to Trivy unchanged when set. `TRIVY_SEVERITY`,
/// `TRIVY_IGNORE_UNFIXED` and friends stay out: harborize's policy decides what fails.
pub const PASSED_THROUGH: &[&str] = &[
    "TRIVY_CACHE_DIR",
    "TRIVY_DB_REPOSITORY",
    "TRIVY_JAVA_DB_REPOSITORY",
    "TRIVY_SKIP_DB_UPDATE",
    "TRIVY_SKIP_JAVA_DB_UPDATE",
    "TRIVY_SERVER",
    "TRIVY_TIMEOUT",
    "TRIVY_OFFLINE_SCAN",
    "TRIVY_NO_PROGRESS",
];

/// Trivy's default per-scan timeout (`--timeout`): 5 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The resolved Trivy settings of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cache_dir: PathBuf,
    pub db_repository: Vec<String>,
    pub skip_db_update: bool,
    pub server: Option<String>,
    pub timeout: Duration,
}

/// The flags as given (`None`/empty/false: not given).
pub struct Flags<'a> {
    pub cache_dir: Option<&'a PathBuf>,
    pub db_repository: &'a [String],
    pub skip_db_update: bool,
    pub server: Option<&'a str>,
    pub timeout_secs: Option<u64>,
}

impl Settings {
    /// Resolve every setting: flag, then `TRIVY_*` from `env`, then Trivy's default.
    pub fn resolve(flags: Flags<'_>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let cache_dir = match flags.cache_dir {
            Some(d) => d.clone(),
            None => var("TRIVY_CACHE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| trivy_default_cache_dir(&var)),
        };
        let db_repository = if flags.db_repository.is_empty() {
            var("TRIVY_DB_REPOSITORY")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            flags.db_repository.to_vec()
        };
        let skip_db_update = flags.skip_db_update
            || match var("TRIVY_SKIP_DB_UPDATE") {
                Some(v) => parse_bool("TRIVY_SKIP_DB_UPDATE", &v)?,
                None => false,
            };
        let server = flags
            .server
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .or_else(|| var("TRIVY_SERVER"));
        let timeout = match (flags.timeout_secs, var("TRIVY_TIMEOUT")) {
            (Some(s), _) => Duration::from_secs(s.max(1)),
            (None, Some(v)) => parse_go_duration(&v)
                .map_err(|why| anyhow::anyhow!("TRIVY_TIMEOUT={v:?}: {why}"))?,
            (None, None) => DEFAULT_TIMEOUT,
        };
        Ok(Settings {
            cache_dir,
            db_repository,
            skip_db_update,
            server,
            timeout,
        })
    }
}

/// Trivy's own default cache dir: Go's `os.UserCacheDir()` + `/trivy`, i.e.
/// `$XDG_CACHE_HOME/trivy` or `~/.cache/trivy` (`~/Library/Caches/trivy` on macOS).
pub fn trivy_default_cache_dir(var: &impl Fn(&str) -> Option<String>) -> PathBuf {
    if cfg!(target_os = "macos") {
        if let Some(h) = var("HOME") {
            return PathBuf::from(h).join("Library/Caches/trivy");
        }
    } else {
        if let Some(x) = var("XDG_CACHE_HOME") {
            return PathBuf::from(x).join("trivy");
        }
        if let Some(h) = var("HOME") {
            return PathBuf::from(h).join(".cache/trivy");
        }
    }
    std::env::temp_dir().join("trivy")
}

/// Go's `strconv.ParseBool`, as Trivy reads boolean variables.
fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => bail!("{name}={v:?}: expected true or false"),
    }
}

/// A Go duration (`300s`, `5m`, `1h30m`, `1m30.5s`, `1500ms`), as Trivy's `--timeout`.
pub fn parse_go_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?}: missing unit (s, m, h, ms)"))?;
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("{s:?} is not a duration (e.g. 5m, 300s)"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            u => return Err(format!("{s:?}: unknown unit {u:?} (s, m, h, ms)")),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    fn none() -> Flags<'static> {
        Flags {
            cache_dir: None,
            db_repository: &[],
            skip_db_update: false,
            server: None,
            timeout_secs: None,
        }
    }

    #[test]
    fn trivy_variables_fill_what_no_flag_set() {
        let s = Settings::resolve(
            none(),
            env(&[
                ("HOME", "/home/u"),
                ("TRIVY_CACHE_DIR", "/ci/trivy"),
                ("TRIVY_DB_REPOSITORY", "a.example/db:2, b.example/db:2"),
                ("TRIVY_SKIP_DB_UPDATE", "true"),
                ("TRIVY_SERVER", "http://trivy:4954"),
                ("TRIVY_TIMEOUT", "10m"),
            ]),
        )
        .unwrap();
        assert_eq!(s.cache_dir, PathBuf::from("/ci/trivy"));
        assert_eq!(s.db_repository, ["a.example/db:2", "b.example/db:2"]);
        assert!(s.skip_db_update);
        assert_eq!(s.server.as_deref(), Some("http://trivy:4954"));
        assert_eq!(s.timeout, Duration::from_secs(600));
    }

    #[test]
    fn flags_win_and_the_default_cache_is_trivys() {
        let dir = PathBuf::from("/flag");
        let repo = vec!["r/db:2".to_string()];
        let s = Settings::resolve(
            Flags {
                cache_dir: Some(&dir),
                db_repository: &repo,
                skip_db_update: false,
                server: Some("http://flag"),
                timeout_secs: Some(7),
            },
            env(&[("TRIVY_CACHE_DIR", "/ci"), ("TRIVY_TIMEOUT", "1h")]),
        )
        .unwrap();
        assert_eq!(
            (s.cache_dir, s.db_repository, s.timeout),
            (dir, repo, Duration::from_secs(7))
        );
        let s = Settings::resolve(none(), env(&[("HOME", "/home/u")])).unwrap();
        if !cfg!(target_os = "macos") {
            assert_eq!(s.cache_dir, PathBuf::from("/home/u/.cache/trivy"));
        }
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert!(Settings::resolve(none(), env(&[("TRIVY_SKIP_DB_UPDATE", "yes")])).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5x").is_err());
    }
}
