//! Kustomizations: what each one includes (transitively), and rendering it before and
//! after from a scratch copy of exactly those inputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::fsio::count::Purpose;

use super::{copy_tree, inputs_of, judge, overlay_changed, Expect, Kustomizer, Outcome, Verdict};

/// The file names kustomize reads a kustomization from.
pub(crate) const FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One kustomization and the local inputs it includes, transitively (canonical paths).
#[derive(Debug, Clone)]
pub struct Closure {
    pub dir: PathBuf,
    /// Directories read whole: the kustomization's own and every local one it includes.
    pub dirs: BTreeSet<PathBuf>,
    /// Single files outside those directories (`../common/patch.yaml`).
    pub files: BTreeSet<PathBuf>,
    /// A remote resource: the render would need the network.
    pub remote: Option<String>,
    /// The `image:` values written in the kustomization files themselves (inline patches).
    pub written_images: BTreeSet<String>,
}

impl Closure {
    /// Whether the kustomization consumes `file` (canonical).
    pub fn contains(&self, file: &Path) -> bool {
        self.files.contains(file) || self.dirs.iter().any(|d| file.starts_with(d))
    }
}

/// The kustomization files read in one run, one [`Step`] per directory: overlays share
/// their bases, and resolving each named path cost more than the rest of `check` on a
/// repository of 3,000 kustomizations. Owned by the run (a plan's strategy, one render
/// proof), so nothing outlives it and a later run reads the files again.
pub struct Steps {
    read: PathMemo<Option<Arc<Step>>>,
    /// What the files are read for ([`crate::fsio::count`]).
    purpose: Purpose,
}

impl Default for Steps {
    /// The kustomizations a kustomization's `images:` entries read.
    fn default() -> Self {
        Steps::read_for(Purpose::Context)
    }
}

/// The kustomizations in or under `paths` (a path may also be a kustomization file).
pub fn discover(paths: &[PathBuf]) -> Vec<Closure> {
    let dirs: BTreeSet<PathBuf> = paths
        .iter()
        .flat_map(|p| kustomization_files(p))
        .filter_map(|f| f.parent().and_then(dunce))
        .collect();
    // A component renders only as part of what includes it (whose closure holds it).
    let steps = Steps::read_for(Purpose::Render);
    dirs.into_iter()
        .filter(|d| !is_component(d))
        .map(|d| closure(&d, &steps))
        .collect()
}

/// The kustomization files under `root` (a file is itself when it is one), sorted: those
/// a run's walk reads ([`crate::pipeline::walk::search`]), so every kustomization whose
/// files the plan edits is found.
pub(crate) fn kustomization_files(root: &Path) -> Vec<PathBuf> {
    crate::pipeline::walk::search(root, |p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| FILE_NAMES.contains(&n))
    })
}

fn is_component(dir: &Path) -> bool {
    kustomization_file(dir)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&t).ok())
        .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Component"))
}

fn dunce(p: &Path) -> Option<PathBuf> {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    std::fs::canonicalize(p).ok()
}

/// `rel` (as a kustomization names it) from the canonical directory `dir`, canonical too.
/// `..` of a canonical path is its real parent, so only the components `rel` adds are
/// checked (one `lstat` each); a symlink among them, or an absolute `rel`, takes the full
/// `canonicalize` (a `readlink` per component of the whole path, which on 3,000
/// kustomizations cost more than planning them).
pub(crate) fn resolve(dir: &Path, rel: &str) -> Option<PathBuf> {
    resolve_typed(dir, rel).map(|(p, _)| p)
}

/// Canonical paths of directories, each resolved once per run from its parent's: the
/// files of one directory, and sibling overlays, share their parents, and `canonicalize`
/// costs a `readlink` per component of the whole path (on the 10,000-file benchmark
/// repository a bump canonicalized ~9,000 paths). Owned by a run, like [`Steps`].
/// Each directory's `OnceLock` is computed from its parent's, a different path, strictly
/// upward: the [`PathMemo`] is never re-entered for the path being computed.
#[derive(Default)]
pub struct CanonicalDirs(PathMemo<Option<PathBuf>>);

impl CanonicalDirs {
    /// `dir` canonical: its parent's (remembered), then one `lstat` for its own name.
    pub fn dir(&self, dir: &Path) -> Option<PathBuf> {
        self.0.get_or_compute(dir, || self.path(dir))
    }

    /// `path` canonical (a file or a directory): its parent's, then one `lstat`.
    pub fn path(&self, path: &Path) -> Option<PathBuf> {
        match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                self.dir(parent).and_then(|p| resolve(&p, name))
            }
            _ => dunce(path),
        }
    }
}

/// [`resolve`], with the type of what it names (symlinks followed): the last `lstat`'s
/// when it told, else one `stat` (after a trailing `..` or a symlink). `None` when it does
/// not exist.
pub(crate) fn resolve_with_type(dir: &Path, rel: &str) -> Option<(PathBuf, std::fs::FileType)> {
    let (p, file_type) = resolve_typed(dir, rel)?;
    let file_type = match file_type {
        Some(t) => t,
        None => std::fs::metadata(&p).ok()?.file_type(),
    };
    Some((p, file_type))
}

/// [`resolve`], with the type of what it names when the last `lstat` told it (not after
/// a trailing `..` or a symlink).
fn resolve_typed(dir: &Path, rel: &str) -> Option<(PathBuf, Option<std::fs::FileType>)> {
    use std::path::Component;
    let full = || dunce(&dir.join(rel)).map(|p| (p, None));
    if !dir.is_absolute() {
        return full();
    }
    let mut out = dir.to_path_buf();
    let mut last = None;
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return full();
                }
                last = None;
            }
            Component::Normal(name) => {
                out.push(name);
                let t = std::fs::symlink_metadata(&out).ok()?.file_type();
                if t.is_symlink() {
                    return full();
                }
                last = Some(t);
            }
            Component::RootDir | Component::Prefix(_) => return full(),
        }
    }
    Some((out, last))
}

fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES.iter().map(|n| dir.join(n)).find(|f| f.is_file())
}

/// Everything `dir`'s kustomization includes, following local directories (each
/// kustomization read once per `steps`).
pub fn closure(dir: &Path, steps: &Steps) -> Closure {
    closure_with(dir, None, steps)
}

/// [`closure`], with the text of `dir`'s own kustomization when the caller has read it
/// already (planning it): not read again, and not remembered in `steps` (an overlay is
/// rarely included by another, so remembering each would only hold memory).
pub fn closure_with(dir: &Path, text: Option<&str>, steps: &Steps) -> Closure {
    let mut c = Closure {
        dir: dir.to_path_buf(),
        dirs: BTreeSet::new(),
        files: BTreeSet::new(),
        remote: None,
        written_images: BTreeSet::new(),
    };
    let root = text.and_then(|t| read_step(dir, t)).map(Arc::new);
    visit(dir, root, &mut c, steps, 0);
    // A file inside a directory read whole needs no copy of its own.
    let dirs = c.dirs.clone();
    c.files.retain(|f| !dirs.iter().any(|d| f.starts_with(d)));
    c
}

fn visit(dir: &Path, step: Option<Arc<Step>>, c: &mut Closure, steps: &Steps, depth: usize) {
    if depth > 64 || !c.dirs.insert(dir.to_path_buf()) {
        return;
    }
    let Some(step) = step.or_else(|| steps.get(dir)) else {
        return;
    };
    if let Some(r) = &step.remote {
        c.remote.get_or_insert_with(|| r.clone());
    }
    c.written_images.extend(step.images.iter().cloned());
    for (p, kind) in &step.inputs {
        match kind {
            Input::Kustomization => visit(p, None, c, steps, depth + 1),
            Input::Dir => {
                c.dirs.insert(p.clone());
            }
            Input::File => {
                c.files.insert(p.clone());
            }
        }
    }
}

/// What one kustomization file names: its first remote resource and its local inputs.
struct Step {
    remote: Option<String>,
    inputs: Vec<(PathBuf, Input)>,
    /// The file's own `image:` values (see [`written_images`]).
    images: Vec<String>,
}

#[derive(Clone, Copy)]
enum Input {
    Kustomization,
    Dir,
    File,
}

/// A run-scoped memory of one value per path whose computation reads files: computed
/// exactly once however many threads ask at the same time (the others wait for the
/// first), so a base shared by overlays planned on two cores is read once, as
/// [`crate::fsio::count`] holds it to. The computation may ask the memory for other
/// paths (a directory's canonical path asks for its parent's) but never for the same
/// path again: a `OnceLock` must not be re-entered.
pub(crate) struct PathMemo<V>(Mutex<HashMap<PathBuf, Arc<OnceLock<V>>>>);

impl<V> Default for PathMemo<V> {
    fn default() -> Self {
        PathMemo(Mutex::default())
    }
}

impl<V: Clone> PathMemo<V> {
    /// The value for `path`: `compute()` on the first call for it, the same value after.
    pub(crate) fn get_or_compute(&self, path: &Path, compute: impl FnOnce() -> V) -> V {
        let cell = {
            let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match memo.get(path) {
                Some(cell) => Arc::clone(cell),
                None => Arc::clone(memo.entry(path.to_path_buf()).or_default()),
            }
        };
        // The map's lock is not held here: other paths go on while this one is computed.
        cell.get_or_init(compute).clone()
    }
}

impl Steps {
    /// Kustomizations read for `purpose`.
    pub fn read_for(purpose: Purpose) -> Self {
        Steps {
            read: PathMemo::default(),
            purpose,
        }
    }

    /// The [`Step`] of the kustomization in `dir`, read on the first call for `dir`.
    fn get(&self, dir: &Path) -> Option<Arc<Step>> {
        self.read.get_or_compute(dir, || {
            kustomization_file(dir)
                .and_then(|f| crate::fsio::read_text(&f, self.purpose).ok())
                .and_then(|text| read_step(dir, &text))
                .map(Arc::new)
        })
    }
}

/// What the kustomization in `dir`, whose text is `text`, names.
fn read_step(dir: &Path, text: &str) -> Option<Step> {
    let named = super::kustomize_fields::named(text)?;
    let mut step = Step {
        remote: named
            .listed
            .into_iter()
            .find(|s| crate::pipeline::locate::is_remote_resource(s)),
        inputs: Vec::new(),
        images: written_images(text),
    };
    // Every string that names a local path (resources, patches, generator files,
    // components, …) is an input; directories with a kustomization are followed.
    for s in named.strings.iter().map(String::as_str) {
        let s = s.rsplit('=').next().unwrap_or(s);
        if s.is_empty()
            || s.len() > 4096
            || s.contains('\n')
            || crate::pipeline::locate::is_remote_resource(s)
        {
            continue;
        }
        let Some((p, file_type)) = resolve_with_type(dir, s) else {
            continue;
        };
        if file_type.is_dir() {
            let kind = if kustomization_file(&p).is_some() {
                Input::Kustomization
            } else {
                Input::Dir
            };
            step.inputs.push((p, kind));
        } else if file_type.is_file() {
            step.inputs.push((p, Input::File));
        }
    }
    Some(step)
}

/// The `image:` values written in a YAML text, by a line scan (as kustomize's image
/// transformer sees them: the value as written, quotes and comment off).
pub(crate) fn written_images(text: &str) -> Vec<String> {
    let mut images = Vec::new();
    for at in memchr::memmem::find_iter(text.as_bytes(), b"image:") {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let t = text[line_start..line_end].trim_start();
        let t = t.strip_prefix("- ").map_or(t, str::trim_start);
        if let Some(v) = t.strip_prefix("image:") {
            let v = v.split(" #").next().unwrap_or(v).trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            if !v.is_empty() {
                images.push(v.to_string());
            }
        }
    }
    images
}

/// The deepest directory holding every path.
fn common_root<'p>(paths: impl Iterator<Item = &'p PathBuf>) -> PathBuf {
    let mut root: Option<PathBuf> = None;
    for p in paths {
        root = Some(match root {
            None => p.clone(),
            Some(r) => r
                .components()
                .zip(p.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    root.unwrap_or_default()
}

/// Render the kustomization as it stands and from a scratch copy with the planned texts.
pub(super) fn prove(
    k: &Closure,
    kustomizer: Option<&Kustomizer>,
    changed: &BTreeMap<PathBuf, String>,
    expect: &Expect,
) -> Outcome {
    let inputs = inputs_of(changed, |f| k.contains(f));
    let label = match kustomizer {
        Some(kz) => format!("{} {}", kz.name(), super::shown(&k.dir)),
        None => format!("kustomize {}", super::shown(&k.dir)),
    };
    let verdict = match (kustomizer, &k.remote) {
        (None, _) => Verdict::Unproven(
            "kubectl/kustomize not found (install one or pass --kustomize PATH)".into(),
        ),
        (Some(_), Some(r)) => Verdict::Unproven(format!(
            "remote resource {r} (the proof renders offline only)"
        )),
        (Some(kz), None) => render_both(k, kz, changed, expect),
    };
    Outcome {
        label,
        dir: k.dir.clone(),
        inputs,
        verdict,
    }
}

fn render_both(
    k: &Closure,
    kz: &Kustomizer,
    changed: &BTreeMap<PathBuf, String>,
    expect: &Expect,
) -> Verdict {
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Verdict::Unproven(format!("no scratch directory: {e}")),
    };
    let root = common_root(k.dirs.iter().chain(&k.files));
    let place = |p: &Path| scratch.path().join(p.strip_prefix(&root).unwrap_or(p));
    let copied = (|| -> std::io::Result<()> {
        // Outermost directories only: nested ones come with them.
        for d in k
            .dirs
            .iter()
            .filter(|d| !k.dirs.iter().any(|o| o != *d && d.starts_with(o)))
        {
            copy_tree(d, &place(d), &root)?;
        }
        for f in &k.files {
            if let Some(parent) = place(f).parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(f, place(f))?;
        }
        let relevant: BTreeMap<PathBuf, String> = changed
            .iter()
            .filter(|(f, _)| k.contains(f))
            .map(|(f, t)| (f.clone(), t.clone()))
            .collect();
        overlay_changed(&root, scratch.path(), &relevant)
    })();
    if let Err(e) = copied {
        return Verdict::Unproven(format!(
            "cannot copy the inputs to a scratch directory: {e}"
        ));
    }
    judge(|| kz.command(&k.dir), kz.command(&place(&k.dir)), expect)
}

#[cfg(test)]
mod tests {
    use super::{resolve, PathMemo};

    /// Threads that ask for the same path at once get one computation between them (the
    /// others wait for it), and every one gets its value.
    #[test]
    fn a_path_memo_computes_each_path_once_however_many_threads_ask() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Barrier;
        let memo: PathMemo<usize> = PathMemo::default();
        let computed = AtomicUsize::new(0);
        let threads = 8;
        let start = Barrier::new(threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    start.wait();
                    let v = memo.get_or_compute(std::path::Path::new("base"), || {
                        // Long enough that every thread asks while the first computes.
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        computed.fetch_add(1, Ordering::SeqCst) + 41
                    });
                    assert_eq!(v, 41);
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        let other = memo.get_or_compute(std::path::Path::new("other"), || 7);
        assert_eq!((other, computed.load(Ordering::SeqCst)), (7, 1));
    }

    #[test]
    fn resolve_is_canonicalize_without_a_readlink_per_component() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join("apps/a/overlays/dev")).unwrap();
        std::fs::create_dir_all(root.join("apps/a/base")).unwrap();
        std::fs::create_dir_all(root.join("shared/real")).unwrap();
        std::fs::write(root.join("apps/a/base/d.yaml"), "").unwrap();
        std::os::unix::fs::symlink(root.join("shared/real"), root.join("apps/a/link")).unwrap();
        let dev = root.join("apps/a/overlays/dev");
        for rel in [
            "../../base",
            "../../base/d.yaml",
            "./../../base/",
            "../../link",
            "missing",
        ] {
            assert_eq!(
                resolve(&dev, rel),
                std::fs::canonicalize(dev.join(rel)).ok(),
                "{rel}"
            );
        }
        // Through a symlink and back up: the real parent, as canonicalize gives it.
        assert_eq!(
            resolve(&dev, "../../link/.."),
            std::fs::canonicalize(dev.join("../../link/..")).ok()
        );
    }
}
