//! Org-scale `migrate` (issue 16 item 3): `--shard I/N` and the Indexed Job environment,
//! `--matrix N`, per-shard state and reports, `--merge-reports DIR`. The shard function is
//! checked against an independent implementation (Python's hashlib) over 1,000 generated
//! URLs; the merge against a single-process run over the same real git remotes
//! (`file://` URLs of bare repositories, cloned by harborize).

use crate::support::common::{code, copy_tree, files, harborize, stderr, stdout, HARBOR};
use crate::support::git::{bare_remote, seed, AUTHOR};

use std::path::Path;
use std::process::Output;

use harborize::migrate::shard::{shard_of, Shard};

fn urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 3 {
            0 => format!("https://github.com/org-{}/service-{i}.git", i % 11),
            1 => format!(
                "git@gitlab.example.com:platform/team-{}/gitops-{i}.git",
                i % 7
            ),
            _ => format!("file:///srv/git/repo-{i}"),
        })
        .collect()
}

/// Shards computed by Python's hashlib (SHA-256, first 8 bytes big-endian, mod N), one
/// line per URL: the published algorithm, implemented apart from src/.
fn python_shards(list: &[String], n: u32) -> Vec<u32> {
    use std::io::Write;
    let script = format!(
        "import hashlib, sys\n\
         for u in sys.stdin.read().splitlines():\n\
         \x20   print(int.from_bytes(hashlib.sha256(u.encode()).digest()[:8], 'big') % {n})\n"
    );
    let mut child = std::process::Command::new(crate::support::common::venv_python())
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    stdout(&out).lines().map(|l| l.parse().unwrap()).collect()
}

/// N shards over 1,000 URLs: each URL in exactly one, the same shard Python computes (so
/// the same on every machine and compiler, unlike std's DefaultHasher), whatever the
/// order of the list.
#[test]
fn shards_of_1000_urls_cover_each_once_match_an_independent_sha256_and_ignore_order() {
    let list = urls(1000);
    let mut shuffled = list.clone();
    // a fixed permutation: 1000 and 7 are coprime
    for (i, slot) in shuffled.iter_mut().enumerate() {
        *slot = list[(i * 7 + 3) % 1000].clone();
    }
    for n in [1u32, 2, 3, 8, 50] {
        let oracle = python_shards(&list, n);
        let mut hits = vec![0u32; list.len()];
        for index in 0..n {
            let shard = Shard::new(index, n).unwrap();
            let picked = shard.select(&list);
            for &i in &picked {
                hits[i] += 1;
                assert_eq!(oracle[i], index, "{} in {index}/{n}", list[i]);
            }
            let mut a: Vec<&String> = picked.iter().map(|&i| &list[i]).collect();
            let mut b: Vec<&String> = shard
                .select(&shuffled)
                .iter()
                .map(|&i| &shuffled[i])
                .collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{index}/{n}: list order changed the shard");
        }
        assert!(
            hits.iter().all(|&h| h == 1),
            "N={n}: a URL in none or several shards"
        );
        for (u, want) in list.iter().zip(&oracle) {
            assert_eq!(shard_of(u, n), *want, "{u}");
        }
    }
}

#[test]
fn matrix_prints_every_shard_for_github_actions() {
    let out = crate::support::common::run(&["migrate", "--matrix", "4"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "one line for $GITHUB_OUTPUT"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"shard": ["0/4", "1/4", "2/4", "3/4"]})
    );
    let out = crate::support::common::run(&["migrate", "--matrix", "0"]);
    assert_eq!(code(&out), 2);
    let out = crate::support::common::run(&["migrate", "--shard", "4/4", "x"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

const REPOS: usize = 7;
const SHARDS: u32 = 3;

/// Bare remotes seeded alternately with the two migrate fixtures; their file:// URLs.
/// The URLs hold the temporary directory, so their shards differ from run to run: the
/// names are picked so that every shard gets at least two repositories.
fn remotes(t: &Path) -> Vec<String> {
    let url = |k: usize| {
        format!(
            "file://{}",
            t.join(format!("remotes/gitops-{k}.git")).display()
        )
    };
    let mut picked: Vec<usize> = Vec::new();
    for shard in 0..SHARDS {
        picked.extend(
            (0..)
                .filter(|&k| shard_of(&url(k), SHARDS) == shard)
                .take(2),
        );
    }
    picked.push((0..).find(|k| !picked.contains(k)).unwrap());
    picked.sort();
    assert_eq!(picked.len(), REPOS);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/migrate");
    picked
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let root = fixtures.join(if i % 2 == 0 { "repo-a" } else { "repo-b" });
            let seeded: Vec<(String, String)> = files(&root)
                .into_iter()
                .map(|f| {
                    let text = std::fs::read_to_string(root.join(&f)).unwrap();
                    (f.to_string_lossy().into_owned(), text)
                })
                .collect();
            let remote = bare_remote(&t.join(format!("remotes/gitops-{k}.git")));
            seed(&remote, &t.join(format!("scratch-{k}")), &seeded);
            let u = format!("file://{}", remote.display());
            assert_eq!(u, url(k));
            u
        })
        .collect()
}

fn migrate(t: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = harborize();
    cmd.current_dir(t)
        .env("HOME", t)
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("JOB_COMPLETION_COUNT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("migrate")
        .args(args)
        .output()
        .expect("harborize runs")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// What differs between two runs that did the same: where the clones live and the commit
/// ids (their dates).
fn normalized(mut report: serde_json::Value) -> serde_json::Value {
    for r in report["repos"].as_array_mut().unwrap() {
        r["path"] = "".into();
        for c in r["commits"].as_array_mut().unwrap() {
            c["sha"] = "".into();
        }
    }
    report
}

/// Three shards (shard 1 chosen by an Indexed Job's environment, the others by --shard),
/// each with its own report and state, merged into the report a single run over the same
/// remotes writes; a rerun of a shard resumes from its own state.
#[test]
fn an_indexed_job_selects_its_shard_and_merged_shard_reports_equal_a_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let urls = remotes(t);
    let url_args: Vec<&str> = urls.iter().map(|s| s.as_str()).collect();
    let base = ["--harbor", HARBOR, "--commit"];

    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--report-dir", "single", "--workdir", "single-work"]);
    args.extend(&url_args);
    let single = migrate(t, &[], &args);
    assert_eq!(
        code(&single),
        0,
        "{}",
        crate::support::common::show(&single)
    );

    let n = SHARDS;
    for i in 0..n {
        let dir = format!("shards/shard-{i}");
        let work = format!("work-{i}");
        let flag = format!("{i}/{n}");
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--report-dir", &dir, "--workdir", &work]);
        let (idx, cnt) = (i.to_string(), n.to_string());
        let env: Vec<(&str, &str)> = if i == 1 {
            vec![
                ("JOB_COMPLETION_INDEX", &idx),
                ("JOB_COMPLETION_COUNT", &cnt),
            ]
        } else {
            args.extend(["--shard", &flag]);
            vec![]
        };
        args.extend(&url_args);
        let out = migrate(t, &env, &args);
        assert_eq!(
            code(&out),
            0,
            "shard {i}: {}",
            crate::support::common::show(&out)
        );
        let tag = format!("shard-{i}-of-{n}");
        let report = json(&t.join(&dir).join(format!("migration-report-{tag}.json")));
        assert!(t
            .join(&dir)
            .join(format!("migration-report-{tag}.md"))
            .is_file());
        assert!(!t.join(&dir).join("migration-report.json").exists());
        // exactly this shard's repositories, in list order, with their positions
        let want: Vec<usize> = (0..REPOS).filter(|&k| shard_of(&urls[k], n) == i).collect();
        let got: Vec<&str> = report["repos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["repo"].as_str().unwrap())
            .collect();
        let want_names: Vec<&str> = want.iter().map(|&k| urls[k].as_str()).collect();
        assert_eq!(got, want_names, "shard {i}");
        assert_eq!(
            report["shard"]["positions"],
            serde_json::json!(want),
            "shard {i}"
        );
        assert_eq!(report["shard"]["total"], REPOS);
        // its own state file, naming only its repositories
        let state = json(&t.join(&dir).join(format!("migration-state-{tag}.json")));
        assert_eq!(state["repos"].as_object().unwrap().len(), want.len());
    }

    let merged = migrate(
        t,
        &[],
        &["--merge-reports", "shards", "--report-dir", "merged"],
    );
    assert_eq!(
        code(&merged),
        code(&single),
        "{}",
        crate::support::common::show(&merged)
    );
    let one = json(&t.join("single/migration-report.json"));
    let all = json(&t.join("merged/migration-report.json"));
    assert!(all.get("shard").is_none());
    assert_eq!(all["summary"]["repos"], REPOS);
    pretty_assertions::assert_eq!(normalized(all), normalized(one));
    // the printed summary lines name the same repositories with the same outcome
    let lines = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .filter(|l| !l.starts_with("wrote") && !l.contains("commit "))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        lines(&merged).len(),
        lines(&single).len(),
        "{}",
        crate::support::common::show(&merged)
    );

    // a shard missing, or twice: refused, nothing written
    let partial = t.join("partial");
    copy_tree(&t.join("shards/shard-0"), &partial.join("a"));
    copy_tree(&t.join("shards/shard-2"), &partial.join("b"));
    let out = migrate(t, &[], &["--merge-reports", "partial"]);
    assert_eq!(code(&out), 2, "{}", crate::support::common::show(&out));
    assert!(stderr(&out).contains("1/3"), "{}", stderr(&out));
    assert!(!partial.join("migration-report.json").exists());
    copy_tree(&t.join("shards/shard-0"), &partial.join("c"));
    copy_tree(&t.join("shards/shard-1"), &partial.join("d"));
    let out = migrate(t, &[], &["--merge-reports", "partial"]);
    assert_eq!(code(&out), 2, "{}", crate::support::common::show(&out));
    assert!(
        stderr(&out).contains("shard 0/3 is in both"),
        "{}",
        stderr(&out)
    );

    // a rerun of a shard (the one of the first repository) skips what its own state says
    // is finished
    let r = shard_of(&urls[0], n);
    let (dir, work, flag) = (
        format!("shards/shard-{r}"),
        format!("work-{r}"),
        format!("{r}/{n}"),
    );
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--report-dir", &dir, "--workdir", &work, "--shard", &flag]);
    args.extend(&url_args);
    let again = migrate(t, &[], &args);
    assert_eq!(code(&again), 0, "{}", crate::support::common::show(&again));
    let report = json(
        &t.join(&dir)
            .join(format!("migration-report-shard-{r}-of-{n}.json")),
    );
    let repos = report["repos"].as_array().unwrap();
    assert!(!repos.is_empty());
    for r in repos {
        assert_eq!(r["status"], "skipped", "{r}");
    }
}
