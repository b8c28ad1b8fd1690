//! The strings of a kustomization file that may name its inputs, read from saphyr's event
//! stream in one pass without building a tree. Every overlay of a repository is read this
//! way while it is planned (`check` of 2,000 overlays spent 6% of its CPU building
//! `serde_yaml_ng` values for them, most of it libyaml's set-up per file).
//!
//! What it gives is what the value tree gave ([`by_value`], still used for what this pass
//! leaves alone): the items of `resources`, `bases` and `components` (one may be remote),
//! every string value outside the fields that never name a file, and the `images:`
//! entries (name, newName, whether a tag or digest is set). Anchors, aliases,
//! tags, keys that are not scalars, duplicate keys and streams of several documents go to
//! the value tree, which resolves or refuses them as before.

use saphyr_parser::{Event, Parser, ScalarStyle};

#[cfg(test)]
use std::path::Path;

/// Top-level fields of a kustomization that never name a file: their strings are not
/// resolved as paths (one `lstat` each, for `kustomize.config.k8s.io/v1beta1` and every
/// image name and tag).
const NOT_PATHS: [&str; 13] = [
    "apiVersion",
    "kind",
    "metadata",
    "images",
    "replicas",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "commonAnnotations",
    "labels",
    "buildMetadata",
    "sortOptions",
];

/// The fields whose items are resources (a remote one makes the kustomization remote).
const LISTS: [&str; 3] = ["resources", "bases", "components"];

/// What a kustomization file names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Named {
    /// The string items of `resources`, `bases` and `components`, in order.
    pub listed: Vec<String>,
    /// Every string value outside the [`NOT_PATHS`] fields (keys are not values), in order.
    pub strings: Vec<String>,
    /// The `images:` entries that are mappings.
    pub images: Vec<ImageEntry>,
}

/// One entry of `images:`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ImageEntry {
    /// `name:`, when a string.
    pub name: Option<String>,
    /// `newName:`, when a string.
    pub new_name: Option<String>,
    /// It has a `newTag:` or a `digest:` (whatever its value).
    pub sets: bool,
}

/// What `text` names: from the event stream when it is plain, else from the value tree.
/// `None` when it does not parse as one YAML document.
pub(crate) fn named(text: &str) -> Option<Named> {
    match by_events(text) {
        Some(named) => Some(named),
        None => by_value(text),
    }
}

/// One open collection while the events are read.
struct Frame {
    /// `Some(keys seen)` for a mapping, `None` for a sequence.
    keys: Option<Vec<String>>,
    /// A mapping's next scalar is a key.
    awaiting_key: bool,
    /// Its string values are collected.
    collect: bool,
    /// Its items are the top-level list of `LISTS[i]`.
    listed: Option<usize>,
    /// It is the top-level `images:` list.
    images: bool,
    /// It is the `images:` entry `named.images[i]`.
    entry: Option<usize>,
}

/// Whether `value`, a scalar of `style`, is a string as `serde_yaml_ng` reads it (a plain
/// `1.28`, `true` or `~` is not). Plain scalars that look like a path or a name are
/// decided here; the few others (digits, special words) are asked of `serde_yaml_ng`.
fn is_string(value: &str, style: ScalarStyle) -> bool {
    if style != ScalarStyle::Plain {
        return true;
    }
    let special = ["true", "false", "null", "yes", "no", "on", "off", "y", "n"]
        .iter()
        .chain(&["inf", "infinity", "nan"])
        .any(|w| value.eq_ignore_ascii_case(w));
    let pathlike = value.starts_with("./") || value.starts_with("../");
    let plain_word = value
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic());
    if !special && (pathlike || plain_word) {
        return true;
    }
    if value.is_empty() {
        return false;
    }
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(value).map_or(true, |v| v.is_string())
}

/// [`Named`] in one pass over saphyr's events; `None` for anything unusual (see the module
/// docs) or a parse error, which the value tree then decides.
fn by_events(text: &str) -> Option<Named> {
    let mut named = Named::default();
    // Each list's items, put together in the order of LISTS (as the value tree gives them).
    let mut listed: [Vec<String>; 3] = Default::default();
    let mut stack: Vec<Frame> = Vec::new();
    // The top-level mapping's current key (what its value's strings are for).
    let mut top_key: Option<String> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, _) = item.ok()?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
            }
            Event::Alias(_) => return None,
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                let top = stack.len() == 1;
                let string = is_string(&value, style);
                match stack.last_mut() {
                    // A top-level scalar: the whole document is one value.
                    None => {
                        if string {
                            named.strings.push(value.into_owned());
                        }
                    }
                    Some(frame) if frame.awaiting_key => {
                        let keys = frame.keys.as_mut()?;
                        if keys.iter().any(|k| *k == value) {
                            return None;
                        }
                        if let Some(e) = frame.entry {
                            if value == "newTag" || value == "digest" {
                                named.images[e].sets = true;
                            }
                        }
                        keys.push(value.to_string());
                        frame.awaiting_key = false;
                        if top {
                            top_key = Some(value.into_owned());
                        }
                    }
                    Some(frame) => {
                        let key = frame.keys.as_ref().and_then(|k| k.last());
                        if let (Some(e), Some(key), true) = (frame.entry, key, string) {
                            let entry = &mut named.images[e];
                            match key.as_str() {
                                "name" => entry.name = Some(value.to_string()),
                                "newName" => entry.new_name = Some(value.to_string()),
                                _ => {}
                            }
                        }
                        let in_map = frame.keys.is_some();
                        frame.awaiting_key = in_map;
                        let collect = if in_map && top {
                            top_key.as_deref().is_some_and(|k| !NOT_PATHS.contains(&k))
                        } else {
                            frame.collect
                        };
                        if let (Some(i), true) = (frame.listed, string) {
                            listed[i].push(value.to_string());
                        }
                        if collect && string {
                            named.strings.push(value.into_owned());
                        }
                    }
                }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                let is_map = matches!(event, Event::MappingStart(..));
                let top = stack.len() == 1;
                let mut frame = Frame {
                    keys: is_map.then(Vec::new),
                    awaiting_key: is_map,
                    collect: true,
                    listed: None,
                    images: false,
                    entry: None,
                };
                if let Some(parent) = stack.last_mut() {
                    if parent.awaiting_key {
                        return None; // a collection as a key
                    }
                    parent.awaiting_key = parent.keys.is_some();
                    if parent.keys.is_some() && top {
                        let key = top_key.as_deref().unwrap_or_default();
                        frame.collect = !NOT_PATHS.contains(&key);
                        frame.listed = LISTS.iter().position(|l| *l == key).filter(|_| !is_map);
                        frame.images = key == "images" && !is_map;
                    } else {
                        frame.collect = parent.collect;
                        if parent.images && is_map {
                            frame.entry = Some(named.images.len());
                            named.images.push(ImageEntry::default());
                        }
                    }
                }
                stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
        }
    }
    named.listed = listed.concat();
    Some(named)
}

/// [`Named`] from a `serde_yaml_ng` value tree (aliases resolved; duplicate keys, several
/// documents and tags as that crate reads them). Only string values count.
pub(crate) fn by_value(text: &str) -> Option<Named> {
    let doc = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).ok()?;
    let mut named = Named::default();
    for key in LISTS {
        let items = doc.get(key).and_then(|v| v.as_sequence());
        for s in items.into_iter().flatten().filter_map(|s| s.as_str()) {
            named.listed.push(s.to_string());
        }
    }
    let entries = doc.get("images").and_then(|v| v.as_sequence());
    for item in entries.into_iter().flatten().filter(|i| i.is_mapping()) {
        let text = |key: &str| item.get(key).and_then(|v| v.as_str()).map(str::to_string);
        named.images.push(ImageEntry {
            name: text("name"),
            new_name: text("newName"),
            sets: item.get("newTag").is_some() || item.get("digest").is_some(),
        });
    }
    let mut strings = Vec::new();
    match &doc {
        serde_yaml_ng::Value::Mapping(m) => m
            .iter()
            .filter(|(k, _)| !k.as_str().is_some_and(|k| NOT_PATHS.contains(&k)))
            .for_each(|(_, v)| collect_strings(v, &mut strings)),
        other => collect_strings(other, &mut strings),
    }
    named.strings = strings.into_iter().map(str::to_string).collect();
    Some(named)
}

fn collect_strings<'v>(v: &'v serde_yaml_ng::Value, out: &mut Vec<&'v str>) {
    match v {
        serde_yaml_ng::Value::String(s) => out.push(s),
        serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_yaml_ng::Value::Mapping(m) => m.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event pass gives what the value tree gives.
    fn agrees(text: &str) -> bool {
        let Some(events) = by_events(text) else {
            return false;
        };
        let tree = by_value(text).unwrap_or_else(|| panic!("the tree reads it too:\n{text}"));
        assert_eq!(events, tree, "{text}");
        true
    }

    #[test]
    fn events_name_what_the_value_tree_names() {
        let texts = [
            "resources:\n  - ../../base\n  - https://github.com/org/repo//deploy?ref=v1\nimages:\n  - name: nginx\n    newTag: \"1.28\"\n",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nbases: [../base, 'other']\ncomponents:\n- ../comp\nnamespace: prod\n",
            "patches:\n  - path: patch.yaml\n    target: {kind: Deployment, name: app}\n  - patch: |-\n      - op: replace\n        path: /x\n        value: 1\nconfigMapGenerator:\n  - name: cm\n    files: [config.yaml, key=data/file.txt]\n    options: {disableNameSuffixHash: true}\nreplicas:\n  - name: app\n    count: 3\n",
            "commonLabels:\n  app: x\nresources:\n- a.yaml\n- {path: b.yaml}\n- - nested.yaml\nhelmCharts:\n- name: c\n  valuesFile: values.yaml\n  version: 1.2.3\n  includeCRDs: false\n  releaseName: null\n",
            "# only a comment\n",
            "",
            "---\nresources: [\"quoted dir\", 'single']\n",
            "- a.yaml\n- b.yaml\n",
            "just-a-string\n",
            "1.5\n",
            "resources: [123, '123', ~, true, ../x, .hidden, 1.2.3, 0x1f, .inf, yes]\n",
            "images:\n  - name: nginx\n    newName: harbor/nginx\n    newTag: 1.28\n  - {name: 123, digest: sha256:abc}\n  - not-a-mapping\n  - newName: only\n    newTag: ~\n  - name: [a]\n",
        ];
        for t in texts {
            assert!(agrees(t), "the event pass leaves it alone: {t}");
        }
        // Every kustomization of the corpus and the test fixtures.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut read = 0;
        for dir in [root.join("../shared/corpus"), root.join("tests")] {
            for entry in ignore::WalkBuilder::new(&dir)
                .hidden(false)
                .build()
                .flatten()
            {
                let name = entry.file_name().to_str().unwrap_or_default().to_string();
                if crate::pipeline::kustomize_matchers::is_kustomization_file(Path::new(&name)) {
                    let text = std::fs::read_to_string(entry.path()).unwrap();
                    read += usize::from(agrees(&text));
                }
            }
        }
        assert!(read >= 15, "{read} kustomizations read by events");
    }

    #[test]
    fn what_the_event_pass_leaves_to_the_value_tree() {
        for text in [
            "resources: &r\n  - a.yaml\nbases: *r\n",
            "resources:\n  - !!str a.yaml\n",
            "resources: [a.yaml]\nresources: [b.yaml]\n",
            "? [a, b]\n: c\n",
            "resources: [a.yaml]\n---\nresources: [b.yaml]\n",
            "resources: [a.yaml\n",
        ] {
            assert_eq!(by_events(text), None, "{text}");
            // And the value tree reads it as before (or refuses it).
            assert_eq!(named(text), by_value(text), "{text}");
        }
        let aliased = named("resources: &r\n  - a.yaml\nbases: *r\n").unwrap();
        assert_eq!(aliased.listed, ["a.yaml", "a.yaml"]);
    }

    #[test]
    fn keys_and_fields_that_never_name_a_file_are_not_strings() {
        let named = by_events(
            "images:\n  - name: nginx\n    newName: harbor/nginx\nmetadata: {name: x}\npatches:\n  - path: p.yaml\n",
        )
        .unwrap();
        assert_eq!(named.strings, ["p.yaml"]);
        assert!(named.listed.is_empty());
        assert_eq!(
            named.images,
            [ImageEntry {
                name: Some("nginx".into()),
                new_name: Some("harbor/nginx".into()),
                sets: false,
            }]
        );
    }
}
