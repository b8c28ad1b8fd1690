//! Byte-range edits with proof: apply the planned replacements, re-parse the result and
//! compare its event stream with the original one. The only differences allowed are the
//! planned scalar values (and a plain scalar the edit quotes so that it stays a string);
//! anything else means a bug, and nothing is written. An edited scalar must still read as
//! a string: plain text that a YAML 1.1 or 1.2 reader takes for a number, bool, null or
//! timestamp is a mismatch too.

use std::collections::BTreeMap;
use std::ops::Range;

use saphyr_parser::Event;

use super::quote::{plain_is_string, quoted};
use super::recorded::Recorded;
use super::{events, Style, YamlError};

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
    /// The quotes `text` adds around the value of a plain scalar ([`super::quote::encode`])
    /// so that it keeps reading as a string: the scalar's style may change from plain to
    /// this one, and its value is `text` without them. Inside an embedded document (the
    /// owner is a block scalar) the quotes are part of the owner's value.
    pub requote: Option<Style>,
}

/// The `insert` key of an edit that adds whole mappings after the one the owner scalar
/// ends (a kustomize `images:` entry after its sibling): the value holds the entries,
/// separated by [`ENTRY_SEP`], each a list of keys and values separated by [`PAIR_SEP`].
/// YAML keys cannot hold these control characters, so no real key is mistaken for it.
pub const INSERTED_ENTRIES: &str = "\u{0}entries";
/// The `insert` key of an edit that removes the whole mappings after the one the owner
/// scalar ends (the entries [`INSERTED_ENTRIES`] added, taken out again by a revert); the
/// value lists them as for an insertion.
pub const REMOVED_ENTRIES: &str = "\u{0}removed";
/// Between inserted entries.
pub const ENTRY_SEP: char = '\u{1}';
/// Between the keys and values of one inserted entry.
pub const PAIR_SEP: char = '\u{0}';

#[cfg(test)]
impl Edit {
    /// A test's edit: the first `find` in `text`, the whole value of scalar `owner`,
    /// becomes `new`.
    pub(crate) fn replacing_first(text: &str, find: &str, new: &str, owner: usize) -> Edit {
        let start = text.find(find).unwrap();
        Edit {
            range: start..start + find.len(),
            text: new.into(),
            owner,
            value_range: 0..find.len(),
            insert: None,
            requote: None,
        }
    }
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
    apply_checked_recorded(original, edits, None)
}

/// [`apply_checked`] with the events of `original` as a parse already recorded them
/// ([`super::recorded`]): only the result is parsed. A record of another text's length
/// is not used.
pub fn apply_checked_recorded(
    original: &str,
    edits: &[Edit],
    before: Option<Recorded>,
) -> Result<String, EditError> {
    let edits = super::tamper::spoil(quote_like_neighbours(original, edits));
    let edits = sorted_disjoint(&edits)?;
    let out = splice(original, &edits);
    prove(original, &out, &edits, before)?;
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
    apply_checked_on_view_recorded(original, view, edits, None)
}

/// [`apply_checked_on_view`] with the events of `view` as the plan's parse recorded them.
pub fn apply_checked_on_view_recorded(
    original: &str,
    view: &str,
    edits: &[Edit],
    before: Option<Recorded>,
) -> Result<String, EditError> {
    let edits = super::tamper::spoil(quote_like_neighbours(original, edits));
    let edits = sorted_disjoint(&edits)?;
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
    prove(view, &splice(view, &edits), &edits, before)?;
    Ok(splice(original, &edits))
}

/// The text [`apply_checked`] or [`apply_checked_on_view`] gives for `original` and
/// `edits` once that proof has passed on these very bytes and edits (a kept plan proven
/// when it was made, applied to the file found unchanged): the same splice, not proven
/// again.
pub fn splice_proven(original: &str, edits: &[Edit]) -> Result<String, EditError> {
    let edits = quote_like_neighbours(original, edits);
    Ok(splice(original, &sorted_disjoint(&edits)?))
}

/// Edits that add quotes use the quote style of the lines around them when those agree on
/// single quotes (a file that writes `tag: '1.2'` gets `'427e111'`); double otherwise.
fn quote_like_neighbours(text: &str, edits: &[Edit]) -> Vec<Edit> {
    edits
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if e.requote == Some(Style::Double) && neighbours_quote_single(text, e.range.start) {
                let value = &e.text[1..e.text.len() - 1];
                if let Some((t, s)) = quoted(value, Style::Single) {
                    e.text = t;
                    e.requote = Some(s);
                }
            }
            e
        })
        .collect()
}

/// Up to three lines either side of byte `at` hold single-quoted values and no
/// double-quoted ones.
fn neighbours_quote_single(text: &str, at: usize) -> bool {
    let at = at.min(text.len());
    let before = text[..at].rsplit('\n').skip(1).take(3);
    let after = text[at..].split('\n').skip(1).take(3);
    let (mut single, mut double) = (false, false);
    for line in before.chain(after) {
        let value = line.trim_start().trim_start_matches("- ");
        let value = value
            .split_once(": ")
            .map_or(value, |(_, v)| v)
            .trim_start();
        single |= value.starts_with('\'');
        double |= value.starts_with('"');
    }
    single && !double
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
/// With `before` (the recorded events of `original`) only `out` is parsed.
fn prove(
    original: &str,
    out: &str,
    edits: &[&Edit],
    before: Option<Recorded>,
) -> Result<(), EditError> {
    let expected = Expected::new(edits);
    let first = match before.and_then(|r| r.of_text_len(original.len())) {
        Some(events) => compare_streams(events.into_iter().map(Ok), parsed(out), &expected),
        None => compare_streams(parsed(original), parsed(out), &expected),
    };
    match first {
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

    /// The value and style scalar `ordinal` (now `before` in `style`) must have after the
    /// edits (`None`: unchanged).
    fn value(
        &self,
        ordinal: usize,
        before: &str,
        style: Style,
    ) -> Result<Option<(String, Style)>, EditError> {
        let Some(list) = self.by_owner.get(&ordinal) else {
            return Ok(None);
        };
        let mismatch = |what: &str| EditError::Mismatch(format!("{what} scalar #{ordinal}"));
        if style == Style::Plain {
            if let Some(q) = list.iter().find_map(|e| e.requote) {
                // Quotes go around a whole value: one edit, all of it, quotes at both ends.
                let e = list[0];
                let inner = e.text.get(1..e.text.len().saturating_sub(1));
                if list.len() != 1 || e.value_range != (0..before.len()) || inner.is_none() {
                    return Err(mismatch("a quoting edit does not cover all of"));
                }
                return Ok(inner.map(|v| (v.to_string(), q)));
            }
        }
        let mut value = String::with_capacity(before.len() + 64);
        let mut pos = 0;
        for e in list {
            let part = before
                .get(pos..e.value_range.start)
                .ok_or_else(|| mismatch("edit outside"))?;
            value.push_str(part);
            value.push_str(&e.text);
            pos = e.value_range.end;
        }
        value.push_str(before.get(pos..).unwrap_or(""));
        Ok(Some((value, style)))
    }
}

/// The events of a text, one at a time, with scan errors turned into positions; documents
/// of blank lines (what a view's blanking leaves) are not scanned, as in the plan's parse.
/// An error here is not final: [`prove`] parses both texts again with [`super::events`].
fn parsed(text: &str) -> impl Iterator<Item = Result<Event<'_>, YamlError>> {
    super::events_without_blank_documents(text)
        .map(|item| item.map(|(e, _)| e).map_err(|e| super::scan_error(&e)))
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
                let (style_a, style_b) = (Style::from(sa), Style::from(sb));
                let changed = expected.value(ordinal, &va, style_a)?;
                owners_seen += usize::from(changed.is_some());
                let (want, want_style) = match &changed {
                    Some((v, s)) => (v.as_str(), *s),
                    None => (va.as_ref(), style_a),
                };
                if vb.as_ref() != want || style_b != want_style || aa != ab || ta != tb {
                    return Err(EditError::Mismatch(format!(
                        "scalar #{ordinal} reads {vb:?} ({style_b:?}), expected {want:?} ({want_style:?})"
                    )));
                }
                // The type is part of the value: an edited tag must not turn into a number.
                if changed.is_some() && !reads_as_string(&vb, style_b, tb.is_some()) {
                    return Err(EditError::Mismatch(format!(
                        "scalar #{ordinal} would read {vb:?} as a number, bool, null or date, not a string"
                    )));
                }
                if let Some((INSERTED_ENTRIES, entries)) =
                    expected.inserts.get(&ordinal).map(|(k, v)| (k.as_str(), v))
                {
                    check_inserted_entries(&mut before, &mut after, entries, ordinal)?;
                } else if let Some((REMOVED_ENTRIES, entries)) =
                    expected.inserts.get(&ordinal).map(|(k, v)| (k.as_str(), v))
                {
                    // The removed scalars are the original's: they count as its ordinals.
                    ordinal += check_inserted_entries(&mut after, &mut before, entries, ordinal)?;
                } else if let Some((key, value)) = expected.inserts.get(&ordinal) {
                    for want in [key, value] {
                        match after.next().transpose()? {
                            Some(Event::Scalar(v, s, _, t))
                                if v.as_ref() == want.as_str()
                                    && reads_as_string(&v, Style::from(s), t.is_some()) => {}
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

/// After the owner scalar: the mapping it is in ends on both sides, then the `after` side
/// has exactly the inserted mappings (string keys and values, in order), then the two
/// streams go on in lockstep. (Called with the sides swapped for removed entries.) Returns
/// the number of scalars the entries hold.
fn check_inserted_entries<'a, 'b>(
    before: &mut impl Iterator<Item = Result<Event<'a>, EditError>>,
    after: &mut impl Iterator<Item = Result<Event<'b>, EditError>>,
    entries: &str,
    ordinal: usize,
) -> Result<usize, EditError> {
    let mut scalars = 0;
    let mismatch = || {
        EditError::Mismatch(format!(
            "the inserted entries did not land after the mapping of scalar #{ordinal}"
        ))
    };
    match (before.next().transpose()?, after.next().transpose()?) {
        (Some(Event::MappingEnd), Some(Event::MappingEnd)) => {}
        _ => return Err(mismatch()),
    }
    for entry in entries.split(ENTRY_SEP) {
        if !matches!(after.next().transpose()?, Some(Event::MappingStart(..))) {
            return Err(mismatch());
        }
        for want in entry.split(PAIR_SEP) {
            scalars += 1;
            match after.next().transpose()? {
                Some(Event::Scalar(v, s, _, t))
                    if v.as_ref() == want && reads_as_string(&v, Style::from(s), t.is_some()) => {}
                _ => return Err(mismatch()),
            }
        }
        if !matches!(after.next().transpose()?, Some(Event::MappingEnd)) {
            return Err(mismatch());
        }
    }
    Ok(scalars)
}

/// Whether a parsed scalar is a string for YAML 1.1 and 1.2 readers (an explicit tag is
/// the author's choice and is kept as it was).
fn reads_as_string(value: &str, style: Style, tagged: bool) -> bool {
    tagged || style != Style::Plain || plain_is_string(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, find: &str, new: &str, owner: usize) -> Edit {
        Edit::replacing_first(text, find, new, owner)
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
    fn edits_are_proved_around_a_blanked_document_and_across_it() {
        // The middle document is blanked in the view, a run long enough to be parsed
        // around; the alias after it names an anchor before it, which a parse of the
        // segments alone refuses, so the proof falls back to the whole text.
        let conf = "    a line of configuration that no image is named in\n".repeat(8);
        let text =
            format!("image: &x nginx\n---\ndata:\n  conf: |\n{conf}---\nb: *x\nimage: redis\n");
        let view = crate::yaml::skim::blank_documents_without(&text, &["image"]).unwrap();
        assert_eq!(
            crate::yaml::blank_runs::blank_runs(&view).len(),
            1,
            "{view:?}"
        );
        let e = edit(&text, "redis", "h/x/redis", 5);
        let out = apply_checked_on_view(&text, &view, std::slice::from_ref(&e)).unwrap();
        assert_eq!(out, text.replace("redis", "h/x/redis"));
        // The proof still sees the documents after the run: a wrong owner is refused.
        let wrong = Edit { owner: 4, ..e };
        assert!(apply_checked_on_view(&text, &view, &[wrong]).is_err());
        // Without the alias (one scalar more before the edit) the segments alone prove it.
        let plain = text.replace("b: *x", "b: y");
        let view = crate::yaml::skim::blank_documents_without(&plain, &["image"]).unwrap();
        let e = edit(&plain, "redis", "h/x/redis", 6);
        assert!(apply_checked_on_view(&plain, &view, &[e]).is_ok());
    }

    /// The events of the plan's parse of `text`, as `rewrite` records them.
    fn recorded(text: &str) -> Option<Recorded> {
        let mut record = None;
        crate::yaml::parse_documents_recording(text, |_, _| {}, Some(&mut record)).unwrap();
        record
    }

    #[test]
    fn a_recorded_parse_proves_as_a_parse_of_the_text_would() {
        let text = "a: &x 1
image: nginx # c
b: *x
";
        let e = edit(text, "nginx", "h/x/nginx", 3);
        let out = apply_checked_recorded(text, std::slice::from_ref(&e), recorded(text));
        assert_eq!(
            out.unwrap(),
            apply_checked(text, std::slice::from_ref(&e)).unwrap()
        );
        // A wrong owner, an edit that adds structure: refused against the record too.
        let wrong = Edit {
            owner: 2,
            ..e.clone()
        };
        assert!(apply_checked_recorded(text, &[wrong], recorded(text)).is_err());
        let nested = Edit {
            text: "h/x/nginx\n  c: d".into(),
            ..e.clone()
        };
        assert!(apply_checked_recorded(text, &[nested], recorded(text)).is_err());
        // The record is the "before": a record of another text of the same length that
        // differs elsewhere makes the proof fail, so it is really what is compared.
        let other = "a: &x 2
image: nginx # c
b: *x
";
        assert!(apply_checked_recorded(text, std::slice::from_ref(&e), recorded(other)).is_err());
        // A record of a text of another length is not used: the text is parsed again.
        let longer = "a: &x 12
image: nginx # c
b: *x
";
        assert!(apply_checked_recorded(text, &[e], recorded(longer)).is_ok());
    }

    #[test]
    fn an_edit_that_turns_a_string_into_a_number_is_refused() {
        // Written plain, a 7-hex-digit SHA like 427e111 reads as a float: the proof checks
        // the type of every edited scalar, not only its text.
        let text = "tag: c2dd9cd # set by CI\n";
        let err = apply_checked(text, &[edit(text, "c2dd9cd", "427e111", 1)]).unwrap_err();
        assert!(matches!(err, EditError::Mismatch(_)), "{err}");
        for v in ["1234567", "yes", "~", "2001-12-14", "0x1f", ".inf"] {
            let e = edit(text, "c2dd9cd", v, 1);
            assert!(apply_checked(text, &[e]).is_err(), "{v}");
        }
    }

    #[test]
    fn a_quoting_edit_may_change_only_its_scalar_from_plain_to_quoted() {
        let text = "tag: c2dd9cd # set by CI\nother: x\n";
        let mut e = edit(text, "c2dd9cd", "\"427e111\"", 1);
        e.requote = Some(Style::Double);
        assert_eq!(
            apply_checked(text, &[e.clone()]).unwrap(),
            "tag: \"427e111\" # set by CI\nother: x\n"
        );
        // Claimed style and written quotes disagree: refused.
        let mut wrong = e.clone();
        wrong.requote = Some(Style::Single);
        assert!(apply_checked(text, &[wrong]).is_err());
        // Quotes without the claim: a style change nobody planned.
        let mut unclaimed = e.clone();
        unclaimed.requote = None;
        assert!(apply_checked(text, &[unclaimed]).is_err());
        // Quotes around part of a scalar are not a quoted scalar.
        let text = "image: app=c2dd9cd\n";
        let mut part = edit(text, "c2dd9cd", "\"1234567\"", 1);
        part.value_range = 4..11;
        part.requote = Some(Style::Double);
        assert!(apply_checked(text, &[part]).is_err());
    }

    #[test]
    fn quoting_follows_single_quoted_neighbours() {
        let text = "image:\n  repository: 'ghcr.io/org/app'\n  tag: c2dd9cd\n";
        let mut e = edit(text, "c2dd9cd", "\"1234567\"", 4);
        e.requote = Some(Style::Double);
        assert_eq!(
            apply_checked(text, &[e.clone()]).unwrap(),
            "image:\n  repository: 'ghcr.io/org/app'\n  tag: '1234567'\n"
        );
        // Mixed neighbours: double quotes, the default.
        let text = "a: \"x\"\nb: 'y'\ntag: c2dd9cd\n";
        let mut e = edit(text, "c2dd9cd", "\"1234567\"", 5);
        e.requote = Some(Style::Double);
        assert_eq!(
            apply_checked(text, &[e]).unwrap(),
            "a: \"x\"\nb: 'y'\ntag: \"1234567\"\n"
        );
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
