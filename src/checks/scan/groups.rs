//! The scan stage's images: the report's Harbor references grouped by digest (each unique
//! image is scanned once, per platform when platforms are required), and Trivy's results
//! joined back to their group by the (image, platform) they were asked for, never by
//! position.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::checks::verify::{OnUnreachable, RegistryOptions};
use crate::mapping::Mapper;
use crate::pipeline::plan::Status;
use crate::reference::Reference;
use crate::registry::{Outcome, Target};
use crate::report::scan::{ImageResult, RefLocation, ScanError, ScanOutput, Verdict};
use crate::report::ReferenceEntry;
use crate::report::{Code, Location};
use crate::trivy::policy::Policy;
use crate::trivy::results::TrivyReport;
use crate::trivy::runner::Trivy;

/// One unique image (digest) and everything that references it.
pub(super) struct Group {
    /// `<host>/<repository>@<digest>`: what Trivy scans.
    image: String,
    names: BTreeSet<String>,
    refs: Vec<RefLocation>,
}

/// What Trivy is asked to scan, and what its result is found by: (image, platform).
type Job = (String, Option<String>);

/// Trivy's result of one job: its report, or why it failed.
type ScanResult = Result<TrivyReport, String>;

/// The entry is in harborize's own config file (the `image` globs of `scan.allow`).
pub(super) fn in_config_file(entry: &ReferenceEntry) -> bool {
    let file_name = Path::new(&entry.file).file_name().and_then(|n| n.to_str());
    file_name.is_some_and(|n| crate::config::FILE_NAMES.contains(&n))
}

/// The Harbor reference an entry ends up as (as `verify` keys it). Entries in harborize's
/// own config file (the `image` globs of `scan.allow`) are not images.
pub(super) fn entry_target(entry: &ReferenceEntry, mapper: &Mapper) -> Option<Target> {
    if in_config_file(entry) {
        return None;
    }
    // Registry-only fields and charts are no images for Trivy either: verify says so.
    crate::checks::verify::entry_target(entry, mapper)
}

/// The names (no tag) an entry is known by: upstream (`docker.io/library/nginx`) and Harbor.
fn entry_names(entry: &ReferenceEntry, target: &Target, mapper: &Mapper) -> Vec<String> {
    let mut names = vec![format!("{}/{}", target.host, target.repository)];
    let parsed = entry
        .normalized
        .as_deref()
        .and_then(|n| Reference::parse(n).ok());
    if let Some(r) = parsed {
        if entry.status == Status::Rewritten {
            names.push(r.name());
        } else if let Some(familiar) = mapper.revert_name(&r) {
            if let Ok(up) = Reference::parse_name(&familiar) {
                names.push(up.name());
            }
        }
    }
    names
}

/// The report's Harbor images by digest; a reference without a resolved digest becomes an
/// error (a warning when the cache was unreachable and `on_unreachable` says warn).
pub(super) fn by_digest(
    report: &crate::report::Report,
    mapper: &Mapper,
    on_unreachable: OnUnreachable,
    output: &mut ScanOutput,
) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for entry in &report.references {
        let Some(target) = entry_target(entry, mapper) else {
            continue;
        };
        let check = entry.verify.as_ref();
        let digest = check
            .filter(|c| c.outcome == Outcome::Resolved)
            .and_then(|c| c.digest.clone());
        let Some(digest) = digest else {
            let why = match check {
                Some(c) => {
                    let outcome = serde_json::to_value(c.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    let mut m = format!("{}: {outcome}", target.key);
                    if let Some(s) = c.http_status {
                        m.push_str(&format!(" (http {s})"));
                    }
                    if let Some(x) = &c.message {
                        m.push_str(&format!(": {x}"));
                    }
                    m
                }
                None => format!("{}: not checked", target.key),
            };
            let unreachable = check.is_some_and(|c| c.outcome.is_unreachable());
            if unreachable && on_unreachable == OnUnreachable::Warn {
                output.warnings.push(format!(
                    "{}:{}:{}: {why}: not scanned (--on-unreachable warn)",
                    entry.file, entry.line, entry.column
                ));
                continue;
            }
            output.errors.push(
                ScanError::error(
                    Code::ScanError,
                    Location::at(entry.file.clone(), Some(entry.line), Some(entry.column)),
                    format!("{why}: not scanned"),
                )
                .with_reference(target.key.clone()),
            );
            continue;
        };
        let group = groups.entry(digest.clone()).or_insert_with(|| Group {
            image: format!("{}/{}@{digest}", target.host, target.repository),
            names: BTreeSet::new(),
            refs: Vec::new(),
        });
        group.names.extend(entry_names(entry, &target, mapper));
        group.refs.push(RefLocation {
            file: entry.file.clone(),
            line: entry.line,
            column: entry.column,
            original: entry.original.clone(),
            reference: target.key.clone(),
        });
    }
    groups.into_values().collect()
}

/// Scan every group once, and per platform when platforms are required (`--platform`: the
/// digest is then an index, and Trivy picks each platform's manifest from it).
pub(super) fn scan(
    trivy: &Trivy,
    groups: Vec<Group>,
    registry: &RegistryOptions,
    scan_jobs: usize,
    policy: &Policy,
    output: &mut ScanOutput,
) {
    let platforms: Vec<Option<String>> = if registry.platform.is_empty() {
        vec![None]
    } else {
        registry.platform.iter().map(|p| Some(p.clone())).collect()
    };
    let jobs: Vec<Job> = groups
        .iter()
        .flat_map(|g| platforms.iter().map(move |p| (g.image.clone(), p.clone())))
        .collect();
    let results = trivy.scan_all(&jobs, scan_jobs);
    join_results(groups, &platforms, results, policy, output);
}

/// Each group's result per platform, found by its (image, platform) key: a result that is
/// missing is an error of that image, never another image's result.
fn join_results(
    groups: Vec<Group>,
    platforms: &[Option<String>],
    mut results: BTreeMap<Job, ScanResult>,
    policy: &Policy,
    output: &mut ScanOutput,
) {
    for group in &groups {
        for platform in platforms {
            let result = results
                .remove(&(group.image.clone(), platform.clone()))
                .unwrap_or_else(|| Err("not scanned".into()));
            let img = image_result(group, platform.clone(), result, policy, output);
            output.images.push(img);
        }
    }
}

/// The image result of one group and platform, its findings judged by the policy; a scan
/// that failed is also an error of the output.
fn image_result(
    group: &Group,
    platform: Option<String>,
    result: ScanResult,
    policy: &Policy,
    output: &mut ScanOutput,
) -> ImageResult {
    let digest = group
        .image
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let names: Vec<String> = group.names.iter().cloned().collect();
    let mut img = ImageResult {
        image: group.image.clone(),
        digest,
        platform,
        names,
        references: group.refs.clone(),
        result: Verdict::Pass,
        os: None,
        message: None,
        findings: Vec::new(),
    };
    match result {
        Ok(rep) => {
            img.os = rep.os();
            img.findings = rep.findings();
            policy.apply(&img.names, &mut img.findings);
            if img.findings.iter().any(|f| f.fails) {
                img.result = Verdict::Fail;
            }
        }
        Err(message) => {
            img.result = Verdict::Error;
            img.message = Some(message.clone());
            output.errors.push(
                ScanError::error(
                    Code::ScanError,
                    Location::default(),
                    match &img.platform {
                        Some(p) => format!("{} ({p}): {message}", img.image),
                        None => format!("{}: {message}", img.image),
                    },
                )
                .with_reference(img.image.clone()),
            );
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::scan::{PolicySummary, ScanSummary};
    use crate::trivy::Severity;

    fn group(image: &str) -> Group {
        Group {
            image: image.to_string(),
            names: BTreeSet::new(),
            refs: Vec::new(),
        }
    }

    fn os(name: &str) -> ScanResult {
        let json = format!(r#"{{"Metadata":{{"OS":{{"Family":"alpine","Name":"{name}"}}}}}}"#);
        Ok(TrivyReport::parse(json.as_bytes()).unwrap())
    }

    /// Trivy's results arrive keyed, in another order than the groups (which are in
    /// digest order, not image order) and the platforms (as given): each image and platform
    /// must still get its own result, and one without a result an error of its own.
    #[test]
    fn scan_results_join_images_by_identity_not_position() {
        let groups = vec![
            group("h/zeta@sha256:1"),
            group("h/alpha@sha256:2"),
            group("h/mid@sha256:3"),
        ];
        let platforms = [
            Some("linux/s390x".to_string()),
            Some("linux/amd64".to_string()),
        ];
        let mut results = BTreeMap::new();
        for (image, platform, name) in [
            ("h/alpha@sha256:2", "linux/amd64", "alpha-amd"),
            ("h/alpha@sha256:2", "linux/s390x", "alpha-s390x"),
            ("h/zeta@sha256:1", "linux/amd64", "zeta-amd"),
            ("h/zeta@sha256:1", "linux/s390x", "zeta-s390x"),
        ] {
            results.insert((image.to_string(), Some(platform.to_string())), os(name));
        }
        let policy = Policy::new(Severity::Critical, false, &[], &[], None, (2026, 1, 1)).unwrap();
        let mut output = ScanOutput {
            version: 1,
            harbor: "h".into(),
            policy: PolicySummary {
                severity: Severity::Critical,
                ignore_unfixed: false,
                ignore_file: None,
            },
            trivy_server: None,
            images: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            summary: ScanSummary::default(),
        };
        join_results(groups, &platforms, results, &policy, &mut output);
        let got: Vec<(String, String, Option<String>)> = output
            .images
            .iter()
            .map(|i| (i.image.clone(), i.platform.clone().unwrap(), i.os.clone()))
            .collect();
        let want = |image: &str, p: &str, os: Option<&str>| {
            (
                image.to_string(),
                p.to_string(),
                os.map(|o| format!("alpine {o}")),
            )
        };
        assert_eq!(
            got,
            [
                want("h/zeta@sha256:1", "linux/s390x", Some("zeta-s390x")),
                want("h/zeta@sha256:1", "linux/amd64", Some("zeta-amd")),
                want("h/alpha@sha256:2", "linux/s390x", Some("alpha-s390x")),
                want("h/alpha@sha256:2", "linux/amd64", Some("alpha-amd")),
                want("h/mid@sha256:3", "linux/s390x", None),
                want("h/mid@sha256:3", "linux/amd64", None),
            ]
        );
        assert_eq!(output.images[4].result, Verdict::Error);
        assert_eq!(output.errors.len(), 2, "{:?}", output.errors);
        assert_eq!(
            output.errors[0].reference.as_deref(),
            Some("h/mid@sha256:3")
        );
    }
}
