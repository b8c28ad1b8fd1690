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

/// The marker's say on a field edited at byte offsets `starts` of `text`: `None` without a
/// marker, `Ok(note)` when its policy names the image, `Err(why)` when it does not.
pub fn verdict(
    text: &str,
    starts: impl Iterator<Item = usize>,
    flux: &FluxPolicies,
    last: &[&str],
) -> Option<Result<String, String>> {
    let mut seen = None;
    for at in starts {
        let Some(line) = line_at(text, at) else {
            continue;
        };
        let Some(policy) = marker(line) else { continue };
        if !names_image(&policy, flux, last) {
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

/// Read the ImagePolicy and ImageRepository objects under `root` (files that mention
/// `ImagePolicy` or `ImageRepository`): which policies have the image (`is_image`).
pub fn scan(root: &Path, is_image: &dyn Fn(&str) -> bool) -> FluxPolicies {
    // (namespace, name) → image of each ImageRepository; each ImagePolicy's repository.
    let mut repos: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut policies: Vec<((String, String), (String, String))> = Vec::new();
    for entry in ignore::WalkBuilder::new(root).build().flatten() {
        let p = entry.path();
        let yaml = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if !yaml || !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        if !text.contains("ImagePolicy") && !text.contains("ImageRepository") {
            continue;
        }
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
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
                "ImageRepository" => {
                    repos.insert(id, s(&v, &["spec", "image"]));
                }
                "ImagePolicy" => {
                    let rns = s(&v, &["spec", "imageRepositoryRef", "namespace"]);
                    let rname = s(&v, &["spec", "imageRepositoryRef", "name"]);
                    policies.push((id, (if rns.is_empty() { ns } else { rns }, rname)));
                }
                _ => {}
            }
        }
    }
    let mut out = FluxPolicies::default();
    for ((ns, name), (rns, rname)) in policies {
        let image = repos
            .get(&(rns.clone(), rname.clone()))
            .or_else(|| repos.iter().find(|((_, n), _)| *n == rname).map(|(_, i)| i));
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
