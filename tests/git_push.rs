//! `harborize bump --commit/--push` against real git: a bare remote on disk, clones made by
//! the tests, pushes through git2 over file paths and over HTTP (`git http-backend` behind
//! Basic auth), and eight bumps racing for one branch.

mod common;
mod support_git;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, harborize, stderr, stdout, HARBOR};
use support_git::*;

const APPS: usize = 8;

fn deploy(app: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{app}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app{app}\n          image: ghcr.io/org/app{app}:v1 # keep\n"
    )
}

/// One kustomization naming every app: concurrent bumps edit the same file.
fn kustomization() -> String {
    let mut s = String::from("resources:\n");
    for i in 0..APPS {
        s.push_str(&format!("  - app{i}/deployment.yaml\n"));
    }
    s.push_str("images:\n");
    for i in 0..APPS {
        s.push_str(&format!(
            "  - name: harbor.example.com/ghcr/org/app{i}\n    newTag: v1\n"
        ));
    }
    s
}

fn files() -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = (0..APPS)
        .map(|i| (format!("apps/app{i}/deployment.yaml"), deploy(i)))
        .collect();
    f.push(("apps/kustomization.yaml".into(), kustomization()));
    f.push(("README.md".into(), "# gitops\n".into()));
    f
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    remote: PathBuf,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let remote = bare_remote(&root.join("srv/gitops.git"));
        seed(&remote, &root.join("seed"), &files());
        World {
            _tmp: tmp,
            root,
            remote,
        }
    }

    fn clone(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        clone(&self.remote, &dir);
        dir
    }

    fn remote_head(&self) -> String {
        rev(&self.remote, "main")
    }
}

/// `harborize bump` in `dir` for app N with a clean environment plus `env`.
fn bump_cmd(dir: &Path, app: usize, tag: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = harborize();
    cmd.current_dir(dir)
        .args(["bump", "--harbor", HARBOR, "--tag", tag])
        .arg("--image")
        .arg(format!("ghcr.io/org/app{app}"))
        .args(args)
        .arg("apps");
    cmd
}

fn bump(dir: &Path, app: usize, tag: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bump_cmd(dir, app, tag, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("harborize runs")
}

const ID: &[&str] = &[
    "--author-name",
    "Bump Bot",
    "--author-email",
    "bot@example.com",
];

fn with_id<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = ID.to_vec();
    v.extend_from_slice(args);
    v
}

fn show_out(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

#[test]
fn commit_stages_exactly_the_changed_files_with_the_default_message() {
    let w = World::new();
    let dir = w.clone("work");
    // An untracked file is not "dirty" and is never committed.
    write(&dir, "notes.txt", "scratch\n");
    let output = w.root.join("gh_output");
    let summary = w.root.join("gh_summary");
    let out = bump(
        &dir,
        3,
        "v2",
        &with_id(&["--commit"]),
        &[
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let files = git(&dir, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(
        files,
        "apps/app3/deployment.yaml\napps/kustomization.yaml",
        "{}",
        show_out(&out)
    );
    let msg = git(&dir, &["log", "-1", "--format=%B"]);
    assert_eq!(
        msg,
        "harborize: bump ghcr.io/org/app3 to v2\n\n- ghcr.io/org/app3:v1 → harbor.example.com/ghcr/org/app3:v2\n- harbor.example.com/ghcr/org/app3:v1 → harbor.example.com/ghcr/org/app3:v2\n\nHarborize-Images: 1"
    );
    assert_eq!(
        git(&dir, &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]),
        "Bump Bot <bot@example.com>|Bump Bot <bot@example.com>"
    );
    assert_eq!(
        read(&dir, "apps/app3/deployment.yaml"),
        deploy(3).replace("ghcr.io/org/app3:v1", "harbor.example.com/ghcr/org/app3:v2")
    );
    // Clean afterwards (index staged to match), the untracked file untouched.
    assert_eq!(git(&dir, &["status", "--porcelain"]), "?? notes.txt");
    // Not pushed without --push.
    assert_ne!(w.remote_head(), rev(&dir, "HEAD"));
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("changed=true\n"), "{o}");
    assert!(
        o.contains(&format!("commit={}\n", rev(&dir, "HEAD"))),
        "{o}"
    );
    assert!(
        o.contains("\"to\":\"harbor.example.com/ghcr/org/app3:v2\""),
        "{o}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("harborize bump"));
}

#[test]
fn identity_from_github_actor_template_and_signoff() {
    let w = World::new();
    let dir = w.clone("work");
    let out = bump(
        &dir,
        1,
        "2.0.0",
        &[
            "--commit",
            "--signoff",
            "--message-template",
            "deploy: {summary} ({count} image)\n\n{images}",
        ],
        &[("GITHUB_ACTOR", "octocat"), ("GIT_COMMITTER_NAME", "CI")],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(
        git(&dir, &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]),
        "octocat <octocat@users.noreply.github.com>|CI <octocat@users.noreply.github.com>"
    );
    let msg = git(&dir, &["log", "-1", "--format=%B"]);
    assert!(
        msg.starts_with("deploy: ghcr.io/org/app1 to 2.0.0 (1 image)\n\n- "),
        "{msg}"
    );
    assert!(
        msg.ends_with("\n\nSigned-off-by: CI <octocat@users.noreply.github.com>"),
        "{msg}"
    );
}

#[test]
fn a_dirty_tree_is_refused_unless_allow_dirty_and_then_only_our_files_are_committed() {
    let w = World::new();
    let dir = w.clone("work");
    let head = rev(&dir, "HEAD");
    // A modified tracked file and a staged one.
    write(&dir, "README.md", "# gitops\nlocal edit\n");
    write(
        &dir,
        "apps/app5/deployment.yaml",
        &deploy(5).replace("# keep", "# staged"),
    );
    git(&dir, &["add", "apps/app5/deployment.yaml"]);

    let out = bump(&dir, 0, "v2", &with_id(&["--commit"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("uncommitted changes"),
        "{}",
        show_out(&out)
    );
    assert!(stderr(&out).contains("README.md"), "{}", show_out(&out));
    assert!(stderr(&out).contains("--allow-dirty"), "{}", show_out(&out));
    assert_eq!(rev(&dir, "HEAD"), head);
    assert_eq!(
        read(&dir, "apps/app0/deployment.yaml"),
        deploy(0),
        "nothing written"
    );

    let out = bump(&dir, 0, "v2", &with_id(&["--commit", "--allow-dirty"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(rev(&dir, "HEAD~1"), head);
    assert_eq!(
        git(&dir, &["show", "--name-only", "--format=", "HEAD"]),
        "apps/app0/deployment.yaml\napps/kustomization.yaml"
    );
    // The user's changes are still there, unstaged and staged as they were.
    assert_eq!(
        git(&dir, &["status", "--porcelain"]),
        " M README.md\nM  apps/app5/deployment.yaml"
    );
    assert_eq!(read(&dir, "README.md"), "# gitops\nlocal edit\n");
    assert_eq!(show(&dir, "HEAD", "README.md"), "# gitops");
}

#[test]
fn allow_dirty_refuses_to_commit_a_file_the_user_had_changed() {
    let w = World::new();
    let dir = w.clone("work");
    let head = rev(&dir, "HEAD");
    write(
        &dir,
        "apps/app2/deployment.yaml",
        &deploy(2).replace("# keep", "# mine"),
    );
    let out = bump(&dir, 2, "v2", &with_id(&["--commit", "--allow-dirty"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("apps/app2/deployment.yaml had uncommitted changes"),
        "{}",
        show_out(&out)
    );
    assert_eq!(rev(&dir, "HEAD"), head);
}

#[test]
fn nothing_to_change_makes_no_commit() {
    let w = World::new();
    let dir = w.clone("work");
    let out = bump(&dir, 4, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let head = rev(&dir, "HEAD");
    assert_eq!(w.remote_head(), head);

    let output = w.root.join("gh_output");
    let out = bump(
        &dir,
        4,
        "v2",
        &with_id(&["--push"]),
        &[("GITHUB_OUTPUT", output.to_str().unwrap())],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(
        stdout(&out).contains("nothing changed"),
        "{}",
        show_out(&out)
    );
    assert!(stdout(&out).contains("no commit"), "{}", show_out(&out));
    assert_eq!(rev(&dir, "HEAD"), head);
    assert_eq!(w.remote_head(), head);
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("changed=false\ncommit=\n"), "{o}");
}

#[test]
fn a_stale_clone_rebases_by_re_bumping_and_a_concurrent_identical_bump_counts_as_done() {
    let w = World::new();
    let a = w.clone("a");
    let b = w.clone("b");
    let c = w.clone("c");
    let out = bump(&a, 6, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let after_a = w.remote_head();

    // b is stale and bumps another app in the same kustomization: rejected, fetch, reset,
    // bump again, push.
    let out = bump(&b, 7, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    assert!(stdout(&out).contains("after 1 retry"), "{}", show_out(&out));
    assert_eq!(rev(&w.remote, "main~1"), after_a);
    let k = show(&w.remote, "main", "apps/kustomization.yaml");
    assert!(k.contains("app6\n    newTag: v2"), "{k}");
    assert!(k.contains("app7\n    newTag: v2"), "{k}");
    let after_b = w.remote_head();

    // c (stale too) bumps app6 to the value a already pushed: done, no empty commit.
    let output = w.root.join("gh_output");
    let out = bump(
        &c,
        6,
        "v2",
        &with_id(&["--push"]),
        &[("GITHUB_OUTPUT", output.to_str().unwrap())],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stdout(&out).contains("already has"), "{}", show_out(&out));
    assert_eq!(w.remote_head(), after_b);
    assert_eq!(rev(&c, "HEAD"), after_b);
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("changed=false\n"), "{o}");
    assert_eq!(git(&c, &["status", "--porcelain"]), "");
}

/// Pushes and fetches between repositories on this machine copy loose objects by hard link
/// and only the tree entries that changed; objects packed on the other side (a `git gc` on
/// the remote, a clone made from a pack) are read and written instead. Both repositories
/// must stay complete: `git fsck` finds nothing missing.
#[test]
fn local_push_and_fetch_stay_complete_when_the_remote_packs_its_objects() {
    let w = World::new();
    let a = w.clone("a");
    let b = w.clone("b");
    let out = bump(&a, 2, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let pushed = w.remote_head();
    // The pushed commit's objects arrived loose; pack them all on the remote.
    git(&w.remote, &["gc", "--quiet", "--prune=now"]);
    let loose = git(&w.remote, &["count-objects"]);
    assert!(loose.starts_with("0 objects"), "remote not packed: {loose}");

    // b is stale: rejected, fetches a's commit (packed on the remote), re-bumps, pushes.
    let out = bump(&b, 3, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    assert_eq!(rev(&w.remote, "main~1"), pushed);
    for repo in [&w.remote, &b] {
        let fsck = git_cmd(repo)
            .args(["fsck", "--full", "--no-dangling"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success() && fsck.stdout.is_empty(),
            "fsck of {}: {}{}",
            repo.display(),
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        );
    }
    let k = show(&w.remote, "main", "apps/kustomization.yaml");
    assert!(k.contains("app2\n    newTag: v2"), "{k}");
    assert!(k.contains("app3\n    newTag: v2"), "{k}");
    // The work tree of b is the remote head, nothing left over.
    assert_eq!(rev(&b, "HEAD"), w.remote_head());
    assert_eq!(git(&b, &["status", "--porcelain"]), "");
}

#[test]
fn eight_concurrent_bumps_all_land_linearly_without_force() {
    let w = World::new();
    let clones: Vec<PathBuf> = (0..APPS).map(|i| w.clone(&format!("c{i}"))).collect();
    let seed_head = w.remote_head();
    let start = std::time::Instant::now();
    let children: Vec<_> = clones
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            bump_cmd(dir, i, "v2", &with_id(&["--push"]))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let elapsed = start.elapsed();
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(code(out), 0, "bump {i}: {}", show_out(out));
    }
    // All 8 landed, once each, on a linear history.
    let log = git(&w.remote, &["log", "--format=%H %P|%s", "main"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), APPS + 1, "{log}");
    assert_eq!(git(&w.remote, &["rev-list", "--merges", "main"]), "");
    for l in &lines[..APPS] {
        let hashes = l.split('|').next().unwrap();
        assert_eq!(hashes.split(' ').count(), 2, "one parent each: {l}");
    }
    for i in 0..APPS {
        let subject = format!("harborize: bump ghcr.io/org/app{i} to v2");
        assert_eq!(
            lines.iter().filter(|l| l.ends_with(&subject)).count(),
            1,
            "app{i} exactly once:\n{log}"
        );
        assert!(
            show(&w.remote, "main", &format!("apps/app{i}/deployment.yaml")).contains(&format!(
                "image: harbor.example.com/ghcr/org/app{i}:v2 # keep"
            ))
        );
    }
    let k = show(&w.remote, "main", "apps/kustomization.yaml");
    assert_eq!(k.matches("newTag: v2").count(), APPS, "{k}");
    // No force push: every update of main moved it forward by exactly one commit.
    let reflog = git(
        &w.remote,
        &["reflog", "show", "--format=%H", "refs/heads/main"],
    );
    let updates: Vec<&str> = reflog.lines().collect();
    assert_eq!(updates.len(), APPS + 1, "{reflog}");
    for pair in updates.windows(2) {
        assert_eq!(
            rev(&w.remote, &format!("{}~1", pair[0])),
            pair[1],
            "{reflog}"
        );
    }
    assert_eq!(*updates.last().unwrap(), seed_head);
    eprintln!(
        "8-way race: {:?}, retries per bump: {:?}",
        elapsed,
        outs.iter()
            .map(|o| stderr(o).matches("push rejected").count())
            .collect::<Vec<_>>()
    );
}

const TOKEN: &str = "hz-test-token-4b1d0c9e";

fn http_world() -> (World, GitHttpServer) {
    let w = World::new();
    let server = GitHttpServer::start(w.remote.parent().unwrap(), TOKEN);
    (w, server)
}

fn assert_no_token(out: &Output) {
    assert!(!stdout(out).contains(TOKEN), "token in stdout");
    assert!(!stderr(out).contains(TOKEN), "token in stderr");
}

#[test]
fn push_over_http_with_a_token_and_a_wrong_token_fails() {
    let (w, server) = http_world();
    let dir = w.clone("work");
    git(
        &dir,
        &["remote", "set-url", "origin", &server.url("gitops.git")],
    );
    let before = w.remote_head();

    // Wrong token: refused, nothing pushed, no secret printed.
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push"]),
        &[("HARBORIZE_GIT_TOKEN", "wrong-token")],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("authentication"),
        "{}",
        show_out(&out)
    );
    assert!(!stderr(&out).contains("wrong-token"), "{}", show_out(&out));
    assert_eq!(w.remote_head(), before);
    assert!(
        server
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );

    // No token at all: refused too.
    git(&dir, &["reset", "--quiet", "--hard", "origin/main"]);
    let out = bump(&dir, 0, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert_eq!(w.remote_head(), before);

    // The right token: pushed.
    git(&dir, &["reset", "--quiet", "--hard", "origin/main"]);
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push"]),
        &[("HARBORIZE_GIT_TOKEN", TOKEN)],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert_eq!(w.remote_head(), rev(&dir, "HEAD"));
    assert!(show(&w.remote, "main", "apps/app0/deployment.yaml")
        .contains("harbor.example.com/ghcr/org/app0:v2"));
    // The token is not stored anywhere in the clone's config.
    assert!(!std::fs::read_to_string(dir.join(".git/config"))
        .unwrap()
        .contains(TOKEN));
}

#[test]
fn push_over_http_retries_when_the_remote_moved_with_github_token() {
    let (w, server) = http_world();
    let a = w.clone("a");
    let b = w.clone("b");
    for d in [&a, &b] {
        git(
            d,
            &["remote", "set-url", "origin", &server.url("gitops.git")],
        );
    }
    let out = bump(
        &a,
        1,
        "v3",
        &with_id(&["--push"]),
        &[("GITHUB_TOKEN", TOKEN)],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    let after_a = w.remote_head();
    // b is stale: the HTTP remote refuses the non-fast-forward; b fetches (with the
    // token), re-bumps and pushes.
    let out = bump(
        &b,
        2,
        "v3",
        &with_id(&["--push"]),
        &[("GITHUB_TOKEN", TOKEN)],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    assert_eq!(rev(&w.remote, "main~1"), after_a);
    assert_eq!(git(&w.remote, &["rev-list", "--merges", "main"]), "");
}
