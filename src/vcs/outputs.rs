//! What a committing command tells GitHub Actions in `$GITHUB_OUTPUT`: `changed`,
//! `commit`, `pr-url` and `images`, the JSON array of the images it changed. `bump` and
//! `run` both write `images` from [`ChangedImage`], so a workflow reads one shape whichever
//! command ran (one entry per new reference: `image`, `harbor`, `tag`, `digest`, `from`,
//! `to`, `references`, `files`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::reference::Reference;

/// One new reference a run wrote, with every old one it replaced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChangedImage {
    /// The image, upstream (`ghcr.io/org/app`; for bump: as given with `--image`).
    pub image: String,
    /// Its Harbor name (`harbor.example.com/ghcr/org/app`).
    pub harbor: String,
    /// The tag of the new reference (none for a digest-only reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The references it replaced, sorted.
    pub from: Vec<String>,
    /// The new reference.
    pub to: String,
    /// How many references now read `to`.
    pub references: usize,
    /// The files changed for it.
    pub files: Vec<String>,
}

/// One reference a run rewrote: where, what it was (`normalized`: its full upstream form
/// when known) and what it became.
pub struct Rewrite<'a> {
    pub file: &'a str,
    pub original: &'a str,
    pub normalized: Option<&'a str>,
    pub rewritten: &'a str,
}

impl ChangedImage {
    /// The images of a run's rewrites, one per new reference, sorted by it.
    pub fn group<'a>(rewrites: impl IntoIterator<Item = Rewrite<'a>>) -> Vec<ChangedImage> {
        /// What the rewrites to one new reference have in common.
        #[derive(Default)]
        struct Group<'a> {
            upstream: Option<&'a str>,
            from: BTreeSet<String>,
            references: usize,
            files: Vec<String>,
        }
        let mut by_to: BTreeMap<&str, Group<'_>> = BTreeMap::new();
        for r in rewrites {
            let g = by_to.entry(r.rewritten).or_default();
            g.upstream = g.upstream.or(Some(r.normalized.unwrap_or(r.original)));
            g.from.insert(r.original.to_string());
            g.references += 1;
            if !g.files.iter().any(|f| f == r.file) {
                g.files.push(r.file.to_string());
            }
        }
        by_to
            .into_iter()
            .map(|(to, g)| {
                let new = Reference::parse(to).ok();
                let image = g
                    .upstream
                    .and_then(|u| Reference::parse(u).ok())
                    .map_or_else(|| g.upstream.unwrap_or_default().to_string(), |r| r.name());
                ChangedImage {
                    image,
                    harbor: new.as_ref().map_or_else(|| to.to_string(), Reference::name),
                    tag: new.as_ref().and_then(|r| r.tag().map(str::to_string)),
                    digest: new.as_ref().and_then(|r| r.digest().map(str::to_string)),
                    from: g.from.into_iter().collect(),
                    to: to.to_string(),
                    references: g.references,
                    files: g.files,
                }
            })
            .collect()
    }
}

/// The `$GITHUB_OUTPUT` lines of the commands that commit (`bump`, `run`).
pub fn github_outputs(
    changed: bool,
    commit: Option<&str>,
    pr_url: Option<&str>,
    images: &[ChangedImage],
) -> serde_json::Result<String> {
    Ok(format!(
        "changed={changed}\ncommit={}\npr-url={}\nimages={}\n",
        commit.unwrap_or(""),
        pr_url.unwrap_or(""),
        serde_json::to_string(images)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_group_by_their_new_reference() {
        let rows = [
            ("a.yaml", "nginx:1.27", "docker.io/library/nginx:1.27"),
            (
                "b.yaml",
                "docker.io/nginx:1.27",
                "docker.io/library/nginx:1.27",
            ),
            ("b.yaml", "nginx:1.27", "docker.io/library/nginx:1.27"),
        ];
        let images = ChangedImage::group(rows.iter().map(|(file, original, normalized)| Rewrite {
            file,
            original,
            normalized: Some(normalized),
            rewritten: "harbor.example.com/docker-hub/library/nginx:1.27",
        }));
        assert_eq!(
            images,
            [ChangedImage {
                image: "docker.io/library/nginx".into(),
                harbor: "harbor.example.com/docker-hub/library/nginx".into(),
                tag: Some("1.27".into()),
                digest: None,
                from: vec!["docker.io/nginx:1.27".into(), "nginx:1.27".into()],
                to: "harbor.example.com/docker-hub/library/nginx:1.27".into(),
                references: 3,
                files: vec!["a.yaml".into(), "b.yaml".into()],
            }]
        );
    }
}
