//! A log of the repository files harborize reads, for the test that holds every command to
//! one read per file (issue #10: rewrite, run, migrate and bump read and parse each file
//! once per run, plus the re-read of a changed file just before it is written).
//!
//! Debug builds only: with `HARBORIZE_TEST_COUNT_READS=<file>` each read appends one line
//! `<purpose>\t<canonical path>` to that file (one `write` on an append-only descriptor, so
//! lines of parallel readers do not interleave). Release builds compile it away.

use std::path::Path;

/// Names the file the reads are appended to (debug builds only).
pub const COUNT_READS_ENV: &str = "HARBORIZE_TEST_COUNT_READS";

/// Why a file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Read to be planned (the walk of a run).
    Plan,
    /// Read again just before writing, to refuse a file that changed since it was planned.
    Apply,
    /// Read for what it says about the repository (bump's kustomization graph and Flux
    /// policies of files outside the planned paths).
    Scan,
    /// Read for a kustomization's `images:` entries: the kustomizations it includes and
    /// the files of its bases (once per run, however many overlays share them).
    Context,
    /// Read by the render proof to find what each kustomization includes.
    Render,
}

impl Purpose {
    /// The word in the log.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Plan => "plan",
            Purpose::Apply => "apply",
            Purpose::Scan => "scan",
            Purpose::Context => "context",
            Purpose::Render => "render",
        }
    }
}

/// Record that `path` was read for `purpose` (a no-op unless the variable is set).
pub fn note(path: &Path, purpose: Purpose) {
    #[cfg(debug_assertions)]
    {
        use std::io::Write;
        static LOG: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
        let log = LOG.get_or_init(|| {
            std::env::var_os(COUNT_READS_ENV)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        });
        let Some(log) = log else { return };
        let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let line = format!("{}\t{}\n", purpose.name(), abs.display());
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (path, purpose);
}
