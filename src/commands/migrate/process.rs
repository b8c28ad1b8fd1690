//! One repository of `harborize migrate`, from clone to written tree: kept apart from the
//! command's loop and report so that each file stays small enough to read at once. The
//! checks (verify, scan) run on the plan before anything is written; the write, commit and
//! push are `publish`'s.

use std::path::Path;

use anyhow::{bail, Result};
use indicatif::ProgressBar;

use super::publish::{git_options, planned_pairs, write_commit_push};
use super::{common, env, Ctx};
use crate::checks::verify::verify_report;
use crate::cli::MigrateArgs;
use crate::commands::{Settings, EXIT_OK};
use crate::migrate::{self, RepoReport, Source, VerifyInfo};
use crate::pipeline::engine;
use crate::report::Report;
use crate::vcs::git::Auth;
use crate::vcs::publish::Session;

/// Migrate one repository, filling `rr`. An error fails the whole repository.
pub(super) fn process(
    ctx: &Ctx<'_>,
    src: &Source,
    rr: &mut RepoReport,
    pb: &ProgressBar,
) -> Result<()> {
    let args = ctx.args;
    let name = rr.repo.clone();
    let stage = |s: &str| pb.set_message(format!("{name}: {s}"));
    if matches!(src, Source::Url(_)) {
        stage("cloning");
    }
    let (root, note) = src.work_tree(&ctx.workdir, || git_auth(args))?;
    rr.notes.extend(note);
    rr.path = root.display().to_string();
    let Settings {
        config,
        harbor,
        mapper,
    } = Settings::for_common(&common(args, root.clone()))?;
    rr.harbor = Some(harbor.clone());
    rr.registry_aliases = migrate::registry_aliases(&config, &harbor);

    // Git first: a dirty tree or a missing identity stops us before any write.
    let mut session = if ctx.commit {
        Some(Session::open(&root, &git_options(args), env)?)
    } else {
        None
    };

    stage("planning");
    // Planned once: verify and scan check this plan, the pull-secret inventory comes from
    // its reads, and the first write applies it.
    let plan_value = engine::plan(
        std::slice::from_ref(&root),
        &mapper,
        ctx.direction.plan_options(args.rewrite_hints),
    );
    let mut planned = Report::build_from(&harbor, &plan_value, false);

    if args.verify {
        stage("verifying");
        let (summary, _) = verify_report(&mut planned, &mapper, &args.registry.options())?;
        let counts = (summary.checked, summary.failed, summary.unreachable);
        let info = VerifyInfo::from_plan(&planned, &root, counts);
        let passed = summary.exit_code(args.registry.on_unreachable) == EXIT_OK;
        if !rr.verified(info, passed, &planned, &root) {
            return Ok(());
        }
    }

    if args.scan {
        stage("scanning");
        let out = crate::commands::scan_stage(
            &mut planned,
            &mapper,
            (&args.registry, &args.trivy),
            &config,
        )?;
        if !rr.scanned(&out, out.exit_code() == EXIT_OK, &planned, &root) {
            return Ok(());
        }
    }

    if args.pull_secrets.is_some() {
        rr.pull_secrets = migrate::pull_secrets(&root, &plan_value, &planned, &harbor);
    }

    if args.dry_run {
        rr.settle_dry_run(&planned, &root);
        return Ok(());
    }

    if let Some(s) = &session {
        // With --allow-dirty, a file the user had changed is not committed with ours.
        let clash: Vec<String> = planned
            .files_changed
            .iter()
            .filter_map(|f| s.git.relative(Path::new(f)).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| s.dirty.contains(p))
            .collect();
        if !clash.is_empty() {
            bail!(
                "{} had uncommitted changes: not migrating them together with them (commit or stash first)",
                clash.join(", ")
            );
        }
    }

    // The pull request branch takes the commits when there is something to commit.
    if let Some(s) = session.as_mut() {
        let pairs = planned_pairs(&planned);
        if s.wants_pull_request() && !pairs.is_empty() {
            s.branch_for_change(ctx.direction.as_str(), &pairs)?;
        }
    }

    let result = write_commit_push(
        ctx,
        session.as_mut(),
        rr,
        (&root, plan_value, &config),
        &harbor,
        &mapper,
        &stage,
    );
    if let Some(s) = &session {
        // Back to the branch the repository had checked out: it was neither committed to
        // nor moved.
        if let Err(e) = s.go_home() {
            rr.notes.push(format!(
                "could not check out {} again ({e:#}); {} stays checked out",
                s.home, s.branch
            ));
        }
    }
    result?;
    rr.settle_written(ctx.direction);
    Ok(())
}

/// The git token and the hosts it may go to (`--git-token-host`), for clones and pushes.
fn git_auth(args: &MigrateArgs) -> Result<Auth> {
    crate::vcs::publish::auth(&args.identity.git_token_host, env)
}
