//! Blank out, before parsing, the documents of a stream that cannot hold a reference.
//!
//! A file without any of the reference keywords is never parsed (the pipeline's engine
//! looks for them first). Real manifests mix documents, though: a Deployment next to a
//! ConfigMap whose data is a whole config file, or a Grafana dashboard. Parsing is most of
//! `check`'s time, so documents are looked at one by one, line by line, and a document is
//! blanked (every byte but line breaks becomes a space, so offsets, lines and columns of
//! the rest stay exact) when both hold:
//!
//! - every line is of a small, unambiguous shape: `key: value`, `- item`, comments, blank
//!   lines and the content of block scalars (`key: |`). Anything that could span lines
//!   in a way a line scanner cannot follow (flow collections, quoted scalars left open,
//!   escapes, anchors, tags, directives, tabs) makes the document ineligible, and it is
//!   parsed as usual;
//! - no keyword occurs outside the content of opaque block scalars. A block scalar is
//!   opaque unless harborize reads YAML inside it: values under the keys in
//!   [`EMBEDDED_KEYS`] and sequence items (`- |`, kustomize `patchesStrategicMerge`).
//!
//! Blanked documents give no scalars, so an edit planned on the blanked view is proven on
//! that view ([`super::edit::apply_checked_on_view`]: the blanked documents are the same
//! bytes before and after, the others are re-parsed). Like the file pre-filter, a blanked
//! document's syntax errors go unreported (it holds no reference and is never edited).

/// Keys whose block-scalar value harborize parses as YAML (see `locate`: Argo CD
/// `helm.values`, kustomize inline `patch`). Keep in step with `locate`.
pub const EMBEDDED_KEYS: [&str; 2] = ["values", "patch"];

/// The text with every eligible document that holds none of `keywords` blanked, or `None`
/// when no document was blanked.
pub fn blank_documents_without(text: &str, keywords: &[&str]) -> Option<String> {
    blank_with(text, keywords, true)
}

/// [`blank_documents_without`]; `skip`: jump over the rest of a decided document (false
/// only in the test that holds the jump to the line-by-line scan).
fn blank_with(text: &str, keywords: &[&str], skip: bool) -> Option<String> {
    let mut blank: Vec<std::ops::Range<usize>> = Vec::new();
    let mut doc = DocScan::new(0);
    let mut pos = 0;
    // Where the keywords occur, found in one pass per keyword over the whole text: looking
    // for each keyword in each line was most of the scan's time.
    let hits = keyword_hits(text, keywords);
    let mut next_hit = 0;
    while pos < text.len() {
        let end = memchr::memchr(b'\n', &text.as_bytes()[pos..]).map_or(text.len(), |i| pos + i);
        while next_hit < hits.len() && hits[next_hit] < pos {
            next_hit += 1;
        }
        // Keywords hold no line break, so one that starts in the line ends in it.
        let keyword = hits.get(next_hit).is_some_and(|&h| h < end);
        let line = &text[pos..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = document_marker(line) {
            doc.finish(pos, &mut blank);
            doc = DocScan::new(end + 1);
            // Content on the marker line itself (`--- |`, `--- !tag`) is not followed here.
            if !(rest.trim().is_empty() || rest.trim_start().starts_with('#')) {
                doc.eligible = false;
            }
        } else {
            doc.line(line, keyword);
        }
        pos = end + 1;
        if skip && doc.decided() && pos < text.len() {
            // Nothing in the rest of this document can change what is done with it.
            pos = next_marker(text, pos);
        }
    }
    doc.finish(text.len(), &mut blank);
    if blank.is_empty() {
        return None;
    }
    let mut bytes = text.as_bytes().to_vec();
    for r in blank {
        for b in &mut bytes[r] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Only whole lines of ASCII and UTF-8 were replaced by ASCII spaces.
    Some(String::from_utf8(bytes).expect("blanking keeps UTF-8 valid"))
}

/// `---` or `...` at the start of a line, followed by a space, a tab or the line end:
/// returns what follows the marker.
pub(super) fn document_marker(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("---")
        .or_else(|| line.strip_prefix("..."))?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

/// The start of the first line at or after `from` (a line start, after the first) that is
/// a document marker, or the text's end: where the scan of a decided document goes on.
/// A marker ends the document even inside a block scalar, as every line does in the scan.
pub(super) fn next_marker(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    // The next line starting with `marker` at or after the line break `at`.
    let find = |marker: &[u8], at: usize| {
        memchr::memmem::find(&bytes[at..], marker).map_or(text.len(), |i| at + i + 1)
    };
    // Each kind is looked for again only once passed: a text full of `----` rulers costs
    // one pass, not one per ruler.
    let (mut dashes, mut dots) = (find(b"\n---", from - 1), find(b"\n...", from - 1));
    loop {
        let start = dashes.min(dots);
        if start >= text.len() {
            return text.len();
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        if document_marker(line.strip_suffix('\r').unwrap_or(line)).is_some() {
            return start;
        }
        if start == dashes {
            dashes = find(b"\n---", start);
        } else {
            dots = find(b"\n...", start);
        }
    }
}

/// What is known about the document being scanned.
struct DocScan {
    start: usize,
    eligible: bool,
    keyword: bool,
    /// Inside a block scalar: the column its content must exceed, and whether it is opaque.
    block: Option<(usize, bool)>,
}

impl DocScan {
    /// Kept whatever follows: the rest of the document need not be looked at.
    fn decided(&self) -> bool {
        !self.eligible || self.keyword
    }

    fn new(start: usize) -> Self {
        DocScan {
            start,
            eligible: true,
            keyword: false,
            block: None,
        }
    }

    /// Take in one line (without its line break); `keyword`: one of the keywords occurs
    /// in it.
    fn line(&mut self, line: &str, keyword: bool) {
        if self.decided() {
            return;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        if let Some((column, opaque)) = self.block {
            if rest.trim().is_empty() || indent > column {
                if !opaque && keyword {
                    self.keyword = true;
                }
                return;
            }
            self.block = None;
        }
        if keyword {
            self.keyword = true;
        }
        if rest.is_empty() || rest.starts_with('#') {
            return;
        }
        match simple_line(rest) {
            Some(Shape::Plain) => {}
            Some(Shape::BlockHeader { column, key }) => {
                let opaque = key.is_some_and(|k| !EMBEDDED_KEYS.contains(&k));
                self.block = Some((indent + column, opaque));
            }
            None => self.eligible = false,
        }
    }

    /// Record the document's bytes `[start, end)` for blanking when it qualifies.
    fn finish(&self, end: usize, out: &mut Vec<std::ops::Range<usize>>) {
        if self.eligible && !self.keyword && self.start < end {
            out.push(self.start..end);
        }
    }
}

/// The start offset of every occurrence of every keyword in `text`, sorted.
fn keyword_hits(text: &str, keywords: &[&str]) -> Vec<usize> {
    let mut hits: Vec<usize> = keywords
        .iter()
        .flat_map(|k| memchr::memmem::find_iter(text.as_bytes(), k.as_bytes()))
        .collect();
    hits.sort_unstable();
    hits
}

/// A line the scanner understands.
#[derive(Debug, PartialEq, Eq)]
enum Shape<'a> {
    /// Complete on its own line.
    Plain,
    /// Starts a block scalar (`key: |`, `- >-`): `column` is where the key (or the last
    /// `-`) starts, relative to the line's indentation.
    BlockHeader { column: usize, key: Option<&'a str> },
}

/// Classify a line (without its indentation): `[- ]*[key:][ value][ #comment]`, where keys
/// and values are simple plain or closed quoted scalars. `None` for anything else.
fn simple_line(rest: &str) -> Option<Shape<'_>> {
    if rest
        .bytes()
        .any(|b| matches!(b, b'\t' | b'[' | b']' | b'{' | b'}' | b'\\'))
    {
        return None;
    }
    let mut s = rest;
    let mut column = 0;
    let mut item_column = None;
    while let Some(after) = s.strip_prefix("- ") {
        item_column = Some(column);
        let spaces = after.len() - after.trim_start_matches(' ').len();
        column += 2 + spaces;
        s = &after[spaces..];
    }
    if s == "-" {
        return Some(Shape::Plain);
    }
    let (key, value) = match split_key(s)? {
        Some((key, value)) => (Some(key), value),
        None => (None, s),
    };
    match value_shape(value)? {
        ValueShape::Complete => Some(Shape::Plain),
        ValueShape::BlockHeader => match key {
            Some(k) => Some(Shape::BlockHeader {
                column,
                key: Some(k),
            }),
            None => Some(Shape::BlockHeader {
                column: item_column?,
                key: None,
            }),
        },
    }
}

/// `key: value` → `Some((key, value))`; a line without a key → `None`; a key the scanner
/// does not accept → the outer `None`.
#[allow(clippy::option_option)]
fn split_key(s: &str) -> Option<Option<(&str, &str)>> {
    if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = s[1..].find(q)? + 1;
        let key = &s[1..close];
        let after = &s[close + 1..];
        return match after.strip_prefix(':') {
            Some(v) if v.is_empty() || v.starts_with(' ') => Some(Some((key, v))),
            // A quoted scalar alone on the line (a sequence item or a value).
            _ => Some(None),
        };
    }
    let Some(i) = find_key_colon(s) else {
        return Some(None);
    };
    let key = &s[..i];
    if !plain_ok(key) {
        return None;
    }
    Some(Some((key, &s[i + 1..])))
}

/// The `:` that ends a plain key: followed by a space or the line end.
fn find_key_colon(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' '))
}

/// A plain scalar that cannot start or hide anything else: no indicator first, no quote,
/// no comment or mapping inside.
fn plain_ok(s: &str) -> bool {
    // One pass over the bytes: every character looked for is ASCII, and no byte of a
    // multi-byte UTF-8 character is.
    let b = s.as_bytes();
    let Some(first) = b.first() else {
        return false;
    };
    if b"-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        if matches!(c, b'"' | b'\'' | b'#') || (prev == b':' && c == b' ') {
            return false;
        }
        prev = c;
    }
    true
}

enum ValueShape {
    Complete,
    BlockHeader,
}

/// What follows `key:` (or a `- `), up to an optional comment.
fn value_shape(v: &str) -> Option<ValueShape> {
    let v = v.trim_start_matches(' ');
    if v.is_empty() || v.starts_with('#') {
        return Some(ValueShape::Complete);
    }
    let tail = if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = v[1..].find(q)? + 1;
        &v[close + 1..]
    } else if v.starts_with(['|', '>']) {
        let end = v.find(' ').unwrap_or(v.len());
        let (header, tail) = v.split_at(end);
        // Chomping indicators only: an explicit indentation changes where content ends.
        if header.len() > 2 || !header[1..].chars().all(|c| c == '-' || c == '+') {
            return None;
        }
        return trailing_comment_only(tail).then_some(ValueShape::BlockHeader);
    } else {
        let end = v.find(" #").unwrap_or(v.len());
        let (body, tail) = v.split_at(end);
        if !plain_ok(body.trim_end()) {
            return None;
        }
        tail
    };
    // A value must be followed by nothing but a comment.
    trailing_comment_only(tail).then_some(ValueShape::Complete)
}

fn trailing_comment_only(tail: &str) -> bool {
    let t = tail.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && tail.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KW: &[&str] = &["image", "Image", "IMAGE", "repository", "registry"];

    fn blanked(text: &str) -> String {
        let out = blank_documents_without(text, KW).unwrap_or_else(|| text.to_string());
        assert_eq!(out.len(), text.len());
        assert_eq!(
            out.match_indices('\n').map(|(i, _)| i).collect::<Vec<_>>(),
            text.match_indices('\n').map(|(i, _)| i).collect::<Vec<_>>()
        );
        out
    }

    #[test]
    fn a_configmap_with_an_image_line_inside_its_data_is_blanked() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  containers:\n    - name: a\n      image: nginx\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  config.yaml: |\n    # not an image field\n    image: nginx:1.0\n\n    other: x\n  key0: \"1\"\n  key1: 'two' # comment\n";
        let out = blanked(text);
        let (first, second) = out.split_once("---\n").unwrap();
        assert_eq!(first, text.split_once("---\n").unwrap().0);
        assert!(second.trim().is_empty(), "{second:?}");
    }

    #[test]
    fn a_keyword_outside_block_content_keeps_the_document() {
        for text in [
            "kind: ConfigMap\ndata:\n  image: nginx\n",
            "kind: ConfigMap\ndata:\n  a: |\n    x\n  imageName: y\n",
            "env:\n  - name: BASE_IMAGE\n    value: nginx\n",
            "# the image\nkind: X\n",
        ] {
            assert_eq!(blanked(text), text, "{text}");
        }
    }

    #[test]
    fn embedded_yaml_blocks_are_read_for_keywords() {
        for text in [
            "spec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: nginx\n",
            "patches:\n  - patch: |\n      - op: replace\n        path: /spec/template/spec/containers/0/image\n",
            "patchesStrategicMerge:\n  - |\n    spec:\n      image: nginx\n",
        ] {
            assert_eq!(blanked(text), text, "{text}");
        }
    }

    #[test]
    fn lines_the_scanner_cannot_follow_keep_the_document() {
        for text in [
            "data:\n  a: \"multi\n    line image: x\"\n",
            "data:\n  a: [1,\n    2]\n  b: |\n    image\n",
            "data:\n  b: |2\n      image\n",
            "data:\n  b: &anchor |\n    image\n",
            "a: !!str |\n  image\n",
            "--- |\n  image\n",
            "a:\n\tb: |\n  image\n",
            "a: \"esc\\\"aped\"\nb: |\n  image\n",
        ] {
            assert_eq!(blanked(text), text, "{text}");
        }
    }

    #[test]
    fn a_directive_keeps_its_document_not_the_next() {
        let text = "%YAML 1.2\nkind: X\n---\na: |\n  image\n";
        let out = blanked(text);
        assert!(out.starts_with("%YAML 1.2\nkind: X\n---\n"), "{out:?}");
        assert!(
            out["%YAML 1.2\nkind: X\n---\n".len()..].trim().is_empty(),
            "{out:?}"
        );
    }

    #[test]
    fn block_content_ends_at_the_first_line_back_at_the_key_column() {
        let text = "data:\n  a: |\n    text\n  image: x\n";
        assert_eq!(blanked(text), text);
        let text = "items:\n  - name: a\n    script: |\n      run image\n    other: 1\n";
        assert!(blanked(text).trim().is_empty());
    }

    #[test]
    fn crlf_and_document_end_markers() {
        let text = "a: 1\r\nb: |\r\n  image\r\n...\r\n---\r\nimage: x\r\n";
        let out = blanked(text);
        assert!(
            out.starts_with("    \r\n    \r\n       \r\n...\r\n---\r\nimage: x"),
            "{out:?}"
        );
    }

    #[test]
    fn nothing_blanked_gives_none() {
        assert!(blank_documents_without("image: nginx\n", KW).is_none());
        assert!(blank_documents_without("", KW).is_none());
    }
    /// Lines that decide a document (a keyword, a flow collection) next to markers,
    /// near-markers (`----`, `...x`, `--- |`), block scalars and CRLF.
    const STREAM_LINES: [&str; 21] = [
        "---",
        "--- # c",
        "--- |",
        "...",
        "...x",
        "----",
        "---x",
        "  ---",
        "a: b",
        "image: nginx",
        "  x: [1, 2]",
        "k: |",
        "  image: in a block",
        "  ---",
        "- item",
        "# image",
        "",
        "key: value # registry",
        "...\r",
        "---\r",
        "v: 1\r",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn jumping_over_decided_documents_blanks_what_the_line_scan_blanks(
            lines in proptest::collection::vec(proptest::sample::select(&STREAM_LINES[..]), 0..24)
        ) {
            let text = lines.join("\n");
            proptest::prop_assert_eq!(blank_with(&text, KW, true), blank_with(&text, KW, false));
        }
    }
}
