//! Render proof: every Helm and kustomize edit is proven by rendering before it is written.
//!
//! A re-parse proves that a YAML edit changed only the planned scalars, but Helm values and
//! kustomize `images:` entries mean something only to the chart or kustomization that
//! consumes them. So after planning and before writing, each chart whose values change is
//! rendered with `helm template` and each kustomization whose inputs change with
//! `kubectl kustomize` (or `kustomize build`), once as the tree stands and once with the
//! planned texts in a scratch copy (nothing is written to the user's tree before the proof
//! holds). The proof holds when the two renders have the same lines except `image:` lines
//! whose new value is the mapped original. Otherwise nothing of that chart or kustomization
//! is written and the rendered difference is reported.
//!
//! Inputs that cannot render offline (a chart with unfetched dependencies, a kustomization
//! with remote resources) and missing renderers leave the edits *unproven*: written, with
//! a note saying so. Units render in parallel (rayon), and only units whose inputs change.

pub mod helm;
pub mod kustomize;
pub(crate) mod kustomize_fields;
pub mod overrides;
mod scratch;

use scratch::copy_tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rayon::prelude::*;

use crate::mapping::{Decision, Mapper};
use crate::pipeline::locate::helm::ChartSources;
use crate::pipeline::plan::Direction;
use crate::reference::Reference;

pub use helm::{chart_for, ChartSource};

/// How kustomizations are rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kustomizer {
    /// `kubectl kustomize DIR`.
    Kubectl(PathBuf),
    /// Standalone `kustomize build DIR`.
    Standalone(PathBuf),
}

impl Kustomizer {
    /// Which form a program is, by its file name (`kubectl…` or anything else).
    pub fn from_program(path: PathBuf) -> Self {
        let is_kubectl = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("kubectl"));
        if is_kubectl {
            Kustomizer::Kubectl(path)
        } else {
            Kustomizer::Standalone(path)
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let (program, verb) = match self {
            Kustomizer::Kubectl(p) => (p, "kustomize"),
            Kustomizer::Standalone(p) => (p, "build"),
        };
        let mut cmd = Command::new(program);
        cmd.arg(verb).arg(dir);
        cmd
    }

    fn name(&self) -> &'static str {
        match self {
            Kustomizer::Kubectl(_) => "kubectl kustomize",
            Kustomizer::Standalone(_) => "kustomize build",
        }
    }
}

/// The renderers found (flags, then `render:` in harborize.yaml, then PATH).
#[derive(Debug, Clone, Default)]
pub struct ProofSettings {
    /// Run the proof at all (`--no-render-proof` / `render.proof: false` turn it off).
    pub enabled: bool,
    pub helm: Option<PathBuf>,
    pub kustomize: Option<Kustomizer>,
    /// `--rewrite-hints`: env values and arguments may change too, when mapped.
    pub hints: bool,
}

impl ProofSettings {
    /// Resolve the settings: an explicit program (flag over config) must exist; otherwise
    /// `helm`, then `kubectl` or `kustomize`, are looked up on PATH.
    pub fn resolve(
        no_proof: bool,
        helm_flag: Option<&Path>,
        kustomize_flag: Option<&Path>,
        config: &crate::config::RenderSection,
    ) -> Result<Self, String> {
        let enabled = !no_proof && config.proof.unwrap_or(true);
        if !enabled {
            return Ok(ProofSettings::default());
        }
        let explicit = |flag: Option<&Path>, key: &Option<PathBuf>, what: &str| match flag
            .map(Path::to_path_buf)
            .or_else(|| key.clone())
        {
            Some(p) => find_program(&p)
                .map(Some)
                .ok_or_else(|| format!("{what} {}: no such program", p.display())),
            None => Ok(None),
        };
        let helm = match explicit(helm_flag, &config.helm, "--helm (render.helm)")? {
            Some(p) => Some(p),
            None => find_program(Path::new("helm")),
        };
        let kustomize = match explicit(
            kustomize_flag,
            &config.kustomize,
            "--kustomize (render.kustomize)",
        )? {
            Some(p) => Some(Kustomizer::from_program(p)),
            None => find_program(Path::new("kubectl"))
                .map(Kustomizer::Kubectl)
                .or_else(|| find_program(Path::new("kustomize")).map(Kustomizer::Standalone)),
        };
        Ok(ProofSettings {
            enabled,
            helm,
            kustomize,
            hints: false,
        })
    }
}

/// A program by path (with a `/`) or by name on PATH.
fn find_program(p: &Path) -> Option<PathBuf> {
    let is_exe = |c: &Path| {
        use std::os::unix::fs::PermissionsExt;
        c.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if p.components().count() > 1 {
        return is_exe(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(p))
        .find(|c| is_exe(c))
}

/// What the proof decided for one chart or kustomization.
#[derive(Debug, Clone)]
pub enum Verdict {
    Proven,
    /// Written without a proof (the reason says why: renderer missing, not offline).
    Unproven(String),
    /// The render changes beyond the images: nothing of the unit is written.
    Refused {
        /// The first offending lines, for the per-file error.
        summary: String,
        /// A unified diff of the two renders.
        diff: String,
    },
}

/// One rendered unit (a chart with its values, or a kustomization) and its verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `helm template CHART` / `kubectl kustomize DIR`, as shown.
    pub label: String,
    /// The directory shown in notes (the chart or kustomization).
    pub dir: PathBuf,
    /// The changed files (canonical paths) this unit consumes.
    pub inputs: Vec<PathBuf>,
    pub verdict: Verdict,
}

/// Renderable units found under the paths of a run, known before any file is planned so
/// that the files they consume can be held back until the proof.
#[derive(Debug, Default)]
pub struct Index {
    kustomizations: Vec<kustomize::Closure>,
    /// Where the charts of override values are found (the mapper's chart sources).
    charts: ChartSources,
}

impl Index {
    /// Find the kustomizations under `paths` and what each includes (transitively).
    pub fn discover(paths: &[PathBuf]) -> Self {
        Index {
            kustomizations: kustomize::discover(paths),
            charts: ChartSources::default(),
        }
    }

    /// The index that also renders override values with their chart, found as locate
    /// finds it (`--charts DIR`, Argo CD `valueFiles` links under the run's paths).
    pub fn with_charts(mut self, charts: ChartSources) -> Self {
        self.charts = charts;
        self
    }

    /// Whether a file (canonical path) is consumed by a chart or kustomization.
    pub fn covers(&self, file: &Path) -> bool {
        chart_for(file).is_some()
            || self.kustomizations.iter().any(|k| k.contains(file))
            || !overrides::sources_for(file, &self.charts).is_empty()
    }
}

/// What the edits of a run may do to a rendered image.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Map it through Harbor (or back, with [`Direction::Revert`]).
    Map(Direction),
    /// `bump`: the image (upstream or Harbor form of `harbor_name`) becomes
    /// `harbor_name:tag[@digest]`.
    Bump {
        harbor_name: &'a str,
        tag: &'a str,
        digest: Option<&'a str>,
    },
}

enum Unit<'a> {
    Helm(ChartSource),
    Kustomize(&'a kustomize::Closure),
}

/// Render every unit whose inputs are among `changed` (canonical path → planned text),
/// before and after, in parallel.
pub fn prove(
    index: &Index,
    settings: &ProofSettings,
    changed: &BTreeMap<PathBuf, String>,
    mapper: &Mapper,
    direction: Direction,
) -> Vec<Outcome> {
    prove_change(index, settings, changed, mapper, Change::Map(direction))
}

/// [`prove`] for any [`Change`] (`bump` proves its new tags this way).
pub fn prove_change(
    index: &Index,
    settings: &ProofSettings,
    changed: &BTreeMap<PathBuf, String>,
    mapper: &Mapper,
    change: Change,
) -> Vec<Outcome> {
    let mut charts: BTreeMap<ChartSource, ()> = BTreeMap::new();
    for file in changed.keys() {
        let own = chart_for(file).into_iter();
        for c in own.chain(overrides::sources_for(file, &index.charts)) {
            charts.insert(c, ());
        }
    }
    let mut units: Vec<Unit> = charts.into_keys().map(Unit::Helm).collect();
    units.extend(
        index
            .kustomizations
            .iter()
            .filter(|k| changed.keys().any(|f| k.contains(f)))
            .map(Unit::Kustomize),
    );
    let expect = Expect {
        mapper,
        change,
        hints: settings.hints,
    };
    units
        .par_iter()
        .map(|u| match u {
            Unit::Helm(c) => helm::prove(c, settings.helm.as_deref(), changed, &expect),
            Unit::Kustomize(k) => {
                kustomize::prove(k, settings.kustomize.as_ref(), changed, &expect)
            }
        })
        .collect()
}

/// What an original image may become.
pub(crate) struct Expect<'a> {
    mapper: &'a Mapper,
    change: Change<'a>,
    hints: bool,
}

impl Expect<'_> {
    /// The reference `old` is mapped to, when the mapping changes it.
    fn mapped(&self, old: &Reference) -> Option<String> {
        let direction = match self.change {
            Change::Map(d) => d,
            Change::Bump {
                harbor_name,
                tag,
                digest,
            } => {
                // Only the bumped image, whatever form it had, gets the new reference.
                let same = self
                    .mapper
                    .cache_name(old)
                    .is_some_and(|k| k == harbor_name);
                let digest = digest.map(|d| format!("@{d}")).unwrap_or_default();
                return same.then(|| format!("{harbor_name}:{tag}{digest}"));
            }
        };
        let name = match direction {
            Direction::Forward => match self.mapper.decide(old) {
                Decision::Rewrite { name } => name,
                _ => return None,
            },
            Direction::Revert => self.mapper.revert_name(old)?,
        };
        Some(format!("{name}{}", old.suffix()))
    }

    /// `new` is `old` mapped (a digest added by pinning allowed).
    fn accepts(&self, old: &str, new: &str) -> bool {
        let (Ok(o), Ok(n)) = (Reference::parse(old), Reference::parse(new)) else {
            return false;
        };
        let Some(want) = self.mapped(&o).and_then(|w| Reference::parse(&w).ok()) else {
            return false;
        };
        want.name() == n.name()
            && want.tag() == n.tag()
            && (want.digest() == n.digest() || (want.digest().is_none() && n.digest().is_some()))
    }
}

/// A line cut in two: the part before the value, and the value token.
type Cut<'l> = (&'l str, &'l str);

/// Split a rendered line that changed into (key part, value token, rest) at the first
/// byte where the two lines differ, widened to whole tokens.
fn split_changed<'l>(old: &'l str, new: &'l str) -> Option<(Cut<'l>, Cut<'l>)> {
    let common = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let is_boundary = |b: u8| matches!(b, b' ' | b'"' | b'\'' | b'=');
    let start = old.as_bytes()[..common]
        .iter()
        .rposition(|&b| is_boundary(b))
        .map_or(0, |i| i + 1);
    let token_end = |s: &str| {
        s[start..]
            .bytes()
            .position(is_boundary)
            .map_or(s.len(), |i| start + i)
    };
    let (oe, ne) = (token_end(old), token_end(new));
    if old[oe..] != new[ne..] || old[..start] != new[..start] {
        return None;
    }
    Some((
        (&old[..start], &old[start..oe]),
        (&new[..start], &new[start..ne]),
    ))
}

/// Compare two renders: `Ok` when every changed line is an image line whose value became
/// its mapped original; `Err` with the offending (old, new) lines otherwise. Lines in
/// `unstable` (they differ between two renders of the same input) are not compared.
fn compare(
    old: &str,
    new: &str,
    unstable: &BTreeSet<usize>,
    expect: &Expect,
) -> Result<(), Vec<(String, String)>> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len() != b.len() {
        return Err(vec![(
            format!("{} lines", a.len()),
            format!("{} lines", b.len()),
        )]);
    }
    let bad: Vec<(String, String)> = a
        .iter()
        .zip(&b)
        .enumerate()
        .filter(|(i, (x, y))| x != y && !unstable.contains(i))
        .filter(|(_, (x, y))| !line_accepted(x, y, expect))
        .map(|(_, (x, y))| (x.to_string(), y.to_string()))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

fn line_accepted(old: &str, new: &str, expect: &Expect) -> bool {
    let Some(((key, o), (_, n))) = split_changed(old, new) else {
        return false;
    };
    let key = key.trim_end_matches(['"', '\'']).trim();
    let key = key.strip_prefix("- ").unwrap_or(key);
    // `image:` is where a rendered object runs an image; hints (env values, arguments)
    // may change only when the run rewrites hints.
    (key == "image:" || expect.hints) && expect.accepts(o, n)
}

/// Run one renderer; its stdout, or the reason it failed (first lines of stderr).
fn run(mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return String::from_utf8(out.stdout).map_err(|_| "the render is not UTF-8".into());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(err.lines().take(3).collect::<Vec<_>>().join(" / "))
}

/// Render before and after, then compare; a failed comparison is confirmed against a
/// second render of the original (lines that differ between two renders of the same
/// input, like generated certificates, are not part of the proof).
fn judge(old: impl Fn() -> Command, new: Command, expect: &Expect) -> Verdict {
    let before = match run(old()) {
        Ok(t) => t,
        Err(e) => return Verdict::Unproven(format!("the original does not render offline: {e}")),
    };
    let after = match run(new) {
        Ok(t) => t,
        Err(e) => {
            return Verdict::Refused {
                summary: format!("the edited inputs do not render: {e}"),
                diff: String::new(),
            }
        }
    };
    let mut result = compare(&before, &after, &BTreeSet::new(), expect);
    if result.is_err() {
        if let Ok(again) = run(old()) {
            if again != before {
                let unstable: BTreeSet<usize> = before
                    .lines()
                    .zip(again.lines())
                    .enumerate()
                    .filter(|(_, (x, y))| x != y)
                    .map(|(i, _)| i)
                    .collect();
                result = compare(&before, &after, &unstable, expect);
            }
        }
    }
    match result {
        Ok(()) => Verdict::Proven,
        Err(bad) => {
            let summary = bad
                .iter()
                .take(3)
                .map(|(o, n)| format!("`{}` became `{}`", o.trim(), n.trim()))
                .collect::<Vec<_>>()
                .join("; ");
            let diff = similar::TextDiff::from_lines(&before, &after)
                .unified_diff()
                .context_radius(2)
                .header("rendered before", "rendered after")
                .to_string();
            Verdict::Refused { summary, diff }
        }
    }
}

/// Put the planned texts of the changed files under `from` at their place under `to`.
fn overlay_changed(
    from: &Path,
    to: &Path,
    changed: &BTreeMap<PathBuf, String>,
) -> std::io::Result<()> {
    for (file, text) in changed {
        if let Ok(rel) = file.strip_prefix(from) {
            let dst = to.join(rel);
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(dst, text)?;
        }
    }
    Ok(())
}

/// A path as shown: relative to the working directory when under it.
pub fn shown(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let cwd = cwd.and_then(|c| std::fs::canonicalize(c).ok());
    match cwd.as_deref().and_then(|c| p.strip_prefix(c).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".into(),
        Some(rel) => rel.display().to_string(),
        None => p.display().to_string(),
    }
}

/// Changed files a unit consumes.
fn inputs_of(changed: &BTreeMap<PathBuf, String>, covers: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    changed.keys().filter(|f| covers(f)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn expect_with<T>(f: impl FnOnce(&Expect) -> T) -> T {
        let config = Config::from_user(Default::default(), None).unwrap();
        let mapper = Mapper::new(&config, "harbor.example.com");
        f(&Expect {
            mapper: &mapper,
            change: Change::Map(Direction::Forward),
            hints: false,
        })
    }

    #[test]
    fn only_image_lines_mapped_to_their_original_pass() {
        expect_with(|e| {
            let ok = compare(
                "a: 1\n  - image: nginx:1.27\n    image: \"ghcr.io/org/app:1.0\"\n",
                "a: 1\n  - image: harbor.example.com/docker-hub/library/nginx:1.27\n    image: \"harbor.example.com/ghcr/org/app:1.0\"\n",
                &BTreeSet::new(),
                e,
            );
            assert_eq!(ok, Ok(()));
            // Another tag, another line, or an image value outside `image:` fail.
            for (old, new) in [
                (
                    "image: nginx:1.27",
                    "image: harbor.example.com/docker-hub/library/nginx:1.28",
                ),
                (
                    "name: nginx",
                    "name: harbor.example.com/docker-hub/library/nginx",
                ),
                (
                    "image: nginx:1.27",
                    "image: harbor.example.com/docker-hub/nginx:1.27",
                ),
            ] {
                assert!(compare(old, new, &BTreeSet::new(), e).is_err(), "{new}");
            }
            assert!(compare("a\n", "a\nb\n", &BTreeSet::new(), e).is_err());
        });
    }
}
