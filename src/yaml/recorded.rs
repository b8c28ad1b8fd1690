//! The events one parse of a text went through, kept so that the edit proof does not
//! parse the same text a second time: `rewrite` parses every file it plans, and the proof
//! of its edits compares the events of the text before and after them. Recording costs
//! the events' memory for the file at hand (the scanner's strings are moved, not copied),
//! so callers record only texts they will prove and only up to [`MAX_RECORDED_BYTES`].

use saphyr_parser::Event;

/// Texts longer than this are not recorded: the proof parses them again in lockstep,
/// which holds one event at a time whatever the size. A record keeps each scalar in the
/// scanner's own string (about 130 bytes of capacity) beside an event of 88 bytes: up to
/// some 36 times the text for a flow sequence of short items (`[a0, a1, …]`), so only
/// small texts are recorded (at most about 9 MB a thread; every manifest of the benchmark
/// tree is under 40 KB), and the memory target for large files (20 times the file,
/// BENCHMARKS.md) is not touched.
pub const MAX_RECORDED_BYTES: usize = 256 << 10;

/// Every event of a successful parse of one text, in order, as [`super::events`] returns
/// them (documents of blank lines skipped, the bracket leniency applied when the text
/// needed it). Only this module's parse makes one, so a record is always a real parse.
#[derive(Debug)]
pub struct Recorded {
    pub(super) events: Vec<Event<'static>>,
    /// The length of the text parsed: a record is only used for a text of this length
    /// (a cheap guard against handing over the record of another text).
    pub(super) text_len: usize,
}

impl Recorded {
    pub(super) fn new(text_len: usize) -> Self {
        Recorded {
            events: Vec::new(),
            text_len,
        }
    }

    /// The events, if the record is of a text of `len` bytes.
    pub(super) fn of_text_len(self, len: usize) -> Option<Vec<Event<'static>>> {
        (self.text_len == len).then_some(self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(text: &str) -> Option<Recorded> {
        let mut record = None;
        super::super::parse_documents_recording(text, |_, _| {}, Some(&mut record)).ok()?;
        record
    }

    #[test]
    fn a_record_holds_every_event_the_proof_would_parse() {
        let conf = "    a line of configuration that no image is named in\n".repeat(8);
        let blanked = conf.replace(|c| c != '\n', " ");
        let texts = [
            "a: 1\n".to_string(),
            "k: &a !!str v\nl: *a\nm: !x {p: [1, 'q', \"r\"]}\n".to_string(),
            // A blank document run parsed around, and an alias across it (the segmented
            // parse fails and is retried on the whole text: the record starts again).
            format!("image: nginx\n---\n{blanked}---\nimage: redis\n"),
            format!("image: &x nginx\n---\n{blanked}---\nb: *x\n"),
            // The bracket leniency: the record is of the patched text's events.
            "command: [\n  a, b\n]\nimage: x\n".to_string(),
            format!("image: x\n---\ndata:\n  conf: |\n{conf}"),
        ];
        for text in &texts {
            let record = recorded(text).unwrap_or_else(|| panic!("{text:?}"));
            let events = super::super::events(text).unwrap();
            assert_eq!(record.text_len, text.len());
            assert_eq!(record.events, events, "{text:?}");
        }
    }

    #[test]
    fn an_event_is_as_small_as_the_record_limit_assumes() {
        // MAX_RECORDED_BYTES is set for events of 88 bytes.
        assert!(std::mem::size_of::<Event<'static>>() <= 88);
    }

    #[test]
    fn a_failed_parse_leaves_no_record() {
        assert!(recorded("a: [\nb: 1\n").is_none());
        assert!(recorded("a: 1\nb: c: d\n").is_none());
    }

    #[test]
    fn a_record_serves_only_a_text_of_its_length() {
        let record = recorded("a: 1\n").unwrap();
        assert!(record.of_text_len(6).is_none());
        assert!(recorded("a: 1\n").unwrap().of_text_len(5).is_some());
    }
}
