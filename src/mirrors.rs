//! The node side of the reference setup: mirror configs that make k3s, RKE2, containerd,
//! CRI-O or Talos pull every configured registry through its Harbor proxy-cache project.
//!
//! Generated from the same `harborize.yaml` as the rewrite (`registries` with their projects
//! and aliases, the Harbor host), so the manifests and the nodes always agree. Facts used
//! (see ../shared/docs/harbor.md, section 4):
//! - k3s `registries.yaml`: `mirrors.<registry>.endpoint` with the project as the endpoint
//!   path, which must include `/v2` (k3s then sets `override_path`); the default endpoint is
//!   always tried last unless the node runs with `--disable-default-registry-endpoint`;
//!   `configs` is keyed by the Harbor host.
//! - containerd `certs.d/<host>/hosts.toml`: `server` is the upstream fallback (omitted to
//!   force the mirror); `[host."https://<harbor>/v2/<project>"]` needs `override_path = true`;
//!   the directory of `host:port` is `host_port_`; Docker Hub's server is
//!   `https://registry-1.docker.io`.
//!
//! - RKE2 reads the k3s format (same agent code) from /etc/rancher/rke2/registries.yaml.
//! - CRI-O and Talos: see [`crio`] and [`talos`].
//!
//! Regex `rules` and `exclude` globs have no node-side equivalent: a node routes a whole
//! registry or none of it. [`generate`] reports them as notes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Config;

mod crio;
mod talos;

/// Which node configuration to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MirrorFormat {
    /// k3s `registries.yaml` (/etc/rancher/k3s/registries.yaml).
    K3s,
    /// containerd `certs.d/<host>/hosts.toml` files (/etc/containerd/certs.d).
    Containerd,
    /// CRI-O (containers/image: also podman, skopeo, buildah)
    /// `registries.conf.d/harborize.conf` (/etc/containers/registries.conf.d).
    #[value(name = "cri-o", alias = "crio")]
    CriO,
    /// Talos machine-config patch (`machine.registries`), applied with talosctl.
    Talos,
    /// RKE2 `registries.yaml` (/etc/rancher/rke2/registries.yaml), the k3s format.
    Rke2,
}

/// What the generator needs besides the config.
#[derive(Debug, Clone)]
pub struct Options {
    /// Harbor `HOST[:PORT]`, already normalized (no scheme, no path).
    pub harbor: String,
    /// Harbor's CA certificate, as a path on the node.
    pub ca_file: Option<String>,
    /// Keep the upstream registry as the fallback (containerd `server`; k3s default).
    pub fallback: bool,
    /// The CA certificate itself (PEM), for runtimes that take its content rather than a
    /// path (Talos); read by the caller from `ca_file` on the machine that generates.
    pub ca_pem: Option<String>,
}

/// One generated file, with its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub text: String,
}

/// The generated files plus notes for the user (printed on stderr).
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub files: Vec<GeneratedFile>,
    pub notes: Vec<String>,
}

/// A registry name that cannot be a mirror key or a directory name.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("registries.{registry}: {name:?} is not a registry host (HOST[:PORT])")]
    BadHost { registry: String, name: String },
    #[error(
        "{name} is configured twice with different projects ({first} and {second}): \
         a node can mirror it to only one"
    )]
    Conflict {
        name: String,
        first: String,
        second: String,
    },
    #[error("invalid Harbor host {0:?}: expected HOST[:PORT]")]
    BadHarbor(String),
    #[error(
        "--format talos embeds Harbor's CA in the patch: the content of {0} is needed \
         (it is read on the machine that generates)"
    )]
    CaContentNeeded(String),
}

/// One mirrored registry host: the upstream name as images spell it, and its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Registry host as written in image references (`docker.io`, `registry.corp:5000`).
    pub host: String,
    /// The configured registry this host belongs to (itself, or the registry it aliases).
    pub registry: String,
    /// Harbor proxy-cache project.
    pub project: String,
}

/// Every configured registry and each of its aliases, as its own mirror, in config order
/// (registries sorted by name, each followed by its aliases).
pub fn mirrors(config: &Config) -> Result<Vec<Mirror>, MirrorError> {
    let mut out: Vec<Mirror> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (registry, entry) in &config.registries {
        let names = std::iter::once(registry).chain(entry.aliases.iter());
        for name in names {
            let host = name.trim().to_ascii_lowercase();
            if !is_registry_host(&host) {
                return Err(MirrorError::BadHost {
                    registry: registry.clone(),
                    name: name.clone(),
                });
            }
            match seen.get(&host) {
                Some(&i) if out[i].project == entry.project => continue,
                Some(&i) => {
                    return Err(MirrorError::Conflict {
                        name: host,
                        first: out[i].project.clone(),
                        second: entry.project.clone(),
                    })
                }
                None => {}
            }
            seen.insert(host.clone(), out.len());
            out.push(Mirror {
                host,
                registry: registry.clone(),
                project: entry.project.clone(),
            });
        }
    }
    Ok(out)
}

/// Generate the files for `format`.
pub fn generate(
    config: &Config,
    opts: &Options,
    format: MirrorFormat,
) -> Result<Generated, MirrorError> {
    if !is_registry_host(&opts.harbor) {
        return Err(MirrorError::BadHarbor(opts.harbor.clone()));
    }
    let mirrors = mirrors(config)?;
    let mut notes = Vec::new();
    if !config.rules.is_empty() {
        notes.push(format!(
            "{} regex rule(s) in the config have no node-side equivalent: images they route \
             are pulled as their registry's mirror says",
            config.rules.len()
        ));
    }
    let files = match format {
        MirrorFormat::K3s | MirrorFormat::Rke2 => {
            let flavor = if format == MirrorFormat::K3s {
                &K3S
            } else {
                &RKE2
            };
            if !opts.fallback {
                notes.push(format!(
                    "{} always tries the upstream registry last; to disable that, start the \
                     nodes with --disable-default-registry-endpoint \
                     ({}: disable-default-registry-endpoint: true)",
                    flavor.name, flavor.node_config
                ));
            }
            vec![GeneratedFile {
                path: PathBuf::from("registries.yaml"),
                text: k3s(&mirrors, opts, flavor),
            }]
        }
        MirrorFormat::Containerd => {
            let mut files: Vec<GeneratedFile> = mirrors
                .iter()
                .map(|m| GeneratedFile {
                    // Relative to containerd's `config_path` (the certs.d directory
                    // itself), which is what `--out` names.
                    path: PathBuf::from(host_directory(&m.host)).join("hosts.toml"),
                    text: hosts_toml(m, opts),
                })
                .collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files
        }
        MirrorFormat::CriO => {
            notes.extend(crio::notes(opts));
            vec![crio::file(&mirrors, opts)]
        }
        MirrorFormat::Talos => vec![talos::file(&mirrors, opts)?],
    };
    Ok(Generated { files, notes })
}

/// `https://<harbor>/v2/<project>`: the endpoint path k3s and containerd use as is.
pub fn endpoint(harbor: &str, project: &str) -> String {
    format!("https://{harbor}/v2/{project}")
}

/// The upstream registry's own server, as containerd defaults it.
pub fn upstream_server(host: &str) -> String {
    if host == "docker.io" {
        "https://registry-1.docker.io".to_string()
    } else {
        format!("https://{host}")
    }
}

/// containerd's directory name for a registry host: `host:port` becomes `host_port_`.
pub fn host_directory(host: &str) -> String {
    match host.rfind(':') {
        Some(i) if i > 0 => format!("{}_{}_", &host[..i], &host[i + 1..]),
        _ => host.to_string(),
    }
}

/// The distributions that read k3s's `registries.yaml` (RKE2 runs k3s's agent code).
struct K3sFlavor {
    name: &'static str,
    install: &'static str,
    restart: &'static str,
    node_config: &'static str,
}

const K3S: K3sFlavor = K3sFlavor {
    name: "k3s",
    install: "/etc/rancher/k3s/registries.yaml",
    restart: "restart k3s",
    node_config: "config.yaml",
};

const RKE2: K3sFlavor = K3sFlavor {
    name: "rke2",
    install: "/etc/rancher/rke2/registries.yaml",
    restart: "restart rke2-server or rke2-agent",
    node_config: "/etc/rancher/rke2/config.yaml",
};

fn k3s(mirrors: &[Mirror], opts: &Options, flavor: &K3sFlavor) -> String {
    let mut s = String::new();
    let name = flavor.name;
    let _ = writeln!(
        s,
        "# Generated by `harborize mirrors --format {name}` from harborize.yaml."
    );
    let _ = writeln!(
        s,
        "# Install as {} on every node, then {}.",
        flavor.install, flavor.restart
    );
    if opts.fallback {
        let _ = writeln!(
            s,
            "# Harbor first; {name} tries the upstream registry last (its default endpoint)."
        );
    } else {
        let _ = writeln!(
            s,
            "# --no-fallback: {name} still tries the upstream registry last unless the node runs\n\
             # with --disable-default-registry-endpoint."
        );
    }
    s.push_str("mirrors:\n");
    for m in mirrors {
        let _ = writeln!(s, "  {}:", quote(&m.host));
        let _ = writeln!(s, "    endpoint:");
        let _ = writeln!(s, "      - {}", quote(&endpoint(&opts.harbor, &m.project)));
    }
    if let Some(ca) = &opts.ca_file {
        s.push_str("configs:\n");
        let _ = writeln!(s, "  {}:", quote(&opts.harbor));
        s.push_str("    tls:\n");
        let _ = writeln!(s, "      ca_file: {}", quote(ca));
    }
    s
}

fn hosts_toml(m: &Mirror, opts: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated by `harborize mirrors --format containerd` from harborize.yaml."
    );
    if m.host == m.registry {
        let _ = writeln!(s, "# {}: Harbor project {}.", m.host, m.project);
    } else {
        let _ = writeln!(
            s,
            "# {} (alias of {}): Harbor project {}.",
            m.host, m.registry, m.project
        );
    }
    if opts.fallback {
        let _ = writeln!(s, "server = {}", quote(&upstream_server(&m.host)));
    } else {
        s.push_str("# no `server`: --no-fallback, every pull goes through Harbor\n");
    }
    s.push('\n');
    let _ = writeln!(s, "[host.{}]", quote(&endpoint(&opts.harbor, &m.project)));
    s.push_str("  capabilities = [\"pull\", \"resolve\"]\n");
    s.push_str("  override_path = true\n");
    if let Some(ca) = &opts.ca_file {
        let _ = writeln!(s, "  ca = {}", quote(ca));
    }
    s
}

/// A double-quoted string valid in both YAML and TOML (basic string): `"` and `\` escaped,
/// control characters as `\uXXXX`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `HOST[:PORT]`: DNS labels (or an IPv4 address) and an optional numeric port. Nothing
/// that could escape a directory or a quoted key.
pub fn is_registry_host(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_directory_follows_containerd() {
        assert_eq!(host_directory("docker.io"), "docker.io");
        assert_eq!(
            host_directory("registry.corp.example:5000"),
            "registry.corp.example_5000_"
        );
    }

    #[test]
    fn hosts_are_checked() {
        assert!(is_registry_host("docker.io"));
        assert!(is_registry_host("localhost:5000"));
        assert!(is_registry_host("10.0.0.1:443"));
        for bad in [
            "", "..", "a/b", "../x", "a b", "x:", "x:abc", "-x.io", "a..b",
        ] {
            assert!(!is_registry_host(bad), "{bad}");
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\u{1}"), "\"x\\u0001\"");
    }
}
