//! A plain loopback `docker-registry` (CNCF distribution, the same binary and watchdog as
//! [`super::RegistryHarness`]) without the Harbor-like token service: plain HTTP, htpasswd
//! auth ([`USER`]/[`PASSWORD`]) or TLS with a [`TestCa`]. The scan tests push their Trivy
//! images (`support::trivy::AlpineImage`) here and point Trivy at it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{find_registry_binary, free_port, RegistryProcess};
use crate::support::tls::TestCa;
use crate::support::trivy::{block_on, sha256, AlpineImage};

/// The htpasswd user of `fixtures/trivy/htpasswd`.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "testpass";

/// A loopback docker-registry: plain HTTP, htpasswd auth or TLS. Stopped on drop.
pub struct Registry {
    pub host: String,
    pub dir: PathBuf,
    process: RegistryProcess,
    auth: bool,
    /// With TLS: the test CA's certificate (PEM file).
    pub ca: Option<PathBuf>,
}

impl Registry {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, false)
    }

    /// With htpasswd auth (user [`USER`], password [`PASSWORD`]).
    pub fn start_with_auth(dir: &Path) -> Self {
        Self::start_with(dir, true)
    }

    /// HTTPS with a certificate for 127.0.0.1 issued by a fresh test CA (`self.ca`).
    pub fn start_tls(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ca = TestCa::new().write_files(dir);
        Self::start_inner(dir, false, Some(ca))
    }

    fn start_with(dir: &Path, auth: bool) -> Self {
        Self::start_inner(dir, auth, None)
    }

    fn scheme(&self) -> &'static str {
        if self.ca.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn start_inner(dir: &Path, auth: bool, ca: Option<PathBuf>) -> Self {
        let bin = find_registry_binary();
        std::fs::create_dir_all(dir).unwrap();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: harborize-tests\n",
                dir.join("data").display()
            );
            if ca.is_some() {
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.join("cert.pem").display(),
                    dir.join("key.pem").display()
                ));
            }
            if auth {
                let htpasswd = dir.join("htpasswd");
                std::fs::copy(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trivy/htpasswd"),
                    &htpasswd,
                )
                .unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: harborize-tests\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let cfg = dir.join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let mut reg = Registry {
                host: format!("127.0.0.1:{port}"),
                dir: dir.to_path_buf(),
                process: RegistryProcess::spawn(&bin, dir, None),
                auth,
                ca: ca.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if reg.process.exited() {
                    last_err = format!(
                        "docker-registry exited: {}",
                        std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                    );
                    break;
                }
                if let Ok(code) = reg.status(&format!("{}://{}/v2/", reg.scheme(), reg.host)) {
                    if code == 200 || code == 401 {
                        return reg;
                    }
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            // dropped here: the process is stopped before the next port is tried
        }
        panic!("docker-registry did not start: {last_err}");
    }

    /// Push a built image as `repo:tag` for every tag; returns the manifest digest.
    pub fn push(&self, repo: &str, image: &AlpineImage, tags: &[&str]) -> String {
        let built = image.build();
        let client = self.client();
        block_on(async {
            for blob in [&built.layer, &built.config] {
                self.upload_blob(&client, repo, blob).await;
            }
            for tag in tags {
                let url = format!(
                    "{}://{}/v2/{repo}/manifests/{tag}",
                    self.scheme(),
                    self.host
                );
                let resp = self
                    .authed(client.put(url))
                    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                    .body(built.manifest.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    resp.status().is_success(),
                    "manifest PUT: {}",
                    resp.status()
                );
            }
        });
        built.digest
    }

    /// Push an OCI index of linux images (one per architecture) as `repo:tag`; returns the
    /// index digest.
    pub fn push_index(&self, repo: &str, images: &[&AlpineImage], tag: &str) -> String {
        let client = self.client();
        let mut entries = Vec::new();
        for img in images {
            let built = img.build();
            let digest = block_on(async {
                for blob in [&built.layer, &built.config] {
                    self.upload_blob(&client, repo, blob).await;
                }
                self.put_manifest(
                    &client,
                    repo,
                    &built.digest,
                    "application/vnd.oci.image.manifest.v1+json",
                    &built.manifest,
                )
                .await;
                built.digest.clone()
            });
            entries.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": built.manifest.len(),
                "platform": {"os": "linux", "architecture": img.arch}
            }));
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries
        }))
        .unwrap();
        block_on(self.put_manifest(
            &client,
            repo,
            tag,
            "application/vnd.oci.image.index.v1+json",
            &index,
        ));
        sha256(&index)
    }

    async fn put_manifest(
        &self,
        client: &reqwest::Client,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) {
        let url = format!(
            "{}://{}/v2/{repo}/manifests/{reference}",
            self.scheme(),
            self.host
        );
        let resp = self
            .authed(client.put(url))
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "manifest PUT: {}",
            resp.status()
        );
    }

    /// Push a one-layer OCI artifact (e.g. Trivy's DB: config `{}` plus `db.tar.gz`).
    #[allow(clippy::too_many_arguments)]
    pub fn push_artifact(
        &self,
        repo: &str,
        tag: &str,
        config_media_type: &str,
        config: &[u8],
        layer_media_type: &str,
        layer: &[u8],
        title: &str,
    ) -> String {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config_media_type, "digest": sha256(config), "size": config.len()},
            "layers": [{"mediaType": layer_media_type, "digest": sha256(layer), "size": layer.len(),
                        "annotations": {"org.opencontainers.image.title": title}}]
        }))
        .unwrap();
        let client = self.client();
        block_on(async {
            self.upload_blob(&client, repo, config).await;
            self.upload_blob(&client, repo, layer).await;
            let url = format!(
                "{}://{}/v2/{repo}/manifests/{tag}",
                self.scheme(),
                self.host
            );
            let resp = self
                .authed(client.put(url))
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest.clone())
                .send()
                .await
                .unwrap();
            assert!(
                resp.status().is_success(),
                "manifest PUT: {}",
                resp.status()
            );
        });
        sha256(&manifest)
    }

    fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap();
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    /// Status of a plain GET (no auth), trusting the test CA.
    fn status(&self, url: &str) -> Result<u16, String> {
        let client = self.client();
        let url = url.to_string();
        block_on(async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.auth {
            req.basic_auth(USER, Some(PASSWORD))
        } else {
            req
        }
    }

    async fn upload_blob(&self, client: &reqwest::Client, repo: &str, blob: &[u8]) {
        let digest = sha256(blob);
        let start = format!("{}://{}/v2/{repo}/blobs/uploads/", self.scheme(), self.host);
        let resp = self.authed(client.post(start)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 202, "blob upload start");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}://{}{location}", self.scheme(), self.host)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .authed(client.put(format!("{location}{sep}digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            201,
            "blob upload: {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.process.stop();
    }
}
