//! Byte-range edits with proof: apply the planned replacements, re-parse the result and
//! compare its event stream with the original one. The only differences allowed are the
//! planned scalar values; anything else means a bug, and nothing is written.

use std::collections::BTreeMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser};

use super::{events, YamlError};

/// Replace `range` (file bytes) with `text`. `owner` is the ordinal of the scalar the bytes
/// belong to and `value_range` the part of its value they stand for, so the checker knows
/// what the scalar must read after the edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
    pub owner: usize,
    pub value_range: Range<usize>,
    /// For an inserted `key: value` line: the pair, which must appear right after the
    /// owner scalar when the result is parsed again.
    pub insert: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("overlapping edits at bytes {0}..{1}")]
    Overlap(usize, usize),
    #[error("the edited file does not parse ({0}); nothing was written")]
    Reparse(YamlError),
    #[error("edit check failed: {0}; nothing was written (please report this as a bug)")]
    Mismatch(String),
}

/// Apply edits and prove the result differs from the original only in the planned values.
pub fn apply_checked(original: &str, edits: &[Edit]) -> Result<String, EditError> {
    let edits = sorted_disjoint(edits)?;
    let out = splice(original, &edits);
    prove(original, &out, &edits)?;
    Ok(out)
}

/// [`apply_checked`] for edits planned on `view`: a same-length copy of `original` in
/// which documents that hold no reference were blanked ([`super::skim`]). The proof runs
/// on the view, the edits are applied to `original`. Every edit lies in a document that
/// was parsed (its bytes are the same in both, which is checked), so the blanked
/// documents are the same bytes before and after, and the parsed ones are proved.
pub fn apply_checked_on_view(
    original: &str,
    view: &str,
    edits: &[Edit],
) -> Result<String, EditError> {
    let edits = sorted_disjoint(edits)?;
    let same_line = |at: usize| {
        let start = original[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = original[at..].find('\n').map_or(original.len(), |i| at + i);
        original.get(start..end) == view.get(start..end)
    };
    if original.len() != view.len() || !edits.iter().all(|e| same_line(e.range.start)) {
        return Err(EditError::Mismatch(
            "an edit falls outside the parsed documents".into(),
        ));
    }
    prove(view, &splice(view, &edits), &edits)?;
    Ok(splice(original, &edits))
}

/// The edits in file order, duplicates dropped; overlapping edits are an error.
fn sorted_disjoint(edits: &[Edit]) -> Result<Vec<&Edit>, EditError> {
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    edits.dedup_by(|a, b| a == b);
    for pair in edits.windows(2) {
        if pair[1].range.start < pair[0].range.end {
            return Err(EditError::Overlap(pair[1].range.start, pair[0].range.end));
        }
    }
    Ok(edits)
}

fn splice(original: &str, edits: &[&Edit]) -> String {
    // The exact length: a guess that falls short doubles the largest buffer of the run.
    let removed: usize = edits.iter().map(|e| e.range.len()).sum();
    let added: usize = edits.iter().map(|e| e.text.len()).sum();
    let mut out = String::with_capacity((original.len() + added).saturating_sub(removed));
    let mut pos = 0;
    for e in edits {
        out.push_str(&original[pos..e.range.start]);
        out.push_str(&e.text);
        pos = e.range.end;
    }
    out.push_str(&original[pos..]);
    out
}

/// Re-parse both texts and compare their events: only the edited values (and inserted
/// pairs) may differ. The two parsers run in lockstep, so memory stays that of one event
/// at a time whatever the file's size; a text that needs the parser's leniency patch
/// (a closing flow bracket at its parent's indentation) is compared on collected events.
fn prove(original: &str, out: &str, edits: &[&Edit]) -> Result<(), EditError> {
    let expected = Expected::new(edits);
    match compare_streams(parsed(original), parsed(out), &expected) {
        Err(EditError::Reparse(_)) => {
            let before = events(original).map_err(EditError::Reparse)?;
            let after = events(out).map_err(EditError::Reparse)?;
            compare_streams(
                before.into_iter().map(Ok),
                after.into_iter().map(Ok),
                &expected,
            )
        }
        other => other,
    }
}

/// What the edits promise: per owner scalar, the edits of its value; per owner, the
/// inserted pair that must follow it.
struct Expected<'e> {
    by_owner: BTreeMap<usize, Vec<&'e Edit>>,
    inserts: BTreeMap<usize, (String, String)>,
}

impl<'e> Expected<'e> {
    fn new(edits: &[&'e Edit]) -> Self {
        let mut by_owner: BTreeMap<usize, Vec<&Edit>> = BTreeMap::new();
        for e in edits.iter().filter(|e| e.insert.is_none()) {
            by_owner.entry(e.owner).or_default().push(e);
        }
        for list in by_owner.values_mut() {
            list.sort_by_key(|e| e.value_range.start);
        }
        let inserts = edits
            .iter()
            .filter_map(|e| e.insert.clone().map(|pair| (e.owner, pair)))
            .collect();
        Expected { by_owner, inserts }
    }

    /// The value scalar `ordinal` must read after the edits (`None`: unchanged).
    fn value(&self, ordinal: usize, before: &str) -> Result<Option<String>, EditError> {
        let Some(list) = self.by_owner.get(&ordinal) else {
            return Ok(None);
        };
        let mut value = String::with_capacity(before.len() + 64);
        let mut pos = 0;
        for e in list {
            let part = before
                .get(pos..e.value_range.start)
                .ok_or_else(|| EditError::Mismatch(format!("edit outside scalar #{ordinal}")))?;
            value.push_str(part);
            value.push_str(&e.text);
            pos = e.value_range.end;
        }
        value.push_str(before.get(pos..).unwrap_or(""));
        Ok(Some(value))
    }
}

/// The events of a text, one at a time, with scan errors turned into positions.
fn parsed(text: &str) -> impl Iterator<Item = Result<Event<'_>, YamlError>> {
    Parser::new_from_str(text).map(|item| item.map(|(e, _)| e).map_err(|e| super::scan_error(&e)))
}

fn compare_streams<'a, 'b>(
    before: impl Iterator<Item = Result<Event<'a>, YamlError>>,
    after: impl Iterator<Item = Result<Event<'b>, YamlError>>,
    expected: &Expected<'_>,
) -> Result<(), EditError> {
    let mut before = before.map(|r| r.map_err(EditError::Reparse));
    let mut after = after.map(|r| r.map_err(EditError::Reparse));
    let mut ordinal = 0;
    let mut owners_seen = 0;
    loop {
        let a = before.next().transpose()?;
        let b = after.next().transpose()?;
        match (a, b) {
            (None, None) => break,
            (Some(Event::Scalar(va, sa, aa, ta)), Some(Event::Scalar(vb, sb, ab, tb))) => {
                let changed = expected.value(ordinal, &va)?;
                owners_seen += usize::from(changed.is_some());
                let want = changed.as_deref().unwrap_or(va.as_ref());
                if vb.as_ref() != want || sa != sb || aa != ab || ta != tb {
                    return Err(EditError::Mismatch(format!(
                        "scalar #{ordinal} reads {vb:?}, expected {want:?}"
                    )));
                }
                if let Some((key, value)) = expected.inserts.get(&ordinal) {
                    for want in [key, value] {
                        match after.next().transpose()? {
                            Some(Event::Scalar(v, ..)) if v.as_ref() == want.as_str() => {}
                            _ => {
                                return Err(EditError::Mismatch(format!(
                                    "inserted {key}: {value} did not land after scalar #{ordinal}"
                                )))
                            }
                        }
                    }
                }
                ordinal += 1;
            }
            (Some(a), Some(b)) if a == b => {}
            (None, _) | (_, None) => {
                return Err(EditError::Mismatch(format!(
                    "the document structure changed (one side ends after scalar #{ordinal})"
                )))
            }
            _ => {
                return Err(EditError::Mismatch(format!(
                    "the document structure changed near scalar #{ordinal}"
                )))
            }
        }
    }
    if owners_seen != expected.by_owner.len() {
        return Err(EditError::Mismatch(
            "an edit names a scalar that does not exist".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, find: &str, new: &str, owner: usize) -> Edit {
        let start = text.find(find).unwrap();
        Edit {
            range: start..start + find.len(),
            text: new.into(),
            owner,
            value_range: 0..find.len(),
            insert: None,
        }
    }

    #[test]
    fn planned_change_passes_and_keeps_every_other_byte() {
        let text = "# c\nimage: 'nginx' # keep\n";
        let out = apply_checked(text, &[edit(text, "nginx", "h/x/nginx", 1)]).unwrap();
        assert_eq!(out, "# c\nimage: 'h/x/nginx' # keep\n");
    }

    #[test]
    fn edits_proved_on_a_blanked_view_go_into_the_original() {
        let text = "image: nginx\n---\ndata:\n  conf: |\n    image: x\n";
        let view = crate::yaml::skim::blank_documents_without(text, &["image"]).unwrap();
        let head = "image: nginx\n---\n";
        assert!(
            view.starts_with(head) && view[head.len()..].trim().is_empty(),
            "{view:?}"
        );
        // Ordinal 1 in the view: the blanked document has no scalars to count.
        let e = edit(text, "nginx", "h/x/nginx", 1);
        let out = apply_checked_on_view(text, &view, &[e]).unwrap();
        assert_eq!(
            out,
            "image: h/x/nginx\n---\ndata:\n  conf: |\n    image: x\n"
        );
        // An edit into a blanked document is refused, not applied unproved.
        let e = edit(text, "x\n", "y\n", 1);
        let err = apply_checked_on_view(text, &view, &[e]).unwrap_err();
        assert!(matches!(err, EditError::Mismatch(_)), "{err}");
    }

    #[test]
    fn an_edit_that_breaks_structure_is_refused() {
        let text = "image: nginx\nnext: 1\n";
        let err = apply_checked(text, &[edit(text, "nginx", "a: b", 1)]).unwrap_err();
        assert!(
            matches!(err, EditError::Mismatch(_) | EditError::Reparse(_)),
            "{err}"
        );
    }

    #[test]
    fn an_edit_on_the_wrong_scalar_is_refused() {
        let text = "image: nginx\nnext: nginx2\n";
        // Claims to edit scalar #1 but touches scalar #3's bytes.
        let mut e = edit(text, "nginx2", "x", 1);
        e.value_range = 0..5;
        assert!(apply_checked(text, &[e]).is_err());
    }
}
