//! Benchmark driver (not a test: `#[ignore]`, run by `bench/verify.sh`): 300 unique
//! references served by the real registry behind the fault proxy adding 20 ms to every
//! response; `harborize verify` vs a sequential loop of `skopeo inspect --raw` over the
//! same references, side by side. Prints timings, the ratio, requests per reference and
//! token requests. Asserts only correctness (everything resolved), never time.

use crate::support;
use crate::support::common;

use std::time::{Duration, Instant};

use support::fault::{FaultPlan, FaultProxy};
use support::registry::{HarnessOptions, RegistryHarness};

#[test]
#[ignore = "benchmark: run bench/verify.sh"]
fn bench_verify_300_references() {
    let n: usize = std::env::var("BENCH_REFS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let h = RegistryHarness::start(HarnessOptions::plain().public_projects(&["ghcr"]));
    for i in 0..n {
        h.push_image(&format!("ghcr/bench/app{}", i % 30), &format!("v{i}"));
    }
    let proxy = FaultProxy::start(h.addr(), FaultPlan::shared());
    proxy.plan(|p| p.delay = Duration::from_millis(20));
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
    for i in 0..n {
        text.push_str(&format!("    - image: ghcr.io/bench/app{}:v{i}\n", i % 30));
    }
    std::fs::write(tmp.path().join("pod.yaml"), text).unwrap();

    let mut harborize_times = Vec::new();
    for _ in 0..3 {
        proxy.clear();
        let tokens_before = h.token_requests().len();
        let started = Instant::now();
        let out = common::harborize()
            .args([
                "verify",
                tmp.path().to_str().unwrap(),
                "--harbor",
                &proxy.host(),
                "--plain-http",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        harborize_times.push(started.elapsed());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "harborize verify: {:?}, {} requests through the proxy ({:.2} per reference), {} token requests",
            started.elapsed(),
            proxy.requests().len(),
            proxy.requests().len() as f64 / n as f64,
            h.token_requests().len() - tokens_before
        );
    }

    let started = Instant::now();
    for i in 0..n {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!(
                "docker://{}/ghcr/bench/app{}:v{i}",
                proxy.host(),
                i % 30
            ))
            .output()
            .expect("skopeo runs (bash scripts/install-test-tools.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let skopeo = started.elapsed();
    harborize_times.sort();
    let median = harborize_times[1];
    println!("skopeo inspect --raw, sequential: {skopeo:?}");
    println!(
        "RESULT refs={n} harborize_median_s={:.3} skopeo_loop_s={:.3} ratio={:.1}x",
        median.as_secs_f64(),
        skopeo.as_secs_f64(),
        skopeo.as_secs_f64() / median.as_secs_f64()
    );
}
