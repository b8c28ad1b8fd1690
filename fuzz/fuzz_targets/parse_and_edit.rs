//! Fuzz the reference parser and the YAML locate → plan → checked-edit path:
//! no panics, and every edit the planner makes passes the re-parse proof.
//! Run: cargo +nightly fuzz run parse_and_edit
#![no_main]

use std::path::Path;

use harborize::config::{Config, ConfigFile};
use harborize::pipeline::locate::locate;
use harborize::mapping::Mapper;
use harborize::pipeline::plan::{plan_site, Direction, PlanOptions};
use harborize::reference::Reference;
use harborize::yaml::{self, edit::apply_checked};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = Reference::parse(text) {
        assert_eq!(Reference::parse(&r.to_string()).as_ref(), Ok(&r));
    }
    let Ok(stream) = yaml::parse(text) else { return };
    let mapper = Mapper::new(&Config::from_user(ConfigFile::default(), None).unwrap(), "harbor.example.com");
    let opts = PlanOptions { direction: Direction::Forward, rewrite_hints: true };
    let edits: Vec<_> = locate(Path::new("f.yaml"), text, &stream)
        .sites
        .iter()
        .flat_map(|s| plan_site(s, &mapper, opts).edits)
        .collect();
    if let Err(e) = apply_checked(text, &edits) {
        // Overlaps are refused by design; anything else is an editor bug.
        assert!(matches!(e, harborize::yaml::edit::EditError::Overlap(..)), "{e}");
    }
});
