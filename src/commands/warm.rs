//! `harborize warm`: plan like `check` (or take `--image` references), then warm Harbor's
//! cache with every image's manifests and blobs for the nodes' platforms. Also the warm
//! stage of `run --warm`. Exit 1 when an image could not be warmed, 2 on errors.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::checks::verify::{
    checked_exit_code, entry_target, hosts, OnUnreachable, RegistryOptions,
};
use crate::cli::WarmArgs;
use crate::commands::{ExitStatus, Settings, EXIT_ERROR};
use crate::config::Config;
use crate::mapping::{Decision, Mapper};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::reference::Reference;
use crate::registry::{Platform, Target};
use crate::report::{escape_text, Report};
use crate::warm::output::WarmFormat;
use crate::warm::{self, Progress, WarmOptions, WarmReport};

/// The platform every image is warmed for when neither `--platform` nor `platforms:` says.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

pub fn run(args: &WarmArgs) -> Result<ExitStatus> {
    let Settings { config, mapper, .. } =
        Settings::for_paths(&args.source, &args.paths, args.charts.clone())?;
    let platforms = platforms_for(&args.registry.platform, &config)?;
    let mut file_errors = 0;
    let targets = if args.images.is_empty() {
        let results = engine::run(
            &args.paths,
            &mapper,
            RunOptions {
                plan: PlanOptions {
                    direction: Direction::Forward,
                    rewrite_hints: args.rewrite_hints,
                    every_document: false,
                },
                write: false,
                diff: false,
                keep: false,
            },
        );
        let report = Report::build(mapper.harbor(), results, false);
        for e in &report.errors {
            let at = e.location.to_string();
            eprintln!(
                "harborize: error: {}: {}",
                escape_text(&at),
                escape_text(&e.message)
            );
        }
        file_errors = report.errors.len();
        report_targets(&report, &mapper)
    } else {
        args.images
            .iter()
            .map(|i| image_target(i, &mapper))
            .collect::<Result<Vec<_>>>()?
    };
    let report = warm_targets(&targets, &mapper, &args.registry.options(), platforms)?;
    report.render(args.format, &mut anstream::stdout().lock())?;
    eprintln!("{}", report.totals());
    Ok(if file_errors > 0 {
        EXIT_ERROR
    } else {
        exit_code(&report, args.registry.on_unreachable)
    })
}

/// 2 when Harbor could not be reached (unless `--on-unreachable warn`: then those images
/// only warn), 1 when an image could not be warmed, else 0.
fn exit_code(report: &WarmReport, on_unreachable: OnUnreachable) -> ExitStatus {
    let s = &report.summary;
    checked_exit_code(s.failed, s.unreachable, on_unreachable)
}

/// The warm stage of `run --warm`: warm the report's Harbor references, print the warm
/// report on stderr (stdout holds the run's report), and give the exit code.
pub fn warm_stage(
    report: &Report,
    mapper: &Mapper,
    config: &Config,
    args: &RegistryOptions,
) -> Result<ExitStatus> {
    let platforms = platforms_for(&args.platform, config)?;
    let warmed = warm_targets(&report_targets(report, mapper), mapper, args, platforms)?;
    let mut text = Vec::new();
    warmed.render(WarmFormat::Text, &mut text)?;
    eprint!("{}", String::from_utf8_lossy(&text));
    Ok(exit_code(&warmed, args.on_unreachable))
}

/// `--platform`, else `platforms:` of harborize.yaml, else linux/amd64.
pub fn platforms_for(flag: &[String], config: &Config) -> Result<Vec<Platform>> {
    let texts: Vec<String> = if !flag.is_empty() {
        flag.to_vec()
    } else if !config.platforms.is_empty() {
        config.platforms.clone()
    } else {
        vec![DEFAULT_PLATFORM.to_string()]
    };
    texts
        .iter()
        .map(|p| p.trim().parse().map_err(|e: String| anyhow!(e)))
        .collect()
}

fn report_targets(report: &Report, mapper: &Mapper) -> Vec<Target> {
    report
        .references
        .iter()
        .filter_map(|e| entry_target(e, mapper))
        .collect()
}

/// A `--image` reference as its Harbor target: on the Harbor host already, or routed
/// there by harborize.yaml.
fn image_target(text: &str, mapper: &Mapper) -> Result<Target> {
    let r = Reference::parse(text.trim()).map_err(|e| anyhow!("--image {text:?}: {e}"))?;
    let on_harbor = match mapper.decide(&r) {
        Decision::AlreadyProxied => r,
        Decision::Rewrite { name } => Reference::parse(&format!("{name}{}", r.suffix()))
            .map_err(|e| anyhow!("--image {text:?}: its Harbor path {name:?} is invalid: {e}"))?,
        Decision::Excluded { pattern } => {
            bail!("--image {text:?} is excluded by {pattern:?} (pulled direct, not through Harbor)")
        }
        Decision::Unmapped { reason, .. } => {
            bail!("--image {text:?}: {reason} (see registries: in harborize.yaml)")
        }
    };
    if !mapper.is_cache_host(on_harbor.domain()) {
        bail!("--image {text:?} is not on {}", mapper.harbor());
    }
    Ok(Target::on_its_host(&on_harbor))
}

/// Warm `targets` through Harbor with verify's registry settings.
fn warm_targets(
    targets: &[Target],
    mapper: &Mapper,
    args: &RegistryOptions,
    platforms: Vec<Platform>,
) -> Result<WarmReport> {
    let harbor = mapper.harbor();
    if args.insecure {
        eprintln!("warning: --insecure: Harbor's TLS certificate is not verified");
    }
    let opts = WarmOptions {
        jobs: args.jobs,
        retries: args.retries,
        platforms,
    };
    let bar = Bar::new(targets.len() as u64);
    let mut report: Option<WarmReport> = None;
    for (host, targets) in hosts::by_host(harbor, targets) {
        // A timeout is per request, and a blob's request lasts as long as its download:
        // the connect timeout stays short, the whole request gets ten times longer.
        let timeout = Duration::from_secs(args.timeout.max(1) * 10);
        let client = hosts::client(host, args, mapper, timeout)?;
        let part = crate::runtime::block_on(warm::warm(&client, harbor, &targets, &opts, &bar))
            .context("cannot start the async runtime")?;
        if let Some(why) = client.withheld() {
            eprintln!(
                "warning: registry credentials not sent: {why}; the token was requested anonymously"
            );
        }
        report = Some(match report {
            None => part,
            Some(whole) => whole.merged_with(part),
        });
    }
    bar.pb.finish_and_clear();
    let report = report.expect("at least one host");
    Ok(report)
}

/// Bytes and images on a terminal (stderr); hidden, and so quiet, otherwise.
struct Bar {
    pb: ProgressBar,
    images: u64,
    done: AtomicU64,
}

impl Bar {
    fn new(images: u64) -> Self {
        let pb = if std::io::stderr().is_terminal() {
            let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} images {msg}",
            ) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_message(format!("0/{images}"));
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        } else {
            ProgressBar::hidden()
        };
        Bar {
            pb,
            images,
            done: AtomicU64::new(0),
        }
    }
}

impl Progress for Bar {
    fn add_total(&self, n: u64) {
        self.pb.inc_length(n);
    }
    fn bytes(&self, n: u64) {
        self.pb.inc(n);
    }
    fn image_done(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.pb.set_message(format!("{done}/{}", self.images));
    }
}
