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

/// A warning on stderr (`warning: MESSAGE`), shown even with `--quiet`: the sink for
/// what a stage outside `commands/` must say while it goes on (a setting that weakens
/// security, a value it had to ignore). Control characters are escaped.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("{}", warning_line(&message.to_string()));
}

/// The line [`warn`] prints.
fn warning_line(message: &str) -> String {
    format!("warning: {}", crate::report::escape_text(message))
}

/// A note on stderr (what was written, what has no equivalent), left out with `--quiet`.
pub fn note(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{message}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn warning_line_is_one_escaped_line() {
        assert_eq!(
            super::warning_line("--insecure: not verified"),
            "warning: --insecure: not verified"
        );
        assert!(!super::warning_line("a\nb\x1b[31m").contains(['\n', '\x1b']));
    }
}
