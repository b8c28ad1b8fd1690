//! A YAML tree that remembers where every scalar sits in the file, in bytes.
//!
//! harborize never re-serializes YAML: it replaces the bytes of single scalars. This
//! module turns saphyr-parser's event stream (character-indexed spans) into a small tree
//! whose scalars carry byte ranges, line/column and enough about their quoting to decide
//! whether an in-place edit is safe. Aliases are kept as aliases (never expanded), so
//! alias bombs cost nothing; nesting depth is bounded.

mod blank_runs;
pub mod edit;
pub mod embedded;
pub mod quote;
pub mod recorded;
pub mod skim;
pub mod tamper;

use std::collections::HashMap;
use std::ops::Range;

use compact_str::CompactString;
use saphyr_parser::{Event, ScalarStyle, Span};

/// Nesting deeper than this is refused: real manifests stay far below it and the tree
/// walkers recurse.
pub const MAX_DEPTH: usize = 256;

/// Texts this long or longer are refused: positions are stored as `u32` to keep the tree
/// small ([`Scalar`]).
pub const MAX_TEXT_BYTES: usize = u32::MAX as usize;

/// A YAML syntax error at a position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

impl From<ScalarStyle> for Style {
    fn from(s: ScalarStyle) -> Self {
        match s {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::Single,
            ScalarStyle::DoubleQuoted => Style::Double,
            ScalarStyle::Literal => Style::Literal,
            ScalarStyle::Folded => Style::Folded,
        }
    }
}

/// A scalar with its place in the file.
///
/// A large file is mostly scalars, so this is kept small (the tree of a 10 MB flow
/// sequence holds 1.7 million of them): positions are `u32` (files over 4 GiB are
/// refused), short values live inline without a heap allocation, and the editable
/// content range is one flag because it follows from the token and the style.
#[derive(Debug, Clone)]
pub struct Scalar {
    pub value: CompactString,
    pub style: Style,
    /// The token's text equals `value` byte for byte (see [`Scalar::content`]).
    editable: bool,
    ordinal: u32,
    token: Range<u32>,
    line: u32,
    column: u32,
}

impl Scalar {
    /// A string (not null, bool or number in plain style): YAML 1.2 core schema.
    pub fn is_string(&self) -> bool {
        self.style != Style::Plain || !is_plain_non_string(&self.value)
    }
    /// Position of this scalar among all scalar events of the stream (the edit checker's key).
    pub fn ordinal(&self) -> usize {
        self.ordinal as usize
    }
    /// Byte range of the token (quotes included, anchor and tag excluded).
    pub fn token(&self) -> Range<usize> {
        self.token.start as usize..self.token.end as usize
    }
    /// Byte range of the raw content when it equals `value` byte for byte (single-line,
    /// no escapes): only such scalars are edited in place. It is the token itself for a
    /// plain scalar and the token without its quotes for a quoted one.
    pub fn content(&self) -> Option<Range<usize>> {
        let token = self.token();
        match self.style {
            _ if !self.editable => None,
            Style::Single | Style::Double => Some(token.start + 1..token.end - 1),
            _ => Some(token),
        }
    }
    /// 1-based line where the token starts.
    pub fn line(&self) -> usize {
        self.line as usize
    }
    /// 1-based column (in characters) where the token starts.
    pub fn column(&self) -> usize {
        self.column as usize
    }
}

fn is_plain_non_string(v: &str) -> bool {
    matches!(
        v,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
    )
}

/// A node of the tree. Mappings keep their key order.
#[derive(Debug, Clone)]
pub enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Alias(usize),
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// The value under a plain string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.value == key))
            .map(|(_, v)| v)
    }
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_scalar().map(|s| s.value.as_str())
    }
}

/// All documents of a file plus the scalars that anchors name (for alias resolution).
#[derive(Debug, Default)]
pub struct Stream {
    pub documents: Vec<Node>,
    pub anchors: HashMap<usize, Scalar>,
    /// Anchored mappings and sequences, by where they sit (document, then the child index
    /// at each level) rather than copied: merge keys (`<<: *common`) and aliased
    /// collections are looked up there, and an alias bomb costs nothing.
    pub collections: HashMap<usize, (usize, Vec<usize>)>,
}

impl Stream {
    /// Follow an alias to the anchored scalar (only scalar anchors matter for images).
    pub fn resolve<'a>(&'a self, node: &'a Node) -> Option<&'a Scalar> {
        match node {
            Node::Scalar(s) => Some(s),
            Node::Alias(id) => self.anchors.get(id),
            _ => None,
        }
    }

    /// The anchored mapping or sequence an alias names, if it names one.
    pub fn collection(&self, id: usize) -> Option<&Node> {
        let (doc, path) = self.collections.get(&id)?;
        let mut node = self.documents.get(*doc)?;
        for &i in path {
            node = match node {
                Node::Seq(items) => items.get(i)?,
                Node::Map(entries) => &entries.get(i)?.1,
                _ => return None,
            };
        }
        Some(node)
    }

    /// `node`, or the collection it is an alias of.
    pub fn deref<'a>(&'a self, node: &'a Node) -> &'a Node {
        match node {
            Node::Alias(id) => self.collection(*id).unwrap_or(node),
            _ => node,
        }
    }

    /// The value under `key` in a mapping, following aliases and merge keys (`<<: *a` or
    /// `<<: [*a, *b]`) as YAML's merge-key type does: the mapping's own keys first, then
    /// the merged mappings in order. Merged values are the anchored nodes themselves, so
    /// an edit lands once, at the anchor.
    pub fn lookup<'a>(&'a self, node: &'a Node, key: &str) -> Option<&'a Node> {
        self.lookup_depth(node, key, 0)
    }

    fn lookup_depth<'a>(&'a self, node: &'a Node, key: &str, depth: usize) -> Option<&'a Node> {
        let node = self.deref(node);
        if let Some(v) = node.get(key) {
            return Some(v);
        }
        // Merges of merges are bounded like nesting (an anchor cannot merge itself, but
        // a chain could be long).
        if depth >= MAX_DEPTH {
            return None;
        }
        let merged = node.get("<<")?;
        match self.deref(merged) {
            Node::Seq(items) => items
                .iter()
                .find_map(|m| self.lookup_depth(m, key, depth + 1)),
            m => self.lookup_depth(m, key, depth + 1),
        }
    }
}

/// Line starts of the original text, for line/column of a byte offset (computed here,
/// not taken from the parser, so the leniency patch cannot shift them). Line breaks are
/// YAML's: LF, CRLF, and a CR alone (old Mac files are lines too, not one long line).
struct LineIndex {
    starts: Vec<usize>,
    ascii: bool,
    /// The line of the last position asked (0-based): scalars come in order, so the next
    /// one is nearly always on it or a line or two after.
    last: std::cell::Cell<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(line_breaks(text.as_bytes()).map(|i| i + 1));
        LineIndex {
            starts,
            ascii: text.is_ascii(),
            last: std::cell::Cell::new(0),
        }
    }
    /// The 1-based line holding `offset`: a few steps on from the last one asked when it
    /// is near, else a binary search.
    fn line_of(&self, offset: usize) -> usize {
        let starts = &self.starts;
        let mut line = self.last.get();
        if starts[line] <= offset {
            for _ in 0..4 {
                match starts.get(line + 1) {
                    Some(&next) if next <= offset => line += 1,
                    // `line` (0-based) holds `offset`: 1-based, that is the next line.
                    _ => {
                        self.last.set(line);
                        return line + 1;
                    }
                }
            }
        }
        let line = starts.partition_point(|&s| s <= offset);
        self.last.set(line - 1);
        line
    }

    /// 1-based line and column (in characters).
    fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line_of(offset);
        let start = self.starts[line - 1];
        let column = if self.ascii {
            offset - start
        } else {
            text.get(start..offset)
                .map_or(offset - start, |s| s.chars().count())
        } + 1;
        (line, column)
    }
}

/// Where the line breaks of `bytes` are, as YAML counts them: an LF, the LF of a CRLF, a
/// CR alone. A CR at the very end counts alone: callers pass whole texts, or slices that
/// end at a line start.
fn line_breaks(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
}

/// Converts saphyr's character indices into byte offsets, walking forward.
struct ByteIndex<'a> {
    text: &'a str,
    ascii: bool,
    char_pos: usize,
    byte_pos: usize,
}

impl<'a> ByteIndex<'a> {
    fn new(text: &'a str) -> Self {
        ByteIndex {
            text,
            ascii: text.is_ascii(),
            char_pos: 0,
            byte_pos: 0,
        }
    }
    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        if char_index < self.char_pos {
            self.char_pos = 0;
            self.byte_pos = 0;
        }
        let mut chars = self.text[self.byte_pos..].char_indices();
        while self.char_pos < char_index {
            match chars.next() {
                Some((_, c)) => {
                    self.byte_pos += c.len_utf8();
                    self.char_pos += 1;
                }
                None => break,
            }
        }
        self.byte_pos
    }
}

fn scan_error(e: &saphyr_parser::ScanError) -> YamlError {
    let m = e.marker();
    YamlError {
        line: m.line(),
        column: m.col() + 1,
        message: e.info().to_string(),
    }
}

/// A scan error at a position of our own line index (so a lone CR is a line break, as
/// in YAML). A tab that breaks indentation is reported at the tab: the parser's mark is
/// at the scalar or indicator before it (or just after the tab), which sends the reader
/// to the wrong line.
fn placed_error(text: &str, lines: &LineIndex, e: &saphyr_parser::ScanError) -> YamlError {
    let message = e.info().to_string();
    let mut offset = ByteIndex::new(text).byte(e.marker().index());
    if message.contains("tab") {
        // From one character before the mark: the mark may sit right after the tab.
        let from = text[..offset]
            .char_indices()
            .next_back()
            .map_or(offset, |(i, _)| i);
        if let Some(tab) = memchr::memchr(b'\t', &text.as_bytes()[from..]) {
            offset = from + tab;
        }
    }
    let (line, column) = lines.position(text, offset);
    YamlError {
        line,
        column,
        message,
    }
}

/// saphyr's events of `text` as [`parse_documents`] reads them: documents of blank lines
/// skipped (see `blank_runs`), spans and anchor ids the whole text's. The edit proof's
/// first pass reads these, and the benchmark floor (examples/check_floor) drains them, so
/// that it parses what `check` parses.
pub fn events_without_blank_documents(
    text: &str,
) -> impl Iterator<Item = Result<(Event<'_>, Span), saphyr_parser::ScanError>> {
    blank_runs::Events::new(text, &blank_runs::blank_runs(text))
}

/// Every event of the text, for the edit checker's tree comparison.
pub fn events(text: &str) -> Result<Vec<Event<'static>>, YamlError> {
    with_leniency(text, |t| {
        blank_runs::around(t, |skipped| {
            let mut out = Vec::new();
            for ev in blank_runs::Events::new(t, skipped) {
                let (ev, _) = ev.map_err(|e| scan_error(&e))?;
                out.push(into_owned(ev));
            }
            Ok(out)
        })
    })
}

fn into_owned(ev: Event<'_>) -> Event<'static> {
    use std::borrow::Cow;
    match ev {
        Event::Scalar(v, s, a, t) => Event::Scalar(
            Cow::Owned(v.into_owned()),
            s,
            a,
            t.map(|t| Cow::Owned(t.into_owned())),
        ),
        Event::SequenceStart(a, t) => {
            Event::SequenceStart(a, t.map(|t| Cow::Owned(t.into_owned())))
        }
        Event::MappingStart(a, t) => Event::MappingStart(a, t.map(|t| Cow::Owned(t.into_owned()))),
        Event::Nothing => Event::Nothing,
        Event::StreamStart => Event::StreamStart,
        Event::StreamEnd => Event::StreamEnd,
        Event::DocumentStart(b) => Event::DocumentStart(b),
        Event::DocumentEnd => Event::DocumentEnd,
        Event::Alias(a) => Event::Alias(a),
        Event::SequenceEnd => Event::SequenceEnd,
        Event::MappingEnd => Event::MappingEnd,
    }
}

/// Run a parse; when it fails only because a flow collection's closing bracket sits at
/// its parent's indentation (`command: [` … `]`, accepted by libyaml, go-yaml and so by
/// Kubernetes and Compose, refused by saphyr), retry on a same-length copy where that
/// bracket is joined to the line before. Byte offsets are unchanged by the patch.
fn with_leniency<T>(
    text: &str,
    mut parse: impl FnMut(&str) -> Result<T, YamlError>,
) -> Result<T, YamlError> {
    let first = match parse(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut patched = text.to_string();
    let mut err = first.clone();
    for _ in 0..10_000 {
        if err.message != "invalid indentation" || !join_closing_bracket(&mut patched, err.line) {
            return Err(first);
        }
        match parse(&patched) {
            Ok(v) => return Ok(v),
            Err(e) => err = e,
        }
    }
    Err(first)
}

/// Replace the line break before line `line` with spaces when that line starts (after
/// spaces) with `]` or `}`. Returns false when the line is not such a line.
fn join_closing_bracket(text: &mut String, line: usize) -> bool {
    let Some(start) = text
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .map(|(i, _)| i + 1)
    else {
        return false;
    };
    let rest = text[start..].trim_start_matches(' ');
    if !(rest.starts_with(']') || rest.starts_with('}')) {
        return false;
    }
    // Same length: ASCII line-break bytes become ASCII spaces.
    text.replace_range(start - 1..start, " ");
    if start >= 2 && text.as_bytes()[start - 2] == b'\r' {
        text.replace_range(start - 2..start - 1, " ");
    }
    true
}

/// An open collection: where its children are kept, and for a mapping the key waiting
/// for its value.
enum Frame {
    Seq(Kids<Node>),
    Map(Kids<(Node, Node)>, Option<Node>),
}

/// A collection's children: on the parse's shared stack while few, in a vector of their
/// own once many. Small collections (nearly all) get one vector each, allocated at its
/// exact length when they close, where growing a vector per collection and shrinking it
/// after was a tenth of the tree's cost. A large one moves to its own vector, grown in
/// place (`realloc`) and shrunk at the end: copying it off the shared stack when it closes
/// would hold two copies at once (a 4 MB flow sequence under a second container peaked at
/// 76 MB instead of 44 MB).
enum Kids<T> {
    Shared(usize),
    Own(Vec<T>),
}

/// Children past this many leave the shared stack for a vector of their own.
const SHARED_MAX: usize = 256;

impl<T> Kids<T> {
    /// Children of a collection opening now on `shared`.
    fn open(shared: &[T]) -> Self {
        Kids::Shared(shared.len())
    }

    /// How many children so far.
    fn count(&self, shared: &[T]) -> usize {
        match self {
            Kids::Shared(start) => shared.len() - start,
            Kids::Own(own) => own.len(),
        }
    }

    /// Add a child (this is the innermost open collection, so its shared children are the
    /// top of the stack).
    fn push(&mut self, shared: &mut Vec<T>, child: T) {
        match self {
            Kids::Own(own) => own.push(child),
            Kids::Shared(start) if shared.len() - *start >= SHARED_MAX => {
                let mut own: Vec<T> = shared.drain(*start..).collect();
                own.push(child);
                *self = Kids::Own(own);
            }
            Kids::Shared(_) => shared.push(child),
        }
    }

    /// The children, with no spare capacity (the tree of a large file is most of its
    /// memory).
    fn close(self, shared: &mut Vec<T>) -> Vec<T> {
        match self {
            Kids::Shared(start) => shared.drain(start..).collect(),
            Kids::Own(mut own) => {
                own.shrink_to_fit();
                own
            }
        }
    }
}

/// The shared stacks of [`Kids::Shared`] children, innermost collection's last.
#[derive(Default)]
struct Children {
    items: Vec<Node>,
    entries: Vec<(Node, Node)>,
}

impl Children {
    /// How many children the frame has so far.
    fn count(&self, frame: &Frame) -> usize {
        match frame {
            Frame::Seq(kids) => kids.count(&self.items),
            Frame::Map(kids, _) => kids.count(&self.entries),
        }
    }
}

/// Parse a whole stream into trees with byte-accurate scalar positions.
pub fn parse(text: &str) -> Result<Stream, YamlError> {
    parse_recording(text, None)
}

/// [`parse`], also keeping every event of the parse in `record` when given (for the edit
/// proof: [`recorded`]).
pub fn parse_recording(
    text: &str,
    record: Option<&mut Option<recorded::Recorded>>,
) -> Result<Stream, YamlError> {
    let mut all = Stream::default();
    let mut current = 0;
    parse_documents_recording(
        text,
        |attempt, one| {
            if attempt != current {
                all = Stream::default();
                current = attempt;
            }
            // Anchored collections are found by document index: shift them past the
            // documents already collected.
            let offset = all.documents.len();
            all.collections.extend(
                one.collections
                    .into_iter()
                    .map(|(id, (doc, path))| (id, (doc + offset, path))),
            );
            all.documents.extend(one.documents);
            all.anchors.extend(one.anchors);
        },
        record,
    )?;
    Ok(all)
}

/// Parse a stream one document at a time: `each(attempt, stream)` gets a [`Stream`] with
/// a single document and its anchors, which the caller may drop before the next one is
/// built, so a file of many documents never holds more than one tree. When the parse is
/// retried on a patched copy (see `with_leniency`), `attempt` grows and the documents of
/// the earlier attempt must be forgotten.
pub fn parse_documents(text: &str, each: impl FnMut(usize, Stream)) -> Result<(), YamlError> {
    parse_documents_recording(text, each, None)
}

/// [`parse_documents`], also keeping every event of the parse in `record` when given (for
/// the edit proof: [`recorded`]); a record is only made by a parse that succeeds.
pub fn parse_documents_recording(
    text: &str,
    mut each: impl FnMut(usize, Stream),
    record: Option<&mut Option<recorded::Recorded>>,
) -> Result<(), YamlError> {
    refuse_oversized(text.len())?;
    let lines = LineIndex::new(text);
    let mut attempt = 0;
    let mut events = record
        .is_some()
        .then(|| recorded::Recorded::new(text.len()));
    with_leniency(text, |t| {
        blank_runs::around(t, |skipped| {
            // A retried parse records from the start.
            let kept = events.as_mut().map(|r| {
                r.events.clear();
                &mut r.events
            });
            let result = parse_exact(
                t,
                (text, &lines),
                skipped,
                (&mut |one| each(attempt, one), kept),
            );
            attempt += 1;
            result
        })
    })?;
    if let Some(record) = record {
        *record = events;
    }
    Ok(())
}

/// Positions are `u32`: refuse, rather than wrap, a text they cannot address.
fn refuse_oversized(len: usize) -> Result<(), YamlError> {
    if len < MAX_TEXT_BYTES {
        return Ok(());
    }
    Err(YamlError {
        line: 1,
        column: 1,
        message: format!("the file is {len} bytes; YAML files of 4 GiB or more are not supported"),
    })
}

/// Parse `text` (the original, or a same-length copy patched by `with_leniency`) without
/// its `skipped` blank runs; positions are placed in `original` with `lines`.
fn parse_exact(
    text: &str,
    (original, lines): (&str, &LineIndex),
    skipped: &[Range<usize>],
    (each, mut record): (&mut dyn FnMut(Stream), Option<&mut Vec<Event<'static>>>),
) -> Result<(), YamlError> {
    let mut index = ByteIndex::new(text);
    let mut stream = Stream::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut children = Children::default();
    let mut ordinal = 0usize;
    let mut doc_root: Option<Node> = None;

    for item in blank_runs::Events::new(text, skipped) {
        let (event, span) = item.map_err(|e| placed_error(original, lines, &e))?;
        if let Some(record) = record.as_deref_mut() {
            if !matches!(event, Event::Scalar(..)) {
                record.push(into_owned(event.clone()));
            }
        }
        let node = match event {
            Event::DocumentStart(_) => {
                doc_root = None;
                continue;
            }
            Event::DocumentEnd => {
                stream
                    .documents
                    .push(doc_root.take().unwrap_or(Node::Map(Vec::new())));
                // Anchors do not reach across documents: hand this one over whole.
                each(std::mem::take(&mut stream));
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(&span));
                }
                record_collection(&mut stream, &stack, &children, anchor);
                stack.push(Frame::Seq(Kids::open(&children.items)));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(&span));
                }
                record_collection(&mut stream, &stack, &children, anchor);
                stack.push(Frame::Map(Kids::open(&children.entries), None));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(kids)) => Node::Seq(kids.close(&mut children.items)),
                _ => continue,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(kids, _)) => {
                    let entries = kids.close(&mut children.entries);
                    unique_keys(&entries)?;
                    Node::Map(entries)
                }
                _ => continue,
            },
            Event::Alias(id) => Node::Alias(id),
            Event::Scalar(value, style, anchor, tag) => {
                // A copy, not the scanner's string: that one reserves well over 100
                // bytes, and keeping (or shrinking) it leaves the heap full of holes.
                let number = u32::try_from(ordinal).map_err(|_| too_large(&span))?;
                let scalar = make_scalar(
                    original,
                    lines,
                    &mut index,
                    &span,
                    CompactString::new(&value),
                    style,
                    number,
                );
                ordinal += 1;
                if anchor != 0 {
                    stream.anchors.insert(anchor, scalar.clone());
                }
                if let Some(record) = record.as_deref_mut() {
                    // The scanner's string moves into the record: no copy.
                    record.push(into_owned(Event::Scalar(value, style, anchor, tag)));
                }
                Node::Scalar(scalar)
            }
            _ => continue,
        };
        match stack.last_mut() {
            Some(Frame::Seq(kids)) => kids.push(&mut children.items, node),
            Some(Frame::Map(kids, pending)) => match pending.take() {
                Some(key) => kids.push(&mut children.entries, (key, node)),
                None => *pending = Some(node),
            },
            None => doc_root = Some(node),
        }
    }
    Ok(())
}

/// Remember where an anchored collection that starts now will sit: at the next child
/// index of every open frame. A collection used as a mapping key is not recorded (no
/// image hides there).
fn record_collection(stream: &mut Stream, stack: &[Frame], children: &Children, anchor: usize) {
    if anchor == 0 {
        return;
    }
    let mut path = Vec::with_capacity(stack.len());
    for frame in stack {
        match frame {
            Frame::Map(_, None) => return,
            frame => path.push(children.count(frame)),
        }
    }
    stream
        .collections
        .insert(anchor, (stream.documents.len(), path));
}

/// YAML requires the keys of a mapping to be unique, and readers differ on which of two
/// `image:` keys wins (the last for some, an error for others): a duplicated key that
/// carries (part of) a reference is an error here rather than a guess about which image
/// the cluster runs. Other duplicates (real repositories have a second `annotations:`)
/// are kept: both values stay in the tree and are walked.
fn unique_keys(entries: &[(Node, Node)]) -> Result<(), YamlError> {
    let duplicate = |first: &Scalar, again: &Scalar| YamlError {
        line: again.line(),
        column: again.column(),
        message: format!(
            "duplicate key {:?} in a mapping (first at line {}); YAML requires unique keys",
            again.value,
            first.line()
        ),
    };
    if entries.len() < 2 {
        return Ok(());
    }
    let keys = entries.iter().filter_map(|(k, _)| k.as_scalar());
    if entries.len() <= 16 {
        // Small mappings (nearly all): pairwise, without allocating. An earlier key equal
        // to a reference key is one too: each key is classified once.
        for (i, k) in keys.clone().enumerate() {
            if !is_reference_key(&k.value) {
                continue;
            }
            if let Some(first) = keys.clone().take(i).find(|p| p.value == k.value) {
                return Err(duplicate(first, k));
            }
        }
        return Ok(());
    }
    let mut seen = HashMap::new();
    for k in keys.filter(|k| is_reference_key(&k.value)) {
        if let Some(first) = seen.insert(k.value.as_str(), k) {
            return Err(duplicate(first, k));
        }
    }
    Ok(())
}

/// A key whose value is (part of) a reference where `locate` looks: `image`-like keys,
/// Helm image-map and kustomize `images:` fields, and merge keys (which bring them in).
fn is_reference_key(key: &str) -> bool {
    let contains = |word: &str| {
        key.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    ["image", "repository", "registry"]
        .iter()
        .any(|w| contains(w))
        || matches!(
            key,
            "tag" | "digest" | "sha" | "newName" | "newTag" | "tagSuffix" | "<<"
        )
}

fn too_large(span: &Span) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: "too many scalars in one file".into(),
    }
}

fn too_deep(span: &Span) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: format!("nesting deeper than {MAX_DEPTH} levels"),
    }
}

fn make_scalar(
    text: &str,
    lines: &LineIndex,
    index: &mut ByteIndex<'_>,
    span: &Span,
    value: CompactString,
    style: ScalarStyle,
    ordinal: u32,
) -> Scalar {
    let mut start = index.byte(span.start.index());
    let end = index.byte(span.end.index()).max(start);
    // The span of an anchored or tagged scalar starts at `&anchor` / `!tag`: step over
    // those properties so the token is the value itself.
    let bytes = text.as_bytes();
    while start < end && (bytes[start] == b'&' || bytes[start] == b'!') {
        while start < end && !bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        while start < end && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
    }
    let (line, column) = lines.position(text, start);
    let style = Style::from(style);
    let (token, content) = locate_token(text, start, end, style, &value);
    // Offsets, lines and columns fit: `parse_documents` refuses texts of 4 GiB or more.
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut scalar = Scalar {
        value,
        style,
        editable: false,
        ordinal,
        token: narrow(token.start)..narrow(token.end),
        line: narrow(line),
        column: narrow(column),
    };
    // Stored as a flag: keep it only where the range it stands for is the one found.
    scalar.editable = true;
    if scalar.content() != content {
        scalar.editable = false;
    }
    scalar
}

/// The token's byte range and, when editable, the range whose text equals the value.
/// Quoted tokens are measured from their opening quote (saphyr's end marker is not
/// reliable after an anchor); block scalars keep the parser's span.
fn locate_token(
    text: &str,
    start: usize,
    end: usize,
    style: Style,
    value: &str,
) -> (Range<usize>, Option<Range<usize>>) {
    let bytes = text.as_bytes();
    match style {
        Style::Plain => {
            let candidate = start..start + value.len();
            match text.get(candidate.clone()) {
                Some(raw) if raw == value && !value.contains('\n') => {
                    (candidate.clone(), Some(candidate))
                }
                _ => (start..end, None),
            }
        }
        Style::Single | Style::Double => {
            let quote = if style == Style::Single { b'\'' } else { b'"' };
            if bytes.get(start) != Some(&quote) {
                return (start..end, None);
            }
            let mut i = start + 1;
            let mut simple = true;
            while i < bytes.len() {
                let b = bytes[i];
                if b == b'\n' || b == b'\r' {
                    simple = false;
                }
                if style == Style::Double && b == b'\\' {
                    simple = false;
                    i += 2;
                    continue;
                }
                if b == quote {
                    if style == Style::Single && bytes.get(i + 1) == Some(&b'\'') {
                        simple = false;
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            let token = start..(i + 1).min(bytes.len());
            let inner = start + 1..i.min(bytes.len());
            let content = (simple && text.get(inner.clone()) == Some(value)).then_some(inner);
            (token, content)
        }
        Style::Literal | Style::Folded => (start..end, None),
    }
}

/// Escape a value for writing inside a scalar of the given style; `None` when it cannot
/// be written in that style without changing its meaning.
pub fn encode_for_style(value: &str, style: Style) -> Option<String> {
    match style {
        Style::Plain => {
            let first_ok = !value.starts_with([
                '[', ']', '{', '}', '!', '&', '*', '#', '|', '>', '\'', '"', '%', '@', '`', '-',
                '?', ':', ',',
            ]);
            let safe = !value.is_empty()
                && first_ok
                && !value.contains(": ")
                && !value.contains(" #")
                && !value.ends_with(':')
                && !value.contains(['\n', '\r', '\t'])
                && !value.ends_with(' ');
            safe.then(|| value.to_string())
        }
        Style::Single => (!value.contains(['\n', '\r', '\''])).then(|| value.to_string()),
        Style::Double => (!value.contains(['\n', '\r', '"', '\\'])).then(|| value.to_string()),
        Style::Literal | Style::Folded => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_past_the_shared_stack_keep_their_children_order_anchors_and_checks() {
        // A sequence and a mapping with more children than the shared stack keeps, each
        // opened after siblings (not at the bottom of the stack), an anchored mapping past
        // the move to a vector of its own, and a duplicated `image` key at the very end.
        let n = SHARED_MAX + 40;
        let mut text = String::from("first: [a, b]\nlist:\n  - x\n  - [");
        text.push_str(
            &(0..n)
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        text.push_str(", &late {image: nginx:1.27}]\nmerged:\n  <<: *late\nmap:\n");
        for i in 0..n {
            text.push_str(&format!("  k{i}: {i}\n"));
        }
        let stream = parse(&text).expect("parses");
        let doc = &stream.documents[0];
        let list = doc.get("list").and_then(Node::as_seq).expect("list");
        let big = list[1].as_seq().expect("the flow sequence");
        assert_eq!(big.len(), n + 1);
        for (i, item) in big.iter().take(n).enumerate() {
            let scalar = item.as_scalar().expect("scalar");
            assert_eq!(scalar.value, format!("v{i}"));
            assert_eq!(&text[scalar.token()], scalar.value.as_str());
        }
        let map = doc.get("map").and_then(Node::as_map).expect("map");
        assert_eq!(map.len(), n);
        assert_eq!(
            doc.get("map")
                .and_then(|m| m.get_str(&format!("k{}", n - 1))),
            Some(&*format!("{}", n - 1))
        );
        let merged = doc.get("merged").expect("merged");
        let image = stream
            .lookup(merged, "image")
            .and_then(|v| stream.resolve(v));
        assert_eq!(image.map(|s| s.value.as_str()), Some("nginx:1.27"));

        let mut duplicated = text.clone();
        duplicated.push_str("  image: a\n  image: b\n");
        let err = parse(&duplicated).expect_err("a duplicated image key");
        assert!(err.message.contains("duplicate key"), "{err}");
    }

    #[test]
    fn the_line_of_an_offset_is_the_same_in_any_order_of_asking() {
        // Lines of every length (empty ones, CRLF, a lone CR) asked forwards, backwards,
        // in jumps and again: the remembered line must never shift an answer.
        let text = "a: 1\n\n\nbb: 2\r\ncc: 3\rd: 4\n  - e\n\n  - ffff\n";
        let lines = LineIndex::new(text);
        let truth = |o: usize| lines.starts.partition_point(|&s| s <= o);
        let n = text.len();
        let orders: Vec<Vec<usize>> = vec![
            (0..n).collect(),
            (0..n).rev().collect(),
            (0..n).map(|i| (i * 7) % n).collect(),
            (0..n).flat_map(|i| [i, n - 1 - i]).collect(),
        ];
        for order in orders {
            for o in order {
                assert_eq!(lines.line_of(o), truth(o), "offset {o}");
            }
        }
    }

    #[test]
    fn byte_ranges_survive_multibyte_text_and_anchors() {
        let text = "a: ünï\nimage: &img \"nginx:1.27\" # c\nb: *img\n";
        let s = parse(text).unwrap();
        let root = &s.documents[0];
        let img = root.get("image").unwrap().as_scalar().unwrap();
        assert_eq!(&text[img.content().unwrap()], "nginx:1.27");
        assert_eq!((img.line(), img.column()), (2, 13));
        let alias = root.get("b").unwrap();
        assert_eq!(s.resolve(alias).unwrap().value, "nginx:1.27");
    }

    #[test]
    fn quoted_scalars_with_escapes_are_not_editable() {
        let text = "a: \"x\\u0041\"\nb: 'it''s'\nc: |\n  block\n";
        let s = parse(text).unwrap();
        for key in ["a", "b", "c"] {
            let sc = s.documents[0].get(key).unwrap().as_scalar().unwrap();
            assert!(sc.content().is_none(), "{key}");
        }
    }

    /// Issue #12 item 18: a tab that breaks indentation is reported at the tab's own line
    /// and column, not at the scalar before it.
    #[test]
    fn tab_errors_point_at_the_tab() {
        for (text, at) in [
            ("a:\n\tb: 1\nimage: x\n", (2, 1)),
            ("a:\n  b: 1\n\t c: 2\nimage: x\n", (3, 1)),
            ("a: |\n\tfoo\nimage: x\n", (2, 1)),
            ("image: x\nb:\n  - c\n\t- d\n", (4, 1)),
            ("spec:\n  image: nginx\n  \tfoo: 1\n", (3, 3)),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains("tab"), "{text:?}: {e}");
            assert_eq!((e.line, e.column), at, "{text:?}: {e}");
        }
    }

    /// Issue #12 item 18: a CR alone is a line break (YAML's), for scalars and errors.
    #[test]
    fn cr_only_line_breaks_are_lines() {
        let text = "apiVersion: v1\rkind: Pod\rspec:\r  image: nginx:1\r";
        let s = parse(text).unwrap();
        let img = s.documents[0].get("spec").unwrap().get("image").unwrap();
        let img = img.as_scalar().unwrap();
        assert_eq!((img.line, img.column), (4, 10));
        let e = parse("a: 1\rb:\r\tc: 2\r").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        // CRLF stays one break.
        let s = parse("a: 1\r\nimage: x\r\n").unwrap();
        assert_eq!(
            s.documents[0]
                .get("image")
                .unwrap()
                .as_scalar()
                .unwrap()
                .line,
            2
        );
    }

    /// Issue #12 item 18: YAML requires unique keys; two `image:` keys are an error at
    /// the second, in small and large mappings.
    #[test]
    fn duplicate_keys_are_an_error() {
        let e =
            parse("containers:\n  - name: a\n    image: nginx:1\n    image: evil:2\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, 5), "{e}");
        assert!(e.message.contains("duplicate key \"image\""), "{e}");
        assert!(e.message.contains("first at line 3"), "{e}");
        let mut big: String = (0..40).map(|i| format!("image{i}: v\n")).collect();
        big.push_str("'image7': again\n");
        let e = parse(&big).unwrap_err();
        assert_eq!(e.line, 41, "{e}");
        // Quoting does not make another key.
        assert!(parse("x: {image: a, \"image\": b}\n").is_err());
        assert!(parse("a: {tag: 1}\nb: {tag: 1}\n").is_ok());
        // A duplicate that carries no reference is kept (real repositories have them).
        assert!(parse("metadata:\n  annotations: {}\n  annotations: {a: b}\n").is_ok());
        assert!(parse("image: {tag: 1, tag: 2}\n").is_err());
    }

    /// The tree of a large file is mostly nodes: 96-byte nodes took a 10 MB flow
    /// sequence to 42x its size in memory (issue 12 item 17).
    #[test]
    fn tree_nodes_stay_within_48_bytes() {
        assert!(
            std::mem::size_of::<Node>() <= 48,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn texts_of_4_gib_or_more_are_refused_not_wrapped() {
        assert!(refuse_oversized(MAX_TEXT_BYTES - 1).is_ok());
        let err = refuse_oversized(MAX_TEXT_BYTES).unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
        assert!(err.message.contains("4 GiB"), "{}", err.message);
    }

    #[test]
    fn short_scalar_values_need_no_heap_allocation() {
        let s = parse("args: [a1, 'a2', \"a3\", a-value-of-twenty-four-b]\n").unwrap();
        let args = s.documents[0].get("args").unwrap().as_seq().unwrap();
        assert_eq!(args.len(), 4);
        for arg in args {
            assert!(!arg.as_scalar().unwrap().value.is_heap_allocated());
        }
    }

    #[test]
    fn editable_content_ranges_follow_the_style() {
        let text = "a: plain\nb: 'single'\nc: \"double\"\nd: 'it''s'\ne: |\n  block\n";
        let s = parse(text).unwrap();
        let content = |key: &str| {
            let sc = s.documents[0].get(key).unwrap().as_scalar().unwrap();
            sc.content().map(|r| (&text[sc.token()], &text[r]))
        };
        assert_eq!(content("a"), Some(("plain", "plain")));
        assert_eq!(content("b"), Some(("'single'", "single")));
        assert_eq!(content("c"), Some(("\"double\"", "double")));
        assert_eq!(content("d"), None);
        assert_eq!(content("e"), None);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(parse(&text).is_err());
    }
}
