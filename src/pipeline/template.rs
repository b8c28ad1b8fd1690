//! Literal images in Helm chart templates.
//!
//! A chart template is a Go template, not YAML, so it cannot go through the YAML locator
//! and its re-parse proof. Yet charts ship literal images (`image: busybox` in
//! `templates/tests/`, `image: "golang:1.19-alpine"` in a Job beside
//! `{{ .Release.Namespace }}`), and those pods pull from upstream like any other. So the
//! template is scanned line by line: an `image:` line with no template expression is a
//! reference like any other; a line containing `{{` is never touched (its value is
//! `templated`). The proof of an edit is line-level: the edited text has the same lines,
//! only the planned lines differ, and each of them scans back to its planned value.

use crate::pipeline::locate::{Field, Kind, Shape, Site};
use crate::yaml::edit::{Edit, EditError};
use crate::yaml::Style;

/// Ordinals for template scalars: far from any YAML scalar's (only used to tell sites
/// apart; edits of templates are proven by [`apply_checked`], not by a re-parse).
const OWNER_BASE: usize = usize::MAX / 2;

/// One `image:` value on one line.
struct ImageLine<'t> {
    /// Byte range of the value (inside quotes, if any).
    range: std::ops::Range<usize>,
    value: &'t str,
    style: Style,
    column: usize,
}

/// The `image:` value of a line (`image: x`, `- image: "x"`, `image: 'x' # c`).
fn image_value(line: &str) -> Option<ImageLine<'_>> {
    let trimmed = line.trim_start();
    let mut rest = trimmed;
    while let Some(r) = rest.strip_prefix('-') {
        let r2 = r.trim_start();
        if r2.len() == r.len() {
            return None; // `-image:` is no sequence entry
        }
        rest = r2;
    }
    let rest = rest
        .strip_prefix("image:")
        .or_else(|| rest.strip_prefix("\"image\":"))?;
    let value_part = rest.trim_start();
    if value_part.len() == rest.len() && !rest.is_empty() {
        return None;
    }
    let start = line.len() - value_part.len();
    let (style, inner, offset) = match value_part.chars().next()? {
        q @ ('"' | '\'') => {
            let end = value_part[1..].find(q)?;
            let style = if q == '"' {
                Style::Double
            } else {
                Style::Single
            };
            (style, &value_part[1..1 + end], 1)
        }
        '#' | '|' | '>' | '&' | '*' | '!' | '{' | '[' => return None,
        _ => {
            let end = value_part.find(" #").unwrap_or(value_part.len());
            (Style::Plain, value_part[..end].trim_end(), 0)
        }
    };
    if inner.is_empty() || inner.contains('\\') {
        return None;
    }
    let range = start + offset..start + offset + inner.len();
    Some(ImageLine {
        column: line[..range.start].chars().count() + 1 - offset,
        range,
        value: inner,
        style,
    })
}

/// The image sites of a chart template: literal ones editable, templated ones reported.
pub fn locate(text: &str) -> Vec<Site> {
    let mut sites = Vec::new();
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches('\n').trim_end_matches('\r');
        let here = offset;
        offset += raw.len();
        if line.trim_start().starts_with('#') {
            continue;
        }
        let templated = line.contains("{{");
        let Some(found) = image_value(line).or_else(|| {
            // A templated line still says where a templated image is.
            templated
                .then(|| line.find("image:"))
                .flatten()
                .map(|at| ImageLine {
                    range: at + 6..line.len(),
                    value: line[at + 6..].trim(),
                    style: Style::Plain,
                    column: line[..at].chars().count() + 7,
                })
        }) else {
            continue;
        };
        if found.value.is_empty() {
            continue;
        }
        let field = Field {
            value: found.value.to_string(),
            line: i + 1,
            column: found.column,
            owner: OWNER_BASE + i,
            value_range: 0..found.value.len(),
            // Never an edit on a line holding a template expression.
            file_range: (!templated).then(|| here + found.range.start..here + found.range.end),
            style: found.style,
        };
        let value = if templated && !field.value.contains("{{") {
            // `image: {{ x }}` split oddly: show the whole value as templated.
            format!("{{{{ {} }}}}", field.value)
        } else {
            field.value.clone()
        };
        let field = Field { value, ..field };
        sites.push(Site {
            kind: Kind::Image,
            line: field.line,
            column: field.column,
            shape: Shape::Whole(field),
            flux_name_setter: false,
            helm: None,
        });
    }
    sites
}

/// Apply edits to a template and prove them line by line: same number of lines, only
/// edited lines differ, none of them held `{{`, and each scans back to its new value.
pub fn apply_checked(original: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    sorted.dedup_by(|a, b| a == b);
    let mut out = String::with_capacity(original.len() + 64 * sorted.len());
    let mut pos = 0;
    for e in &sorted {
        if e.range.start < pos || e.insert.is_some() {
            return Err(EditError::Overlap(e.range.start, pos));
        }
        out.push_str(&original[pos..e.range.start]);
        out.push_str(&e.text);
        pos = e.range.end;
    }
    out.push_str(&original[pos..]);
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (original.split('\n').collect(), out.split('\n').collect());
    if old_lines.len() != new_lines.len() {
        return Err(EditError::Mismatch(
            "the template's line count changed".into(),
        ));
    }
    let edited: std::collections::BTreeSet<usize> = sorted
        .iter()
        .map(|e| original[..e.range.start].matches('\n').count())
        .collect();
    for (i, (a, b)) in old_lines.iter().zip(&new_lines).enumerate() {
        if a == b {
            continue;
        }
        let planned = edited.contains(&i) && !a.contains("{{") && !b.contains("{{");
        let scans = image_value(b).is_some();
        if !planned || !scans {
            return Err(EditError::Mismatch(format!(
                "template line {} changed outside a literal image value",
                i + 1
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, bool)> {
        locate(text)
            .into_iter()
            .map(|s| match s.shape {
                Shape::Whole(f) => (f.value, f.file_range.is_some()),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn literal_images_are_found_and_templated_lines_never_editable() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: {{ .Release.Namespace }}\nspec:\n  containers:\n    - name: t\n      image: busybox\n    - image: \"golang:1.19-alpine\" # build\n      command: ['true']\n    - image: {{ .Values.image }}\n    - image: \"{{ .Values.r }}:{{ .Values.t }}\"\n  # image: commented:1\n";
        assert_eq!(
            values(text),
            vec![
                ("busybox".to_string(), true),
                ("golang:1.19-alpine".to_string(), true),
                ("{{ .Values.image }}".to_string(), false),
                ("{{ .Values.r }}:{{ .Values.t }}".to_string(), false),
            ]
        );
    }
}
