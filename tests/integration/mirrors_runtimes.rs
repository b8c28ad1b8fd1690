//! `harborize mirrors --format cri-o|talos|rke2` (issue 16 item 2): the facts each golden
//! must hold, written down here apart from src/ (used by
//! `mirrors::every_mirrors_golden_holds_its_independently_written_facts`), and CRI-O's
//! config read by containers/image itself: skopeo (the same library CRI-O pulls with)
//! pulls `docker.io/...` and `quay.io/...` through the generated drop-in from the real test
//! registry laid out as Harbor's proxy-cache projects.

use crate::support::common::{code, stderr};
use crate::support::registry::{sha256_digest, HarnessOptions, RegistryHarness};

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use super::mirrors::REGISTRIES;

/// containers-registries.conf(5), version 2: the keys of a `[[registry]]` table and of a
/// `[[registry.mirror]]` table. Anything else is not read by containers/image.
const CRIO_REGISTRY_KEYS: &[&str] = &[
    "prefix",
    "location",
    "insecure",
    "blocked",
    "mirror-by-digest-only",
    "mirror",
    "pull-from-mirror",
];
const CRIO_MIRROR_KEYS: &[&str] = &["location", "insecure", "pull-from-mirror"];

/// A CRI-O drop-in: one `[[registry]]` per registry host, `prefix` the host; with the
/// fallback `location` is the host itself and the one mirror is Harbor's project
/// (`HOST/<project>`: containers/image replaces the prefix with it, no `/v2`); without it
/// `location` is Harbor's project and there is no mirror.
pub(crate) fn assert_crio_file(path: &Path, fallback: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()));
    let keys: Vec<&str> = doc.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["registry"], "{}", path.display());
    let regs = doc["registry"].as_array().expect("[[registry]] array");
    assert_eq!(regs.len(), REGISTRIES.len(), "{}", path.display());
    for (host, _, _, project) in REGISTRIES {
        let harbor = format!("harbor.example.com/{project}");
        let matching: Vec<&toml::Table> = regs
            .iter()
            .map(|r| r.as_table().unwrap())
            .filter(|r| r["prefix"].as_str() == Some(host))
            .collect();
        assert_eq!(matching.len(), 1, "{host}: one [[registry]]");
        let r = matching[0];
        for k in r.keys() {
            assert!(CRIO_REGISTRY_KEYS.contains(&k.as_str()), "{host}: {k}");
        }
        if fallback {
            assert_eq!(r["location"].as_str(), Some(*host), "{host}");
            let mirrors = r["mirror"].as_array().expect("[[registry.mirror]]");
            assert_eq!(mirrors.len(), 1, "{host}");
            let m = mirrors[0].as_table().unwrap();
            for k in m.keys() {
                assert!(CRIO_MIRROR_KEYS.contains(&k.as_str()), "{host}: mirror {k}");
            }
            assert_eq!(m["location"].as_str(), Some(harbor.as_str()), "{host}");
        } else {
            assert_eq!(r["location"].as_str(), Some(harbor.as_str()), "{host}");
            assert!(
                !r.contains_key("mirror"),
                "{host}: no mirror without fallback"
            );
        }
        // never a hidden fallback that bypasses Harbor, never an insecure registry
        assert!(
            !r.contains_key("insecure") && !r.contains_key("blocked"),
            "{host}"
        );
    }
}

/// Talos v1alpha1 schema (`RegistriesConfig`, `RegistryMirrorConfig`, `RegistryConfig`,
/// `RegistryTLSConfig`, all `additionalProperties: false`), as published in
/// siderolabs/talos `pkg/machinery/config/schemas/config.schema.json` up to 1.11.
const TALOS_REGISTRIES_KEYS: &[&str] = &["mirrors", "config"];
const TALOS_MIRROR_KEYS: &[&str] = &["endpoints", "overridePath", "skipFallback"];
const TALOS_CONFIG_KEYS: &[&str] = &["tls", "auth"];
const TALOS_TLS_KEYS: &[&str] = &["clientIdentity", "ca", "insecureSkipVerify"];

fn keys(v: &serde_yaml_ng::Value, what: &str) -> Vec<String> {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what}: not a mapping"))
        .keys()
        .map(|k| {
            k.as_str()
                .unwrap_or_else(|| panic!("{what}: key"))
                .to_string()
        })
        .collect()
}

fn only(v: &serde_yaml_ng::Value, allowed: &[&str], what: &str) {
    for k in keys(v, what) {
        assert!(
            allowed.contains(&k.as_str()),
            "{what}: {k} is not in Talos's schema"
        );
    }
}

/// A Talos patch: `machine.registries` only; per registry `endpoints` =
/// [`https://harbor.example.com/v2/<project>`] (strings), `overridePath: true` (a path
/// other than `/v2`), `skipFallback: true` only without the fallback; the CA as the
/// base64 of the PEM under `config."harbor.example.com".tls.ca`, only when given.
pub(crate) fn assert_talos_file(path: &Path, ca_pem: Option<&str>, fallback: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    assert_eq!(keys(&doc, "top"), ["machine"]);
    assert_eq!(keys(&doc["machine"], "machine"), ["registries"]);
    let regs = &doc["machine"]["registries"];
    only(regs, TALOS_REGISTRIES_KEYS, "machine.registries");
    let mirrors = &regs["mirrors"];
    assert_eq!(keys(mirrors, "mirrors").len(), REGISTRIES.len());
    for (host, _, _, project) in REGISTRIES {
        let m = &mirrors[*host];
        only(m, TALOS_MIRROR_KEYS, host);
        let endpoints: Vec<&str> = m["endpoints"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{host}: endpoints"))
            .iter()
            .map(|e| e.as_str().expect("endpoint is a string"))
            .collect();
        let want = format!("https://harbor.example.com/v2/{project}");
        assert_eq!(endpoints, [want.as_str()], "{host}");
        assert_eq!(m["overridePath"].as_bool(), Some(true), "{host}");
        let skip = m.get("skipFallback").map(|v| v.as_bool().expect("bool"));
        assert_eq!(skip, (!fallback).then_some(true), "{host}: skipFallback");
    }
    match ca_pem {
        None => assert!(regs.get("config").is_none(), "no CA, no config"),
        Some(pem) => {
            assert_eq!(keys(&regs["config"], "config"), ["harbor.example.com"]);
            let c = &regs["config"]["harbor.example.com"];
            only(c, TALOS_CONFIG_KEYS, "config.harbor.example.com");
            only(&c["tls"], TALOS_TLS_KEYS, "tls");
            let ca = c["tls"]["ca"].as_str().expect("tls.ca is a string");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(ca)
                .expect("tls.ca is base64");
            assert_eq!(String::from_utf8(decoded).unwrap(), pem);
        }
    }
}

/// RKE2's registries.yaml is k3s's format, installed under /etc/rancher/rke2.
pub(crate) fn assert_rke2_file(path: &Path, ca: Option<&str>) {
    super::mirrors::assert_k3s_file(path, ca);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("/etc/rancher/rke2/registries.yaml") && !text.contains("rancher/k3s"),
        "{text}"
    );
}

fn skopeo() -> &'static str {
    let ok = Command::new("skopeo").arg("--version").output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "skopeo missing: install it (apt-get install skopeo, or bash scripts/install-test-tools.sh)"
    );
    "skopeo"
}

/// The generated CRI-O drop-in, read by containers/image (skopeo): `docker.io/library/…`
/// and `quay.io/…` resolve through the Harbor projects of the real test registry (TLS, the
/// token flow, anonymous pull on the proxy projects), with the fallback and without it.
/// Upstream is unreachable here, and the log shows the Harbor path tried.
#[test]
fn cri_o_config_pulls_through_the_harbor_projects_with_containers_image() {
    let skopeo = skopeo();
    let reg =
        RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub", "quay"]));
    let alpine = reg.push_image("docker-hub/library/alpine", "3.20");
    let api = reg.push_image("quay/acme/api", "2.3.1");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = t.join("harborize.yaml");
    std::fs::write(&cfg, format!("harbor:\n  host: \"{}\"\n", reg.host())).unwrap();
    std::fs::create_dir_all(t.join("certs")).unwrap();
    std::fs::write(t.join("certs/ca.crt"), reg.ca_pem()).unwrap();
    for fallback in [true, false] {
        let out_dir = t.join(format!("etc-{fallback}"));
        let mut args = vec![
            "mirrors",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "cri-o",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        if !fallback {
            args.push("--no-fallback");
        }
        let out = crate::support::common::run(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let conf = out_dir.join("registries.conf.d/harborize.conf");
        for (image, via, digest) in [
            (
                "docker.io/library/alpine:3.20",
                "docker-hub/library/alpine:3.20",
                &alpine,
            ),
            ("quay.io/acme/api:2.3.1", "quay/acme/api:2.3.1", &api),
        ] {
            let out = Command::new(skopeo)
                .env("HOME", t)
                .args(["--debug", "--registries-conf"])
                .arg(&conf)
                .args(["inspect", "--raw", "--retry-times", "0", "--cert-dir"])
                .arg(t.join("certs"))
                .arg(format!("docker://{image}"))
                .output()
                .expect("skopeo runs");
            assert!(
                out.status.success(),
                "fallback={fallback} {image}: {}\n{}",
                stderr(&out),
                std::fs::read_to_string(&conf).unwrap()
            );
            assert_eq!(&sha256_digest(&out.stdout), digest, "{image}");
            let tried = format!("{}/{via}", reg.host());
            assert!(stderr(&out).contains(&tried), "{image}: {}", stderr(&out));
        }
    }
}

/// Talos embeds the CA: an unreadable file or one that is not a PEM certificate is an
/// error (exit 2) and nothing is written, never a patch with a CA that is not one.
#[test]
fn talos_refuses_a_ca_it_cannot_read_or_that_is_not_pem() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = t.join("harborize.yaml");
    std::fs::write(&cfg, "harbor: {host: harbor.example.com}\n").unwrap();
    let not_pem = t.join("ca.der");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for (ca, says) in [
        (t.join("missing.pem"), "cannot read"),
        (not_pem, "not a PEM certificate"),
    ] {
        let out_dir = t.join("out");
        let out = crate::support::common::run(&[
            "mirrors",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "talos",
            "--ca-file",
            ca.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(!out_dir.exists());
    }
}
