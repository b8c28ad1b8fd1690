//! `harborize bump --commit/--push` against real git: a bare remote on disk (pushed to
//! through `git push`/receive-pack, so its hooks run), clones made by the tests, pushes
//! through git2 over HTTP(S) (`git http-backend` behind Basic auth, recording where the
//! token arrives), submodules, local commits on a moved remote, and eight bumps racing
//! for one branch.

use crate::support;
use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, harborize, stderr, stdout, HARBOR};
use support::git::*;

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

/// A Pod listing every app on adjacent lines: two bumps conflict in a three-way merge of
/// this file when their apps are neighbours.
fn adjacent_lines() -> String {
    let mut s =
        String::from("apiVersion: v1\nkind: Pod\nmetadata:\n  name: all\nspec:\n  containers:\n");
    for i in 0..APPS {
        s.push_str(&format!(
            "    - {{name: c{i}, image: ghcr.io/org/app{i}:v1}}\n"
        ));
    }
    s
}

/// A Pod listing every app on one line: any two bumps conflict in it.
fn one_line() -> String {
    let items: Vec<String> = (0..APPS)
        .map(|i| format!("{{name: c{i}, image: ghcr.io/org/app{i}:v1}}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: one\nspec:\n  containers: [{}]\n",
        items.join(", ")
    )
}

/// Add the files whose lines every bump shares (a second commit on the remote).
fn add_shared_lines(w: &World) {
    seed(
        &w.remote,
        &w.root.join("seed-shared"),
        &[
            ("apps/pods.yaml".into(), adjacent_lines()),
            ("apps/one-line.yaml".into(), one_line()),
        ],
    );
}

/// The `N` of each `harborize: replayed ... N conflicting` line.
fn conflicts_per_replay(err: &str) -> Vec<usize> {
    err.lines()
        .filter(|l| l.starts_with("harborize: replayed the bump onto"))
        .map(|l| {
            let before = l.split(" conflicting").next().unwrap();
            before.rsplit(' ').next().unwrap().parse().unwrap()
        })
        .collect()
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

/// Issue 13 item 2: after a rejected push, a file the remote changed is planned again when
/// the change may alter what references the image: here a registry key set beside the
/// image's Helm `repository:`. Another image's line whose value merely contains the word
/// "registry" (`registry.k8s.io/...`), two lines from the image's, merges as text.
#[test]
fn a_replay_re_plans_a_registry_key_beside_the_image_but_not_a_registry_word_in_a_value() {
    let w = World::new();
    let pod = |c4: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - {{name: c3, image: ghcr.io/org/app3:v1}}\n    - {{name: c5, image: ghcr.io/org/app5:v1}}\n    - {{name: c4, image: {c4}}}\n"
        )
    };
    let values = |mirror: &str| {
        format!(
            "app:\n  image:\n    registry: ghcr.io\n    repository: org/app3\n    tag: v1\n  pullPolicy: IfNotPresent\n  mirrorRegistry: {mirror}\n"
        )
    };
    seed(
        &w.remote,
        &w.root.join("seed-1"),
        &[
            ("apps/pod.yaml".into(), pod("ghcr.io/org/app4:v1")),
            ("apps/values.yaml".into(), values("quay.io")),
        ],
    );
    let stale = w.clone("stale");
    seed(
        &w.remote,
        &w.root.join("seed-2"),
        &[
            ("apps/pod.yaml".into(), pod("registry.k8s.io/pause:3.9")),
            ("apps/values.yaml".into(), values("docker.io")),
        ],
    );
    let out = bump(&stale, 3, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(
        stderr(&out).contains(
            "0 conflicting, 1 changed by the remote near the image; 1 file(s) re-planned"
        ),
        "only values.yaml is planned again: {}",
        show_out(&out)
    );
    let shown = |path: &str| git(&w.remote, &["show", &format!("main:{path}")]);
    let pod = shown("apps/pod.yaml");
    assert!(
        pod.contains("image: harbor.example.com/ghcr/org/app3:v2}")
            && pod.contains("image: registry.k8s.io/pause:3.9}"),
        "{pod}"
    );
    let values = shown("apps/values.yaml");
    assert!(
        values.contains("registry: harbor.example.com/ghcr\n")
            && values.contains("tag: v2\n")
            && values.ends_with("mirrorRegistry: docker.io"),
        "{values}"
    );
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
    // Replayed by a clean merge: nothing planned again (issue 13 item 2).
    assert!(
        stderr(&out).contains(
            "0 conflicting, 0 changed by the remote near the image; 0 file(s) re-planned"
        ),
        "{}",
        show_out(&out)
    );
    assert_eq!(rev(&w.remote, "main~1"), after_a);
    // The replay was pushed before it was checked out: b ends on it, clean.
    assert_eq!(rev(&b, "HEAD"), w.remote_head());
    assert_eq!(git(&b, &["status", "--porcelain"]), "");
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
    let packs: Vec<PathBuf> = std::fs::read_dir(w.remote.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack" || e == "idx"))
        .collect();
    assert!(!packs.is_empty(), "gc left no pack to link");

    // b is stale: rejected, fetches a's commit (packed on the remote), re-bumps, pushes.
    let out = bump(&b, 3, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    assert_eq!(rev(&w.remote, "main~1"), pushed);
    // The remote's pack reached b as a hard link (the same file), not object by object.
    use std::os::unix::fs::MetadataExt;
    for p in &packs {
        let mine = b.join(".git/objects/pack").join(p.file_name().unwrap());
        let (theirs, mine) = (std::fs::metadata(p).unwrap(), std::fs::metadata(&mine));
        assert_eq!(
            mine.map(|m| m.ino()).ok(),
            Some(theirs.ino()),
            "{}",
            p.display()
        );
    }
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

/// Issue 13 item 2: a stale clone's bump commit is replayed onto the moved remote by a
/// three-way merge; only the file whose lines conflict (adjacent lines) is planned again,
/// and the pushed commit (tree and message) is the one a clone that was not stale makes.
#[test]
fn a_rejected_bump_is_replayed_by_merging_and_only_the_conflicting_file_is_re_planned() {
    let w = World::new();
    add_shared_lines(&w);
    let a = w.clone("a");
    let b = w.clone("b");
    let out = bump(&a, 6, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let after_a = w.remote_head();

    // b is stale: app7's lines touch app6's in pods.yaml and one-line.yaml (conflicts),
    // not in the kustomization (merged).
    let out = bump(&b, 7, "v2", &with_id(&["--push", "--format", "json"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = &v["bump"]["git"];
    assert_eq!(g["retries"], 1, "{}", show_out(&out));
    assert_eq!(g["replays"], 1, "{}", show_out(&out));
    assert_eq!(g["replanned_files"], 2, "{}", show_out(&out));
    assert_eq!(
        conflicts_per_replay(&stderr(&out)),
        vec![2],
        "{}",
        show_out(&out)
    );
    assert_eq!(rev(&w.remote, "main~1"), after_a);
    for f in ["apps/pods.yaml", "apps/one-line.yaml"] {
        let text = show(&w.remote, "main", f);
        for app in [6, 7] {
            assert!(
                text.contains(&format!("image: harbor.example.com/ghcr/org/app{app}:v2}}")),
                "{text}"
            );
        }
    }
    assert_eq!(rev(&b, "HEAD"), w.remote_head());
    assert_eq!(git(&b, &["status", "--porcelain"]), "");

    // A clone made after a's push (nothing to replay) commits the same tree and message.
    let c = w.clone("c");
    git(&c, &["reset", "--quiet", "--hard", &after_a]);
    let out = bump(&c, 7, "v2", &with_id(&["--commit"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(
        rev(&c, "HEAD^{tree}"),
        rev(&w.remote, "main^{tree}"),
        "replayed and fresh commits differ"
    );
    let message = |repo: &Path, r: &str| git(repo, &["log", "-1", "--format=%B", r]);
    assert_eq!(message(&c, "HEAD"), message(&w.remote, "main"));
}

/// A `pre-receive` hook that holds the first `n` pushes until all `n` have arrived: each
/// was computed on the same remote head, so exactly one can land and the others must be
/// rejected and retried (later pushes pass straight through).
fn barrier_hook(remote: &Path, dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    hook(
        remote,
        "pre-receive",
        &format!(
            "cat > /dev/null
: > '{d}/'$$
i=0
             while [ \"$(ls '{d}' | wc -l)\" -lt {n} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
             exit 0",
            d = dir.display()
        ),
    );
}

/// Eight bumps of eight apps in one kustomization, started together against `url` (the
/// clones' origin, or the bare remote itself when None), with `env`. Asserts that all
/// landed once each on a linear history without force, that the race really happened
/// (the first round was held at a barrier: seven pushes rejected) and that every rejection
/// was retried and counted in the JSON `retries`. Returns the per-bump retry counts.
fn race(w: &World, url: Option<&str>, env: &[(&str, &str)]) -> Vec<u64> {
    let clones: Vec<PathBuf> = (0..APPS).map(|i| w.clone(&format!("c{i}"))).collect();
    if let Some(url) = url {
        for c in &clones {
            git(c, &["remote", "set-url", "origin", url]);
        }
    }
    let arrivals = w.root.join("barrier");
    barrier_hook(&w.remote, &arrivals, APPS);
    let seed_head = w.remote_head();
    let start = std::time::Instant::now();
    let children: Vec<_> = clones
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            // Every rejection of a racer means another racer landed after its last
            // fetch: 7 retries (one per other racer) always suffice, whatever the timing.
            let mut cmd = bump_cmd(
                dir,
                i,
                "v2",
                &with_id(&["--push", "--push-retries", "7", "--format", "json"]),
            );
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.stdout(std::process::Stdio::piped())
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
    assert_eq!(lines.len(), APPS + 2, "{log}");
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
    for shared in ["apps/pods.yaml", "apps/one-line.yaml"] {
        let text = show(&w.remote, "main", shared);
        for i in 0..APPS {
            assert!(
                text.contains(&format!("image: harbor.example.com/ghcr/org/app{i}:v2}}")),
                "app{i} in {shared}:\n{text}"
            );
        }
    }
    // Every rejected push was settled by one replay; each replay met the one-line file's
    // conflict (the remote moved by another bump, which changed that line).
    let mut rejected = 0;
    for (i, out) in outs.iter().enumerate() {
        let err = stderr(out);
        let replays = conflicts_per_replay(&err);
        assert_eq!(
            replays.len(),
            err.matches("push rejected").count(),
            "bump {i}: {err}"
        );
        assert!(replays.iter().all(|&c| c >= 1), "bump {i}: {err}");
        rejected += replays.len();
    }
    assert!(
        rejected >= APPS - 1,
        "only {rejected} replays in an 8-way race"
    );
    // No force push: every update of main moved it forward by exactly one commit.
    let reflog = git(
        &w.remote,
        &["reflog", "show", "--format=%H", "refs/heads/main"],
    );
    let updates: Vec<&str> = reflog.lines().collect();
    assert_eq!(updates.len(), APPS + 2, "{reflog}");
    for pair in updates.windows(2) {
        assert_eq!(
            rev(&w.remote, &format!("{}~1", pair[0])),
            pair[1],
            "{reflog}"
        );
    }
    // Newest first: the eight bumps, then the commit of the shared lines (the head the
    // race started from).
    assert_eq!(updates[updates.len() - 2], seed_head);

    // The race happened: all eight first pushes met at the barrier.
    let arrived = std::fs::read_dir(&arrivals).unwrap().count();
    assert!(arrived >= APPS, "{arrived} pushes reached the remote");
    // Each rejection was reported on stderr, retried, and counted in the JSON report.
    let mut retries = Vec::new();
    for (i, out) in outs.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bump {i}: {e}\n{}", show_out(out)));
        let git_out = &v["bump"]["git"];
        assert_eq!(git_out["pushed"], true, "bump {i}: {git_out}");
        let counted = git_out["retries"]
            .as_u64()
            .unwrap_or_else(|| panic!("bump {i}: no retries count: {git_out}"));
        let rejected = stderr(out).matches("push rejected").count() as u64;
        assert_eq!(counted, rejected, "bump {i}: {}", show_out(out));
        retries.push(counted);
        // Replays are pushed before they are checked out; the clone ends on the commit
        // that landed, its work tree and index that commit's.
        let landed = git_out["commit"].as_str().unwrap_or_default();
        assert_eq!(rev(&clones[i], "HEAD"), landed, "bump {i}: {git_out}");
        assert_eq!(
            git(
                &clones[i],
                &["status", "--porcelain", "--untracked-files=no"]
            ),
            "",
            "bump {i}: the clone is not clean on {landed}"
        );
    }
    // Exactly one first push won; the seven others were rejected and retried.
    assert_eq!(
        retries.iter().filter(|r| **r == 0).count(),
        1,
        "retries per bump: {retries:?}"
    );
    assert!(
        retries.iter().sum::<u64>() >= (APPS as u64 - 1),
        "retries per bump: {retries:?}"
    );
    eprintln!("8-way race: {elapsed:?}, retries per bump: {retries:?}");
    retries
}

/// Issue #17 item 5: the race against a bare remote on disk (pushed through receive-pack).
/// Issue 13 item 2: the bumps also share lines (adjacent ones, and one line holding every
/// image), so replays conflict and those files are re-planned.
#[test]
fn eight_concurrent_bumps_all_land_linearly_without_force() {
    let w = World::new();
    add_shared_lines(&w);
    race(&w, None, &[]);
}

/// Issue #17 item 5: the same race over smart HTTP (`git http-backend` behind a loopback
/// server, anonymous push with `http.receivepack`): libgit2's network push, its rejection
/// by receive-pack, fetch and retry. A plain-HTTP remote needs no token and gets none.
#[test]
fn eight_concurrent_bumps_race_over_git_http_backend() {
    let w = World::new();
    add_shared_lines(&w);
    git(&w.remote, &["config", "http.receivepack", "true"]);
    let server = GitHttpServer::start_anonymous(w.remote.parent().unwrap());
    race(
        &w,
        Some(&server.url("gitops.git")),
        &[("GITHUB_TOKEN", TOKEN)],
    );
    assert!(
        server.served.load(std::sync::atomic::Ordering::SeqCst) > APPS,
        "the pushes went through the HTTP server"
    );
    assert!(
        server.authorizations.lock().unwrap().is_empty(),
        "a plain-HTTP remote got credentials"
    );
    assert!(!server.saw_token(TOKEN));
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
fn push_over_https_with_a_token_and_a_wrong_token_fails() {
    let (w, server, ca) = https_world();
    let (ca, host) = (ca.to_str().unwrap(), server.host());
    let tls = [
        ("SSL_CERT_FILE", ca),
        ("HARBORIZE_GIT_TOKEN_HOST", host.as_str()),
    ];
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
        &[("HARBORIZE_GIT_TOKEN", "wrong-token"), tls[0], tls[1]],
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
    let out = bump(&dir, 0, "v2", &with_id(&["--push"]), &tls);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert_eq!(w.remote_head(), before);

    // The right token: pushed.
    git(&dir, &["reset", "--quiet", "--hard", "origin/main"]);
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push"]),
        &[("HARBORIZE_GIT_TOKEN", TOKEN), tls[0], tls[1]],
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
fn push_over_https_retries_when_the_remote_moved_with_github_token() {
    let (w, server, ca) = https_world();
    let (ca, host) = (ca.to_str().unwrap(), server.host());
    let tls = [
        ("SSL_CERT_FILE", ca),
        ("HARBORIZE_GIT_TOKEN_HOST", host.as_str()),
    ];
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
        &[("GITHUB_TOKEN", TOKEN), tls[0], tls[1]],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    let after_a = w.remote_head();
    // b is stale: the HTTPS remote refuses the non-fast-forward; b fetches (with the
    // token), re-bumps and pushes.
    let out = bump(
        &b,
        2,
        "v3",
        &with_id(&["--push"]),
        &[("GITHUB_TOKEN", TOKEN), tls[0], tls[1]],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    assert_eq!(rev(&w.remote, "main~1"), after_a);
    assert_eq!(git(&w.remote, &["rev-list", "--merges", "main"]), "");
    // libgit2 pushed the replay through a reference of its own, gone afterwards; b ends on
    // the commit that landed, clean.
    assert_eq!(rev(&b, "HEAD"), w.remote_head());
    assert_eq!(git(&b, &["status", "--porcelain"]), "");
    assert_eq!(git(&b, &["for-each-ref", "refs/harborize"]), "");
}

/// Issue #17 item 6: a change that is only staged (the work tree matches the index) is a
/// dirty tree too: the bump refuses to commit from it without --allow-dirty.
#[test]
fn a_staged_only_change_counts_as_dirty() {
    let w = World::new();
    let dir = w.clone("work");
    let head = rev(&dir, "HEAD");
    write(&dir, "README.md", "# gitops\nstaged edit\n");
    git(&dir, &["add", "README.md"]);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "M  README.md");

    let out = bump(&dir, 0, "v2", &with_id(&["--commit"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("uncommitted changes") && stderr(&out).contains("README.md"),
        "{}",
        show_out(&out)
    );
    assert_eq!(rev(&dir, "HEAD"), head);
    assert_eq!(read(&dir, "apps/app0/deployment.yaml"), deploy(0));
}

// ---------------------------------------------------------------------------
// Submodules (issue #12 item 1)

/// A clone of the world with a submodule at `apps/vendor` (its own repository, holding a
/// manifest that names app0 upstream), committed and pushed; every clone made after this
/// has it checked out.
fn with_submodule(w: &World) -> PathBuf {
    let sub = bare_remote(&w.root.join("srv/vendor.git"));
    seed(
        &sub,
        &w.root.join("seed-vendor"),
        &[("deployment.yaml".into(), deploy(0))],
    );
    let dir = w.clone("with-sub");
    git(
        &dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "--quiet",
            sub.to_str().unwrap(),
            "apps/vendor",
        ],
    );
    git(&dir, &["commit", "--quiet", "-m", "vendor submodule"]);
    git(&dir, &["push", "--quiet", "origin", "main"]);
    sub
}

fn clone_recursive(w: &World, name: &str) -> PathBuf {
    let dir = w.root.join(name);
    git(
        &w.root,
        &[
            "-c",
            "protocol.file.allow=always",
            "clone",
            "--quiet",
            "--recurse-submodules",
            w.remote.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    dir
}

/// The gitlink is still a gitlink at HEAD, the submodule's files and index untouched.
fn assert_submodule_untouched(dir: &Path, out: &Output) {
    let entry = git(dir, &["ls-tree", "HEAD", "apps/vendor"]);
    assert!(
        entry.starts_with("160000 commit "),
        "{entry}\n{}",
        show_out(out)
    );
    assert_eq!(
        git(
            dir,
            &["ls-tree", "-r", "--name-only", "HEAD", "apps/vendor"]
        ),
        "apps/vendor",
        "{}",
        show_out(out)
    );
    assert_eq!(read(dir, "apps/vendor/deployment.yaml"), deploy(0));
    assert_eq!(
        git(&dir.join("apps/vendor"), &["status", "--porcelain"]),
        ""
    );
    assert_eq!(
        git(dir, &["status", "--porcelain"]),
        "",
        "{}",
        show_out(out)
    );
}

#[test]
fn submodules_are_never_entered_staged_or_changed_by_bump_run_and_migrate() {
    let w = World::new();
    with_submodule(&w);

    // bump --commit
    let dir = clone_recursive(&w, "bump");
    let out = bump(&dir, 0, "v2", &with_id(&["--commit"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(
        git(&dir, &["show", "--name-only", "--format=", "HEAD"]),
        "apps/app0/deployment.yaml\napps/kustomization.yaml"
    );
    assert_submodule_untouched(&dir, &out);

    // run --commit (no registry: verify and scan off)
    let dir = clone_recursive(&w, "run");
    let out = harborize()
        .current_dir(&dir)
        .args(["run", "--harbor", HARBOR, "--skip-verify", "--skip-scan"])
        .args(ID)
        .arg("apps")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_ne!(
        rev(&dir, "HEAD"),
        rev(&dir, "origin/main"),
        "{}",
        show_out(&out)
    );
    assert_submodule_untouched(&dir, &out);

    // migrate --commit of the work tree
    let dir = clone_recursive(&w, "migrate");
    let out = harborize()
        .current_dir(&w.root)
        .args(["migrate", "--harbor", HARBOR, "--commit"])
        .args(ID)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_ne!(
        rev(&dir, "HEAD"),
        rev(&dir, "origin/main"),
        "{}",
        show_out(&out)
    );
    assert_submodule_untouched(&dir, &out);
}

/// A file inside a submodule named on the command line is read (explicit files always
/// are), but the commit refuses to stage it: the gitlink is never replaced.
#[test]
fn a_file_named_inside_a_submodule_is_never_staged() {
    let w = World::new();
    with_submodule(&w);
    let dir = clone_recursive(&w, "explicit");
    let head = rev(&dir, "HEAD");
    // After `apps` (the first path decides the repository: the outer one).
    let out = bump_cmd(&dir, 0, "v2", &with_id(&["--commit"]))
        .arg("apps/vendor/deployment.yaml")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stderr(&out).contains("inside the submodule apps/vendor"),
        "{}",
        show_out(&out)
    );
    assert_eq!(rev(&dir, "HEAD"), head, "nothing committed");
    let entry = git(&dir, &["ls-tree", "HEAD", "apps/vendor"]);
    assert!(entry.starts_with("160000 commit "), "{entry}");
    let staged = git(&dir, &["ls-files", "--stage", "apps/vendor"]);
    assert!(staged.starts_with("160000 "), "index: {staged}");
}

// ---------------------------------------------------------------------------
// Local commits survive a moved remote (issue #12 item 2)

/// A clone with an unpushed commit of its own bumps after the remote moved: the bump is
/// redone on the new remote head and the local commit is replayed onto it, not dropped.
#[test]
fn a_push_after_the_remote_moved_keeps_the_unpushed_local_commit() {
    let w = World::new();
    let a = w.clone("a");
    let b = w.clone("b");
    write(&a, "notes/local.md", "mine\n");
    git(&a, &["add", "notes/local.md"]);
    git(&a, &["commit", "--quiet", "-m", "local: notes"]);
    // The remote moves: b bumps another app.
    let out = bump(&b, 1, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let moved = w.remote_head();

    let out = bump(&a, 0, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stderr(&out).contains("push rejected"), "{}", show_out(&out));
    // Remote: b's bump, then the local commit, then a's bump; linear, nothing lost.
    assert_eq!(rev(&w.remote, "main~2"), moved);
    assert_eq!(
        git(&w.remote, &["log", "--format=%s", "-2", "main"]),
        "harborize: bump ghcr.io/org/app0 to v2\nlocal: notes"
    );
    assert_eq!(show(&w.remote, "main", "notes/local.md"), "mine");
    let k = show(&w.remote, "main", "apps/kustomization.yaml");
    assert!(k.contains("app0\n    newTag: v2"), "{k}");
    assert!(k.contains("app1\n    newTag: v2"), "{k}");
    assert_eq!(read(&a, "notes/local.md"), "mine\n");
    assert_eq!(rev(&a, "HEAD"), w.remote_head());
    assert_eq!(git(&a, &["status", "--porcelain"]), "");
}

/// When the local commit cannot be replayed onto the moved remote (it conflicts), the
/// bump refuses with a message and leaves the branch as it was: the local commit stays.
#[test]
fn a_local_commit_that_conflicts_with_the_moved_remote_is_kept_and_the_push_refused() {
    let w = World::new();
    let a = w.clone("a");
    let b = w.clone("b");
    write(&a, "README.md", "# gitops (ours)\n");
    git(&a, &["commit", "--quiet", "-am", "local: readme"]);
    let local = rev(&a, "HEAD");
    write(&b, "README.md", "# gitops (theirs)\n");
    git(&b, &["commit", "--quiet", "-am", "remote: readme"]);
    git(&b, &["push", "--quiet", "origin", "main"]);
    let moved = w.remote_head();

    let out = bump(&a, 0, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let err = stderr(&out);
    assert!(
        err.contains("local commits") && err.contains("by hand"),
        "{err}"
    );
    assert_eq!(w.remote_head(), moved, "nothing pushed");
    // The branch keeps the local commit, with the run's commit on top.
    assert_eq!(rev(&a, "HEAD~1"), local);
    assert_eq!(read(&a, "README.md"), "# gitops (ours)\n");
    assert_eq!(git(&a, &["status", "--porcelain"]), "");
}

// ---------------------------------------------------------------------------
// Local remotes run their hooks (issue #12 item 3)

fn hook(remote: &Path, name: &str, script: &str) {
    let p = remote.join("hooks").join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_push_to_a_local_remote_runs_its_hooks() {
    let w = World::new();
    let log = w.root.join("hook.log");
    hook(
        &w.remote,
        "update",
        &format!("echo \"update $1\" >> '{}'", log.display()),
    );
    hook(
        &w.remote,
        "pre-receive",
        &format!("cat >> '{}'", log.display()),
    );
    let a = w.clone("a");
    let out = bump(&a, 0, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(w.remote_head(), rev(&a, "HEAD"));
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains(&format!("{} refs/heads/main", rev(&a, "HEAD")))
            && logged.contains("update refs/heads/main"),
        "hooks did not run: {logged:?}"
    );
}

#[test]
fn a_push_declined_by_the_remote_hook_is_an_error_not_a_retried_race() {
    let w = World::new();
    let count = w.root.join("declined.count");
    hook(
        &w.remote,
        "pre-receive",
        &format!(
            "echo x >> '{}'; echo 'policy: no pushes on friday' >&2; exit 1",
            count.display()
        ),
    );
    let before = w.remote_head();
    let a = w.clone("a");
    let out = bump(&a, 0, "v2", &with_id(&["--push"]), &[]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let err = stderr(&out);
    assert!(err.contains("declined"), "{err}");
    assert!(err.contains("policy: no pushes on friday"), "{err}");
    assert!(!err.contains("push rejected"), "retried as a race: {err}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        1,
        "pushed once"
    );
    assert_eq!(w.remote_head(), before);
}

/// Issue #17 item 5: over smart HTTP too, a push the remote's hook declines is an error
/// saying so, pushed once, not a lost race retried until the retries run out.
#[test]
fn a_push_declined_by_the_remote_hook_over_http_is_an_error_not_a_retried_race() {
    let w = World::new();
    add_shared_lines(&w);
    git(&w.remote, &["config", "http.receivepack", "true"]);
    let count = w.root.join("declined.count");
    hook(
        &w.remote,
        "pre-receive",
        &format!(
            "cat > /dev/null; echo x >> '{}'; echo 'policy: no pushes on friday' >&2; exit 1",
            count.display()
        ),
    );
    let server = GitHttpServer::start_anonymous(w.remote.parent().unwrap());
    let before = w.remote_head();
    let a = w.clone("a");
    git(
        &a,
        &["remote", "set-url", "origin", &server.url("gitops.git")],
    );
    let out = bump(
        &a,
        0,
        "v2",
        &with_id(&["--push", "--push-retries", "3"]),
        &[],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let err = stderr(&out);
    assert!(err.contains("declined by the remote"), "{err}");
    assert!(!err.contains("push rejected"), "retried as a race: {err}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        1,
        "pushed once"
    );
    assert_eq!(w.remote_head(), before);
}

// ---------------------------------------------------------------------------
// The git token goes over HTTPS to its host only (issue #12 item 9)

/// An HTTPS git server with a certificate of a fresh test CA, and the CA's file for
/// `SSL_CERT_FILE`.
fn https_world() -> (World, GitHttpServer, PathBuf) {
    let w = World::new();
    let ca = support::tls::TestCa::new();
    let (cert, key) = ca.server_cert();
    let ca_file = w.root.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = GitHttpServer::start_tls(
        w.remote.parent().unwrap(),
        TOKEN,
        support::tls::server_tls_config(&cert, &key),
    );
    (w, server, ca_file)
}

#[test]
fn the_git_token_is_never_sent_over_plain_http_even_to_a_named_host() {
    let (w, server) = http_world();
    let dir = w.clone("work");
    git(
        &dir,
        &["remote", "set-url", "origin", &server.url("gitops.git")],
    );
    let before = w.remote_head();
    let host = server.host();
    let server_url = format!("http://{host}");
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push", "--git-token-host", &host]),
        &[
            ("HARBORIZE_GIT_TOKEN", TOKEN),
            ("GITHUB_SERVER_URL", &server_url),
        ],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(
        stderr(&out).contains("only over HTTPS"),
        "{}",
        show_out(&out)
    );
    assert!(
        server
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
    assert!(!server.saw_token(TOKEN), "the token went over http");
    assert_eq!(w.remote_head(), before);
}

#[test]
fn the_git_token_goes_over_https_only_to_the_host_it_is_meant_for() {
    let (w, server, ca) = https_world();
    let dir = w.clone("work");
    git(
        &dir,
        &["remote", "set-url", "origin", &server.url("gitops.git")],
    );
    let before = w.remote_head();
    let ca = ca.to_str().unwrap();

    // Another host (not github.com, not GITHUB_SERVER_URL's, not named): no token.
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push"]),
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("SSL_CERT_FILE", ca),
            ("GITHUB_SERVER_URL", "https://github.example.com"),
        ],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(
        stderr(&out).contains("--git-token-host"),
        "{}",
        show_out(&out)
    );
    assert!(
        server
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
    assert!(!server.saw_token(TOKEN), "the token went to another host");
    assert_eq!(w.remote_head(), before);

    // The same host on another port is another host.
    let other_port = format!("127.0.0.1:{}", server.port + 1);
    git(&dir, &["reset", "--quiet", "--hard", "origin/main"]);
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push", "--git-token-host", &other_port]),
        &[("GITHUB_TOKEN", TOKEN), ("SSL_CERT_FILE", ca)],
    );
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(!server.saw_token(TOKEN), "the token went to another port");

    // GITHUB_SERVER_URL names it (GitHub Enterprise): pushed with the token.
    git(&dir, &["reset", "--quiet", "--hard", "origin/main"]);
    let server_url = format!("https://{}", server.host());
    let out = bump(
        &dir,
        0,
        "v2",
        &with_id(&["--push"]),
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("SSL_CERT_FILE", ca),
            ("GITHUB_SERVER_URL", &server_url),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(server.saw_token(TOKEN));
    assert_eq!(w.remote_head(), rev(&dir, "HEAD"));

    // --git-token-host (here through its environment twin) names it: pushed.
    let out = bump(
        &dir,
        1,
        "v2",
        &with_id(&["--push"]),
        &[
            ("HARBORIZE_GIT_TOKEN", TOKEN),
            ("SSL_CERT_FILE", ca),
            ("HARBORIZE_GIT_TOKEN_HOST", &server.host()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(w.remote_head(), rev(&dir, "HEAD"));
}

/// migrate clones and pushes with the same rule: an http:// URL or an HTTPS host the token
/// is not meant for never receives it; a named HTTPS host does.
#[test]
fn migrate_sends_the_git_token_only_over_https_to_its_host() {
    let (w, https, ca) = https_world();
    let http = GitHttpServer::start(w.remote.parent().unwrap(), TOKEN);
    let ca = ca.to_str().unwrap();
    let migrate = |url: &str, work: &str, extra: &[&str]| {
        harborize()
            .current_dir(&w.root)
            .env("HARBORIZE_GIT_TOKEN", TOKEN)
            .env("SSL_CERT_FILE", ca)
            .args(["migrate", "--harbor", HARBOR, "--push", "--workdir", work])
            .args(ID)
            .args(extra)
            .arg(url)
            .output()
            .unwrap()
    };
    let before = w.remote_head();
    let out = migrate(
        &http.url("gitops.git"),
        "w-http",
        &["--git-token-host", &http.host()],
    );
    assert_ne!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(!http.saw_token(TOKEN), "the token went over http");
    let out = migrate(&https.url("gitops.git"), "w-other", &[]);
    assert_ne!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(!https.saw_token(TOKEN), "the token went to another host");
    assert_eq!(w.remote_head(), before);

    let out = migrate(
        &https.url("gitops.git"),
        "w-named",
        &["--git-token-host", &https.host()],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_no_token(&out);
    assert!(https.saw_token(TOKEN));
    assert_ne!(w.remote_head(), before, "migrated and pushed");
}
