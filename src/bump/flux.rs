//! Flux image automation markers (`# {"$imagepolicy": "flux-system:web"}` after a field):
//! a repository that marks a field says which image policy owns it, so the marker decides
//! whether a bump of an image may write there. A policy names the image when its
//! ImagePolicy's ImageRepository (found anywhere in the repository) has that image; a
//! policy whose objects are not in the repository names the image when its name is the
//! image's last path component (Flux's own examples: policy `podinfo` for
//! `ghcr.io/stefanprodan/podinfo`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml_ng::Value;

/// What the repository says about Flux image policies (empty: none found or not looked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluxPolicies {
    /// Policies (`ns:name` and `name`) whose ImageRepository is the image.
    pub named: BTreeSet<String>,
    /// Every policy found (`ns:name` and `name`).
    pub known: BTreeSet<String>,
}

/// The policy of a Flux marker on `line` (`flux-system:web` of
/// `# {"$imagepolicy": "flux-system:web:tag"}`).
pub fn marker(line: &str) -> Option<String> {
    let at = line.find("\"$imagepolicy\"")?;
    let rest = line[at + "\"$imagepolicy\"".len()..]
        .trim_start()
        .strip_prefix(':')?;
    let value = rest.trim_start().strip_prefix('"')?;
    let value = &value[..value.find('"')?];
    let mut parts = value.split(':');
    let first = parts.next()?.trim();
    Some(match parts.next() {
        Some(name) if !name.trim().is_empty() => format!("{first}:{}", name.trim()),
        _ => first.to_string(),
    })
}

/// Whether a marker's policy names the image whose last path components are `last`.
fn names_image(policy: &str, flux: &FluxPolicies, last: &[&str]) -> bool {
    let name = policy.rsplit(':').next().unwrap_or(policy);
    if flux.known.contains(policy) || flux.known.contains(name) {
        return flux.named.contains(policy) || flux.named.contains(name);
    }
    last.contains(&name)
}

/// The policies of the Flux markers on the lines holding byte offsets `starts` of `text`
/// (the lines a field's edits touch).
pub fn markers_at(text: &str, starts: impl Iterator<Item = usize>) -> Vec<String> {
    starts
        .filter_map(|at| line_at(text, at))
        .filter_map(marker)
        .collect()
}

/// The markers' say on a field (`policies`: [`markers_at`]): `None` without a marker,
/// `Ok(note)` when their policies name the image, `Err(why)` when one does not.
pub fn decide(
    policies: &[String],
    flux: &FluxPolicies,
    last: &[&str],
) -> Option<Result<String, String>> {
    let mut seen = None;
    for policy in policies {
        if !names_image(policy, flux, last) {
            return Some(Err(format!(
                "left alone: its Flux marker names image policy {policy}, which is not this image"
            )));
        }
        seen = Some(policy);
    }
    seen.map(|p| Ok(format!("Flux marker {p} names this image")))
}

fn line_at(text: &str, at: usize) -> Option<&str> {
    if at > text.len() || !text.is_char_boundary(at) {
        return None;
    }
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    Some(&text[start..end])
}

/// The Flux image automation objects of one file: each ImageRepository's image, each
/// ImagePolicy's repository, by (namespace, name).
#[derive(Debug, Clone, Default)]
pub struct Objects {
    repos: Vec<((String, String), String)>,
    policies: Vec<((String, String), (String, String))>,
}

/// The objects of `text`; `None` when it names neither kind (nothing is parsed then).
pub fn objects(text: &str) -> Option<Objects> {
    if !text.contains("ImagePolicy") && !text.contains("ImageRepository") {
        return None;
    }
    let mut out = Objects::default();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let Ok(v) = <Value as serde::Deserialize>::deserialize(doc) else {
            continue;
        };
        let s = |v: &Value, path: &[&str]| -> String {
            let mut cur = v;
            for k in path {
                match cur.get(*k) {
                    Some(n) => cur = n,
                    None => return String::new(),
                }
            }
            cur.as_str().unwrap_or_default().to_string()
        };
        let ns = s(&v, &["metadata", "namespace"]);
        let id = (ns.clone(), s(&v, &["metadata", "name"]));
        match s(&v, &["kind"]).as_str() {
            "ImageRepository" => out.repos.push((id, s(&v, &["spec", "image"]))),
            "ImagePolicy" => {
                let rns = s(&v, &["spec", "imageRepositoryRef", "namespace"]);
                let rname = s(&v, &["spec", "imageRepositoryRef", "name"]);
                out.policies
                    .push((id, (if rns.is_empty() { ns } else { rns }, rname)));
            }
            _ => {}
        }
    }
    Some(out)
}

/// Read the ImagePolicy and ImageRepository objects under `root` (files that mention
/// `ImagePolicy` or `ImageRepository`): which policies have the image (`is_image`).
pub fn scan(root: &Path, is_image: &dyn Fn(&str) -> bool) -> FluxPolicies {
    scan_with(root, &[], &[], is_image)
}

/// [`scan`], with the objects of the files the plan of `planned` (canonical paths) read
/// already (`known`, by canonical file): manifests under `planned` are not read again.
pub fn scan_with(
    root: &Path,
    planned: &[std::path::PathBuf],
    known: &[(std::path::PathBuf, Objects)],
    is_image: &dyn Fn(&str) -> bool,
) -> FluxPolicies {
    let mut all: Vec<Objects> = known
        .iter()
        .filter(|(file, _)| crate::bump::strategy::listed(root, file))
        .map(|(_, o)| o.clone())
        .collect();
    if crate::bump::strategy::planned_everything(planned, root) {
        return resolve(&all, is_image);
    }
    let is_yaml = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
    };
    for p in crate::pipeline::walk::search(root, is_yaml) {
        if crate::bump::strategy::read_by_plan(planned, &p) {
            continue;
        }
        let Ok(text) = crate::fsio::read_text(&p, crate::fsio::count::Purpose::Scan) else {
            continue;
        };
        all.extend(objects(&text));
    }
    resolve(&all, is_image)
}

/// Which policies have the image, from every file's objects.
fn resolve(all: &[Objects], is_image: &dyn Fn(&str) -> bool) -> FluxPolicies {
    // (namespace, name) → image of each ImageRepository; each ImagePolicy's repository.
    let mut repos: BTreeMap<(String, String), String> = BTreeMap::new();
    for o in all {
        for (id, image) in &o.repos {
            repos.insert(id.clone(), image.clone());
        }
    }
    let mut out = FluxPolicies::default();
    for ((ns, name), (rns, rname)) in all.iter().flat_map(|o| o.policies.iter()) {
        let image = repos
            .get(&(rns.clone(), rname.clone()))
            .or_else(|| repos.iter().find(|((_, n), _)| n == rname).map(|(_, i)| i));
        let keys = [format!("{ns}:{name}"), name.clone()];
        out.known.extend(keys.iter().cloned());
        if image.is_some_and(|i| is_image(i)) {
            out.named.extend(keys);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_their_policy() {
        let m = |l: &str| marker(l);
        assert_eq!(
            m(r#"  image: a:1 # {"$imagepolicy": "flux-system:web:tag"}"#).as_deref(),
            Some("flux-system:web")
        );
        assert_eq!(
            m(r#"tag: 1 # {"$imagepolicy":"web"}"#).as_deref(),
            Some("web")
        );
        assert_eq!(m("image: a:1 # imagepolicy"), None);
    }

    #[test]
    fn a_known_policy_decides_an_unknown_one_goes_by_name() {
        let mut flux = FluxPolicies::default();
        flux.known
            .extend(["flux-system:web".to_string(), "web".into()]);
        flux.known
            .extend(["flux-system:edge".to_string(), "edge".into()]);
        flux.named
            .extend(["flux-system:web".to_string(), "web".into()]);
        assert!(names_image("flux-system:web", &flux, &["x"]));
        assert!(!names_image("flux-system:edge", &flux, &["edge"]));
        assert!(names_image("other:app", &flux, &["app"]));
        assert!(!names_image("other:api", &flux, &["app"]));
    }
}
