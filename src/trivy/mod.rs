//! The Trivy gate: run the real `trivy image` on each unique Harbor image, parse its JSON
//! report, apply harborize's policy (severity threshold, unfixed, ignore file, per-image
//! allowlist) and render the result (text table, JSON, SARIF, Markdown, GitHub annotations).
//!
//! Trivy is a separate program: it is found on PATH (or `--trivy`), gets credentials only
//! through its environment (`TRIVY_USERNAME` / `TRIVY_PASSWORD` / `TRIVY_TOKEN`), never on its
//! command line, and always runs with `--exit-code 0`, so any other status is an operational
//! error and never a finding.

pub mod ignore;
pub mod policy;
pub mod results;
pub mod runner;
pub mod settings;

use serde::Serialize;

/// Trivy's severities, lowest first (so `>=` means "at least as severe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
#[value(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Trivy's spelling; anything unrecognised is `UNKNOWN`.
    pub fn parse(s: &str) -> Severity {
        match s.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Severity::Critical,
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            "LOW" => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Highest first, for tables.
    pub const DESCENDING: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Output formats of `harborize scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    /// A table per image.
    Text,
    /// The harborize scan report (version 1).
    Json,
    /// SARIF 2.1.0 for code scanning: one result per failing finding at each reference.
    Sarif,
    /// A Markdown summary for a pull-request comment or the GitHub step summary.
    Markdown,
    /// GitHub workflow annotations at the file:line of each reference whose image fails.
    Github,
}

/// What Trivy looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scanner {
    /// Known vulnerabilities of OS and language packages.
    Vuln,
    /// Secrets left in the image's files.
    Secret,
}

impl Scanner {
    pub fn as_str(self) -> &'static str {
        match self {
            Scanner::Vuln => "vuln",
            Scanner::Secret => "secret",
        }
    }
}

/// Today's date (UTC) as `(year, month, day)`, for ignore-file expiry.
pub fn today() -> (i64, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil_from_days(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 → proleptic Gregorian date (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Unknown);
        assert_eq!(Severity::parse("high"), Severity::High);
        assert_eq!(Severity::parse("weird"), Severity::Unknown);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
