//! The process-wide output habits every command shares: `-q/--quiet`, `-v/--verbose` and
//! `--color auto|always|never` (global flags, so they go anywhere on the command line).
//!
//! Set once at start ([`init`]) and read where output is written, so no command has to
//! thread them through. Colour is anstream's global choice: `auto` colours only a terminal
//! and honours `NO_COLOR` (and `CLICOLOR_FORCE`); an explicit `--color` wins over both, as
//! no-color.org asks of command-line flags.

use std::borrow::Cow;
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
        eprintln!("harborize: {}", escape_text(&message.to_string()));
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
    format!("warning: {}", escape_text(message))
}

/// A note on stderr (what was written, what has no equivalent), left out with `--quiet`.
pub fn note(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{message}");
    }
}

/// The one escaper for text in a human-readable line (file names, YAML values, messages
/// that quote them, what registries and Trivy answered).
///
/// In GitHub Actions the runner reads every line a step prints, and a line that starts
/// with `::` (after leading white space) or holds `##[` anywhere is a workflow command
/// (`::set-output`, `::add-mask`, `##[error]`). A file name or a block-scalar value with
/// a newline could start such a line, so control characters (C0, DEL, C1 and the Unicode
/// line/paragraph separators) are shown as `\n`, `\r`, `\t` or `\u{..}`; a leading `::`
/// and every `##[` get their first character written as `\u{3a}` / `\u{23}`. Text without
/// any of these comes back unchanged (borrowed).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    let trimmed = s.trim_start();
    let lead = s.len() - trimmed.len();
    let command_start = trimmed.starts_with("::");
    // Printable ASCII holds no character to escape: one pass over the bytes settles the
    // common case (a report prints tens of thousands of these).
    let printable = s.bytes().all(|b| (b' '..=b'~').contains(&b));
    let marker = s.as_bytes().contains(&b'#') && s.contains("##[");
    if !command_start && !marker && (printable || !s.chars().any(is_escaped_char)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_escaped_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            ':' if command_start && i == lead => out.push_str("\\u{3a}"),
            '#' if s[i..].starts_with("##[") => out.push_str("\\u{23}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_escaped_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_line_is_one_escaped_line() {
        assert_eq!(
            super::warning_line("--insecure: not verified"),
            "warning: --insecure: not verified"
        );
        assert!(!super::warning_line("a\nb\x1b[31m").contains(['\n', '\x1b']));
    }

    #[test]
    fn escape_text_keeps_workflow_commands_out_of_the_log() {
        assert!(matches!(escape_text("k8s/app.yaml"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text("nginx\n::set-output name=x::y"),
            "nginx\\n::set-output name=x::y"
        );
        assert_eq!(escape_text("::error::x.yaml"), "\\u{3a}:error::x.yaml");
        assert_eq!(escape_text("  ::warning::x"), "  \\u{3a}:warning::x");
        assert_eq!(escape_text("a ##[error]b"), "a \\u{23}#[error]b");
        assert_eq!(
            escape_text("a\r\t\u{1b}[31m\u{85}"),
            "a\\r\\t\\u{1b}[31m\\u{85}"
        );
        assert_eq!(escape_text("[::1]:5000/app"), "[::1]:5000/app");
        for hostile in ["x\n::error::y", "::add-mask::z", "\u{2028}::a::b"] {
            let e = escape_text(hostile);
            assert!(
                !e.contains('\n') && !e.trim_start().starts_with("::"),
                "{e}"
            );
        }
    }
}
