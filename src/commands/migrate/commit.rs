//! The write and commit step of one repository of `harborize migrate`, done once and
//! again after each reset onto a moved remote; with the commit messages it writes. Apart
//! from `publish` so that each file stays small enough to read at once.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Ctx;
use crate::migrate::{self, BatchBy, CommitInfo, Direction, RepoReport};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{self, PlanOptions};
use crate::report::Report;
use crate::vcs::git::Identity;
use crate::vcs::publish::Session;

/// At most this many `old → new` lines in a commit message.
const MESSAGE_LINES: usize = 50;

/// One repository's write and commit step, done once and again after each reset onto a
/// moved remote.
pub(super) struct Writer<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) root: &'a Path,
    pub(super) harbor: &'a str,
    pub(super) mapper: &'a crate::mapping::Mapper,
    pub(super) proof: &'a crate::pipeline::render::ProofSettings,
    pub(super) stage: &'a dyn Fn(&str),
}

impl Writer<'_> {
    /// Write `plan` (the checked one), or plan again and write (after a reset), fill `rr`,
    /// and commit in `session`.
    pub(super) fn write_and_commit(
        &self,
        session: Option<&Session>,
        rr: &mut RepoReport,
        plan: Option<engine::Plan>,
    ) -> Result<()> {
        let run_options = RunOptions {
            plan: PlanOptions {
                direction: match self.ctx.direction {
                    Direction::Migrate => plan::Direction::Forward,
                    Direction::Revert => plan::Direction::Revert,
                },
                rewrite_hints: self.ctx.args.rewrite_hints,
                every_document: false,
            },
            write: true,
            diff: false,
            keep: false,
        };
        let roots = [self.root.to_path_buf()];
        (self.stage)("writing");
        // Helm and kustomize edits are proven by rendering before they are written.
        let (results, outcomes) = match plan {
            Some(plan) => engine::apply_proven(
                &roots,
                plan,
                (false, true),
                self.proof,
                (self.mapper, run_options.plan.direction),
            ),
            None => engine::run_proven(&roots, self.mapper, run_options, None, self.proof),
        };
        crate::commands::print_render_refusals(&outcomes);
        let written = Report::build(self.harbor, results, true);
        rr.fill(&written, self.root, true);
        rr.written = true;
        let Some(s) = session else { return Ok(()) };
        rr.branch = Some(s.branch.clone());
        (self.stage)("committing");
        rr.commits = commit(self.ctx, s, rr, self.root)?;
        Ok(())
    }
}

/// Commit the changed files: one commit, or one per top-level directory.
fn commit(ctx: &Ctx<'_>, s: &Session, rr: &RepoReport, root: &Path) -> Result<Vec<CommitInfo>> {
    let files = rr.changed_files();
    let groups: Vec<(Option<String>, Vec<String>)> = match ctx.batch {
        BatchBy::Repo => vec![(None, files)],
        BatchBy::Dir => migrate::batches(&files)
            .into_iter()
            .map(|(d, f)| (Some(d), f))
            .collect(),
    };
    let mut out = Vec::new();
    for (dir, files) in groups {
        if files.is_empty() {
            continue;
        }
        let rels = files
            .iter()
            .map(|f| s.git.relative(&root.join(f)))
            .collect::<Result<Vec<PathBuf>>>()?;
        let message = commit_message(ctx, rr, dir.as_deref(), &files, &s.committer);
        if let Some(oid) = s.commit(&rels, &message)? {
            out.push(CommitInfo {
                sha: oid.to_string(),
                directory: dir,
                files,
            });
        }
    }
    Ok(out)
}

fn commit_message(
    ctx: &Ctx<'_>,
    rr: &RepoReport,
    dir: Option<&str>,
    files: &[String],
    committer: &Identity,
) -> String {
    let place = match dir {
        Some(".") => " at the repository root".to_string(),
        Some(d) => format!(" in {d}/"),
        None => String::new(),
    };
    let harbor = rr.harbor.as_deref().unwrap_or("Harbor");
    let subject = match ctx.direction {
        Direction::Migrate => format!("Route container images{place} through Harbor"),
        Direction::Revert => format!("Revert container images{place} to their upstream registries"),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    for f in rr.changes.iter().filter(|c| files.contains(&c.file)) {
        for c in &f.references {
            count += 1;
            let pair = (c.original.clone(), c.rewritten.clone());
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
    }
    let mut body = match ctx.direction {
        Direction::Migrate => format!(
            "harborize migrate: {count} reference(s) in {} file(s) now pull through {harbor}.\n",
            files.len()
        ),
        Direction::Revert => format!(
            "harborize migrate --revert: {count} reference(s) in {} file(s) back to their upstream registries (from {harbor}).\n",
            files.len()
        ),
    };
    body.push('\n');
    for (old, new) in pairs.iter().take(MESSAGE_LINES) {
        body.push_str(&format!("- {old} → {new}\n"));
    }
    if pairs.len() > MESSAGE_LINES {
        body.push_str(&format!("- … and {} more\n", pairs.len() - MESSAGE_LINES));
    }
    let mut text = format!(
        "{subject}\n\n{body}\nHarborize-Migration: {}\n",
        ctx.direction.as_str()
    );
    if ctx.args.identity.signoff {
        text.push_str(&format!(
            "Signed-off-by: {} <{}>\n",
            committer.name, committer.email
        ));
    }
    text
}
