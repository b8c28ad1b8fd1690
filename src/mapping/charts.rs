//! Where Helm charts are known from, besides the repository itself: part of where a
//! reference goes (an override's image map composes as its chart says), so the mapper
//! carries it to every file's run. The `valueFiles` link index is filled by the Helm
//! locator of the pipeline, which has the walker and the parser.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::ChartConvention;

/// What the enclosing document says about its chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRef {
    /// A chart directory in the repository (Flux `chart: ./path`, Argo CD `path:`).
    Path(String),
    /// A chart name (Flux `chart: redis`, Argo CD `chart: redis`).
    Name(String),
}

/// Where charts are known from, besides the repository itself.
#[derive(Debug, Clone, Default)]
pub struct ChartSources {
    /// `--charts DIR`: unpacked charts (`helm pull --untar`), found by chart name.
    pub charts_dir: Option<PathBuf>,
    /// `helm.charts` in harborize.yaml.
    pub conventions: BTreeMap<String, ChartConvention>,
    /// The paths of the run, searched for Argo CD `valueFiles` links.
    pub roots: Vec<PathBuf>,
    /// Values file → the chart of the Application that lists it (built on first need,
    /// once: clones share it, as the render proof's copy of the mapper's sources does).
    pub(crate) links: std::sync::Arc<std::sync::OnceLock<BTreeMap<PathBuf, ChartRef>>>,
}

impl ChartSources {
    /// The run's paths to search for `valueFiles` links; an index built for other paths
    /// is dropped.
    pub fn set_roots(&mut self, roots: Vec<PathBuf>) {
        self.roots = roots;
        self.links = Default::default();
    }

    /// Sources with the conventions of harborize.yaml (no `--charts`, no roots yet).
    pub fn new(conventions: BTreeMap<String, ChartConvention>) -> Self {
        ChartSources {
            conventions,
            ..Default::default()
        }
    }
}
