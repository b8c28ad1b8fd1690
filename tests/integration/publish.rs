//! The one publish flow (`harborize::vcs::publish`) as bump, run and migrate use it, on
//! real git: a bare remote on disk pushed to through `git push`/receive-pack, and clones
//! left stale by a commit another clone pushed. Also the `images` GitHub output, which
//! bump and run write in one shape.

use crate::support::common::{code, harborize, stderr, stdout, HARBOR};
use crate::support::git::{bare_remote, clone, git, rev, seed, AUTHOR};

use std::path::{Path, PathBuf};
use std::process::Output;

const WEB: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: ghcr.io/org/app:v1\n";

fn show_out(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// A bare remote seeded with one manifest, and a clone that the remote then moves past
/// (another commit pushed from elsewhere): the clone's first push loses the race.
struct Stale {
    _tmp: tempfile::TempDir,
    remote: PathBuf,
    clone: PathBuf,
    /// The commit the clone has (the remote's head before it moved).
    base: String,
}

impl Stale {
    fn new() -> Stale {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let remote = bare_remote(&root.join("srv/gitops.git"));
        seed(
            &remote,
            &root.join("seed"),
            &[("apps/web.yaml".to_string(), WEB.to_string())],
        );
        let work = root.join("work");
        clone(&remote, &work);
        let base = rev(&work, "HEAD");
        // Someone else pushes first.
        let other = root.join("other");
        clone(&remote, &other);
        std::fs::write(other.join("README.md"), "# gitops\n").unwrap();
        git(&other, &["add", "README.md"]);
        git(&other, &["commit", "--quiet", "-m", "readme"]);
        git(&other, &["push", "--quiet", "origin", "main"]);
        Stale {
            _tmp: tmp,
            remote,
            clone: work,
            base,
        }
    }

    fn harborize(&self, args: &[&str]) -> Output {
        harborize()
            .current_dir(&self.clone)
            .env("HOME", &self.clone)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .args(["--author-name", AUTHOR.0, "--author-email", AUTHOR.1])
            .args(["--push", "--push-retries", "0"])
            .output()
            .expect("harborize runs")
    }
}

/// Past the retry budget a lost race ends the same way whichever command pushed: exit 2,
/// "rejected N time(s), giving up", the commit kept locally on top of the clone's head,
/// the remote untouched (never forced). bump, run and migrate each had their own loop and
/// message before (run: "push rejected after 0 retries", migrate without "giving up").
#[test]
fn a_lost_race_past_the_retry_budget_keeps_the_commit_local_in_bump_run_and_migrate() {
    let commands: [(&str, &[&str]); 3] = [
        (
            "bump",
            &[
                "bump",
                "--harbor",
                HARBOR,
                "--image",
                "ghcr.io/org/app",
                "--tag",
                "v2",
                "apps",
            ],
        ),
        (
            "run",
            &[
                "run",
                "--harbor",
                HARBOR,
                "--skip-verify",
                "--skip-scan",
                "apps",
            ],
        ),
        ("migrate", &["migrate", "--harbor", HARBOR, "."]),
    ];
    for (name, args) in commands {
        let w = Stale::new();
        let remote_head = rev(&w.remote, "main");
        let out = w.harborize(args);
        assert_eq!(code(&out), 2, "{name}: {}", show_out(&out));
        // migrate reports the repository's failure on stdout; bump and run fail on stderr.
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            said.contains("push to origin/main rejected 1 time(s), giving up"),
            "{name}: {}",
            show_out(&out)
        );
        let head = rev(&w.clone, "HEAD");
        assert!(
            said.contains(&format!("the commit {} stays local", &head[..12])),
            "{name}: {}",
            show_out(&out)
        );
        assert_eq!(
            rev(&w.clone, "HEAD~1"),
            w.base,
            "{name}: the commit is kept"
        );
        assert_ne!(head, w.base, "{name}: a commit was made");
        assert_eq!(rev(&w.remote, "main"), remote_head, "{name}: remote moved");
    }
}

/// The `images=` line of a `$GITHUB_OUTPUT` file, parsed.
fn images_output(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("images="))
        .unwrap_or_else(|| panic!("no images= in {text}"));
    serde_json::from_str(line).unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// bump and run write `images` to `$GITHUB_OUTPUT` in one shape (one entry per new
/// reference: image, harbor, tag, from, to, references, files; digest when there is one),
/// so a workflow step reads it the same whichever command ran. run wrote
/// `{file, line, from, to}` per reference before.
#[test]
fn images_output_has_one_shape_in_bump_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, args) in [
        (
            "bump",
            vec!["bump", "--image", "ghcr.io/org/app", "--tag", "v2"],
        ),
        (
            "run",
            vec!["run", "--skip-verify", "--skip-scan", "--skip-commit"],
        ),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(dir.join("apps")).unwrap();
        std::fs::write(dir.join("apps/web.yaml"), WEB).unwrap();
        let output = tmp.path().join(format!("{name}.output"));
        let out = harborize()
            .current_dir(&dir)
            .args(&args)
            .args(["--harbor", HARBOR, "apps"])
            .env("GITHUB_OUTPUT", &output)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{name}: {}", show_out(&out));
        outputs.push(images_output(&output));
    }
    let (bump, run) = (&outputs[0], &outputs[1]);
    assert_eq!(bump.as_array().unwrap().len(), 1, "{bump}");
    assert_eq!(run.as_array().unwrap().len(), 1, "{run}");
    assert_eq!(keys(&bump[0]), keys(&run[0]), "bump {bump}\nrun {run}");
    assert_eq!(
        keys(&run[0]),
        [
            "files",
            "from",
            "harbor",
            "image",
            "references",
            "tag",
            "to"
        ]
    );
    for (v, tag) in [(bump, "v2"), (run, "v1")] {
        let e = &v[0];
        assert_eq!(e["image"], "ghcr.io/org/app", "{v}");
        assert_eq!(e["harbor"], "harbor.example.com/ghcr/org/app", "{v}");
        assert_eq!(e["tag"], tag, "{v}");
        assert_eq!(e["from"], serde_json::json!(["ghcr.io/org/app:v1"]), "{v}");
        assert_eq!(
            e["to"],
            format!("harbor.example.com/ghcr/org/app:{tag}"),
            "{v}"
        );
        assert_eq!(e["references"], 1, "{v}");
        assert_eq!(e["files"], serde_json::json!(["apps/web.yaml"]), "{v}");
    }
}
