//! Talking to Harbor's registry API (`/v2`): proving that references resolve.
//!
//! Network code for the registry lives only here. [`verify`] takes the unique Harbor
//! references of a run, fetches tokens for them in batches, and checks each with a strict
//! HEAD (or a GET of the index when platforms are required), with bounded concurrency.

pub mod challenge;
pub mod client;
pub mod credentials;

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

/// A platform (`os/arch[/variant]`); a value the config validates too.
pub use crate::reference::Platform;
use crate::reference::Reference;
pub use client::{Check, ClientOptions, Outcome, RegistryClient};
pub use credentials::{CredentialSources, Credentials};

/// One reference to check on the Harbor host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The normalized reference text (the key reports and lock files use).
    pub key: String,
    /// The registry host it is checked on (lower case): the cache's host, or a
    /// repository's subdomain or port connector of it.
    pub host: String,
    pub repository: String,
    /// What is asked for: the digest when there is one (what the runtime pulls), else the
    /// tag, else `latest`.
    pub reference: String,
}

impl Target {
    /// The target of a reference on its own registry host (the caller knows it is a cache
    /// host: `Mapper::is_cache_host`).
    pub fn on_its_host(r: &Reference) -> Self {
        let reference = r.digest().or(r.tag()).unwrap_or("latest").to_string();
        Target {
            key: r.to_string(),
            host: r.domain().to_ascii_lowercase(),
            repository: r.path().to_string(),
            reference,
        }
    }
}

/// Check every target (deduplicated) with at most `jobs` requests in flight.
pub async fn verify(
    client: &RegistryClient,
    targets: &[Target],
    jobs: usize,
    platforms: &[Platform],
) -> BTreeMap<String, Check> {
    let mut unique: Vec<&Target> = targets.iter().collect();
    unique.sort();
    unique.dedup_by(|a, b| a.key == b.key);
    let repos: Vec<String> = unique.iter().map(|t| t.repository.clone()).collect();
    client.prepare(&repos).await;
    stream::iter(unique)
        .map(|t| async move {
            let check = if platforms.is_empty() {
                client.head_manifest(&t.repository, &t.reference).await
            } else {
                check_platforms(client, t, platforms).await
            };
            (t.key.clone(), check)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await
}

/// Check every chart target (deduplicated) with the strict chart check
/// ([`RegistryClient::check_chart`]), at most `jobs` requests in flight.
pub async fn verify_charts(
    client: &RegistryClient,
    targets: &[Target],
    jobs: usize,
) -> BTreeMap<String, Check> {
    let mut unique: Vec<&Target> = targets.iter().collect();
    unique.sort();
    unique.dedup_by(|a, b| a.key == b.key);
    let repos: Vec<String> = unique.iter().map(|t| t.repository.clone()).collect();
    client.prepare(&repos).await;
    stream::iter(unique)
        .map(|t| async move {
            let check = client.check_chart(&t.repository, &t.reference).await;
            (t.key.clone(), check)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await
}

async fn check_platforms(client: &RegistryClient, t: &Target, platforms: &[Platform]) -> Check {
    let (mut check, body) = client.get_manifest(&t.repository, &t.reference).await;
    let Some(body) = body else { return check };
    let present: Vec<Platform> = match body["manifests"].as_array() {
        Some(list) => list
            .iter()
            .filter_map(|m| {
                let p = &m["platform"];
                Some(Platform {
                    os: p["os"].as_str()?.to_string(),
                    architecture: p["architecture"].as_str()?.to_string(),
                    variant: p["variant"].as_str().map(str::to_string),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let missing: Vec<String> = platforms
        .iter()
        .filter(|want| {
            !present.iter().any(|p| {
                p.os == want.os
                    && p.architecture == want.architecture
                    && (want.variant.is_none() || p.variant == want.variant)
            })
        })
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        check.outcome = Outcome::PlatformMissing;
        check.message = Some(if body["manifests"].is_array() {
            format!("index lacks {}", missing.join(", "))
        } else {
            format!(
                "single-platform manifest, not an index: cannot serve {}",
                missing.join(", ")
            )
        });
    }
    check
}
