//! Charts: which chart consumes a values file, and `helm template` before and after.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::overrides::Values;
use super::{copy_tree, inputs_of, judge, overlay_changed, Expect, Outcome, Verdict};

/// A chart and the values files given to it (`helm template CHART -f V…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChartSource {
    /// The chart directory (holds `Chart.yaml`), canonical.
    pub chart: PathBuf,
    /// Override values passed with `-f`, in order (files canonical; values embedded in a
    /// HelmRelease or Application taken out of it). Empty when the changed file is the
    /// chart's own `values.yaml`.
    pub values: Vec<Values>,
}

/// The chart that consumes a values file (canonical path), if known.
///
/// A `values.yaml` (or `.yml`) next to `Chart.yaml` is the chart's own values; override
/// files and embedded values are found by [`super::overrides::sources_for`].
pub fn chart_for(values_path: &Path) -> Option<ChartSource> {
    let name = values_path.file_name()?.to_str()?;
    if !matches!(name, "values.yaml" | "values.yml") {
        return None;
    }
    let dir = values_path.parent()?;
    dir.join("Chart.yaml").is_file().then(|| ChartSource {
        chart: dir.to_path_buf(),
        values: Vec::new(),
    })
}

/// Render the chart with the original and with the planned values.
pub(super) fn prove(
    source: &ChartSource,
    helm: Option<&Path>,
    changed: &BTreeMap<PathBuf, String>,
    expect: &Expect,
) -> Outcome {
    let label = format!("helm template {}", super::shown(&source.chart));
    let inputs = inputs_of(changed, |f| {
        f.starts_with(&source.chart) || source.values.iter().any(|v| v.file == *f)
    });
    let verdict = match helm {
        None => Verdict::Unproven("helm not found (install helm or pass --helm PATH)".into()),
        Some(helm) => render_both(source, helm, changed, expect),
    };
    Outcome {
        label,
        dir: source.chart.clone(),
        inputs,
        verdict,
    }
}

fn render_both(
    source: &ChartSource,
    helm: &Path,
    changed: &BTreeMap<PathBuf, String>,
    expect: &Expect,
) -> Verdict {
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Verdict::Unproven(format!("no scratch directory: {e}")),
    };
    let chart = scratch.path().join("chart");
    let (mut old_values, mut new_values) = (Vec::new(), Vec::new());
    let copied = copy_tree(&source.chart, &chart, &source.chart)
        .and_then(|()| overlay_changed(&source.chart, &chart, changed));
    if let Err(e) = copied {
        return Verdict::Unproven(format!("cannot copy the chart to a scratch directory: {e}"));
    }
    // Each override before (as on disk) and after (as planned), as a file of its own.
    for (i, v) in source.values.iter().enumerate() {
        let on_disk = match std::fs::read_to_string(&v.file) {
            Ok(t) => t,
            Err(e) => return Verdict::Unproven(format!("cannot read {}: {e}", v.file.display())),
        };
        let planned = changed.get(&v.file).unwrap_or(&on_disk);
        for (text, name, list) in [
            (&on_disk, "before", &mut old_values),
            (planned, "after", &mut new_values),
        ] {
            let dst = scratch.path().join(format!("values-{i}-{name}.yaml"));
            let written = v
                .extract(text)
                .and_then(|t| std::fs::write(&dst, t).map_err(|e| e.to_string()));
            if let Err(e) = written {
                let shown = super::shown(&v.file);
                return Verdict::Unproven(format!("cannot take the values out of {shown}: {e}"));
            }
            list.push(dst);
        }
    }
    let template = |chart: &Path, values: &[PathBuf]| {
        let mut cmd = Command::new(helm);
        cmd.args(["template", "harborize"]).arg(chart);
        for v in values {
            cmd.arg("-f").arg(v);
        }
        // No repository or registry is consulted: an unfetched dependency fails the
        // original render, which makes the edit unproven, never a network call.
        cmd.env(
            "HELM_REPOSITORY_CONFIG",
            scratch.path().join("repositories.yaml"),
        )
        .env("HELM_REGISTRY_CONFIG", scratch.path().join("registry.json"));
        cmd
    };
    judge(
        || template(&source.chart, &old_values),
        template(&chart, &new_values),
        expect,
    )
}
