//! `harborize mirrors`: print or write the node-side mirror config (see `crate::mirrors`).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::{ExitStatus, Settings, EXIT_OK};
use crate::cli::MirrorsArgs;
use crate::config::Config;
use crate::mirrors::{generate, MirrorFormat, Options};

pub fn run(args: &MirrorsArgs) -> Result<ExitStatus> {
    let Settings { config, harbor, .. } = Settings::resolve(&args.source, Path::new("."))?;
    let config = for_nodes(config)?;
    let ca_file = args.ca_file.clone().filter(|c| !c.is_empty());
    let ca_pem = match (&ca_file, args.format) {
        (Some(path), MirrorFormat::Talos) => Some(read_ca(path)?),
        _ => None,
    };
    let opts = Options {
        harbor,
        ca_file,
        fallback: !args.no_fallback,
        ca_pem,
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
                crate::fsio::write_public_file(&path, &file.text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                crate::term::note(format!("wrote {}", path.display()));
            }
        }
    }
    Ok(EXIT_OK)
}

/// The config as node mirrors see it: for a cache other than Harbor, each registry's
/// `project` becomes the endpoint path its kind gives (GitLab's Dependency Proxy path, a
/// GAR `<project>/<repository>`, ...); a registry the nodes cannot be routed for is left
/// out with a note, and nothing is generated when none is left.
fn for_nodes(mut config: Config) -> Result<Config> {
    if config.target.kind == crate::target::Kind::Harbor {
        return Ok(config);
    }
    let mut kept = std::collections::BTreeMap::new();
    let mut why_not = Vec::new();
    for (key, mut entry) in std::mem::take(&mut config.registries) {
        match crate::target::mirror_prefix(&config.target, &key, &entry) {
            Ok(prefix) => {
                entry.project = prefix;
                kept.insert(key, entry);
            }
            Err(why) => why_not.push(why),
        }
    }
    if kept.is_empty() {
        anyhow::bail!(
            "no node mirror config for target.kind {}: {}",
            config.target.kind.name(),
            why_not.join("; ")
        );
    }
    for why in why_not {
        eprintln!("note: not mirrored: {why}");
    }
    config.registries = kept;
    Ok(config)
}

/// Talos takes the CA's content, not a path: read the PEM here and check it is one.
fn read_ca(path: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("--format talos embeds Harbor's CA in the patch: cannot read {path}")
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!("{path}: not a PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    }
    Ok(text)
}
