//! The process-wide output habits every command shares: `-q/--quiet`, `-v/--verbose` and
//! `--color auto|always|never` (global flags, so they go anywhere on the command line).
//!
//! Set once at start ([`init`]) and read where output is written, so no command has to
//! thread them through. Colour is anstream's global choice: `auto` colours only a terminal
//! and honours `NO_COLOR` (and `CLICOLOR_FORCE`); an explicit `--color` wins over both, as
//! no-color.org asks of command-line flags.

use std::sync::atomic::{AtomicI8, Ordering};

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Only on a terminal, and never when NO_COLOR is set.
    Auto,
    Always,
    Never,
}

/// -1 quiet, 0 normal, 1.. verbose.
static LEVEL: AtomicI8 = AtomicI8::new(0);

/// Apply the global flags for the rest of the process.
pub fn init(quiet: bool, verbose: u8, color: ColorWhen) {
    let level = if quiet {
        -1
    } else {
        verbose.min(i8::MAX as u8) as i8
    };
    LEVEL.store(level, Ordering::Relaxed);
    let choice = match color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// `--quiet`: only errors and warnings; no report on stdout in text format.
pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) < 0
}

/// `--verbose`: say what harborize decided (config, host, ignore files, Trivy settings).
pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) > 0
}

/// A progress or context line on stderr, shown only with `--verbose`.
pub fn info(message: impl std::fmt::Display) {
    if verbose() {
        eprintln!(
            "harborize: {}",
            crate::report::escape_text(&message.to_string())
        );
    }
}

/// A note on stderr (what was written, what has no equivalent), left out with `--quiet`.
pub fn note(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{message}");
    }
}
