//! `harborize mirrors`: print or write the node-side mirror config (see `crate::mirrors`).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::{harbor_host, EXIT_OK};
use crate::cli::MirrorsArgs;
use crate::config::Config;
use crate::mirrors::{generate, Options};

pub fn run(args: &MirrorsArgs) -> Result<u8> {
    let config = Config::load(args.config.as_deref(), Path::new("."))
        .context("cannot load the configuration")?;
    let opts = Options {
        harbor: harbor_host(args.harbor.as_deref(), &config)?,
        ca_file: args.ca_file.clone().filter(|c| !c.is_empty()),
        fallback: !args.no_fallback,
    };
    let generated = generate(&config, &opts, args.format)?;
    for note in &generated.notes {
        crate::term::note(format!("note: {note}"));
    }
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            let several = generated.files.len() > 1;
            for (i, file) in generated.files.iter().enumerate() {
                if several {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    writeln!(out, "# file: {}", file.path.display())?;
                }
                out.write_all(file.text.as_bytes())?;
            }
            out.flush()?;
        }
        Some(dir) => {
            for file in &generated.files {
                let path = dir.join(&file.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                write_file(&path, &file.text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                crate::term::note(format!("wrote {}", path.display()));
            }
        }
    }
    Ok(EXIT_OK)
}

/// Write a new or existing file atomically (temporary file + rename), mode 0644: node
/// configs are read by root-owned daemons and hold no secrets.
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".harborize-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
