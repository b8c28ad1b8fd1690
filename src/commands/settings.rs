//! Flags + harborize.yaml + environment → one [`Settings`], resolved once at the top of a
//! command and passed down. Before, every command loaded the config, validated the Harbor
//! host and built the mapper on its own, and some loaded the config a second time because
//! the mapper had dropped it; a second load could disagree with the first (the file edited
//! in between) and every copy of the host check could drift from the others.
//!
//! The stages below (`pipeline/`, `registry/`, `trivy/`, `vcs/`) get the values, never the
//! flags: they know nothing of clap.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::{Common, HarborSource};
use crate::config::Config;
use crate::mapping::Mapper;

/// What a command runs with: the loaded configuration, the validated Harbor host and the
/// mapper built from both.
#[derive(Debug)]
pub struct Settings {
    /// harborize.yaml (from `--config`, else found upwards from where the command looks),
    /// or the defaults when there is none.
    pub config: Config,
    /// The Harbor host: `--harbor` (or `HARBORIZE_HARBOR`), else `harbor.host`; validated.
    pub harbor: String,
    /// Where each reference goes, for that host and config.
    pub mapper: Mapper,
}

impl Settings {
    /// Load the config (`source.config`, else harborize.yaml found from `start` upwards)
    /// and validate the Harbor host, before anything is read or written.
    pub fn resolve(source: &HarborSource, start: &Path) -> Result<Self> {
        let config = Config::load(source.config.as_deref(), start)
            .context("cannot load the configuration")?;
        let harbor = harbor_host(source.harbor.as_deref(), &config)?;
        let mapper = Mapper::new(&config, &harbor);
        Ok(Settings {
            config,
            harbor,
            mapper,
        })
    }

    /// For a command that reads files: [`Settings::resolve`] from the first PATH, the mapper
    /// told `--charts` and the paths of the run, the file size limit of the config applied,
    /// and (`-v`) which config and host were chosen.
    pub fn for_paths(
        source: &HarborSource,
        paths: &[PathBuf],
        charts: Option<PathBuf>,
    ) -> Result<Self> {
        let start = paths.first().map_or(Path::new("."), |p| p.as_path());
        let mut settings = Self::resolve(source, start)?;
        crate::term::info(format!(
            "config {}, Harbor {}",
            settings
                .config
                .source
                .as_ref()
                .map_or("(none: defaults)".to_string(), |p| p.display().to_string()),
            settings.harbor
        ));
        crate::fsio::set_max_file_size(settings.config.max_file_size);
        settings.mapper = settings
            .mapper
            .with_charts_dir(charts)
            .with_roots(paths.to_vec());
        Ok(settings)
    }

    /// [`Settings::for_paths`] with the repository options every reading command shares.
    pub fn for_common(common: &Common) -> Result<Self> {
        Self::for_paths(&common.source, &common.paths, common.charts.clone())
    }
}

/// The Harbor host from the flag (or `HARBORIZE_HARBOR`), else `harbor.host`, validated:
/// it is written in front of every rewritten reference, so a host that is not a registry
/// domain of the reference grammar stops the run before anything is read or written.
pub fn harbor_host(flag: Option<&str>, config: &Config) -> Result<String> {
    let host = flag
        .map(str::to_string)
        .or_else(|| config.harbor_host.clone())
        .filter(|h| !h.trim().is_empty());
    let Some(host) = host else {
        bail!("no Harbor host: pass --harbor HOST, set HARBORIZE_HARBOR, or set target.host (or harbor.host) in harborize.yaml");
    };
    normalize_host(&host)
}

/// Accept `https://harbor.example.com/` as `harbor.example.com`; refuse paths, credentials,
/// ports out of range and anything else that would not be a valid registry domain.
pub fn normalize_host(raw: &str) -> Result<String> {
    let h = raw.trim();
    let h = h
        .strip_prefix("https://")
        .or_else(|| h.strip_prefix("http://"))
        .unwrap_or(h);
    let h = h.trim_end_matches('/');
    if h.contains('@') {
        // Not echoed: the part before `@` is a secret.
        bail!("invalid Harbor host: it holds credentials (`USER:PASSWORD@`), which would be written into every manifest; give the host alone and the credentials in HARBORIZE_USERNAME/HARBORIZE_PASSWORD or the docker config");
    }
    if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
        bail!("invalid Harbor host {raw:?}: expected HOST[:PORT]");
    }
    let lower = h.to_ascii_lowercase();
    crate::reference::validate_registry_host(&lower).map_err(|_| {
        anyhow::anyhow!(
            "invalid Harbor host {raw:?}: expected HOST[:PORT] with an ASCII domain name (letters, digits, '-', dot-separated) or [IPv6], and a port in 1-65535"
        )
    })?;
    Ok(lower)
}

/// The process environment. `commands/` reads it here and hands the values to the stages
/// (which take values or a lookup, never `std::env`), so a library caller or a test can give
/// a stage exactly the environment it means.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where the registry credentials come from: `HARBORIZE_USERNAME` / `HARBORIZE_PASSWORD`,
/// then the docker config (`DOCKER_CONFIG`, else `HOME`).
pub fn credential_sources() -> crate::registry::CredentialSources {
    crate::registry::CredentialSources::from_env(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(harbor: Option<&str>, config: &Path) -> HarborSource {
        HarborSource {
            harbor: harbor.map(str::to_string),
            config: Some(config.to_path_buf()),
        }
    }

    #[test]
    fn settings_keep_the_config_the_mapper_was_built_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("harborize.yaml");
        std::fs::write(
            &file,
            "harbor: {host: harbor.example.com}\nmax_file_size: 12345\n",
        )
        .unwrap();
        let s = Settings::resolve(&source(None, &file), dir.path()).unwrap();
        assert_eq!(s.harbor, "harbor.example.com");
        assert_eq!(s.mapper.harbor(), "harbor.example.com");
        assert_eq!(s.config.source.as_deref(), Some(file.as_path()));
        assert_eq!(s.config.max_file_size, 12345);
        // The flag wins over the config, normalised once for the mapper and the settings.
        let s =
            Settings::resolve(&source(Some("https://Other.Example/"), &file), dir.path()).unwrap();
        assert_eq!(s.harbor, "other.example");
        assert_eq!(s.mapper.harbor(), "other.example");
    }

    #[test]
    fn settings_refuse_a_missing_or_invalid_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("harborize.yaml");
        std::fs::write(&file, "registries: {}\n").unwrap();
        let e = Settings::resolve(&source(None, &file), dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("no Harbor host"), "{e:#}");
        let e = Settings::resolve(
            &source(Some("user:s3cr3t@harbor.example"), &file),
            dir.path(),
        )
        .unwrap_err();
        assert!(!format!("{e:#}").contains("s3cr3t"), "{e:#}");
    }
}
