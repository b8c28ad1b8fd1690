//! `harborize policy`: print or write the admission policy (see `crate::policy`).

use std::io::Write as _;

use anyhow::{Context, Result};

use super::{harbor_host, EXIT_OK};
use crate::cli::PolicyArgs;
use crate::config::Config;
use crate::policy::{generate, Options, DEFAULT_NAME};

pub fn run(args: &PolicyArgs) -> Result<u8> {
    let config = Config::load(args.config.as_deref(), &args.path)
        .context("cannot load the configuration")?;
    let harbor = harbor_host(args.harbor.as_deref(), &config)?;
    let opts = Options {
        name: config
            .policy
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_string()),
        mode: args.mode.or(config.policy.mode).unwrap_or_default(),
        require_digest: args.require_digest || config.policy.require_digest,
    };
    let generated = generate(&config, &harbor, args.format, &opts)?;
    for note in &generated.notes {
        eprintln!("note: {}", crate::report::escape_text(note));
    }
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(generated.text.as_bytes())?;
            out.flush()?;
        }
        Some(path) => {
            write_atomically(path, &generated.text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(EXIT_OK)
}

/// Temporary file in the target's directory, then rename: a policy is applied by GitOps
/// tooling that must never see half of one. Mode 0644: a policy holds no secret.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".harborize-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
