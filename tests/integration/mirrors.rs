//! `harborize mirrors`: golden node configs (fixtures/mirrors), containerd's documented
//! layout (`certs.d/<host>/hosts.toml`, `host:port` → `host_port_`), and every hosts.toml
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
    let expected: &[(&str, &str, &str)] = &[
        // (directory, server, Harbor endpoint)
        ("docker.io", "https://registry-1.docker.io", "docker-hub"),
        ("index.docker.io", "https://index.docker.io", "docker-hub"),
        (
            "registry-1.docker.io",
            "https://registry-1.docker.io",
            "docker-hub",
        ),
        (
            "registry.hub.docker.com",
            "https://registry.hub.docker.com",
            "docker-hub",
        ),
        ("gcr.io", "https://gcr.io", "gcr"),
        ("ghcr.io", "https://ghcr.io", "ghcr"),
        ("quay.io", "https://quay.io", "quay"),
        (
            "registry.corp.example",
            "https://registry.corp.example",
            "corp",
        ),
        (
            "registry.corp.example_5000_",
            "https://registry.corp.example:5000",
            "corp",
        ),
        ("registry.k8s.io", "https://registry.k8s.io", "k8s-registry"),
    ];
    let got = files(tmp.path());
    let want: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = expected
            .iter()
            .map(|(d, _, _)| Path::new("certs.d").join(d).join("hosts.toml"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(got, want);
    for (dir, server, project) in expected {
        let path = tmp.path().join("certs.d").join(dir).join("hosts.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()));
        assert_eq!(doc["server"].as_str(), Some(*server), "{dir}");
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
        assert_eq!(host["override_path"].as_bool(), Some(true), "{dir}");
        assert_eq!(host["ca"].as_str(), Some("/etc/ca.crt"), "{dir}");
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
