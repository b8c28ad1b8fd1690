//! A strict check of an OCI Helm chart through Harbor (kind `chart`).
//!
//! An image check accepts any manifest or index; a chart is one OCI image manifest whose
//! config has the Helm media type. So the HEAD asks for the OCI manifest type only and
//! the answer must be one, and a GET of that manifest (small JSON: Harbor's proxy cache
//! fetches manifests, no layers) shows the config media type: anything else is
//! `not-a-chart` (an image, an index, another artifact).

use std::time::Instant;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::{classify, error_chain, is_tls_error, Check, Outcome, RegistryClient};

/// The manifest type of a Helm chart in an OCI registry.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type that makes an OCI artifact a Helm chart.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

impl RegistryClient {
    /// Check that `repo:reference` is a Helm chart: a strict HEAD of the OCI manifest,
    /// then its config media type.
    pub async fn check_chart(&self, repo: &str, reference: &str) -> Check {
        let started = Instant::now();
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (result, attempts) = self
            .send(Method::HEAD, &url, repo, Some(OCI_MANIFEST))
            .await;
        let mut check = Check {
            outcome: Outcome::Resolved,
            digest: None,
            http_status: None,
            attempts,
            milliseconds: 0,
            message: None,
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                check.outcome = if is_tls_error(&e) {
                    Outcome::TlsError
                } else {
                    Outcome::Unreachable
                };
                check.message = Some(error_chain(&e));
                return done(check, started);
            }
        };
        let status = resp.status();
        check.http_status = Some(status.as_u16());
        check.outcome = classify(status);
        if status == StatusCode::NOT_FOUND {
            check.outcome = self.not_found_kind(repo).await;
        }
        if check.outcome != Outcome::Resolved {
            return done(check, started);
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        check.digest = header("docker-content-digest");
        let media = header(CONTENT_TYPE.as_str()).unwrap_or_default();
        if media.split(';').next().unwrap_or("").trim() != OCI_MANIFEST {
            check.outcome = Outcome::NotAChart;
            check.message = Some(format!(
                "the manifest is {media:?}, not an OCI image manifest: not a Helm chart"
            ));
            return done(check, started);
        }
        let (result, more) = self.send(Method::GET, &url, repo, Some(OCI_MANIFEST)).await;
        check.attempts += more;
        let body = match result {
            Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
            Ok(r) => {
                check.outcome = classify(r.status());
                check.http_status = Some(r.status().as_u16());
                return done(check, started);
            }
            Err(e) => {
                check.outcome = Outcome::Unreachable;
                check.message = Some(error_chain(&e));
                return done(check, started);
            }
        };
        let config = body
            .as_ref()
            .and_then(|b| b["config"]["mediaType"].as_str())
            .unwrap_or("")
            .to_string();
        if config != HELM_CONFIG {
            check.outcome = Outcome::NotAChart;
            check.message = Some(format!(
                "config media type {config:?}, not {HELM_CONFIG}: not a Helm chart"
            ));
        }
        done(check, started)
    }
}

fn done(mut check: Check, started: Instant) -> Check {
    check.milliseconds = started.elapsed().as_millis() as u64;
    check
}
