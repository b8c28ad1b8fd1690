//! Benchmark driver (not a test: `#[ignore]`, run by `bench/warm.sh`) for `harborize warm`
//! (issue 15 item 1), on real components: an upstream registry behind the fault proxy
//! (20 ms added to every response, as a remote upstream would) and a pull-through cache
//! (distribution's `proxy:` mode) in front of it, a fresh cache for every measured run.
//!
//! A. A pull of one image (one layer of BENCH_MB MB) through the cache, cold, and after
//!    `harborize warm` (the seed's measure: crane pull cold vs warm through Harbor).
//! B. Warming BENCH_IMAGES images: `harborize warm` vs a sequential loop of
//!    `skopeo copy docker://… dir:…` through the cache (what a hand-written warm-up does).
//!
//! Prints wall and CPU time (user + sys of the client processes, from
//! `getrusage(RUSAGE_CHILDREN)`) per run and the medians. Asserts only correctness, never time.

use crate::support;
use crate::support::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::fault::{FaultPlan, FaultProxy};
use support::registry::{HarnessOptions, ImageSpec, ProxyCacheOptions, RegistryHarness};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// User + system time of the waited-for children so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Run `cmd` to success; its wall and CPU time.
fn timed(cmd: &mut Command) -> (Duration, Duration) {
    let cpu = children_cpu();
    let started = Instant::now();
    let out = cmd.output().expect("the command runs");
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (wall, children_cpu() - cpu)
}

fn skopeo_copy(reference: &str, dest: &Path) -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.args(["--insecure-policy", "copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dest.display()));
    cmd
}

fn warm_cmd(cache: &RegistryHarness, images: &[String]) -> Command {
    let mut cmd = common::harborize();
    cmd.args(["warm", "--harbor", &cache.host(), "--plain-http"]);
    for i in images {
        cmd.args(["--image", i]);
    }
    cmd
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn show(label: &str, runs: &[(Duration, Duration)]) -> (f64, f64) {
    let wall = median(runs.iter().map(|r| r.0).collect());
    let cpu = median(runs.iter().map(|r| r.1).collect());
    let all: Vec<String> = runs
        .iter()
        .map(|(w, c)| format!("{:.3}/{:.3}", w.as_secs_f64(), c.as_secs_f64()))
        .collect();
    println!(
        "{label}: median wall {wall:.3} s, CPU {cpu:.3} s (wall/CPU per run: {})",
        all.join(" ")
    );
    (wall, cpu)
}

#[test]
#[ignore = "benchmark: run bench/warm.sh"]
fn bench_warm_cold_vs_warm_and_50_images() {
    let rounds = env_or("BENCH_ROUNDS", 5);
    let mb = env_or("BENCH_MB", 20);
    let n = env_or("BENCH_IMAGES", 50);
    let upstream = RegistryHarness::start(HarnessOptions::plain().public_projects(&["ghcr"]));
    let big = ImageSpec {
        content: Some("x".repeat(mb * 1_000_000)),
        ..Default::default()
    };
    upstream.push_image_with("ghcr/bench/big", "1", &big);
    let mut images = Vec::new();
    for i in 0..n {
        // Ten repositories, five tags each, every image its own ~100 kB layer.
        let repo = format!("ghcr/bench/app{}", i % 10);
        let spec = ImageSpec {
            content: Some(format!("{i}:{}", "y".repeat(100_000))),
            ..Default::default()
        };
        upstream.push_image_with(&repo, &format!("v{i}"), &spec);
        images.push(format!("{repo}:v{i}"));
    }
    let proxy = FaultProxy::start(upstream.addr(), FaultPlan::shared());
    proxy.plan(|p| p.delay = Duration::from_millis(20));
    let cache = || {
        RegistryHarness::start_proxy_cache_with(
            &upstream,
            ProxyCacheOptions {
                remote_url: Some(proxy.url()),
                ..Default::default()
            },
        )
    };
    let scratch = tempfile::tempdir().unwrap();
    let dest = |name: &str| {
        let d = scratch.path().join(name);
        let _ = std::fs::remove_dir_all(&d);
        d
    };

    // A. cold pull vs pull after warm
    let (mut cold, mut warm, mut warmed_pull, mut again) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let c = cache();
        cold.push(timed(&mut skopeo_copy(
            &format!("{}/ghcr/bench/big:1", c.host()),
            &dest("cold"),
        )));
        let c = cache();
        let image = format!("{}/ghcr/bench/big:1", c.host());
        warm.push(timed(&mut warm_cmd(&c, std::slice::from_ref(&image))));
        warmed_pull.push(timed(&mut skopeo_copy(&image, &dest("warm"))));
        again.push(timed(&mut warm_cmd(&c, std::slice::from_ref(&image))));
    }
    println!("A. one image, one {mb} MB layer, {rounds} rounds, a fresh cache each:");
    let (cold_s, _) = show("  skopeo copy through the cache, cold", &cold);
    let (warm_s, _) = show("  harborize warm (fresh cache)", &warm);
    let (after_s, _) = show("  skopeo copy through the cache, after warm", &warmed_pull);
    let (again_s, _) = show("  harborize warm again (everything cached)", &again);

    // B. 50 images: harborize warm vs a sequential skopeo copy loop
    let (mut ours, mut loop_runs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let c = cache();
        let refs: Vec<String> = images.iter().map(|i| format!("{}/{i}", c.host())).collect();
        ours.push(timed(&mut warm_cmd(&c, &refs)));
        let c = cache();
        let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
        for (k, i) in images.iter().enumerate() {
            let (w, u) = timed(&mut skopeo_copy(
                &format!("{}/{i}", c.host()),
                &dest(&format!("loop{k}")),
            ));
            wall += w;
            cpu += u;
        }
        loop_runs.push((wall, cpu));
    }
    println!("B. {n} images (10 repositories), {rounds} rounds, a fresh cache each:");
    let (ours_w, ours_c) = show("  harborize warm", &ours);
    let (loop_w, loop_c) = show("  sequential skopeo copy … dir: loop", &loop_runs);
    println!(
        "RESULT mb={mb} cold_pull_s={cold_s:.3} warm_s={warm_s:.3} pull_after_warm_s={after_s:.3} warm_again_s={again_s:.3} \
         images={n} harborize_warm_s={ours_w:.3} harborize_cpu_s={ours_c:.3} skopeo_loop_s={loop_w:.3} \
         skopeo_cpu_s={loop_c:.3} wall_ratio={:.1}x cpu_ratio={:.1}x",
        loop_w / ours_w,
        loop_c / ours_c
    );
}
