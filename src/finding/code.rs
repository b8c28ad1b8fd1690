//! The catalogue of every code harborize shows: reference statuses, registry check
//! outcomes, scan verdicts, render-proof results, per-file findings and migrate's
//! repository statuses. One place, so a code cannot be spelled two ways, and each has a
//! description (as cargo-deny's diagnostic codes do); README's "Finding codes" section is
//! generated from it (a test fails when it is out of date).
//!
//! A code is stable: scripts and CI filters may match it. Add codes; never rename one.

use std::fmt;

/// Where a code shows up (README groups the table by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// A reference's label in `rewrite`/`check`/`run` text and annotations.
    Reference,
    /// The registry check of `verify` and `--verify` (the JSON `verify.outcome`).
    Verify,
    /// An image's result in `scan` and `--scan` (the JSON `images[].result`).
    Scan,
    /// The render proof of Helm charts and kustomizations.
    RenderProof,
    /// A file's error or note (the JSON `errors` and `notes`).
    File,
    /// A repository's status in `migrate`.
    Migrate,
}

impl Group {
    /// The heading of the group in README's table.
    pub fn title(self) -> &'static str {
        match self {
            Group::Reference => "reference",
            Group::Verify => "verify",
            Group::Scan => "scan",
            Group::RenderProof => "render proof",
            Group::File => "file",
            Group::Migrate => "migrate",
        }
    }
}

macro_rules! catalogue {
    ($( $variant:ident = $text:literal, $group:ident, $desc:literal; )*) => {
        /// A stable, kebab-case code (see the module docs).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( #[doc = $desc] $variant, )*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as shown (`render-proof-failed`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// What the code means and what to do about it.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $desc,)* }
            }

            /// Where the code shows up.
            pub fn group(self) -> Group {
                match self { $(Code::$variant => Group::$group,)* }
            }
        }
    };
}

catalogue! {
    WouldRewrite = "would-rewrite", Reference,
        "The reference's registry has a proxy-cache project: `check` and `--dry-run` show the Harbor path it would get (`check` exits 1).";
    Rewritten = "rewritten", Reference,
        "The reference was rewritten to its Harbor proxy-cache path (or back upstream with `--revert`).";
    NotWritten = "not-written", Reference,
        "The reference was to be rewritten, but its file did not reach the disk; the file's error says why.";
    AlreadyProxied = "already-proxied", Reference,
        "The reference already goes through Harbor; nothing to do.";
    Excluded = "excluded", Reference,
        "The reference matches an `exclude` pattern of harborize.yaml and stays as written.";
    UnmappedRegistry = "unmapped-registry", Reference,
        "No proxy-cache project serves the reference's registry: it stays direct (an error under `check --strict`).";
    Templated = "templated", Reference,
        "The value holds a template expression (Helm, envsubst, …), so it is not a reference harborize can rewrite.";
    InvalidReference = "invalid-reference", Reference,
        "The text is not a valid image (or chart) reference: it stays as written and cannot be checked.";
    Hint = "hint", Reference,
        "Looks like an image where harborize does not rewrite by default (env values, `--*image=` args): shown, rewritten only with `--rewrite-hints`.";
    Ambiguous = "ambiguous", Reference,
        "A Helm image whose chart is unknown, so how the chart composes it is unknown: not rewritten.";
    Resolved = "resolved", Verify,
        "The reference resolves through Harbor (manifest found).";
    TagNotFound = "tag-not-found", Verify,
        "The repository exists through Harbor but the tag does not.";
    RepositoryNotFound = "repository-not-found", Verify,
        "Harbor (or the upstream behind its proxy-cache project) does not know the repository.";
    Unauthorized = "unauthorized", Verify,
        "Harbor refused the credentials (or asked for some): check `HARBORIZE_USERNAME`/`HARBORIZE_PASSWORD` and the project's access.";
    RateLimited = "rate-limited", Verify,
        "The registry answered 429 after the retries: the upstream's pull limit is reached.";
    TlsError = "tls-error", Verify,
        "The TLS handshake with Harbor failed (certificate not trusted or wrong host): see `--cacert`.";
    Unreachable = "unreachable", Verify,
        "Harbor could not be reached at all (DNS, connection refused, timeout).";
    ServerError = "server-error", Verify,
        "Harbor answered with a server error (5xx) after the retries.";
    PlatformMissing = "platform-missing", Verify,
        "The image index has no manifest for the asked `--platform`.";
    DigestMismatch = "digest-mismatch", Verify,
        "A digest written in the file (or the lock file) differs from what Harbor serves.";
    NotLocked = "not-locked", Verify,
        "`--locked`: the reference has no entry in the lock file.";
    NotAChart = "not-a-chart", Verify,
        "A chart source's reference exists but is not a Helm chart.";
    ScanPass = "pass", Scan,
        "The image has no finding at or above the threshold that is not ignored.";
    ScanFail = "fail", Scan,
        "The image has findings at or above the threshold that nothing ignores (exit 1).";
    ScanImageError = "error", Scan,
        "The image could not be scanned (its error says why; exit 2).";
    ScanError = "scan-error", Scan,
        "Something kept an image from being scanned, or the scan from running (Trivy missing or failing, a digest not resolved): exit 2.";
    RenderProofFailed = "render-proof-failed", RenderProof,
        "Rendering the chart or kustomization before and after the edit differs beyond the image references: nothing it renders from was written.";
    RenderProofUnproven = "render-proof-unproven", RenderProof,
        "The render proof could not run (helm or kubectl missing, the render failed): the edits are only proven by the re-parse.";
    FileError = "file-error", File,
        "A file could not be read, parsed or written (or the walk could not enter it); nothing of it was written. The message says where and why.";
    FileNote = "file-note", File,
        "A file was skipped or left as it was: binary, not UTF-8, too large, a CI-skipped path, or not written because an earlier write of the run failed.";
    Migrated = "migrated", Migrate,
        "The repository's references were rewritten (and committed when asked), without errors.";
    Reverted = "reverted", Migrate,
        "`--revert`: the repository's references were rewritten back upstream.";
    Unchanged = "unchanged", Migrate,
        "Nothing in the repository needed a change.";
    Pending = "pending", Migrate,
        "`--dry-run`: changes are pending.";
    Skipped = "skipped", Migrate,
        "Finished in an earlier run (the state file): not processed again.";
    VerifyFailed = "verify-failed", Migrate,
        "References did not resolve through Harbor (`--verify`): nothing was written.";
    ScanFailed = "scan-failed", Migrate,
        "The Trivy gate failed (`--scan`): nothing was written.";
    Partial = "partial", Migrate,
        "Some files had errors; the others were migrated (and committed).";
    Failed = "failed", Migrate,
        "The repository could not be migrated at all (clone, configuration, git).";
}

impl Code {
    /// The code spelled `s`.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The code a message starts with (`render-proof-failed: …`), if any.
    pub fn prefix_of(message: &str) -> Option<Code> {
        let (head, _) = message.split_once(": ")?;
        Code::parse(head)
    }

    /// README's "Finding codes" table (between its markers), generated from the catalogue
    /// (descriptions hold no `|` or newline, so they are cells as written).
    pub fn markdown_table() -> String {
        let mut md = String::from("| Code | Shown by | Meaning |\n|---|---|---|\n");
        for c in Code::ALL {
            md.push_str(&format!(
                "| `{}` | {} | {} |\n",
                c.as_str(),
                c.group().title(),
                c.description()
            ));
        }
        md
    }
}

impl Default for Code {
    /// Rows read back from earlier JSON carry no code: they were per-file errors.
    fn default() -> Self {
        Code::FileError
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_described() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "code {s} is in the catalogue twice");
            let kebab = !s.is_empty()
                && !s.starts_with('-')
                && !s.ends_with('-')
                && !s.contains("--")
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            assert!(kebab, "code {s:?} is not kebab-case");
            let d = c.description();
            assert!(!d.trim().is_empty(), "code {s} has no description");
            // README shows it in a table cell as written.
            assert!(
                !d.contains(['|', '\n']),
                "code {s}: no | or newline in its description"
            );
            assert_eq!(Code::parse(s), Some(*c));
        }
    }

    /// README's section is the catalogue: regenerate with `UPDATE_README=1 cargo test
    /// --lib readme_lists_every_finding_code`.
    #[test]
    fn readme_lists_every_finding_code() {
        const BEGIN: &str = "<!-- finding-codes:begin (generated from src/finding/code.rs) -->\n";
        const END: &str = "<!-- finding-codes:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let start = readme
            .find(BEGIN)
            .expect("README has no finding-codes section")
            + BEGIN.len();
        let end = start + readme[start..].find(END).expect("finding-codes end marker");
        let want = Code::markdown_table();
        if readme[start..end] == want {
            return;
        }
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        panic!(
            "README's \"Finding codes\" table is out of date (UPDATE_README=1 rewrites it); it should be:\n{want}"
        );
    }
}
