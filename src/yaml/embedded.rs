//! YAML inside a literal block scalar (Argo CD's `helm.values: |`), mapped back to the
//! bytes of the file that holds it.
//!
//! Each content line of a literal block is a file line minus a fixed indentation, so a
//! byte offset inside the embedded text maps to one in the file line by line. Where the
//! file does not line up (folded style, odd indentation) the map is absent and the
//! references inside are reported but not edited.

use std::ops::Range;

use super::{Scalar, Style};

/// Line-by-line correspondence between an embedded document and its file.
#[derive(Debug, Clone)]
pub struct EmbeddedMap {
    /// For each embedded line: (offset in embedded text, offset in file).
    lines: Vec<(usize, usize)>,
    /// 1-based file line of the first content line.
    first_line: usize,
    indent: usize,
}

impl EmbeddedMap {
    /// Build the map for a literal block scalar, or `None` when lines do not correspond.
    pub fn new(text: &str, block: &Scalar) -> Option<Self> {
        if block.style != Style::Literal {
            return None;
        }
        // saphyr's span of a block scalar starts at its first non-empty content line;
        // leading empty lines of the value come before it.
        let leading_empty = block.value.len() - block.value.trim_start_matches('\n').len();
        let mut file_pos = text[..block.token().start].rfind('\n').map_or(0, |i| i + 1);
        for _ in 0..leading_empty {
            file_pos = text[..file_pos.saturating_sub(1)]
                .rfind('\n')
                .map_or(0, |i| i + 1);
        }
        let first_line = block.line() - leading_empty;
        let mut indent: Option<usize> = None;
        let mut lines = Vec::new();
        let mut emb_pos = 0usize;
        let value = block.value.as_str();
        let value_lines: Vec<&str> = value.split('\n').collect();
        for (i, vline) in value_lines.iter().enumerate() {
            if i == value_lines.len() - 1 && vline.is_empty() {
                break;
            }
            let rest = text.get(file_pos..)?;
            let line_end = rest.find('\n').map_or(rest.len(), |n| n);
            let fline = rest[..line_end]
                .strip_suffix('\r')
                .unwrap_or(&rest[..line_end]);
            if vline.is_empty() {
                if !fline.trim().is_empty() {
                    return None;
                }
                lines.push((emb_pos, usize::MAX));
            } else {
                let ind = *indent
                    .get_or_insert_with(|| fline.len() - fline.trim_start_matches(' ').len());
                if fline.get(ind..)? != *vline || !fline[..ind].bytes().all(|b| b == b' ') {
                    return None;
                }
                lines.push((emb_pos, file_pos + ind));
            }
            emb_pos += vline.len() + 1;
            file_pos += line_end + 1;
        }
        Some(EmbeddedMap {
            lines,
            first_line,
            indent: indent.unwrap_or(0),
        })
    }

    /// Map a byte range of the embedded text (within one line) to the file.
    pub fn map_range(&self, range: &Range<usize>) -> Option<Range<usize>> {
        let idx = self
            .lines
            .partition_point(|(e, _)| *e <= range.start)
            .checked_sub(1)?;
        let (emb_start, file_start) = self.lines[idx];
        if file_start == usize::MAX {
            return None;
        }
        if let Some((next, _)) = self.lines.get(idx + 1) {
            if range.end >= *next {
                return None;
            }
        }
        let shift = range.start - emb_start;
        Some(file_start + shift..file_start + shift + range.len())
    }

    /// Map a 1-based (line, column) of the embedded text to the file.
    pub fn map_position(&self, line: usize, column: usize) -> (usize, usize) {
        (self.first_line + line - 1, column + self.indent)
    }
}
