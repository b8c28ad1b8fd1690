//! `harborize mirrors`: golden node configs (fixtures/mirrors), containerd's documented
//! layout (`<config_path>/<host>/hosts.toml`, `host:port` → `host_port_`), and every hosts.toml
//! parsed by a real TOML parser with the keys containerd reads.

use crate::support::common;

use std::path::{Path, PathBuf};

use common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mirrors")
}

fn config() -> String {
    fixtures().join("harborize.yaml").display().to_string()
}

/// (golden directory, flags)
const CASES: &[(&str, &[&str])] = &[
    (
        "k3s",
        &[
            "--format",
            "k3s",
            "--ca-file",
            "/etc/rancher/k3s/harbor-ca.crt",
        ],
    ),
    ("k3s-no-ca", &["--format", "k3s"]),
    (
        "containerd",
        &[
            "--format",
            "containerd",
            "--ca-file",
            "/etc/containerd/certs.d/harbor.example.com/ca.crt",
        ],
    ),
    (
        "containerd-no-fallback",
        &["--format", "containerd", "--no-fallback"],
    ),
    (
        "cri-o",
        &[
            "--format",
            "cri-o",
            "--ca-file",
            "/etc/containers/certs.d/harbor.example.com/ca.crt",
        ],
    ),
    ("cri-o-no-fallback", &["--format", "cri-o", "--no-fallback"]),
    // Talos embeds the CA: read here (tests run in the package root)
    (
        "talos",
        &[
            "--format",
            "talos",
            "--ca-file",
            "fixtures/mirrors/harbor-ca.pem",
        ],
    ),
    ("talos-no-fallback", &["--format", "talos", "--no-fallback"]),
    (
        "rke2",
        &[
            "--format",
            "rke2",
            "--ca-file",
            "/etc/rancher/rke2/harbor-ca.crt",
        ],
    ),
];

fn generate(out: &Path, flags: &[&str]) -> std::process::Output {
    let cfg = config();
    let mut args = vec!["mirrors", "--config", cfg.as_str(), "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(flags);
    run(&args)
}

#[test]
fn golden_outputs() {
    let bless = std::env::var_os("HARBORIZE_BLESS").is_some();
    for (case, flags) in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let out = generate(tmp.path(), flags);
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let golden = fixtures().join(case);
        if bless {
            let _ = std::fs::remove_dir_all(&golden);
            copy_tree(tmp.path(), &golden);
        }
        let got = files(tmp.path());
        assert_eq!(got, files(&golden), "{case}: file list");
        for f in got {
            let a = std::fs::read_to_string(tmp.path().join(&f)).unwrap();
            let b = std::fs::read_to_string(golden.join(&f)).unwrap();
            pretty_assertions::assert_eq!(a, b, "{case}: {}", f.display());
        }
    }
}

#[test]
fn stdout_is_the_files_with_headers() {
    for (case, flags) in CASES {
        let cfg = config();
        let mut args = vec!["mirrors", "--config", cfg.as_str()];
        args.extend_from_slice(flags);
        let out = run(&args);
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let golden = fixtures().join(case);
        let list = files(&golden);
        let expected = if list.len() == 1 {
            std::fs::read_to_string(golden.join(&list[0])).unwrap()
        } else {
            list.iter()
                .map(|f| {
                    format!(
                        "# file: {}\n{}",
                        f.display(),
                        std::fs::read_to_string(golden.join(f)).unwrap()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        pretty_assertions::assert_eq!(stdout(&out), expected, "{case}");
    }
}

/// containerd's layout: `<config_path>/<host dir>/hosts.toml`, where the host directory is
/// the registry host, with `host:port` written `host_port_` (containerd `hostDirectory`).
#[test]
fn containerd_layout_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let out = generate(
        tmp.path(),
        &["--format", "containerd", "--ca-file", "/etc/ca.crt"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_containerd_tree(tmp.path(), Some("/etc/ca.crt"), true);
}

/// Every registry the fixture config routes (the embedded default plus its own), written
/// down here apart from src/: (registry as a node names it, containerd directory, upstream
/// server containerd falls back to, Harbor project).
pub(crate) const REGISTRIES: &[(&str, &str, &str, &str)] = &[
    (
        "docker.io",
        "docker.io",
        "https://registry-1.docker.io",
        "docker-hub",
    ),
    (
        "index.docker.io",
        "index.docker.io",
        "https://index.docker.io",
        "docker-hub",
    ),
    (
        "registry-1.docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io",
        "docker-hub",
    ),
    (
        "registry.hub.docker.com",
        "registry.hub.docker.com",
        "https://registry.hub.docker.com",
        "docker-hub",
    ),
    ("gcr.io", "gcr.io", "https://gcr.io", "gcr"),
    ("ghcr.io", "ghcr.io", "https://ghcr.io", "ghcr"),
    ("quay.io", "quay.io", "https://quay.io", "quay"),
    (
        "registry.corp.example",
        "registry.corp.example",
        "https://registry.corp.example",
        "corp",
    ),
    (
        "registry.corp.example:5000",
        "registry.corp.example_5000_",
        "https://registry.corp.example:5000",
        "corp",
    ),
    (
        "registry.k8s.io",
        "registry.k8s.io",
        "https://registry.k8s.io",
        "k8s-registry",
    ),
];

/// containerd's layout and keys under `root` (containerd's `config_path`, the certs.d
/// directory itself): one `<host dir>/hosts.toml` per
/// registry, `server` only with the fallback, one Harbor host with the keys containerd
/// reads (`ca` only when given), nothing else.
fn assert_containerd_tree(root: &Path, ca: Option<&str>, fallback: bool) {
    let got = files(root);
    let want: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = REGISTRIES
            .iter()
            .map(|(_, d, _, _)| Path::new(d).join("hosts.toml"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(got, want, "{}", root.display());
    for (_, dir, server, project) in REGISTRIES {
        let path = root.join(dir).join("hosts.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()));
        let want_server = fallback.then_some(*server);
        assert_eq!(
            doc.get("server").and_then(|v| v.as_str()),
            want_server,
            "{dir}"
        );
        let hosts = doc["host"].as_table().expect("[host] table");
        assert_eq!(hosts.len(), 1, "{dir}: one mirror host");
        let endpoint = format!("https://harbor.example.com/v2/{project}");
        let host = hosts[&endpoint]
            .as_table()
            .unwrap_or_else(|| panic!("{dir}: no [host.\"{endpoint}\"]"));
        let caps: Vec<&str> = host["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(caps, ["pull", "resolve"], "{dir}");
        assert_eq!(
            host.get("override_path").and_then(|v| v.as_bool()),
            Some(true),
            "{dir}: override_path"
        );
        assert_eq!(host.get("ca").and_then(|v| v.as_str()), ca, "{dir}");
        // nothing containerd would not read
        for key in doc.keys() {
            assert!(["server", "host"].contains(&key.as_str()), "{dir}: {key}");
        }
        for key in host.keys() {
            assert!(
                ["capabilities", "override_path", "ca"].contains(&key.as_str()),
                "{dir}: {key}"
            );
        }
    }
}

/// k3s `registries.yaml`: one mirror per registry, endpoint Harbor's `/v2/<project>`,
/// and the CA under `configs.<harbor>.tls.ca_file` only when given.
pub(crate) fn assert_k3s_file(path: &Path, ca: Option<&str>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let top: Vec<&str> = doc
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let want_top: &[&str] = if ca.is_some() {
        &["mirrors", "configs"]
    } else {
        &["mirrors"]
    };
    assert_eq!(top, want_top, "{}", path.display());
    let mirrors = doc["mirrors"].as_mapping().unwrap();
    assert_eq!(mirrors.len(), REGISTRIES.len(), "{}", path.display());
    for (registry, _, _, project) in REGISTRIES {
        let endpoints: Vec<&str> = doc["mirrors"][*registry]["endpoint"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{}: no mirror for {registry}", path.display()))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let want = format!("https://harbor.example.com/v2/{project}");
        assert_eq!(endpoints, [want.as_str()], "{registry}");
    }
    if let Some(ca) = ca {
        let configs = doc["configs"].as_mapping().unwrap();
        assert_eq!(configs.len(), 1, "{}", path.display());
        assert_eq!(
            doc["configs"]["harbor.example.com"]["tls"]["ca_file"].as_str(),
            Some(ca)
        );
    }
}

/// Issue 17 item 10: the goldens are written by the tool itself (`HARBORIZE_BLESS`), so
/// `golden_outputs` alone would bless a regression. Each committed golden is checked here
/// against facts written down independently (the flags of its case in README.md), and a
/// golden directory without facts fails.
#[test]
fn every_mirrors_golden_holds_its_independently_written_facts() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        [
            "containerd",
            "containerd-no-fallback",
            "cri-o",
            "cri-o-no-fallback",
            "k3s",
            "k3s-no-ca",
            "rke2",
            "talos",
            "talos-no-fallback"
        ],
        "a golden directory without written facts (add it here)"
    );
    let golden = fixtures();
    assert_k3s_file(
        &golden.join("k3s/registries.yaml"),
        Some("/etc/rancher/k3s/harbor-ca.crt"),
    );
    assert_eq!(files(&golden.join("k3s")), [Path::new("registries.yaml")]);
    assert_k3s_file(&golden.join("k3s-no-ca/registries.yaml"), None);
    assert_eq!(
        files(&golden.join("k3s-no-ca")),
        [Path::new("registries.yaml")]
    );
    assert_containerd_tree(
        &golden.join("containerd"),
        Some("/etc/containerd/certs.d/harbor.example.com/ca.crt"),
        true,
    );
    assert_containerd_tree(&golden.join("containerd-no-fallback"), None, false);
    // issue 16 item 2: CRI-O, Talos, RKE2 (facts in mirrors_runtimes.rs)
    use crate::mirrors_runtimes::{assert_crio_file, assert_rke2_file, assert_talos_file};
    let crio = Path::new("registries.conf.d/harborize.conf");
    for (case, fallback) in [("cri-o", true), ("cri-o-no-fallback", false)] {
        assert_eq!(files(&golden.join(case)), [crio], "{case}");
        assert_crio_file(&golden.join(case).join(crio), fallback);
    }
    let pem = std::fs::read_to_string(golden.join("harbor-ca.pem")).unwrap();
    for (case, ca, fallback) in [
        ("talos", Some(pem.as_str()), true),
        ("talos-no-fallback", None, false),
    ] {
        let patch = Path::new("talos-registries.yaml");
        assert_eq!(files(&golden.join(case)), [patch], "{case}");
        assert_talos_file(&golden.join(case).join(patch), ca, fallback);
    }
    assert_eq!(files(&golden.join("rke2")), [Path::new("registries.yaml")]);
    assert_rke2_file(
        &golden.join("rke2/registries.yaml"),
        Some("/etc/rancher/rke2/harbor-ca.crt"),
    );
}

#[test]
fn no_fallback_drops_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let out = generate(tmp.path(), &["--format", "containerd", "--no-fallback"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for f in files(tmp.path()) {
        let doc: toml::Table =
            toml::from_str(&std::fs::read_to_string(tmp.path().join(&f)).unwrap()).unwrap();
        assert!(!doc.contains_key("server"), "{}", f.display());
        assert!(doc.contains_key("host"), "{}", f.display());
    }
    // k3s cannot express it in registries.yaml: say how instead
    let cfg = config();
    let out = run(&[
        "mirrors",
        "--config",
        &cfg,
        "--format",
        "k3s",
        "--no-fallback",
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("disable-default-registry-endpoint"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn k3s_registries_yaml_has_the_documented_shape() {
    let cfg = config();
    let out = run(&[
        "mirrors",
        "--config",
        &cfg,
        "--format",
        "k3s",
        "--harbor",
        "https://Harbor.Example.com:8443/",
        "--ca-file",
        "/etc/ca.crt",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
    let mirrors = doc["mirrors"].as_mapping().unwrap();
    assert_eq!(mirrors.len(), 10);
    assert_eq!(
        doc["mirrors"]["docker.io"]["endpoint"][0].as_str(),
        Some("https://harbor.example.com:8443/v2/docker-hub")
    );
    assert_eq!(
        doc["mirrors"]["registry.k8s.io"]["endpoint"][0].as_str(),
        Some("https://harbor.example.com:8443/v2/k8s-registry")
    );
    assert_eq!(
        doc["mirrors"]["registry.corp.example:5000"]["endpoint"][0].as_str(),
        Some("https://harbor.example.com:8443/v2/corp")
    );
    assert_eq!(
        doc["configs"]["harbor.example.com:8443"]["tls"]["ca_file"].as_str(),
        Some("/etc/ca.crt")
    );
    // the regex rule has no node-side equivalent: said on stderr
    assert!(stderr(&out).contains("regex rule"), "{}", stderr(&out));
}

#[test]
fn harbor_host_is_required_and_registry_names_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("harborize.yaml");
    std::fs::write(&cfg, "registries: {}\n").unwrap();
    let out = run(&[
        "mirrors",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "k3s",
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no Harbor host"), "{}", stderr(&out));

    // a registry name that would escape certs.d is refused, nothing is written
    std::fs::write(
        &cfg,
        "harbor: {host: h.example.com}\nregistries:\n  '../../etc': {project: x}\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = run(&[
        "mirrors",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "containerd",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a registry host"),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists());
}
