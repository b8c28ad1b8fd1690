//! The one type for a problem harborize reports: a [`Finding`] has a stable [`Code`], a
//! [`Level`], a [`Location`] and a message.
//!
//! Every stage that finds something wrong with a file or an image (the engine's per-file
//! errors, the render proof, bump, migrate's error rows, the scan's errors) builds one of
//! these, and `report/` renders it once per format. It lives in a leaf module (it imports
//! nothing of the crate) so that the pipeline can produce findings without depending on
//! the output layer, which depends on the pipeline; `report::finding` re-exports it.
//!
//! The version-1 JSON contract is kept: a finding serializes as
//! `{"file", "line"?, "column"?, "reference"?, "message"}` (the rows `errors` and `notes`
//! always had), the code and level travel with the value but not in that JSON.

pub mod code;

pub use code::Code;

use serde::{Deserialize, Serialize};

/// How bad a finding is: an error fails the run (exit 2), a warning is shown, a note
/// explains something left as it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Note,
    Warning,
    #[default]
    Error,
}

impl Level {
    /// `error`, `warning`, `note`: the word of the text diagnostic and of the GitHub
    /// workflow command.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// Where a finding is: a file as walked (or relative to a repository), and the 1-based
/// line and column when the problem has a place inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    /// A whole file.
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: Some(file.into()),
            line: None,
            column: None,
        }
    }

    /// A place in a file (either coordinate may be unknown).
    pub fn at(file: impl Into<String>, line: Option<usize>, column: Option<usize>) -> Self {
        Location {
            file: Some(file.into()),
            line,
            column,
        }
    }

    /// The file, or `""` for a finding about no file (say, Trivy could not start).
    pub fn file_str(&self) -> &str {
        self.file.as_deref().unwrap_or_default()
    }

    /// `(line, column)` when both are known.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        self.line.zip(self.column)
    }
}

impl std::fmt::Display for Location {
    /// `FILE:LINE:COLUMN`, `FILE` when the place in it is not known, nothing for no file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(file) = &self.file else {
            return Ok(());
        };
        match self.line_column() {
            Some((l, c)) => write!(f, "{file}:{l}:{c}"),
            None => f.write_str(file),
        }
    }
}

/// A problem (or a note) harborize reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The stable code (see [`Code`]); not part of the version-1 JSON rows.
    #[serde(skip)]
    pub code: Code,
    /// Not part of the version-1 JSON rows either: their array says it (`errors`, `notes`).
    #[serde(skip)]
    pub severity: Level,
    #[serde(flatten)]
    pub location: Location,
    /// The image reference the finding is about, when it is about one (scan errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub message: String,
}

impl Finding {
    /// A finding at `location`.
    pub fn new(
        code: Code,
        severity: Level,
        location: Location,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity,
            location,
            reference: None,
            message: message.into(),
        }
    }

    /// An error at `location`.
    pub fn error(code: Code, location: Location, message: impl Into<String>) -> Self {
        Self::new(code, Level::Error, location, message)
    }

    /// A note about a whole file. Its code is the catalogue code the message starts with
    /// (`render-proof-unproven: …`), else [`Code::FileNote`].
    pub fn note(file: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let code = Code::prefix_of(&message).unwrap_or(Code::FileNote);
        Self::new(code, Level::Note, Location::file(file), message)
    }

    /// The same finding about `reference`.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_keeps_the_version_1_json_rows() {
        let e = Finding::error(
            Code::FileError,
            Location::at("a.yaml", Some(3), Some(7)),
            "bad",
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"file":"a.yaml","line":3,"column":7,"message":"bad"}"#
        );
        let n = Finding::note("b.yaml", "binary file skipped");
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"file":"b.yaml","message":"binary file skipped"}"#
        );
        assert_eq!(n.code, Code::FileNote);
        let s =
            Finding::error(Code::ScanError, Location::default(), "no trivy").with_reference("x");
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"reference":"x","message":"no trivy"}"#
        );
        // Rows written by earlier versions (migrate's state and shard reports) read back.
        let back: Finding = serde_json::from_str(r#"{"file":"a.yaml","message":"m"}"#).unwrap();
        assert_eq!(back.location, Location::file("a.yaml"));
        assert_eq!((back.code, back.severity), (Code::FileError, Level::Error));
    }

    #[test]
    fn a_note_takes_the_code_its_message_starts_with() {
        let n = Finding::note(
            "x",
            "render-proof-unproven: chart: no helm; edits not proven",
        );
        assert_eq!(n.code, Code::RenderProofUnproven);
        assert_eq!(n.severity, Level::Note);
    }
}
