//! `harborize policy`: print or write the admission policy (see `crate::policy`).

use std::io::Write as _;

use anyhow::{Context, Result};

use super::{ExitStatus, Settings, EXIT_OK};
use crate::cli::PolicyArgs;
use crate::policy::{generate, Options, DEFAULT_NAME};

pub fn run(args: &PolicyArgs) -> Result<ExitStatus> {
    let Settings { config, harbor, .. } = Settings::resolve(&args.source, &args.path)?;
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
        crate::term::note(format!("note: {}", crate::report::escape_text(note)));
    }
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(generated.text.as_bytes())?;
            out.flush()?;
        }
        Some(path) => {
            crate::fsio::write_public_file(path, &generated.text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            crate::term::note(format!("wrote {}", path.display()));
        }
    }
    Ok(EXIT_OK)
}
