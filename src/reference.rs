//! Container image references, parsed exactly as CNCF distribution's `reference`
//! package does (the grammar containerd, Docker, Harbor and Kubernetes follow).
//!
//! Pure: no I/O, no configuration. The original text is kept so a rewrite can keep the
//! tag and digest exactly as written and never invent `:latest`.

use std::fmt;

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";
/// The legacy Docker Hub domain that distribution itself canonicalises to `docker.io`.
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// Maximum length of the repository path (without the domain).
pub const MAX_PATH_LEN: usize = 255;

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("empty reference")]
    Empty,
    #[error("invalid digest {0:?}")]
    Digest(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
    #[error("invalid domain {0:?}")]
    Domain(String),
    #[error("repository name must be lowercase: {0:?}")]
    Uppercase(String),
    #[error("invalid repository path {0:?}")]
    Path(String),
    #[error("repository path is longer than {MAX_PATH_LEN} characters")]
    TooLong,
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parse `name[:tag][@digest]` with distribution's normalization.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_tag, digest) = match text.split_once('@') {
            Some((n, d)) => {
                validate_digest(d)?;
                (n, Some(d.to_string()))
            }
            None => (text, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                let tag = &name_tag[split + 1..];
                validate_tag(tag)?;
                (&name_tag[..split], Some(tag.to_string()))
            }
            None => (name_tag, None),
        };
        let (domain, path) = Self::split_name(name)?;
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Parse a repository name without tag or digest (a kustomize `name`, a Helm `repository`).
    pub fn parse_name(text: &str) -> Result<Self, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (domain, path) = Self::split_name(text)?;
        Ok(Reference {
            domain,
            path,
            tag: None,
            digest: None,
        })
    }

    fn split_name(name: &str) -> Result<(String, String), ReferenceError> {
        if name.is_empty() {
            return Err(ReferenceError::Path(name.to_string()));
        }
        let (domain, remote) = match name.split_once('/') {
            Some((first, rest)) if looks_like_domain(first) => {
                validate_domain(first)?;
                (first.to_string(), rest)
            }
            _ => (DOCKER_HUB.to_string(), name),
        };
        validate_path(remote)?;
        let domain = if domain == LEGACY_DOCKER_HUB {
            DOCKER_HUB.to_string()
        } else {
            domain
        };
        let path = if domain == DOCKER_HUB && !remote.contains('/') {
            format!("library/{remote}")
        } else {
            remote.to_string()
        };
        Ok((domain, path))
    }

    /// Build a reference from parts that are already valid (used by mapping).
    pub fn from_parts(
        domain: &str,
        path: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        let mut text = format!("{domain}/{path}");
        if let Some(t) = tag {
            text.push(':');
            text.push_str(t);
        }
        if let Some(d) = digest {
            text.push('@');
            text.push_str(d);
        }
        Reference::parse(&text)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `domain/path` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The `:tag@digest` suffix exactly as parsed (empty when neither is present).
    pub fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The short form people write: `docker.io/library/redis` → `redis`,
    /// `docker.io/bitnami/redis` → `bitnami/redis`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DOCKER_HUB {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The familiar form with tag and digest.
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }
}

impl fmt::Display for Reference {
    /// The fully normalized form: `docker.io/library/nginx:1.27`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.domain, self.path, self.suffix())
    }
}

/// distribution's rule: the first component is a domain when it is `localhost`, or
/// contains `.` or `:`, or any uppercase letter.
fn looks_like_domain(first: &str) -> bool {
    first == "localhost"
        || first.contains('.')
        || first.contains(':')
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn validate_domain(domain: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Domain(domain.to_string());
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(err)?;
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(err());
        }
        match after {
            "" => ("", None),
            p => ("", Some(p.strip_prefix(':').ok_or_else(err)?)),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
    }
    if domain.starts_with('[') {
        return Ok(());
    }
    if host.is_empty() {
        return Err(err());
    }
    for component in host.split('.') {
        let bytes = component.as_bytes();
        let ok = !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if !ok {
            return Err(err());
        }
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), ReferenceError> {
    if path.chars().count() > MAX_PATH_LEN {
        return Err(ReferenceError::TooLong);
    }
    for component in path.split('/') {
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path.to_string()));
        }
        if !valid_path_component(component) {
            return Err(ReferenceError::Path(path.to_string()));
        }
    }
    Ok(())
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `[_.] | "__" | "-"+`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_string()))
    }
}

fn validate_digest(digest: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Digest(digest.to_string());
    let (algo, hex) = digest.split_once(':').ok_or_else(err)?;
    let algo_ok = !algo.is_empty()
        && algo.split(['-', '_', '+', '.']).all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|x| x.is_ascii_alphanumeric())
        });
    if !algo_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err());
    }
    if algo == "sha256" && (hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase())) {
        return Err(err());
    }
    if algo == "sha512" && (hex.len() != 128 || hex.bytes().any(|b| b.is_ascii_uppercase())) {
        return Err(err());
    }
    Ok(())
}

/// Check a registry host the way it will be written in front of every rewritten reference
/// (`harbor.example.com`, `harbor.example.com:8443`, `[::1]:5000`): a domain of the
/// reference grammar, ASCII lowercase, no credentials, a port in 1..=65535.
pub fn validate_registry_host(host: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Domain(host.to_string());
    if host.is_empty() || !host.is_ascii() || host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(err());
    }
    validate_domain(host)?;
    // The grammar allows any digits; a socket does not.
    let port = match host.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => host.split_once(':').map(|(_, p)| p),
    };
    if let Some(p) = port {
        if !matches!(p.parse::<u32>(), Ok(1..=65535)) {
            return Err(err());
        }
    }
    Ok(())
}

/// Check a repository path (a Harbor project, a rule's replacement) against the grammar.
pub fn validate_repository_path(path: &str) -> Result<(), ReferenceError> {
    if path.is_empty() {
        return Err(ReferenceError::Path(path.to_string()));
    }
    validate_path(path)
}

/// Whether `host` (`name`, `name:port`, `[v6]:port` or a bare IPv6 address) names this
/// machine: `localhost` (any case) or a loopback address. Plain HTTP is only allowed to
/// such hosts without `--insecure`-style consent.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if host.parse::<std::net::IpAddr>().is_ok() {
        host
    } else if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when the text uses shell, Kubernetes or Go-template substitution, so its value is
/// only known at deploy time.
pub fn is_templated(text: &str) -> bool {
    text.contains("${") || text.contains("$(") || text.contains("{{")
}

/// A required platform (`linux/amd64`, `linux/arm/v7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant]"
            )),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_in_every_spelling() {
        for h in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:5000",
            "[::1]:443",
            "[::1]",
            "::1",
            "127.0.0.2",
        ] {
            assert!(super::is_loopback_host(h), "{h}");
        }
        for h in [
            "harbor.example.com",
            "10.0.0.1:80",
            "[2001:db8::1]:443",
            "localhost.evil.com",
        ] {
            assert!(!super::is_loopback_host(h), "{h}");
        }
    }

    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn good_references_normalize_as_distribution_does() {
        let cases = [
            ("nginx", "docker.io", "library/nginx", None, None),
            (
                "nginx:1.27",
                "docker.io",
                "library/nginx",
                Some("1.27"),
                None,
            ),
            (
                "bitnami/redis:7",
                "docker.io",
                "bitnami/redis",
                Some("7"),
                None,
            ),
            (
                "docker.io/ubuntu",
                "docker.io",
                "library/ubuntu",
                None,
                None,
            ),
            (
                "index.docker.io/library/redis:7",
                "docker.io",
                "library/redis",
                Some("7"),
                None,
            ),
            ("localhost:5000/app", "localhost:5000", "app", None, None),
            ("localhost/app", "localhost", "app", None, None),
            ("Foo/bar", "Foo", "bar", None, None),
            ("[::1]:5000/app:1", "[::1]:5000", "app", Some("1"), None),
            (
                "a/b__c/d-e--f/g.h",
                "docker.io",
                "a/b__c/d-e--f/g.h",
                None,
                None,
            ),
            ("ghcr.io/org/app:v1", "ghcr.io", "org/app", Some("v1"), None),
            (
                "registry.k8s.io:443/pause:3.9",
                "registry.k8s.io:443",
                "pause",
                Some("3.9"),
                None,
            ),
        ];
        for (input, domain, path, tag, digest) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.domain(), domain, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest(), digest, "{input}");
        }
        let r = Reference::parse(&format!("ghcr.io/org/app:v1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest(), Some(D));
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
    }

    #[test]
    fn bad_references_are_rejected() {
        let long_tag = format!("nginx:{}", "a".repeat(129));
        let long_path = format!("a/{}", "b".repeat(255));
        let bad = [
            "",
            "nginx:",
            "nginx@sha256:abc",
            ":tag",
            "foo/Bar",
            "nginx:-tag",
            "nginx:.tag",
            "UPPER",
            "a//b",
            "a/b/",
            "-a/b",
            "a_/b",
            "a/b___c",
            "ghcr.io/org/app:v1@sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
            "ex ample.com/app",
            "host:port/app",
            "docker.io/{username}/app",
            "eu.foo.io/* | bar.io/*",
            "ko://github.com/knative/app",
            long_tag.as_str(),
            long_path.as_str(),
        ];
        for input in bad {
            assert!(
                Reference::parse(input).is_err(),
                "{input:?} should be invalid"
            );
        }
    }

    #[test]
    fn familiar_form_drops_docker_hub_and_library() {
        let f = |s: &str| Reference::parse(s).unwrap().familiar();
        assert_eq!(f("docker.io/library/redis:7"), "redis:7");
        assert_eq!(f("docker.io/bitnami/redis"), "bitnami/redis");
        assert_eq!(f("ghcr.io/org/app:1"), "ghcr.io/org/app:1");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b");
    }

    #[test]
    fn templating_is_detected() {
        assert!(is_templated("${IMAGE_NAME}:${DEMO_VERSION}-ad"));
        assert!(is_templated("$(REGISTRY)/app"));
        assert!(is_templated("{{ .Values.image }}"));
        assert!(!is_templated("nginx:1.27"));
    }
}
