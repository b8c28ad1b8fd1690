//! The end of one repository of `harborize migrate`: write, commit and push through the
//! publish flow, then open or update the pull request. Apart from `process` because the
//! retry on a moved remote and the pull request text are a story of their own.

use std::path::Path;

use anyhow::Result;

use super::commit::Writer;
use super::Ctx;
use crate::cli::MigrateArgs;
use crate::config::Config;
use crate::migrate::{Direction, RepoReport};
use crate::pipeline::engine;
use crate::report::Report;
use crate::vcs::github;
use crate::vcs::publish::{GitOptions, Published, Rebuilt, Session};
use crate::vcs::pull_request::{self, PrResult, BASE_HAS_IT};

/// Write, commit and push (fetching, resetting and migrating again when the remote moved,
/// through the publish flow), then open or update the pull request.
pub(super) fn write_commit_push(
    ctx: &Ctx<'_>,
    session: Option<&mut Session>,
    rr: &mut RepoReport,
    (root, plan_value, config): (&Path, engine::Plan, &Config),
    harbor: &str,
    mapper: &crate::mapping::Mapper,
    stage: &dyn Fn(&str),
) -> Result<()> {
    let args = ctx.args;
    let mut proof =
        crate::pipeline::render::ProofSettings::resolve(false, None, None, &config.render)
            .map_err(anyhow::Error::msg)?;
    proof.hints = args.rewrite_hints;
    let w = Writer {
        ctx,
        root,
        harbor,
        mapper,
        proof: &proof,
        stage,
    };
    // The checked plan is written first; a retry after the remote moved plans again on
    // the new head (the plan was made on the old one).
    w.write_and_commit(session.as_deref(), rr, Some(plan_value))?;
    let Some(s) = session else { return Ok(()) };
    // What the first attempt changed and committed (for the pull request: a retry that
    // finds the change on the remote branch already changes nothing itself).
    let pairs = report_pairs(rr);
    let commits: Vec<String> = rr.commits.iter().map(|c| c.sha.clone()).collect();
    // With --pull-request and nothing to propose, the base branch is not pushed.
    if !ctx.push || (args.pull_request && s.pr.is_none()) {
        return Ok(());
    }
    stage("pushing");
    let head = s.git.head()?;
    let published = s.push_retrying(head, None, |s, moved| {
        rr.notes.push(format!(
            "push rejected ({}): fetched {}/{}, reset and migrated again",
            moved.why, s.remote, s.remote_branch
        ));
        w.write_and_commit(Some(s), rr, None)?;
        stage("pushing");
        // Pushed even when nothing was committed again: the branch is the remote's head
        // then (plus commits of an earlier run), so the push lands.
        Ok(Rebuilt::<()>::Commit(s.git.head()?))
    })?;
    if let Published::Pushed(_) = published {
        rr.pushed = true;
    }
    let Some(target) = s.pr.as_ref() else {
        return Ok(());
    };
    if !rr.pushed {
        return Ok(());
    }
    stage("opening the pull request");
    let (title, heading) = match ctx.direction {
        Direction::Migrate => (
            "harborize: route container images through Harbor".to_string(),
            format!(
                "harborize migrate: {} reference(s) now pull through {harbor}",
                pairs.len()
            ),
        ),
        Direction::Revert => (
            "harborize: revert container images to their upstream registries".to_string(),
            format!(
                "harborize migrate --revert: {} reference(s) back to their upstream registries",
                pairs.len()
            ),
        ),
    };
    let mut notes = Vec::new();
    if let Some(v) = &rr.verify {
        notes.push(format!(
            "Verified: {} unique reference(s) checked through Harbor, {} failed.",
            v.checked, v.failed
        ));
    }
    if let Some(sc) = &rr.scan {
        notes.push(format!(
            "Scanned: {} image(s) with Trivy, {} failing, {} error(s).",
            sc.images, sc.failed, sc.errors
        ));
    }
    if !commits.is_empty() {
        let shown: Vec<String> = commits.iter().map(|c| format!("`{c}`")).collect();
        notes.push(format!(
            "Commits: {} on `{}`.",
            shown.join(", "),
            target.head
        ));
    }
    if !rr.stays.is_empty() {
        let stays: usize = rr.stays.iter().map(|s| s.count).sum();
        notes.push(format!(
            "{stays} reference(s) stay direct (unmapped, excluded, templated, invalid or hints): see the migration report."
        ));
    }
    let body = github::markdown_body(&heading, &pairs, &notes);
    match pull_request::open(target, &title, &body)? {
        PrResult::Done(p) => rr.pull_request = Some(p),
        PrResult::NothingNew => rr.notes.push(BASE_HAS_IT.to_string()),
    }
    Ok(())
}

/// Distinct `old → new` pairs.
type Pairs = Vec<(String, String)>;

/// Every distinct `old → new` the plan rewrites, sorted.
pub(super) fn planned_pairs(report: &Report) -> Pairs {
    let mut pairs: Vec<(String, String)> = report
        .references
        .iter()
        .filter(|r| r.status == crate::pipeline::plan::Status::Rewritten)
        .map(|r| (r.original.clone(), r.rewritten.clone().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// Every distinct `old → new` of the report's changes, sorted.
fn report_pairs(rr: &RepoReport) -> Pairs {
    let mut pairs: Vec<(String, String)> = rr
        .changes
        .iter()
        .flat_map(|f| f.references.iter())
        .map(|c| (c.original.clone(), c.rewritten.clone()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The publish flow's settings from migrate's git flags.
pub(super) fn git_options(args: &MigrateArgs) -> GitOptions {
    GitOptions {
        remote: args.remote.clone(),
        pull_request: args.pull_request,
        retries: args.push_retries,
        allow_dirty: args.identity.allow_dirty,
        author_name: args.identity.author_name.clone(),
        author_email: args.identity.author_email.clone(),
        token_hosts: args.identity.git_token_host.clone(),
    }
}
