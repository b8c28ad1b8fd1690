//! Warming Harbor's proxy cache before a rollout: for every Harbor reference, GET the
//! manifest or index, the manifests of the platforms the nodes run, and every blob they
//! name, so that the cache fetches and stores them now rather than on the first node's
//! cold pull (or not at all, when the upstream is down at that moment).
//!
//! Requests go through the same [`RegistryClient`] as verify (auth, TLS, retries); at
//! most `jobs` blob downloads are in flight at once; a blob named by several images of
//! one repository is fetched once, the others wait for that download. Blobs are keyed by
//! repository and digest, not digest alone: pull-through caches link a blob to the
//! repository it was pulled for (distribution's proxy serves a blob from its store only
//! when the repository links it), so a layer two repositories share is fetched for each.

pub mod fetch;
pub mod output;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore};

use crate::registry::{Platform, RegistryClient, Target};
use fetch::Descriptor;

/// How to warm.
#[derive(Debug, Clone)]
pub struct WarmOptions {
    /// Downloads (and images resolved) at once.
    pub jobs: usize,
    /// Attempts after the first when a blob's body breaks off or does not match.
    pub retries: u32,
    /// The platforms whose images are fetched out of an index.
    pub platforms: Vec<Platform>,
}

/// Told what happens, for a progress bar (the command decides whether one is shown).
pub trait Progress: Sync {
    /// `n` more bytes will be downloaded (a blob was claimed).
    fn add_total(&self, _n: u64) {}
    /// `n` bytes arrived.
    fn bytes(&self, _n: u64) {}
    /// One image is done (warmed or failed).
    fn image_done(&self) {}
}

/// What became of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarmOutcome {
    Warmed,
    Failed,
}

/// The report of one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The Harbor reference.
    pub image: String,
    pub outcome: WarmOutcome,
    /// The digest of the manifest or index the reference resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Platforms warmed out of an index (empty for a single-platform manifest).
    pub platforms: Vec<String>,
    /// Wanted platforms the index does not offer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_platforms: Vec<String>,
    /// Manifests fetched (the index and each platform's manifest).
    pub manifests: usize,
    /// Blobs (configs and layers) the image names.
    pub blobs: usize,
    /// Bytes of those blobs and manifests.
    pub bytes: u64,
    /// Blobs downloaded for another image of the same repository in this run.
    pub shared: usize,
    /// Blobs the registry said it served from its cache.
    pub already_cached: usize,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Harbor could not be reached at all for this image (connection or TLS failure).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
}

impl WarmReport {
    /// One report of two runs over disjoint targets (one per cache host): images in the
    /// order they came, totals added, seconds of the runs added (they run one after the other).
    pub fn merged_with(mut self, other: WarmReport) -> WarmReport {
        self.images.extend(other.images);
        let (a, b) = (&mut self.summary, other.summary);
        a.images += b.images;
        a.warmed += b.warmed;
        a.failed += b.failed;
        a.unreachable += b.unreachable;
        a.blobs_downloaded += b.blobs_downloaded;
        a.bytes_downloaded += b.bytes_downloaded;
        a.requests += b.requests;
        a.seconds += b.seconds;
        self
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WarmSummary {
    pub images: usize,
    pub warmed: usize,
    pub failed: usize,
    /// Images that failed because Harbor could not be reached at all.
    pub unreachable: usize,
    /// Distinct blobs downloaded.
    pub blobs_downloaded: usize,
    /// Bytes downloaded (each shared blob once).
    pub bytes_downloaded: u64,
    pub requests: usize,
    pub seconds: f64,
}

/// The whole report (the JSON contract, version 1).
#[derive(Debug, Clone, Serialize)]
pub struct WarmReport {
    pub version: u32,
    pub harbor: String,
    pub platforms: Vec<String>,
    pub images: Vec<ImageReport>,
    pub summary: WarmSummary,
}

type BlobResult = Result<fetch::Blob, String>;

/// A blob's download, shared by every image of the repository that names it.
type BlobCell = Arc<OnceCell<BlobResult>>;

/// Blob downloads of a run: one cell per (repository, digest), filled by the first image
/// that names it; the bound on downloads in flight.
struct Blobs {
    cells: Mutex<HashMap<(String, String), BlobCell>>,
    permits: Semaphore,
}

/// Warm every target (deduplicated by reference).
pub async fn warm(
    client: &RegistryClient,
    harbor: &str,
    targets: &[Target],
    opts: &WarmOptions,
    progress: &dyn Progress,
) -> WarmReport {
    let started = Instant::now();
    let mut unique: Vec<&Target> = targets.iter().collect();
    unique.sort();
    unique.dedup_by(|a, b| a.key == b.key);
    let repos: Vec<String> = unique.iter().map(|t| t.repository.clone()).collect();
    client.prepare(&repos).await;
    let blobs = Blobs {
        cells: Mutex::new(HashMap::new()),
        permits: Semaphore::new(opts.jobs.max(1)),
    };
    let blobs = &blobs;
    let mut images: Vec<ImageReport> = stream::iter(unique)
        .map(|t| async move {
            let report = warm_image(client, t, opts, blobs, progress).await;
            progress.image_done();
            report
        })
        .buffer_unordered(opts.jobs.max(1))
        .collect()
        .await;
    images.sort_by(|a, b| a.image.cmp(&b.image));
    let cells = blobs.cells.lock().map(|c| c.clone()).unwrap_or_default();
    let downloaded: Vec<&fetch::Blob> = cells
        .values()
        .filter_map(|c| c.get()?.as_ref().ok())
        .collect();
    let summary = WarmSummary {
        images: images.len(),
        warmed: images
            .iter()
            .filter(|i| i.outcome == WarmOutcome::Warmed)
            .count(),
        failed: images
            .iter()
            .filter(|i| i.outcome == WarmOutcome::Failed)
            .count(),
        unreachable: images.iter().filter(|i| i.unreachable).count(),
        blobs_downloaded: downloaded.len(),
        bytes_downloaded: downloaded.iter().map(|b| b.bytes).sum(),
        requests: client
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    };
    WarmReport {
        version: 1,
        harbor: harbor.to_string(),
        platforms: opts.platforms.iter().map(ToString::to_string).collect(),
        images,
        summary,
    }
}

/// Does the index entry's `platform` serve `want`? A wanted variant must match; none
/// wanted takes any (`linux/arm64` is `linux/arm64/v8`).
fn serves(platform: &serde_json::Value, want: &Platform) -> bool {
    platform["os"].as_str() == Some(want.os.as_str())
        && platform["architecture"].as_str() == Some(want.architecture.as_str())
        && (want.variant.is_none() || platform["variant"].as_str() == want.variant.as_deref())
}

/// The manifests and blobs an image needs, fetched as the image is resolved.
async fn warm_image(
    client: &RegistryClient,
    t: &Target,
    opts: &WarmOptions,
    blobs: &Blobs,
    progress: &dyn Progress,
) -> ImageReport {
    let started = Instant::now();
    let mut report = ImageReport {
        image: t.key.clone(),
        outcome: WarmOutcome::Failed,
        digest: None,
        platforms: Vec::new(),
        missing_platforms: Vec::new(),
        manifests: 0,
        blobs: 0,
        bytes: 0,
        shared: 0,
        already_cached: 0,
        seconds: 0.0,
        error: None,
        unreachable: false,
    };
    if let Err(e) = fill(client, t, opts, blobs, progress, &mut report).await {
        report.error = Some(e.message);
        report.unreachable = e.unreachable;
    } else {
        report.outcome = WarmOutcome::Warmed;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

async fn fill(
    client: &RegistryClient,
    t: &Target,
    opts: &WarmOptions,
    blobs: &Blobs,
    progress: &dyn Progress,
    report: &mut ImageReport,
) -> Result<(), fetch::Failure> {
    let top = fetch::manifest(client, &t.repository, &t.reference).await?;
    report.digest = Some(top.digest.clone());
    report.manifests = 1;
    report.bytes = top.bytes;
    let images = if top.is_index() {
        platform_manifests(client, t, &top, opts, report).await?
    } else {
        vec![top]
    };
    let mut wanted: Vec<Descriptor> = Vec::new();
    for m in &images {
        let named = m.json["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&m.json["config"]));
        for d in named.filter_map(Descriptor::from_json) {
            if !d.is_foreign() && !wanted.iter().any(|w| w.digest == d.digest) {
                wanted.push(d);
            }
        }
    }
    report.blobs = wanted.len();
    let done: Vec<(BlobResult, bool)> = stream::iter(&wanted)
        .map(|d| blob(client, &t.repository, d, opts.retries, blobs, progress))
        .buffer_unordered(opts.jobs.max(1))
        .collect()
        .await;
    let mut errors = Vec::new();
    for (result, shared) in done {
        match result {
            Ok(b) => {
                report.bytes += b.bytes;
                report.shared += usize::from(shared);
                report.already_cached += usize::from(b.cached);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(errors.join("; ").into());
    }
    Ok(())
}

/// The manifests of the wanted platforms out of an index (each fetched by digest, which
/// is what makes the cache keep it).
async fn platform_manifests(
    client: &RegistryClient,
    t: &Target,
    index: &fetch::Manifest,
    opts: &WarmOptions,
    report: &mut ImageReport,
) -> Result<Vec<fetch::Manifest>, fetch::Failure> {
    let entries = index.json["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut chosen: Vec<(String, Descriptor)> = Vec::new();
    for want in &opts.platforms {
        let hit = entries
            .iter()
            .find(|e| serves(&e["platform"], want))
            .and_then(Descriptor::from_json);
        match hit {
            Some(d) => {
                if !chosen.iter().any(|(_, c)| c.digest == d.digest) {
                    chosen.push((want.to_string(), d));
                }
            }
            None => report.missing_platforms.push(want.to_string()),
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "the index offers none of the wanted platforms ({})",
            report.missing_platforms.join(", ")
        )
        .into());
    }
    let mut out = Vec::new();
    for (platform, d) in chosen {
        let m = fetch::manifest(client, &t.repository, &d.digest).await?;
        if m.is_index() {
            return Err(format!(
                "{platform}: {} is a nested index, not an image manifest",
                d.digest
            )
            .into());
        }
        report.manifests += 1;
        report.bytes += m.bytes;
        report.platforms.push(platform);
        out.push(m);
    }
    Ok(out)
}

/// The blob's result, downloading it unless another image of the repository already
/// did (or is doing so: then this waits for that download). The flag says it was shared.
async fn blob(
    client: &RegistryClient,
    repo: &str,
    d: &Descriptor,
    retries: u32,
    blobs: &Blobs,
    progress: &dyn Progress,
) -> (BlobResult, bool) {
    let cell = {
        let mut cells = match blobs.cells.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        cells
            .entry((repo.to_string(), d.digest.clone()))
            .or_default()
            .clone()
    };
    let mine = std::sync::atomic::AtomicBool::new(false);
    let claimed = &mine;
    let result = cell
        .get_or_init(|| async move {
            claimed.store(true, std::sync::atomic::Ordering::Relaxed);
            let _permit = blobs.permits.acquire().await;
            progress.add_total(d.size.unwrap_or(0));
            fetch::blob(client, repo, d, retries, &|n| progress.bytes(n)).await
        })
        .await
        .clone();
    (result, !mine.load(std::sync::atomic::Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_without_variant_takes_any_variant() {
        let p: serde_json::Value =
            serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        assert!(serves(&p, &"linux/arm64".parse().unwrap()));
        assert!(serves(&p, &"linux/arm64/v8".parse().unwrap()));
        assert!(!serves(&p, &"linux/arm64/v7".parse().unwrap()));
        assert!(!serves(&p, &"linux/amd64".parse().unwrap()));
    }
}
