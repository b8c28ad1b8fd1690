//! Property tests that run in CI: the reference grammar round-trips, and the editor's
//! proof always holds on generated manifests (any quoting style, comments, anchors, CRLF):
//! rewriting never panics, never corrupts, and a second run changes nothing.

use std::path::Path;

use harborize::config::{Config, ConfigFile};
use harborize::locate::locate;
use harborize::mapping::Mapper;
use harborize::plan::{plan_site, Direction, PlanOptions, Status};
use harborize::reference::Reference;
use harborize::yaml::{self, edit::apply_checked};
use proptest::prelude::*;

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}"
}

/// The first path component of a name without a domain must not look like one (no `.`).
fn first_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}([_-][a-z0-9]{1,4}){0,2}"
}

fn reference() -> impl Strategy<Value = String> {
    let domain = prop_oneof![
        Just(String::new()),
        Just("docker.io/".to_string()),
        Just("ghcr.io/".to_string()),
        Just("quay.io/".to_string()),
        Just("registry.k8s.io/".to_string()),
        Just("localhost:5000/".to_string()),
        Just("gcr.io/".to_string()),
        Just("index.docker.io/".to_string()),
    ];
    let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}");
    let digest = prop::option::of("[0-9a-f]{64}");
    (
        domain,
        first_component(),
        prop::collection::vec(component(), 0..3),
        tag,
        digest,
    )
        .prop_map(|(d, first, rest, tag, digest)| {
            let mut path = vec![first];
            path.extend(rest);
            let mut s = format!("{d}{}", path.join("/"));
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(h) = digest {
                s.push_str("@sha256:");
                s.push_str(&h);
            }
            s
        })
}

fn mapper() -> Mapper {
    Mapper::new(
        &Config::from_user(ConfigFile::default(), None).unwrap(),
        "harbor.example.com",
    )
}

/// Rewrite a text in memory the way the engine does; returns the new text.
fn rewrite(text: &str) -> String {
    let stream = yaml::parse(text).expect("generated YAML parses");
    let sites = locate(Path::new("x.yaml"), text, &stream).sites;
    let opts = PlanOptions {
        direction: Direction::Forward,
        rewrite_hints: true,
    };
    let planned: Vec<_> = sites
        .iter()
        .map(|s| plan_site(s, &mapper(), opts))
        .collect();
    for p in &planned {
        assert_ne!(p.status, Status::Invalid, "{:?}", p);
    }
    let edits: Vec<_> = planned.into_iter().flat_map(|p| p.edits).collect();
    apply_checked(text, &edits).unwrap_or_else(|e| panic!("edit check failed: {e}\n{text}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_display_round_trips(s in reference()) {
        let r = Reference::parse(&s).unwrap();
        let again = Reference::parse(&r.to_string()).unwrap();
        prop_assert_eq!(&r, &again);
        let familiar = Reference::parse(&r.familiar()).unwrap();
        prop_assert_eq!(&r, &familiar);
    }

    #[test]
    fn editor_proof_holds_and_rewrite_is_idempotent(
        refs in prop::collection::vec(reference(), 1..6),
        styles in prop::collection::vec(0u8..3, 6),
        crlf in any::<bool>(),
        anchor in any::<bool>(),
    ) {
        let mut text = String::from("# generated\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
        for (i, r) in refs.iter().enumerate() {
            let v = match styles[i] { 0 => r.clone(), 1 => format!("'{r}'"), _ => format!("\"{r}\"") };
            let a = if anchor && i == 0 { "&img " } else { "" };
            text.push_str(&format!("    - name: c{i} # container {i}\n      image: {a}{v}  # keep me\n"));
        }
        if anchor {
            text.push_str("    - name: alias\n      image: *img\n");
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let once = rewrite(&text);
        prop_assert_eq!(once.matches("# keep me").count(), refs.len());
        prop_assert_eq!(once.lines().count(), text.lines().count());
        let twice = rewrite(&once);
        prop_assert_eq!(&once, &twice);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,200}") {
        if let Ok(stream) = yaml::parse(&text) {
            let sites = locate(Path::new("x.yaml"), &text, &stream).sites;
            let opts = PlanOptions { direction: Direction::Forward, rewrite_hints: true };
            let edits: Vec<_> = sites.iter().flat_map(|s| plan_site(s, &mapper(), opts).edits).collect();
            let _ = apply_checked(&text, &edits);
        }
    }
}
