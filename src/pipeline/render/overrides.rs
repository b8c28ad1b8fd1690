//! Override values rendered with their chart.
//!
//! A GitOps repository keeps *override* values (`helm-values/*.yaml` listed by an Argo CD
//! Application, a Flux HelmRelease's `spec.values`, an Argo CD source's `helm.values` or
//! `helm.valuesObject`), not the chart. When [`crate::pipeline::locate::helm`] can find the chart
//! (a chart directory of the repository named by the HelmRelease or Application, a chart
//! under `--charts DIR`, an Application whose `helm.valueFiles` lists the file), the render
//! proof renders `helm template CHART -f OVERRIDE` before and after, exactly as it renders a
//! chart's own values: an override edit is then proven the same way.
//!
//! Values embedded in a manifest are taken out of the document as YAML (the same way
//! before and after, so only the planned values differ between the two renders).

use std::path::{Path, PathBuf};

use crate::pipeline::locate::helm::{chart_dir, ChartRef, ChartSources};
use crate::yaml::{self, Node};

use super::helm::ChartSource;

/// One step from a document root to embedded values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Values given to a chart with `-f`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Values {
    /// The file that holds them (canonical).
    pub file: PathBuf,
    /// Where in the file, when they are embedded in a manifest (document index and the
    /// route to the values: a mapping, or a string holding YAML); `None`: the whole file.
    pub embedded: Option<(usize, Vec<Step>)>,
}

impl Values {
    /// The values as a YAML text, taken from `text` (the whole file's text).
    pub fn extract(&self, text: &str) -> Result<String, String> {
        let Some((doc, route)) = &self.embedded else {
            return Ok(text.to_string());
        };
        use serde::Deserialize;
        let document = serde_yaml_ng::Deserializer::from_str(text)
            .nth(*doc)
            .ok_or_else(|| format!("no document {doc}"))?;
        let mut value = serde_yaml_ng::Value::deserialize(document).map_err(|e| e.to_string())?;
        value.apply_merge().map_err(|e| e.to_string())?;
        let mut node = &value;
        for step in route {
            node = match step {
                Step::Key(k) => node.get(k.as_str()),
                Step::Index(i) => node.get(*i),
            }
            .ok_or_else(|| "the embedded values are gone".to_string())?;
        }
        match node {
            serde_yaml_ng::Value::String(s) => Ok(s.clone()),
            other => serde_yaml_ng::to_string(other).map_err(|e| e.to_string()),
        }
    }
}

/// The charts (with the values given to them) that consume the override values of `file`
/// (canonical path), when locate can find them. A chart's own `values.yaml` is not an
/// override (see [`super::chart_for`]).
pub fn sources_for(file: &Path, charts: &ChartSources) -> Vec<ChartSource> {
    let mut out = Vec::new();
    let Some(dir) = file.parent() else {
        return out;
    };
    if dir.join("Chart.yaml").is_file() {
        return out;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return out;
    };
    // A cheap test first: most files embed no values and are linked by no Application.
    let embeds = ["values:", "valuesObject:"]
        .iter()
        .any(|w| memchr::memmem::find(text.as_bytes(), w.as_bytes()).is_some());
    if embeds {
        if let Ok(stream) = yaml::parse(&text) {
            for (i, doc) in stream.documents.iter().enumerate() {
                embedded_sources(file, dir, i, doc, charts, &mut out);
            }
        }
    }
    if out.is_empty() && !charts.roots.is_empty() {
        if let Some(chart) = charts
            .linked_chart(file)
            .and_then(|c| chart_dir(dir, &c, charts))
        {
            out.push(source(
                chart,
                vec![Values {
                    file: file.to_path_buf(),
                    embedded: None,
                }],
            ));
        }
    }
    out
}

fn source(chart: PathBuf, values: Vec<Values>) -> ChartSource {
    ChartSource {
        chart: chart.canonicalize().unwrap_or(chart),
        values,
    }
}

/// A HelmRelease's `spec.values`, an Application source's `helm.values` and
/// `helm.valuesObject` (in that order: Argo CD gives `valuesObject` the last word).
fn embedded_sources(
    file: &Path,
    dir: &Path,
    doc_index: usize,
    doc: &Node,
    charts: &ChartSources,
    out: &mut Vec<ChartSource>,
) {
    let api = doc.get_str("apiVersion").unwrap_or("");
    let Some(spec) = doc.get("spec") else { return };
    let embedded = |route: Vec<Step>| Values {
        file: file.to_path_buf(),
        embedded: Some((doc_index, route)),
    };
    let key = |k: &str| Step::Key(k.to_string());
    if api.starts_with("helm.toolkit.fluxcd.io") && spec.get("values").is_some() {
        let chart = spec
            .get("chart")
            .and_then(|c| c.get("spec"))
            .and_then(|s| s.get_str("chart"));
        if let Some(chart) = chart.and_then(|c| chart_dir(dir, &flux_ref(c), charts)) {
            out.push(source(
                chart,
                vec![embedded(vec![key("spec"), key("values")])],
            ));
        }
        return;
    }
    if !api.starts_with("argoproj.io") {
        return;
    }
    let mut routes: Vec<(Vec<Step>, &Node)> = Vec::new();
    if let Some(s) = spec.get("source") {
        routes.push((vec![key("spec"), key("source")], s));
    }
    for (i, s) in spec
        .get("sources")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        routes.push((vec![key("spec"), key("sources"), Step::Index(i)], s));
    }
    for (route, s) in routes {
        let Some(helm) = s.get("helm") else { continue };
        let chart = match (s.get_str("chart"), s.get_str("path")) {
            (Some(c), _) => ChartRef::Name(c.to_string()),
            (None, Some(p)) => ChartRef::Path(p.to_string()),
            _ => continue,
        };
        let values: Vec<Values> = ["values", "valuesObject"]
            .into_iter()
            .filter(|k| helm.get(k).is_some())
            .map(|k| {
                let mut r = route.clone();
                r.extend([key("helm"), key(k)]);
                embedded(r)
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        if let Some(chart) = chart_dir(dir, &chart, charts) {
            out.push(source(chart, values));
        }
    }
}

/// A Flux `chart.spec.chart`: a path (`./charts/app`) or a chart name.
fn flux_ref(chart: &str) -> ChartRef {
    if chart.starts_with("./") || chart.starts_with("../") || chart.contains('/') {
        ChartRef::Path(chart.to_string())
    } else {
        ChartRef::Name(chart.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_values_are_extracted_as_yaml_and_strings_as_they_are() {
        let text = "a: 1\n---\napiVersion: argoproj.io/v1alpha1\nspec:\n  sources:\n    - helm:\n        values: |\n          image: {repository: x}\n        valuesObject:\n          image:\n            repository: y\n";
        let string = Values {
            file: PathBuf::new(),
            embedded: Some((
                1,
                vec![
                    Step::Key("spec".into()),
                    Step::Key("sources".into()),
                    Step::Index(0),
                    Step::Key("helm".into()),
                    Step::Key("values".into()),
                ],
            )),
        };
        assert_eq!(string.extract(text).unwrap(), "image: {repository: x}\n");
        let mut object = string.clone();
        if let Some((_, r)) = object.embedded.as_mut() {
            *r.last_mut().unwrap() = Step::Key("valuesObject".into());
        }
        assert_eq!(object.extract(text).unwrap(), "image:\n  repository: y\n");
    }
}
