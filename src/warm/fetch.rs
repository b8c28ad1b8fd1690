//! The two requests warming is made of: a manifest (or index) GET whose bytes are
//! checked against the digest asked for or announced, and a blob GET streamed through its
//! digest to nowhere. Through a pull-through cache a GET is what makes the cache fetch
//! and keep the content (a HEAD stores nothing: goharbor/harbor PR #19910), and a
//! streamed body is never held in memory whatever the layer's size.

use reqwest::header::CONTENT_TYPE;
use sha2::{Digest as _, Sha256, Sha512};

use crate::registry::client::{error_chain, MANIFEST_ACCEPT};
use crate::registry::RegistryClient;

/// Manifests above this size are refused (the distribution spec lets registries refuse
/// manifests above 4 MiB; none is legitimately larger).
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A content descriptor of a manifest (`config`, `layers[]`, `manifests[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: Option<u64>,
}

impl Descriptor {
    /// Read a descriptor object; `None` when it has no digest.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        Some(Descriptor {
            media_type: v["mediaType"].as_str().unwrap_or_default().to_string(),
            digest: v["digest"].as_str()?.to_string(),
            size: v["size"].as_u64(),
        })
    }

    /// Foreign (Windows base) and non-distributable layers are not served by registries:
    /// the runtime fetches them from their `urls`, so they are not warmed.
    pub fn is_foreign(&self) -> bool {
        self.media_type.contains("foreign") || self.media_type.contains("nondistributable")
    }
}

/// A fetched manifest or index.
#[derive(Debug)]
pub struct Manifest {
    /// The digest of the bytes received (checked).
    pub digest: String,
    pub media_type: String,
    pub json: serde_json::Value,
    pub bytes: u64,
}

impl Manifest {
    /// An image index or Docker manifest list (its `manifests[]` name platform images).
    pub fn is_index(&self) -> bool {
        self.media_type.contains("image.index") || self.media_type.contains("manifest.list")
    }
}

/// Why a manifest could not be fetched.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    /// The registry could not be reached at all (connection or TLS failure).
    pub unreachable: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            unreachable: false,
        }
    }
}

/// A blob streamed through its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: u64,
    /// The registry (or a cache in front of it) said it served the blob from its cache
    /// (`X-Cache: HIT`, `X-Cache-Status: HIT`, `CF-Cache-Status: HIT`).
    pub cached: bool,
}

/// An incremental digest of one of the registered algorithms.
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// The hasher for `algorithm:hex`, or why the digest cannot be checked.
    fn for_digest(digest: &str) -> Result<Self, String> {
        match digest.split_once(':') {
            Some(("sha256", hex)) if hex.len() == 64 => Ok(Hasher::Sha256(Sha256::new())),
            Some(("sha512", hex)) if hex.len() == 128 => Ok(Hasher::Sha512(Sha512::new())),
            _ => Err(format!("unsupported or malformed digest {digest:?}")),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> String {
        let (name, out) = match self {
            Hasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Hasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        let mut s = String::with_capacity(name.len() + 1 + out.len() * 2);
        s.push_str(name);
        s.push(':');
        for b in out {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let mut h = Hasher::Sha256(Sha256::new());
    h.update(bytes);
    h.finish()
}

fn status_error(what: &str, status: reqwest::StatusCode) -> String {
    match status.as_u16() {
        401 | 403 => format!("{what}: unauthorized ({status})"),
        404 => format!("{what}: not found (404)"),
        429 => format!("{what}: rate limited (429)"),
        _ => format!("{what}: registry answered {status}"),
    }
}

/// GET `repo`'s manifest `reference` (a tag or a digest); its bytes must match the digest
/// asked for, else the `Docker-Content-Digest` the registry announced.
pub async fn manifest(
    client: &RegistryClient,
    repo: &str,
    reference: &str,
) -> Result<Manifest, Failure> {
    let what = format!("manifest {repo}:{reference}");
    let (result, _) = client
        .get_unread(
            repo,
            &format!("manifests/{reference}"),
            Some(MANIFEST_ACCEPT),
        )
        .await;
    let resp = result.map_err(|e| Failure {
        message: format!("{what}: {}", error_chain(&e)),
        unreachable: e.is_connect() || e.is_timeout(),
    })?;
    if !resp.status().is_success() {
        return Err(status_error(&what, resp.status()).into());
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let announced = header("docker-content-digest");
    let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{what}: {}", error_chain(&e)))?;
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(format!("{what}: larger than 4 MiB ({} bytes)", body.len()).into());
    }
    let expected = if reference.contains(':') {
        Some(reference.to_string())
    } else {
        announced
    };
    let digest = match &expected {
        Some(e) => {
            let mut h = Hasher::for_digest(e).map_err(|m| format!("{what}: {m}"))?;
            h.update(&body);
            h.finish()
        }
        None => sha256(&body),
    };
    if let Some(e) = expected.filter(|e| *e != digest) {
        return Err(format!("{what}: digest mismatch: expected {e}, got {digest}").into());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("{what}: not JSON: {e}"))?;
    let media_type = json["mediaType"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(content_type);
    Ok(Manifest {
        digest,
        media_type,
        json,
        bytes: body.len() as u64,
    })
}

/// Stream blob `desc` of `repo` to nowhere, checking its digest and size; retried (after
/// the client's own retries of the request) when the body breaks off or does not match.
/// `on_bytes` is told of every chunk (the progress bar).
pub async fn blob(
    client: &RegistryClient,
    repo: &str,
    desc: &Descriptor,
    retries: u32,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Blob, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match blob_once(client, repo, desc, on_bytes).await {
            Ok(b) => return Ok(b),
            Err((message, retryable)) if !retryable || attempt > retries => return Err(message),
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await
            }
        }
    }
}

/// One attempt; the error says whether another attempt may succeed.
async fn blob_once(
    client: &RegistryClient,
    repo: &str,
    desc: &Descriptor,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Blob, (String, bool)> {
    let what = format!("blob {}", desc.digest);
    let mut hasher =
        Hasher::for_digest(&desc.digest).map_err(|m| (format!("{what}: {m}"), false))?;
    let (result, _) = client
        .get_unread(repo, &format!("blobs/{}", desc.digest), None)
        .await;
    let mut resp = result.map_err(|e| (format!("{what}: {}", error_chain(&e)), false))?;
    if !resp.status().is_success() {
        return Err((status_error(&what, resp.status()), false));
    }
    let cached = said_cached(resp.headers());
    let mut bytes = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                on_bytes(chunk.len() as u64);
            }
            Ok(None) => break,
            Err(e) => return Err((format!("{what}: {}", error_chain(&e)), true)),
        }
    }
    let got = hasher.finish();
    if got != desc.digest {
        return Err((format!("{what}: digest mismatch: got {got}"), true));
    }
    if let Some(size) = desc.size.filter(|s| *s != bytes) {
        return Err((
            format!("{what}: {bytes} bytes, the manifest says {size}"),
            false,
        ));
    }
    Ok(Blob { bytes, cached })
}

/// Whether a response says it came from a cache (HTTP caches and CDNs in front of a
/// registry set these; a registry that says nothing is not assumed either way).
fn said_cached(headers: &reqwest::header::HeaderMap) -> bool {
    ["x-cache", "x-cache-status", "cf-cache-status"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok())
        .any(|v| v.trim().to_ascii_uppercase().starts_with("HIT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_both_algorithms_are_checked() {
        assert_eq!(
            sha256(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut h = Hasher::for_digest(&format!("sha512:{}", "0".repeat(128))).unwrap();
        h.update(b"abc");
        assert!(h.finish().starts_with("sha512:ddaf35a193617aba"));
        assert!(Hasher::for_digest("md5:abc").is_err());
        assert!(Hasher::for_digest("sha256:abc").is_err());
    }

    #[test]
    fn cache_hits_are_read_from_the_usual_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert!(!said_cached(&h));
        h.insert("x-cache", "MISS".parse().unwrap());
        assert!(!said_cached(&h));
        h.insert("cf-cache-status", "hit".parse().unwrap());
        assert!(said_cached(&h));
    }
}
