//! Where a bump may write: the environments of a GitOps repository.
//!
//! App CI bumps one image; a repository usually deploys it to several environments (kustomize
//! overlays of one base, one Argo CD Application or Flux HelmRelease each, one Helm values
//! file each), and only one of them is meant to follow every build. Bumping "every
//! reference" would propose each build for production, so a bump whose references span more
//! than one environment, with neither a `bump:` rule nor a PATH narrowing it, refuses and
//! lists the places (and how to select each); `--all` bumps them all on purpose. A kustomize
//! base whose tag every including overlay overrides is left alone (the overlays decide what
//! runs) unless the base itself is what was asked for.
//!
//! The planner plans every file first; [`decide`] then picks, from the planned files that
//! reference the image, the ones to write. Flux `$imagepolicy` markers act per field
//! ([`crate::bump::flux`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::bump::envs::{classify, Place, PlaceKind, Repo};
/// A `bump:` rule of harborize.yaml (a config type, defined with the config).
pub use crate::config::BumpRule;

/// What a bump asked for, besides the image.
pub struct Request<'a> {
    /// The repository root (paths of rules and of the listing are relative to it).
    pub root: &'a Path,
    /// The image as given, and the tag (for the commands the refusal suggests).
    pub image: &'a str,
    pub tag: &'a str,
    /// The image's names (as given, normalized, upstream, Harbor) for rules' globs.
    pub forms: Vec<String>,
    pub rules: &'a [BumpRule],
    /// `--all`.
    pub all: bool,
    /// The PATH arguments, canonical (a base inside one of them... is not targeted; a PATH
    /// inside a base is).
    pub paths: Vec<PathBuf>,
    /// Whether a kustomize `images:` name or newName is this image.
    pub is_image: &'a dyn Fn(&str) -> bool,
    /// The repository's kustomization graph (built only when the files span more than one
    /// place: [`Repo::scan`], or from what the plan read).
    pub repo: &'a dyn Fn() -> Repo,
}

/// Which planned files to write.
#[derive(Debug, Default)]
pub struct Decision {
    /// Canonical paths of the files to keep (every other file is left alone).
    pub keep: BTreeSet<PathBuf>,
    /// Lines for the user: what was left alone and why, and what selected the rest.
    pub notes: Vec<String>,
}

/// Pick the files to bump among `candidates` (files that reference the image; the line
/// numbers of the references). `Err` is a refusal or a rule that cannot be used: nothing
/// may be written.
pub fn decide(req: &Request, candidates: &[(PathBuf, Vec<usize>)]) -> Result<Decision, String> {
    let mut d = Decision::default();
    let mut files: Vec<(PathBuf, Vec<usize>, Option<PathBuf>)> = Vec::new();
    let rule = match req
        .rules
        .iter()
        .find(|r| r.matches_image(&req.forms).unwrap_or(false))
    {
        Some(r) => Some(r),
        None => {
            // An invalid glob is an error even when it would not match.
            for r in req.rules {
                r.matches_image(&req.forms)?;
            }
            None
        }
    };
    for (path, lines) in candidates {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        let rel = abs.strip_prefix(req.root).unwrap_or(&abs).to_path_buf();
        let selected_by = match rule {
            Some(r) => match r.selects(&rel)? {
                Some(p) => Some(req.root.join(p)),
                None => {
                    d.notes.push(format!(
                        "left alone: {} (not in the paths of the bump rule for {})",
                        rel.display(),
                        r.image
                    ));
                    continue;
                }
            },
            None => None,
        };
        files.push((abs, lines.clone(), selected_by));
    }
    if let Some(r) = rule {
        if files.is_empty() {
            return Err(format!(
                "the bump rule for {} in harborize.yaml selects {}, but no reference to {} is there",
                r.image,
                r.paths.join(", "),
                req.image
            ));
        }
    }
    if rule.is_none() && files.len() < 2 {
        // One file cannot span environments, nor be a base its overlays override (they
        // would reference the image too): no need to read the kustomizations.
        d.keep.extend(files.into_iter().map(|(abs, _, _)| abs));
        return Ok(d);
    }
    let repo = (req.repo)();
    let mut places: Vec<(Place, PathBuf)> = Vec::new();
    for (abs, lines, selected_by) in files {
        let place = classify(&repo, &abs, &lines, req.is_image);
        if let Some(p) = &place {
            if let PlaceKind::Base {
                overlays,
                overridden: true,
            } = &p.kind
            {
                let targeted = selected_by
                    .iter()
                    .chain(&req.paths)
                    .any(|t| t.starts_with(&p.dir));
                if !targeted {
                    d.notes.push(format!(
                        "left alone (overridden): {}: every overlay including {} ({}) sets its own tag in kustomize images:",
                        shown(req.root, &abs),
                        shown(req.root, &p.dir),
                        overlays.iter().map(|o| shown(req.root, o)).collect::<Vec<_>>().join(", ")
                    ));
                    continue;
                }
            }
            places.push((p.clone(), abs.clone()));
        }
        d.keep.insert(abs);
    }
    if rule.is_none() && !req.all {
        refuse_if_several(req, &repo, &places)?;
    }
    if let Some(r) = rule {
        d.notes
            .push(format!("bump rule for {}: {}", r.image, r.paths.join(", ")));
    }
    Ok(d)
}

/// Refuse when two places of one family (overlays sharing a base, Applications, values
/// files side by side) reference the image.
fn refuse_if_several(
    req: &Request,
    repo: &Repo,
    places: &[(Place, PathBuf)],
) -> Result<(), String> {
    let mut unique: BTreeMap<PathBuf, &Place> = BTreeMap::new();
    for (p, _) in places {
        unique.entry(p.select.clone()).or_insert(p);
    }
    let list: Vec<&Place> = unique.values().copied().collect();
    let several = (0..list.len()).any(|i| (0..i).any(|j| repo.related(list[i], list[j])));
    if !several {
        return Ok(());
    }
    let mut msg = format!(
        "{} is referenced in more than one environment and neither a bump rule nor a PATH narrows the bump; nothing was changed. The places, and what selects each:\n",
        req.image
    );
    const SHOWN: usize = 30;
    for p in list.iter().take(SHOWN) {
        let rel = p
            .select
            .strip_prefix(req.root)
            .unwrap_or(&p.select)
            .display()
            .to_string();
        let at = shown(req.root, &p.select);
        msg.push_str(&format!(
            "  - {at} ({})\n      PATH: harborize bump --image {} --tag {} {at}\n      rule: bump: [{{image: {}, paths: [{rel}]}}]\n",
            p.describe(req.root),
            req.image,
            req.tag,
            req.image,
        ));
    }
    if list.len() > SHOWN {
        msg.push_str(&format!("  ... and {} more places\n", list.len() - SHOWN));
    }
    msg.push_str("Pass --all to bump every one of them on purpose.");
    Err(msg)
}

/// A path as the user can type it: relative to the working directory when inside it.
pub fn shown(root: &Path, p: &Path) -> String {
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| c.canonicalize().ok());
    match cwd.as_deref().and_then(|c| p.strip_prefix(c).ok()) {
        Some(r) if r.as_os_str().is_empty() => ".".into(),
        Some(r) => r.display().to_string(),
        None => p
            .strip_prefix(root)
            .map_or_else(|_| p.display().to_string(), |r| r.display().to_string()),
    }
}

/// The repository root of `start`: the closest directory above it with `.git`, else the
/// directory of the config file, else `start` itself (canonical).
pub fn repository_root(start: &Path, config: Option<&Path>) -> PathBuf {
    let abs = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    let dir = if abs.is_file() {
        abs.parent().map(Path::to_path_buf).unwrap_or(abs.clone())
    } else {
        abs.clone()
    };
    if let Some(git) = crate::repo_path::git_root(&dir) {
        return git;
    }
    if let Some(c) = config.and_then(|c| c.canonicalize().ok()) {
        if let Some(parent) = c.parent() {
            return parent.to_path_buf();
        }
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(image: &str, paths: &[&str]) -> BumpRule {
        BumpRule {
            image: image.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_rule_selects_a_directory_and_everything_below_it() {
        let r = rule(
            "ghcr.io/acme/*",
            &["apps/*/overlays/dev", "values/dev.yaml"],
        );
        assert!(r.matches_image(&["ghcr.io/acme/web".into()]).unwrap());
        assert!(!r.matches_image(&["docker.io/library/web".into()]).unwrap());
        let sel = r
            .selects(Path::new("apps/web/overlays/dev/kustomization.yaml"))
            .unwrap();
        assert_eq!(sel, Some(PathBuf::from("apps/web/overlays/dev")));
        assert_eq!(
            r.selects(Path::new("apps/web/overlays/prod/k.yaml"))
                .unwrap(),
            None
        );
        assert_eq!(
            r.selects(Path::new("values/dev.yaml")).unwrap(),
            Some(PathBuf::from("values/dev.yaml"))
        );
        assert!(rule("[", &[]).matches_image(&[]).is_err());
    }
}
