//! Charts: which chart consumes a values file, and `helm template` before and after.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{copy_tree, inputs_of, judge, overlay_changed, Expect, Outcome, Verdict};

/// A chart and the values files given to it (`helm template CHART -f V…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChartSource {
    /// The chart directory (holds `Chart.yaml`), canonical.
    pub chart: PathBuf,
    /// Override values files passed with `-f`, in order (canonical). Empty when the
    /// changed file is the chart's own `values.yaml`.
    pub values: Vec<PathBuf>,
}

/// The chart that consumes a values file (canonical path), if known.
///
/// Today: a `values.yaml` (or `.yml`) next to `Chart.yaml` is the chart's own values.
/// Chart discovery for override files (Argo CD `source.path`, Flux `chart.spec.chart`,
/// `--charts DIR`) fills this in with the override in [`ChartSource::values`].
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
        f.starts_with(&source.chart) || source.values.iter().any(|v| v == f)
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
    let mut values = Vec::new();
    let copied = copy_tree(&source.chart, &chart)
        .and_then(|()| overlay_changed(&source.chart, &chart, changed))
        .and_then(|()| {
            for (i, v) in source.values.iter().enumerate() {
                let dst = scratch.path().join(format!("values-{i}.yaml"));
                match changed.get(v) {
                    Some(text) => std::fs::write(&dst, text)?,
                    None => {
                        std::fs::copy(v, &dst)?;
                    }
                }
                values.push(dst);
            }
            Ok(())
        });
    if let Err(e) = copied {
        return Verdict::Unproven(format!("cannot copy the chart to a scratch directory: {e}"));
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
        || template(&source.chart, &source.values),
        template(&chart, &values),
        expect,
    )
}
