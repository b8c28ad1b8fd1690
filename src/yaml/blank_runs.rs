//! saphyr's scanner reads blank lines one character at a time through its whole token
//! machinery: on the views `skim` makes, where a large ConfigMap or CRD is replaced by
//! spaces, that was about a third of the parse. A document that is nothing but spaces and
//! line breaks is an empty document wherever it stands, so the parser runs on the text
//! around such runs, one segment at a time, and [`Events`] shifts each segment's
//! positions and anchor ids back to the whole text's: the same events, with the same
//! spans, as one parse of the whole text, except that a blank document's null scalar and
//! document end sit at the run's start instead of its end (no byte of the text is theirs).
//!
//! Only runs that cannot be anything else are cut: they start at the text's start or right
//! after a bare document marker line (`---` or `...`, nothing but a comment after it), hold
//! only lines of spaces (a CR before the LF allowed), and end at the next marker line or
//! the text's end. A parse that fails on the segments is for the caller to repeat on the
//! whole text (saphyr's iterator lets an alias name an anchor of an earlier document,
//! which segments do not see), so errors are always the whole text's.

use std::ops::Range;

use saphyr_parser::{Event, Marker, Parser, ScanError, Span, StrInput};

use super::skim::{document_marker, next_marker};

/// Runs shorter than this are left to the parser, which has a set-up cost per segment
/// (the figure is a guess, not measured).
const MIN_RUN_BYTES: usize = 256;

/// `parse(skipped)` without the text's blank runs; when that fails, once more on the whole
/// text (nothing skipped), whose error (or parse) is the one to trust (see the module docs).
pub(super) fn around<T, E>(
    text: &str,
    mut parse: impl FnMut(&[Range<usize>]) -> Result<T, E>,
) -> Result<T, E> {
    let runs = blank_runs(text);
    match parse(&runs) {
        Err(_) if !runs.is_empty() => parse(&[]),
        result => result,
    }
}

/// The byte ranges of `text` that are whole documents of blank lines (see the module
/// docs), in order.
pub(super) fn blank_runs(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    // Where the current candidate run started: at the text's start, or after a bare marker.
    let mut run: Option<usize> = Some(0);
    let mut pos = 0;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let line = &text[pos..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = document_marker(line) {
            if let Some(start) = run.take() {
                if pos - start >= MIN_RUN_BYTES {
                    runs.push(start..pos);
                }
            }
            let rest = rest.trim_start_matches([' ', '\t']);
            if rest.is_empty() || rest.starts_with('#') {
                run = Some(end + 1);
            }
        } else if run.is_some() && !line.bytes().all(|b| b == b' ') {
            run = None;
        }
        pos = end + 1;
        if run.is_none() && pos < bytes.len() {
            // Nothing before the next marker can start a run.
            pos = next_marker(text, pos);
        }
    }
    if let Some(start) = run {
        if start < bytes.len() && bytes.len() - start >= MIN_RUN_BYTES {
            runs.push(start..bytes.len());
        }
    }
    runs
}

/// saphyr's events of `text` without the `skipped` runs (from [`blank_runs`]), with spans
/// (character indices, lines) and anchor ids of the whole text.
pub(super) struct Events<'a> {
    text: &'a str,
    ascii: bool,
    /// The segments still to parse.
    segments: std::vec::IntoIter<Range<usize>>,
    parser: Option<Parser<'a, StrInput<'a>>>,
    /// The current segment's start: its byte, character and line-break counts.
    start: (usize, usize, usize),
    /// Added to the current segment's anchor ids, the largest id seen so far.
    anchors: (usize, usize),
}

impl<'a> Events<'a> {
    pub(super) fn new(text: &'a str, skipped: &[Range<usize>]) -> Self {
        let mut segments = Vec::with_capacity(skipped.len() + 1);
        let mut from = 0;
        for run in skipped {
            if run.start > from {
                segments.push(from..run.start);
            }
            from = run.end;
        }
        if from < text.len() || segments.is_empty() {
            segments.push(from..text.len());
        }
        Events {
            text,
            ascii: text.is_ascii(),
            segments: segments.into_iter(),
            parser: None,
            start: (0, 0, 0),
            anchors: (0, 0),
        }
    }

    /// Move the segment's start to byte `to` (a line start), counting what is passed.
    fn advance(&mut self, to: usize) {
        let (byte, chars, breaks) = self.start;
        let passed = &self.text.as_bytes()[byte..to];
        let chars = chars
            + if self.ascii {
                passed.len()
            } else {
                self.text[byte..to].chars().count()
            };
        // `to` is a line start, so no CRLF is split.
        let breaks = breaks + super::line_breaks(passed).count();
        self.start = (to, chars, breaks);
    }

    fn marker(&self, m: &Marker) -> Marker {
        let (_, chars, breaks) = self.start;
        Marker::new(m.index() + chars, m.line() + breaks, m.col())
    }

    fn anchor(&mut self, id: usize) -> usize {
        if id == 0 {
            return 0;
        }
        let id = id + self.anchors.0;
        self.anchors.1 = self.anchors.1.max(id);
        id
    }

    fn shifted(&mut self, event: Event<'a>) -> Event<'a> {
        match event {
            Event::Alias(id) => Event::Alias(self.anchor(id)),
            Event::Scalar(v, s, a, t) => Event::Scalar(v, s, self.anchor(a), t),
            Event::SequenceStart(a, t) => Event::SequenceStart(self.anchor(a), t),
            Event::MappingStart(a, t) => Event::MappingStart(self.anchor(a), t),
            other => other,
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<(Event<'a>, Span), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(parser) = &mut self.parser {
                match parser.next() {
                    Some(Ok((event, span))) => {
                        let span = Span::new(self.marker(&span.start), self.marker(&span.end));
                        return Some(Ok((self.shifted(event), span)));
                    }
                    Some(Err(e)) => {
                        // Nothing after an error: the caller stops here.
                        self.parser = None;
                        self.segments = Vec::new().into_iter();
                        let mark = self.marker(e.marker());
                        return Some(Err(ScanError::new(mark, e.info().to_string())));
                    }
                    None => {
                        self.parser = None;
                        self.anchors.0 = self.anchors.1;
                    }
                }
            }
            let segment = self.segments.next()?;
            self.advance(segment.start);
            self.parser = Some(Parser::new_from_str(&self.text[segment]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{blank_runs, Events};
    use saphyr_parser::{Event, Parser, Span};

    /// Events without the stream's start and end (one pair per segment), or the error.
    fn drained<'a>(
        events: impl Iterator<Item = Result<(Event<'a>, Span), saphyr_parser::ScanError>>,
    ) -> Result<Vec<(Event<'a>, Span)>, saphyr_parser::ScanError> {
        let mut out = Vec::new();
        for e in events {
            let (event, span) = e?;
            if !matches!(event, Event::StreamStart | Event::StreamEnd) {
                out.push((event, span));
            }
        }
        Ok(out)
    }

    /// The events of a blank document that are placed differently (see the module docs):
    /// no byte is theirs, and `parse_exact` takes no position from them.
    fn placed_at_run(event: &Event<'_>) -> bool {
        matches!(event, Event::DocumentEnd) || matches!(event, Event::Scalar(v, ..) if v.is_empty())
    }

    /// Whole-text and segmented events agree: same events, same spans (the blank
    /// document's null scalar aside); where the whole text fails, the segments fail too.
    fn agree(text: &str) -> Result<(), String> {
        let whole = drained(Parser::new_from_str(text));
        let cut = drained(Events::new(text, &blank_runs(text)));
        match (whole, cut) {
            (Err(_), Ok(_)) => Err("the segments parse a text that does not".into()),
            (Ok(w), Ok(c)) => {
                if w.len() != c.len() {
                    return Err(format!("{} events, {} from the segments", w.len(), c.len()));
                }
                for (w, c) in w.iter().zip(&c) {
                    if w.0 != c.0 || (!placed_at_run(&w.0) && w.1 != c.1) {
                        return Err(format!("{w:?} against {c:?}"));
                    }
                }
                Ok(())
            }
            // The caller parses the whole text again (an alias across segments).
            (_, Err(_)) => Ok(()),
        }
    }

    const LINES: [&str; 18] = [
        "---",
        "--- # c",
        "--- |",
        "---\r",
        "...",
        "%YAML 1.2",
        "a: &x 1",
        "b: *x",
        "c: ü",
        "- item",
        "  k: \"v",
        "  w",
        "d: [1,",
        "  2]",
        "\t",
        "",
        "BLANK",
        "BLANK\r",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn segments_parse_as_the_whole_text(
            lines in proptest::collection::vec(proptest::sample::select(&LINES[..]), 0..16)
        ) {
            let pad = " ".repeat(300);
            let text = lines.join("\n").replace("BLANK", &pad);
            proptest::prop_assert_eq!(agree(&text), Ok(()), "{:?}", text);
        }
    }

    fn blank(n: usize) -> String {
        format!("{}\n", " ".repeat(n))
    }

    #[test]
    fn runs_are_whole_documents_of_blank_lines_only() {
        let pad = blank(300);
        let text = format!("a: 1\n---\n{pad}{pad}---\nb: 2\n--- |\n{pad}--- # c\n{pad}");
        let runs = blank_runs(&text);
        let first = "a: 1\n---\n".len();
        let second = text.rfind("--- # c\n").unwrap() + "--- # c\n".len();
        // The run after `--- |` is a block scalar's content, not a document of its own.
        assert_eq!(runs, vec![first..first + 2 * pad.len(), second..text.len()]);
        // A run that meets content before the next marker is a document's leading lines.
        assert!(blank_runs(&format!("---\n{pad}x: 1\n")).is_empty());
        // Tabs and short runs are left to the parser.
        assert!(blank_runs(&format!("---\n\t{pad}---\n")).is_empty());
        assert!(blank_runs("---\n   \n---\n").is_empty());
    }

    #[test]
    fn segments_give_the_whole_texts_events_spans_and_anchor_ids() {
        let pad = blank(400);
        let text = format!(
            "a: &x 1\nb: *x\n---\n{pad}---\nc: &y [ü, 2]\nd: *y\n...\n{pad}---\r\ne: &z 3\r\nf: *z\n"
        );
        let runs = blank_runs(&text);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(
            drained(Events::new(&text, &runs)).is_ok(),
            "the segments parse"
        );
        assert_eq!(agree(&text), Ok(()));
    }
}
