//! `harborize promote --image IMAGE --from DIR --to DIR`: what runs in one environment goes
//! to the next, as a reviewable change. The tag and digest of the image in `--from` are
//! read with the bump planner (every shape a bump understands), then written to `--to` by
//! the bump itself: the same byte-exact editor, proof, type-preserving quoting and commit /
//! push / pull request flow, with the pull request naming the environments.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::bump::{self, BumpOptions, Target};
use crate::cli::{BumpArgs, PromoteArgs};
use crate::commands::bump::{run_flavored, Flavor};
use crate::commands::{ExitStatus, Settings};
use crate::pipeline::plan::Status;
use crate::reference::Reference;

pub fn run(args: &PromoteArgs) -> Result<ExitStatus> {
    run_with_env(args, |k| std::env::var(k).ok())
}

pub fn run_with_env(
    args: &PromoteArgs,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<ExitStatus> {
    let mapper = Settings::for_paths(&args.source, std::slice::from_ref(&args.from), None)?.mapper;
    let (tag, digest) = version_in(&mapper, args)?;
    let bump_args = BumpArgs {
        paths: vec![args.to.clone()],
        image: args.image.clone(),
        tag,
        digest,
        source: args.source.clone(),
        format: args.format,
        rewrite_hints: false,
        dry_run: args.dry_run,
        diff: args.diff,
        commit: args.commit,
        all: false,
        git: args.git.clone(),
    };
    let flavor = Flavor {
        promote: Some((
            args.from.display().to_string(),
            args.to.display().to_string(),
        )),
    };
    run_flavored(&bump_args, env, flavor)
}

/// The one tag (and digest) the image has in `--from`.
fn version_in(
    mapper: &crate::mapping::Mapper,
    args: &PromoteArgs,
) -> Result<(String, Option<String>)> {
    // Any valid tag: the planner is asked where the image is, not to change it.
    let probe = Target::new(mapper, &args.image, "latest", None)?;
    let run = bump::run(
        std::slice::from_ref(&args.from),
        mapper,
        &probe,
        BumpOptions::default(),
    );
    if let Some(e) = run.results.iter().find_map(|r| r.error.as_ref()) {
        bail!("cannot read --from: {}: {}", e.location, e.message);
    }
    let mut versions = BTreeSet::new();
    let mut untagged = Vec::new();
    for r in &run.results {
        for p in &r.planned {
            if matches!(p.status, Status::Hint | Status::Templated) {
                continue;
            }
            let parsed = Reference::parse(&p.original).ok();
            match parsed.as_ref().and_then(|x| x.tag().map(str::to_string)) {
                Some(tag) => {
                    let digest = parsed.as_ref().and_then(|x| x.digest().map(str::to_string));
                    versions.insert((tag, digest));
                }
                None => untagged.push(format!("{}:{}", r.display, p.line)),
            }
        }
    }
    match versions.len() {
        1 => Ok(versions.into_iter().next().expect("one version")),
        0 if untagged.is_empty() => bail!(
            "{} is not referenced in --from {}: nothing to promote",
            args.image,
            args.from.display()
        ),
        0 => bail!(
            "{} has no tag in --from {} ({}): nothing to promote",
            args.image,
            args.from.display(),
            untagged.join(", ")
        ),
        _ => bail!(
            "{} has {} different versions in --from {} ({}): promote copies one; narrow --from",
            args.image,
            versions.len(),
            args.from.display(),
            versions
                .iter()
                .map(|(t, d)| d.as_ref().map_or(t.clone(), |d| format!("{t}@{d}")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
