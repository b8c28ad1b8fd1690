//! The render proof of a bump.
//!
//! `bump` plans every file before writing any (a bump lands whole or not at all), so its
//! proof runs on the planned texts at the write step: each chart and kustomization whose
//! inputs change is rendered before and after, and the only rendered lines that may
//! differ are the bumped image's, each now the new Harbor reference. A refused unit marks
//! its files with a `render-proof-failed` error, which keeps the whole bump from being
//! written; a unit that cannot be proven gets a note, as with `rewrite`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::finding::{Code, Location};
use crate::mapping::Mapper;
use crate::pipeline::engine::{FileError, FileResult};
use crate::pipeline::render::{self, Change, Outcome, ProofSettings, Verdict};

/// Prove the planned texts of `planned` (a result and, for a changed file, its new text
/// as `text_of` gives it); errors and notes are added to `planned`.
pub fn prove_planned<T>(
    paths: &[PathBuf],
    planned: &mut Vec<(FileResult, Option<T>)>,
    text_of: impl Fn(&T) -> &str,
    proof: &ProofSettings,
    (mapper, change): (&Mapper, Change),
) -> Vec<Outcome> {
    let index = render::Index::discover(paths).with_charts(mapper.charts().clone());
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let changed: BTreeMap<PathBuf, String> = planned
        .iter()
        .filter_map(|(r, new)| Some((canonical(&r.path), text_of(new.as_ref()?).to_string())))
        .filter(|(p, _)| index.covers(p))
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let outcomes = render::prove_change(&index, proof, &changed, mapper, change);
    for (r, new) in planned.iter_mut() {
        let file = canonical(&r.path);
        let refused = outcomes.iter().find_map(|o| match &o.verdict {
            Verdict::Refused { summary, .. } if o.inputs.contains(&file) => {
                Some((o.label.clone(), summary.clone()))
            }
            _ => None,
        });
        if let Some((label, summary)) = refused {
            *new = None;
            r.changed = false;
            r.diff = None;
            r.error = Some(FileError::error(
                Code::RenderProofFailed,
                Location::file(r.display.clone()),
                format!(
                    "{}: {label}: the render changes beyond the bumped image ({summary}); nothing was written",
                    Code::RenderProofFailed
                ),
            ));
        }
    }
    for o in &outcomes {
        if let Verdict::Unproven(why) = &o.verdict {
            let files: Vec<String> = o.inputs.iter().map(|f| render::shown(f)).collect();
            let note = format!(
                "{}: {}: {why}; edits of {} are not proven by rendering",
                Code::RenderProofUnproven,
                o.label,
                files.join(", ")
            );
            planned.push((
                FileResult {
                    note: Some(note),
                    ..FileResult::new(Path::new(&render::shown(&o.dir)))
                },
                None,
            ));
        }
    }
    outcomes
}
