//! `harborize warm` (issue 15 item 1) against real components: a real registry
//! (distribution 2.8) in pull-through mode in front of a real upstream registry, as Harbor's
//! proxy-cache projects sit in front of Docker Hub or GHCR. Images are pushed to the
//! upstream, warmed through the cache, then the upstream is stopped: every warmed image and
//! platform must still pull from the cache with skopeo, and an image (or platform) that
//! was not warmed must not.

use crate::support;
use crate::support::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{code, harborize, stderr, stdout};
use support::registry::{HarnessOptions, ImageSpec, ManifestFormat, RegistryHarness};

/// `skopeo copy` of `reference` (one platform) from a plain-HTTP registry into a `dir:`.
fn skopeo_pull(reference: &str, platform: (&str, &str, Option<&str>), dest: &Path) -> Output {
    let (os, arch, variant) = platform;
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "--override-os",
        os,
        "--override-arch",
        arch,
    ]);
    if let Some(v) = variant {
        cmd.args(["--override-variant", v]);
    }
    cmd.args(["copy", "--src-tls-verify=false", "--retry-times", "0"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dest.display()));
    cmd.output().unwrap_or_else(|e| {
        panic!("skopeo cannot run ({e}): install it with bash scripts/install-test-tools.sh and source scripts/test-env.sh")
    })
}

fn warm(dir: &Path, harbor: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = harborize()
        .args(["warm", dir.to_str().unwrap(), "--harbor", harbor])
        .args(["--plain-http", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (code(&out), json, stderr(&out))
}

/// The report's entry for `image`.
fn entry<'a>(report: &'a serde_json::Value, image: &str) -> &'a serde_json::Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image)
        .unwrap_or_else(|| panic!("{image} not in the report: {report:#}"))
}

#[test]
fn warmed_images_pull_from_the_cache_with_the_upstream_gone() {
    let upstream = RegistryHarness::start(HarnessOptions::plain().public_projects(&["ghcr"]));
    // Two tags of one multi-platform image, one more platform than the nodes run.
    upstream.push_index(
        "ghcr/acme/app",
        "v1",
        &[("linux", "amd64"), ("linux", "arm64"), ("linux", "arm/v7")],
    );
    upstream.push_index(
        "ghcr/acme/app",
        "v2",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    // The same single-platform image under two tags: its blobs are fetched once.
    let same = ImageSpec {
        format: ManifestFormat::Docker,
        content: Some("tool".into()),
        ..Default::default()
    };
    upstream.push_image_with("ghcr/acme/tool", "1.0", &same);
    upstream.push_image_with("ghcr/acme/tool", "stable", &same);
    // In the upstream, never referenced: not warmed.
    upstream.push_image("ghcr/acme/cold", "1.0");
    let cache = RegistryHarness::start_proxy_cache(&upstream);
    let host = cache.host();

    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\nspec:\n  containers:\n\
         \x20   - name: a\n      image: ghcr.io/acme/app:v1\n\
         \x20   - name: b\n      image: ghcr.io/acme/app:v2\n\
         \x20   - name: c\n      image: ghcr.io/acme/tool:1.0\n\
         \x20   - name: d\n      image: ghcr.io/acme/tool:stable\n",
    )
    .unwrap();
    let config = repo.path().join("harborize.yaml");
    std::fs::write(&config, "platforms: [linux/amd64, linux/arm64]\n").unwrap();
    let config = config.to_str().unwrap();

    let (status, report, err) = warm(repo.path(), &host, &["--config", config]);
    assert_eq!(status, 0, "{report:#}\n{err}");
    assert_eq!(report["summary"]["warmed"], 4, "{report:#}");
    for tag in ["v1", "v2"] {
        let e = entry(&report, &format!("{host}/ghcr/acme/app:{tag}"));
        assert_eq!(
            e["platforms"],
            serde_json::json!(["linux/amd64", "linux/arm64"])
        );
        assert_eq!(
            e["manifests"], 3,
            "the index and two platform manifests: {e:#}"
        );
        assert_eq!(e["blobs"], 4, "a config and a layer per platform: {e:#}");
    }
    let tools = [
        entry(&report, &format!("{host}/ghcr/acme/tool:1.0")),
        entry(&report, &format!("{host}/ghcr/acme/tool:stable")),
    ];
    let shared: u64 = tools.iter().map(|e| e["shared"].as_u64().unwrap()).sum();
    assert_eq!(shared, 2, "one tag downloads, the other shares: {report:#}");
    assert_eq!(report["summary"]["blobs_downloaded"], 10, "{report:#}");

    // A second run finds everything in the cache and still succeeds.
    let (status, again, err) = warm(repo.path(), &host, &["--config", config]);
    assert_eq!(status, 0, "{again:#}\n{err}");

    drop(upstream);
    let pulls = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut pull = |reference: String, platform| {
        n += 1;
        let out = skopeo_pull(&reference, platform, &pulls.path().join(n.to_string()));
        (out.status.success(), stderr(&out))
    };
    for tag in ["v1", "v2"] {
        for arch in ["amd64", "arm64"] {
            let (ok, err) = pull(format!("{host}/ghcr/acme/app:{tag}"), ("linux", arch, None));
            assert!(
                ok,
                "app:{tag} linux/{arch} did not pull from the cache: {err}"
            );
        }
    }
    for tag in ["1.0", "stable"] {
        let (ok, err) = pull(
            format!("{host}/ghcr/acme/tool:{tag}"),
            ("linux", "amd64", None),
        );
        assert!(ok, "tool:{tag} did not pull from the cache: {err}");
    }
    // Not warmed: the platform the nodes do not run, and the image nobody references.
    let (ok, _) = pull(
        format!("{host}/ghcr/acme/app:v1"),
        ("linux", "arm", Some("v7")),
    );
    assert!(
        !ok,
        "linux/arm/v7 was not warmed, yet it pulled with the upstream gone"
    );
    let (ok, _) = pull(
        format!("{host}/ghcr/acme/cold:1.0"),
        ("linux", "amd64", None),
    );
    assert!(
        !ok,
        "cold:1.0 was not warmed, yet it pulled with the upstream gone"
    );
}

#[test]
fn images_that_cannot_be_warmed_exit_1_with_the_reason_per_image() {
    let upstream = RegistryHarness::start(HarnessOptions::plain().public_projects(&["ghcr"]));
    upstream.push_index("ghcr/acme/arm", "1", &[("linux", "arm64")]);
    upstream.push_image("ghcr/acme/ok", "1");
    let cache = RegistryHarness::start_proxy_cache(&upstream);
    let host = cache.host();
    let repo = tempfile::tempdir().unwrap();
    let images = [
        format!("{host}/ghcr/acme/ok:1"),
        "ghcr.io/acme/arm:1".to_string(), // routed to the cache by the default config
        format!("{host}/ghcr/acme/missing:1"),
    ];
    let mut args = Vec::new();
    for i in &images {
        args.extend(["--image", i.as_str()]);
    }
    // No --platform, no platforms: → linux/amd64, which the arm-only index lacks.
    let (status, report, err) = warm(repo.path(), &host, &args);
    assert_eq!(status, 1, "{report:#}\n{err}");
    assert_eq!(entry(&report, &images[0])["outcome"], "warmed");
    let arm = entry(&report, &format!("{host}/ghcr/acme/arm:1"));
    assert_eq!(arm["outcome"], "failed");
    assert!(
        arm["error"].as_str().unwrap().contains("linux/amd64"),
        "{arm:#}"
    );
    let missing = entry(&report, &images[2]);
    assert_eq!(missing["outcome"], "failed");
    assert!(
        missing["error"].as_str().unwrap().contains("not found"),
        "{missing:#}"
    );
    // --platform picks what is warmed; the markdown report has a row per image.
    let out = harborize()
        .args([
            "warm",
            "--harbor",
            &host,
            "--plain-http",
            "--format",
            "markdown",
        ])
        .args(["--platform", "linux/arm64", "--image", "ghcr.io/acme/arm:1"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "| `{host}/ghcr/acme/arm:1` | warmed | linux/arm64 |"
        )),
        "{}",
        stdout(&out)
    );

    // run --warm: an image that cannot be warmed stops the run before anything is written.
    let pod = repo.path().join("pod.yaml");
    let original = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\nspec:\n  containers:\n    - name: a\n      image: ghcr.io/acme/arm:1\n";
    std::fs::write(&pod, original).unwrap();
    let run = |extra: &[&str]| {
        harborize()
            .args(["run", repo.path().to_str().unwrap(), "--harbor", &host])
            .args(["--plain-http", "--skip-scan", "--skip-commit", "--warm"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("stopped at warm"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&pod).unwrap(), original);
    let out = run(&["--platform", "linux/arm64"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("warmed  "), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&pod)
        .unwrap()
        .contains(&format!("image: {host}/ghcr/acme/arm:1")));
}
