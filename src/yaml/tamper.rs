//! A test-only way to hand the edit proof edits it must refuse (issue 17 item 2).
//!
//! The re-parse proof ([`super::edit::apply_checked`]) is the last guard between a planner
//! bug and a written file, and no known input makes the planner emit a wrong edit (it
//! declines what it cannot edit in place). So that integration tests can show that the
//! binary's write paths (`rewrite`, `bump`) really go through the proof, a debug build
//! reads `HARBORIZE_TEST_TAMPER_EDITS` and spoils the planned edits before the proof sees
//! them:
//!
//! - `structure`: the first edit's text gains a line with a new key, so the edited document
//!   has another structure;
//! - `scalar`: the first edit names the next scalar as the one it changes, so the bytes it
//!   replaces belong to a scalar the plan says stays the same.
//!
//! The hook only makes edits wrong before they are proved; it never skips or relaxes the
//! proof, so it cannot make a bad edit pass. Release builds never read the variable
//! (`cfg!(debug_assertions)` is false there): it means nothing to them.

use super::edit::Edit;

/// The variable read by debug builds (tests only; see the module documentation).
pub const TAMPER_ENV: &str = "HARBORIZE_TEST_TAMPER_EDITS";

/// The edits, spoiled as `HARBORIZE_TEST_TAMPER_EDITS` asks in a debug build; unchanged
/// otherwise.
pub(super) fn spoil(mut edits: Vec<Edit>) -> Vec<Edit> {
    if cfg!(debug_assertions) {
        let mode = std::env::var(TAMPER_ENV).unwrap_or_default();
        if let Some(first) = edits.first_mut() {
            match mode.as_str() {
                "structure" => first.text.push_str("\nharborize-tampered: true"),
                "scalar" => first.owner += 1,
                _ => {}
            }
        }
    }
    edits
}
