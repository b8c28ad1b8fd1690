//! kustomize `images:` entries are matchers: `name:` is compared, as written, with the
//! images of the resources the kustomization builds (kustomize's rule: the name, then an
//! optional `@sha256` and `:tag`; `name: mysql` matches `mysql:5.6`, not
//! `docker.io/library/mysql:5.7`). harborize keeps `name:` and routes with `newName:`
//! (plan), which is right whether the base is remote, outside the paths given, or not
//! rewritten. A local base that harborize rewrites too would stop matching, so each entry
//! gains a sibling entry for the name that base's images get (same `newTag`, `digest`,
//! `tagSuffix`); when that Harbor name would also catch images the original name did not
//! match (`docker.io/library/mysql:5.7` and `mysql:5.6` both become
//! `HARBOR/docker-hub/library/mysql`), the sibling names the tag too (`…/mysql:5.6`),
//! which kustomize's rule matches only for that tag.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crate::mapping::{Decision, Mapper};
use crate::pipeline::locate::{Field, Shape, Site};
use crate::pipeline::plan::{Direction, PlanOptions, Planned, Status};
use crate::pipeline::render::kustomize;
use crate::reference::Reference;
use crate::yaml::edit::{Edit, ENTRY_SEP, INSERTED_ENTRIES, PAIR_SEP, REMOVED_ENTRIES};

/// Whether kustomize's image transformer matches `image` (as written in a resource) with
/// the entry name `name` (as written): literally, never by normalized reference. kustomize
/// v5 (`^NAME(:TAG)?(@sha256:DIGEST)?$`, so `postgres` matches `postgres:16.4@sha256:…`)
/// and v4 (`^NAME(@sha256)?(:TAG)?$`) differ; an image either matches is treated as
/// matched, so no kustomize version is left promoting an image harborize thought it missed.
pub fn matches(image: &str, name: &str) -> bool {
    let Some(rest) = image.strip_prefix(name) else {
        return false;
    };
    let is_tag = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.{}-".contains(&b))
    };
    // v4: an optional `@sha256`, then an optional `:TAG`.
    let v4 = {
        let r = rest.strip_prefix("@sha256").unwrap_or(rest);
        r.is_empty() || r.strip_prefix(':').is_some_and(is_tag)
    };
    // v5: an optional `:TAG`, then an optional `@sha256:DIGEST`.
    let v5 = {
        let (tagged, digest) = match rest.find('@') {
            Some(at) => (&rest[..at], Some(&rest[at..])),
            None => (rest, None),
        };
        let tag_ok = tagged.is_empty() || tagged.strip_prefix(':').is_some_and(is_tag);
        let digest_ok = digest.is_none_or(|d| d.strip_prefix("@sha256:").is_some_and(is_tag));
        tag_ok && digest_ok
    };
    v4 || v5
}

/// What [`add_entries`] reads beyond the file it plans (the kustomizations an overlay
/// includes, the images of its bases, the canonical directories), read once per run:
/// overlays share their bases. Owned by the run's strategy, so nothing outlives the run
/// and a plan after a fetch reads everything again.
#[derive(Default)]
pub struct Reads {
    steps: kustomize::Steps,
    /// The images of each directory or single file a closure includes.
    images: kustomize::PathMemo<Arc<[String]>>,
    /// Canonical parent directories (the overlays' own are resolved from them, not kept).
    canonical: kustomize::CanonicalDirs,
}

impl Reads {
    /// The `image:` values written in the local resources of the kustomization in `dir`
    /// (every YAML file it includes, transitively; a line scan, as kustomize would see
    /// them). `None` when it has only remote resources.
    fn local_images(&self, dir: &Path, text: &str) -> Option<Vec<String>> {
        let closure = kustomize::closure_with(dir, Some(text), &self.steps);
        if closure.remote.is_some() && closure.dirs.len() == 1 && closure.files.is_empty() {
            return None; // only remote resources: no base here that harborize rewrites
        }
        let mut images = closure.written_images;
        for d in &closure.dirs {
            if d == dir {
                // The overlay's own directory: planned once, not worth remembering.
                dir_images(d, true, &mut images);
                continue;
            }
            let scan = |d: &Path| {
                let mut found = BTreeSet::new();
                dir_images(d, true, &mut found);
                found.into_iter().collect()
            };
            images.extend(self.remembered(d, scan).iter().cloned());
        }
        for f in &closure.files {
            images.extend(self.remembered(f, file_images).iter().cloned());
        }
        Some(images.into_iter().collect())
    }

    /// `scan(path)`, once per run.
    fn remembered(&self, path: &Path, scan: impl Fn(&Path) -> Vec<String>) -> Arc<[String]> {
        self.images.get_or_compute(path, || scan(path).into())
    }
}

/// The images written in the YAML files under `dir`, hidden ones aside. kustomize
/// reads what a kustomization names whatever .gitignore says, so no ignore rules apply
/// (and no git configuration is read per directory, which cost more than the scan on a
/// repository of 3,000 kustomizations). A kustomization file at the top (`top`) is
/// the closure's: its images are in `written_images` already.
fn dir_images(dir: &Path, top: bool, images: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || (top && kustomize::FILE_NAMES.contains(&name)) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => dir_images(&e.path(), false, images),
            Ok(t) if t.is_file() => images.extend(file_images(&e.path())),
            _ => {}
        }
    }
}

/// The `image:` values of one YAML file (not a `.yaml`/`.yml` one: none).
fn file_images(f: &Path) -> Vec<String> {
    let yaml = f
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| x == "yaml" || x == "yml");
    yaml.then(|| crate::fsio::read_text(f, crate::fsio::count::Purpose::Context).ok())
        .flatten()
        .map(|text| kustomize::written_images(&text))
        .unwrap_or_default()
}

/// The Harbor name an image written as `image` gets when harborize rewrites it.
fn rewritten_name(image: &str, mapper: &Mapper) -> Option<(String, Option<String>)> {
    let r = Reference::parse(image).ok()?;
    match mapper.decide(&r) {
        Decision::Rewrite { name } => Some((name, r.tag().map(str::to_string))),
        _ => None,
    }
}

/// Add the sibling entries to each rewritten `images:` entry of the kustomization file
/// `path` (see the module docs). Only forward runs on kustomization files; what else is
/// read comes from (and stays in) `reads`. Unless `edits_leave` (the edits are written,
/// shown or kept), only an entry without room for its siblings is looked at: its message
/// is all a report shows of them.
pub fn add_entries(
    path: &Path,
    text: &str,
    (sites, planned): (&[Site], &mut [Planned]),
    (mapper, opts): (&Mapper, PlanOptions),
    reads: &Reads,
    edits_leave: bool,
) {
    if opts.direction != Direction::Forward {
        remove_entries(text, sites, planned, mapper);
        return;
    }
    let Some(dir) = path.parent() else { return };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let existing: BTreeSet<&str> = sites
        .iter()
        .filter_map(|s| match &s.shape {
            Shape::Kustomize { name, .. } => Some(name.value.as_str()),
            _ => None,
        })
        .collect();
    let mut images: Option<Option<Vec<String>>> = None;
    for (site, p) in sites.iter().zip(planned.iter_mut()) {
        let Shape::Kustomize {
            name,
            new_name,
            new_tag,
            tag_suffix,
            digest,
            remote: _,
            insert_at: _,
        } = &site.shape
        else {
            continue;
        };
        if p.status != Status::Rewritten || p.edits.is_empty() {
            continue;
        }
        let carried: Vec<(&str, &Field)> = [
            ("newTag", new_tag),
            ("tagSuffix", tag_suffix),
            ("digest", digest),
        ]
        .into_iter()
        .filter_map(|(k, f)| f.as_ref().map(|f| (k, f)))
        .collect();
        if carried.is_empty() && new_name.is_none() {
            continue; // the entry changes nothing a sibling would need to repeat
        }
        if !edits_leave && has_room(text, site) {
            // Whether there is room does not depend on the names: with room, the siblings
            // would only be edit bytes, which this run drops; the bases are not read.
            continue;
        }
        // The overlay's directory, canonical, and its images: once per file, and only for
        // an entry that needs them.
        let images = images.get_or_insert_with(|| {
            let dir = reads.canonical.path(dir)?;
            reads.local_images(&dir, text)
        });
        let Some(images) = images else {
            continue;
        };
        let names = sibling_names(&name.value, images, mapper);
        let target = p
            .rewritten
            .as_deref()
            .and_then(|r| Reference::parse(r).ok())
            .map(|r| r.name());
        let entries: Vec<Vec<(String, String)>> = names
            .into_iter()
            .filter(|n| !existing.contains(n.as_str()) && *n != name.value)
            .map(|n| {
                let mut pairs = vec![("name".to_string(), n.clone())];
                if let Some(t) = target.as_ref().filter(|t| **t != n && new_name.is_some()) {
                    pairs.push(("newName".into(), t.clone()));
                }
                for (k, f) in &carried {
                    pairs.push((k.to_string(), f.value.clone()));
                }
                pairs
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        match entries_edit(text, site, &entries) {
            Some(e) => p.edits.push(e),
            None => {
                p.message = Some(
                    "a local base rewritten to Harbor would stop matching this entry, and there is no room to add the entry for its Harbor name".into(),
                )
            }
        }
    }
}

/// The names a sibling entry needs: the Harbor name of every local image `name` matches,
/// with its tag when the bare Harbor name would also catch images `name` does not match.
fn sibling_names(name: &str, images: &[String], mapper: &Mapper) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Each image's Harbor name once (a reference parse and a mapping decision), not once
    // per pair compared below.
    let harbor: Vec<Option<(String, Option<String>)>> =
        images.iter().map(|i| rewritten_name(i, mapper)).collect();
    let harbor_of = |i: usize| harbor[i].as_ref().map(|(h, _)| h.as_str());
    if !images.iter().any(|i| matches(i, name)) {
        // The images it matches are not in sight (a component's, applied to the resources
        // of whatever includes it; a base outside the tree): the Harbor name of `name`
        // itself, unless an image in sight that `name` does not match would take it.
        if let Some((harbor, _)) = rewritten_name(name, mapper) {
            let taken = (0..images.len()).any(|i| harbor_of(i) == Some(harbor.as_str()));
            if !taken {
                out.insert(harbor);
            }
        }
        return out;
    }
    for (i, _) in images
        .iter()
        .enumerate()
        .filter(|(_, image)| matches(image, name))
    {
        let Some((harbor, tag)) = &harbor[i] else {
            continue;
        };
        let collides = images
            .iter()
            .enumerate()
            .any(|(o, other)| !matches(other, name) && harbor_of(o) == Some(harbor.as_str()));
        match tag {
            Some(t) if collides => out.insert(format!("{harbor}:{t}")),
            _ => out.insert(harbor.clone()),
        };
    }
    out
}

/// A value as YAML: plain when it reads back as this string, else double-quoted (JSON's
/// escapes are YAML's).
fn quoted(v: &str) -> String {
    let simple = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"./_:@-".contains(&b))
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if simple && crate::yaml::quote::plain_is_string(v) {
        v.to_string()
    } else {
        serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
    }
}

/// Whether sibling entries can be inserted after the entry of `site` (which depends on the
/// entry's syntax, not on the entries).
fn has_room(text: &str, site: &Site) -> bool {
    let any = [vec![("name".to_string(), String::new())]];
    entries_edit(text, site, &any).is_some()
}

/// The insertion of `entries` after the entry of `site`: a new block item after the
/// entry's last line, or a flow mapping after its closing brace.
fn entries_edit(text: &str, site: &Site, entries: &[Vec<(String, String)>]) -> Option<Edit> {
    let Shape::Kustomize {
        name,
        new_name,
        new_tag,
        tag_suffix,
        digest,
        ..
    } = &site.shape
    else {
        return None;
    };
    // The entry's last scalar: the mapping it ends is the one the new entries follow.
    let last = [
        Some(name),
        new_name.as_ref(),
        new_tag.as_ref(),
        tag_suffix.as_ref(),
        digest.as_ref(),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|f| f.file_range.as_ref().map_or(0, |r| r.end))?;
    let end = last.file_range.as_ref()?.end;
    let name_range = name.file_range.as_ref()?;
    let line_start = text[..name_range.start].rfind('\n').map_or(0, |i| i + 1);
    let eol = if text[line_start..].contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let line_end = |at: usize| text[at..].find('\n').map_or(text.len(), |i| at + i);
    let after_last = &text[end..line_end(end)];
    let close = after_last.find('}');
    let (at, body) = match close {
        // Flow entry: `{name: a, newTag: "2"}`.
        Some(c) => {
            let at = end + c + 1;
            let flow: Vec<String> = entries
                .iter()
                .map(|pairs| {
                    let inner: Vec<String> = pairs
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", quoted(v)))
                        .collect();
                    format!("{{{}}}", inner.join(", "))
                })
                .collect();
            if text[at..].trim_start().starts_with([',', ']']) {
                (at, format!(", {}", flow.join(", ")))
            } else {
                let dash = dash_column(text, line_start, name.column)?;
                let pad = " ".repeat(dash);
                let items: Vec<String> = flow.iter().map(|f| format!("{eol}{pad}- {f}")).collect();
                (line_end(at).min(text.len()), items.concat())
            }
        }
        None => {
            let at = line_end(end);
            let at = if text[..at].ends_with('\r') {
                at - 1
            } else {
                at
            };
            let dash = dash_column(text, line_start, name.column)?;
            let (pad, inner) = (" ".repeat(dash), " ".repeat(dash + 2));
            let mut body = String::new();
            for pairs in entries {
                for (i, (k, v)) in pairs.iter().enumerate() {
                    let lead = if i == 0 {
                        format!("{pad}- ")
                    } else {
                        inner.clone()
                    };
                    body.push_str(&format!("{eol}{lead}{k}: {}", quoted(v)));
                }
            }
            (at, body)
        }
    };
    let value = entries
        .iter()
        .map(|pairs| {
            pairs
                .iter()
                .flat_map(|(k, v)| [k.as_str(), v.as_str()])
                .collect::<Vec<_>>()
                .join(&PAIR_SEP.to_string())
        })
        .collect::<Vec<_>>()
        .join(&ENTRY_SEP.to_string());
    Some(Edit {
        range: at..at,
        text: body,
        owner: last.owner,
        value_range: 0..0,
        insert: Some((INSERTED_ENTRIES.to_string(), value)),
        requote: None,
    })
}

/// The column (0-based) of the `-` that starts the sequence item holding the `name:` key
/// at 1-based `key_column` (on the name's line or a line above it).
fn dash_column(text: &str, name_line_start: usize, key_column: usize) -> Option<usize> {
    let mut start = name_line_start;
    loop {
        let line = &text[start..text[start..].find('\n').map_or(text.len(), |i| start + i)];
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line[indent..].starts_with('-') && indent + 1 < key_column {
            return Some(indent);
        }
        if start == 0 {
            return None;
        }
        start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
}

/// A file kustomize reads as a kustomization (by name).
pub fn is_kustomization_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        matches!(
            n,
            "kustomization.yaml" | "kustomization.yml" | "Kustomization"
        )
    })
}

/// The fields of an `images:` entry, in file order.
fn entry_fields(shape: &Shape) -> Vec<&Field> {
    let Shape::Kustomize {
        name,
        new_name,
        new_tag,
        tag_suffix,
        digest,
        ..
    } = shape
    else {
        return Vec::new();
    };
    let mut fields: Vec<&Field> = [
        Some(name),
        new_name.as_ref(),
        new_tag.as_ref(),
        tag_suffix.as_ref(),
        digest.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    fields.sort_by_key(|f| f.file_range.as_ref().map_or(0, |r| r.start));
    fields
}

/// Revert: take out the entries [`add_entries`] added (an entry named with a Harbor path
/// right after a sibling whose `newName` is that path) when the original entry matches
/// what the bases go back to; otherwise (the base reverts to `redis:7` while the original
/// entry says `docker.io/library/redis`) the entry stays, renamed by the plan to the
/// reverted name, so the overlay keeps promoting the same images.
fn remove_entries(text: &str, sites: &[Site], planned: &mut [Planned], mapper: &Mapper) {
    for i in 1..sites.len() {
        let (prev, site) = (&sites[i - 1], &sites[i]);
        let (
            Shape::Kustomize {
                new_name: Some(prev_new),
                ..
            },
            Shape::Kustomize { name, new_name, .. },
        ) = (&prev.shape, &site.shape)
        else {
            continue;
        };
        let untagged = Reference::parse(&name.value)
            .ok()
            .filter(|r| mapper.is_cache_host(r.domain()))
            .map(|r| name.value[..name.value.len() - r.suffix().len()].to_string());
        let Some(untagged) = untagged else { continue };
        let routed_to = new_name
            .as_ref()
            .map_or(untagged.as_str(), |n| n.value.as_str());
        if prev_new.value != routed_to {
            continue;
        }
        // Reverted, the entry names what the rewritten bases go back to (the familiar
        // form); it goes only when that is the name its sibling already matches.
        let Shape::Kustomize {
            name: prev_name, ..
        } = &prev.shape
        else {
            continue;
        };
        let reverted = Reference::parse_name(&untagged)
            .ok()
            .and_then(|r| mapper.revert_name(&r));
        if reverted.as_deref() != Some(prev_name.value.as_str()) || untagged != name.value {
            continue;
        }
        let fields = entry_fields(&site.shape);
        let prev_fields = entry_fields(&prev.shape);
        let (Some(first), Some(last), Some(prev_last)) =
            (fields.first(), fields.last(), prev_fields.last())
        else {
            continue;
        };
        let (Some(fr), Some(lr), Some(plr)) =
            (&first.file_range, &last.file_range, &prev_last.file_range)
        else {
            continue;
        };
        // The entry's text: from the end of the previous entry's last line (block) or
        // brace (flow) to the end of this entry's last line or brace.
        let line_end = |at: usize| text[at..].find('\n').map_or(text.len(), |i| at + i);
        let flow = text[lr.end..line_end(lr.end)].find('}');
        let range = match flow {
            Some(c) => {
                let Some(open) = text[plr.end..fr.start].find('}') else {
                    continue;
                };
                plr.end + open + 1..lr.end + c + 1
            }
            None => {
                let start = line_end(plr.end);
                let start = if text[..start].ends_with('\r') {
                    start - 1
                } else {
                    start
                };
                let end = line_end(lr.end);
                let end = if text[..end].ends_with('\r') {
                    end - 1
                } else {
                    end
                };
                start..end
            }
        };
        // Keys and values as the checker reads them: key scalars sit one ordinal before
        // their values, and the field values are the scalars' own text.
        let pairs: Vec<String> = fields
            .iter()
            .flat_map(|f| {
                let before = text[..f.file_range.as_ref().map_or(0, |r| r.start)]
                    .trim_end_matches(['"', '\''])
                    .trim_end();
                let key = before
                    .strip_suffix(':')
                    .unwrap_or(before)
                    .rsplit([' ', '{', ',', '\n'])
                    .next()
                    .unwrap_or("")
                    .trim_matches(['"', '\''])
                    .to_string();
                [key, f.value.clone()]
            })
            .collect();
        let p = &mut planned[i];
        p.edits = vec![Edit {
            range,
            text: String::new(),
            owner: prev_last.owner,
            value_range: 0..0,
            insert: Some((
                REMOVED_ENTRIES.to_string(),
                pairs.join(&PAIR_SEP.to_string()),
            )),
            requote: None,
        }];
        p.message = Some("entry added by harborize for a rewritten base: removed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn names_match_literally_as_kustomize_does() {
        assert!(matches("mysql:5.6", "mysql"));
        assert!(matches("mysql", "mysql"));
        assert!(matches("mysql@sha256:abc", "mysql"));
        // kustomize v5: a tag and then a digest (kubectl 1.29 promotes this one).
        assert!(matches("postgres:16.4@sha256:aaaa", "postgres"));
        assert!(!matches("postgres:16.4@sha1:aaaa", "postgres"));
        assert!(!matches("postgres:16.4@", "postgres"));
        assert!(!matches("docker.io/library/mysql:5.7", "mysql"));
        assert!(!matches("mysqlx:1", "mysql"));
        assert!(matches(
            "h/docker-hub/library/mysql:5.6",
            "h/docker-hub/library/mysql:5.6"
        ));
        assert!(!matches(
            "h/docker-hub/library/mysql:5.7",
            "h/docker-hub/library/mysql:5.6"
        ));
    }
}
