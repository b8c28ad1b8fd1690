//! The exit status of every command, as a type: a command returns `Result<ExitStatus>`, so a
//! stray number (a count, a child's status) cannot become the process status by accident,
//! and the worst of several stages is `a.max(b)` (the variants are ordered by severity).
//!
//! Lives outside `commands/` because report renderers (the scan verdict) read it too.

/// What the process tells its caller; the numbers are documented in `--help` (EXIT STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitStatus {
    /// 0: nothing to report.
    Ok,
    /// 1: findings (pending changes, unresolved references, a failing policy, drift).
    Findings,
    /// 2: an error; nothing was half-written.
    Error,
}

/// 0: nothing to report.
pub const EXIT_OK: ExitStatus = ExitStatus::Ok;
/// 1: findings.
pub const EXIT_FINDINGS: ExitStatus = ExitStatus::Findings;
/// 2: an error.
pub const EXIT_ERROR: ExitStatus = ExitStatus::Error;

impl ExitStatus {
    /// The status of a child harborize (the GitHub Action entrypoint runs one): 0 and 1 as
    /// they are; anything else (an error, a signal, no status at all) is an error.
    pub fn from_child(code: Option<i32>) -> Self {
        match code {
            Some(0) => Self::Ok,
            Some(1) => Self::Findings,
            _ => Self::Error,
        }
    }
}

impl From<ExitStatus> for u8 {
    fn from(status: ExitStatus) -> u8 {
        match status {
            ExitStatus::Ok => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Error => 2,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(u8::from(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_numbers_are_the_documented_ones() {
        assert_eq!(u8::from(EXIT_OK), 0);
        assert_eq!(u8::from(EXIT_FINDINGS), 1);
        assert_eq!(u8::from(EXIT_ERROR), 2);
    }

    #[test]
    fn exit_status_worst_wins() {
        assert_eq!(EXIT_OK.max(EXIT_FINDINGS), EXIT_FINDINGS);
        assert_eq!(EXIT_ERROR.max(EXIT_FINDINGS), EXIT_ERROR);
        assert_eq!(
            [EXIT_FINDINGS, EXIT_OK, EXIT_ERROR].into_iter().max(),
            Some(EXIT_ERROR)
        );
    }

    #[test]
    fn exit_status_of_a_child() {
        assert_eq!(ExitStatus::from_child(Some(0)), EXIT_OK);
        assert_eq!(ExitStatus::from_child(Some(1)), EXIT_FINDINGS);
        assert_eq!(ExitStatus::from_child(Some(2)), EXIT_ERROR);
        assert_eq!(ExitStatus::from_child(Some(101)), EXIT_ERROR);
        assert_eq!(ExitStatus::from_child(None), EXIT_ERROR);
    }
}
