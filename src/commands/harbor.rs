//! `harborize harbor setup`: create, idempotently, the registry endpoint and the public
//! proxy-cache project of every registry in harborize.yaml, through Harbor's REST API
//! (see `crate::harbor_api`).
//!
//! Per registry (`domain: {project}`): the endpoint is named like the project, with the
//! type and URL Harbor's proxy cache needs (`docker-hub` `https://hub.docker.com`,
//! `github-ghcr` `https://ghcr.io`, else `docker-registry` `https://<domain>`; Harbor
//! 2.14+ refuses `quay` for proxy cache). What exists is left alone; what exists but
//! differs (an endpoint with another type or URL, a project that is not a proxy cache or
//! proxies another upstream) is reported as drift and never changed. `--dry-run` sends no
//! write.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::cli::{HarborArgs, HarborCommand, HarborSetupArgs, SetupFormat};
use crate::harbor_api::{ApiOptions, HarborApi, RegistryCredential};
use crate::harbor_setup::{apply, endpoint_for, Kind, Outcome, SetupReport, Summary, Wanted};
use crate::registry::Credentials;

pub fn run(args: &HarborArgs) -> Result<ExitStatus> {
    match &args.command {
        HarborCommand::Setup(a) => setup(a),
    }
}

/// `HARBORIZE_UPSTREAM_<DOMAIN>_USERNAME` / `_PASSWORD` (`<DOMAIN>`: upper case, every
/// other character `_`, so `docker.io` is `DOCKER_IO`).
pub fn upstream_env_prefix(domain: &str) -> String {
    let key: String = domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("HARBORIZE_UPSTREAM_{key}")
}

fn upstream_credential(domain: &str) -> Result<Option<RegistryCredential>> {
    let prefix = upstream_env_prefix(domain);
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let user_var = format!("{prefix}_USERNAME");
    let pass_var = format!("{prefix}_PASSWORD");
    match (get(&user_var), get(&pass_var)) {
        (Some(access_key), Some(access_secret)) => Ok(Some(RegistryCredential {
            kind: "basic".into(),
            access_key,
            access_secret,
        })),
        (None, None) => Ok(None),
        (Some(_), None) => bail!("{user_var} is set but {pass_var} is not"),
        (None, Some(_)) => bail!("{pass_var} is set but {user_var} is not"),
    }
}

fn setup(args: &HarborSetupArgs) -> Result<ExitStatus> {
    let source = crate::cli::HarborSource {
        harbor: args.harbor.clone(),
        config: args.config.clone(),
    };
    let Settings {
        config,
        harbor: host,
        ..
    } = Settings::resolve(&source, Path::new("."))?;
    if config.target.kind != crate::target::Kind::Harbor {
        bail!(
            "harbor setup configures Harbor's proxy-cache projects, but target.kind is {}: create the cache's {}s with its own tools (README \"Cache targets\")",
            config.target.kind.name(),
            config.target.kind.project_word()
        );
    }

    let mut wanted: Vec<Wanted> = Vec::new();
    for (domain, entry) in &config.registries {
        if let Some(other) = wanted.iter().find(|w| w.project == entry.project) {
            bail!(
                "registries {} and {domain} both use project {:?}: a proxy-cache project mirrors exactly one registry",
                other.registry,
                entry.project
            );
        }
        let (kind, url) = endpoint_for(domain);
        wanted.push(Wanted {
            registry: domain.clone(),
            project: entry.project.clone(),
            endpoint: entry.project.clone(),
            kind,
            url,
            credential: upstream_credential(domain)?,
        });
    }

    let credentials = Credentials::discover(&host, &super::settings::credential_sources())
        .map_err(anyhow::Error::msg)
        .context("cannot read Harbor credentials")?;
    let Some(credentials) = credentials else {
        bail!("no Harbor credentials: set HARBORIZE_USERNAME and HARBORIZE_PASSWORD (a Harbor system administrator, or a system robot account allowed to create registries and projects)");
    };
    if args.insecure {
        crate::term::warn("--insecure: Harbor's TLS certificate is not verified");
    }
    if args.plain_http && !crate::reference::is_loopback_host(&host) {
        crate::term::warn("--plain-http: the Harbor credentials cross the network unencrypted");
    }
    let api = HarborApi::new(&ApiOptions {
        host: host.clone(),
        plain_http: args.plain_http,
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        timeout: Duration::from_secs(args.timeout.max(1)),
        credentials,
    })?;

    let (actions, fatal) = crate::runtime::block_on(apply(&api, &wanted, args.dry_run))
        .context("cannot start the async runtime")?;

    let mut summary = Summary::default();
    for a in &actions {
        match a.action {
            Outcome::Created => summary.created += 1,
            Outcome::Exists => summary.exists += 1,
            Outcome::Drift => summary.drift += 1,
            Outcome::WouldCreate => summary.would_create += 1,
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Error => summary.errors += 1,
        }
    }
    if let Some(e) = fatal {
        if actions.is_empty() {
            return Err(anyhow::Error::new(e).context(format!("harbor setup on {host} failed")));
        }
        let report = SetupReport {
            version: 1,
            harbor: host.clone(),
            dry_run: args.dry_run,
            actions,
            summary,
            error: Some(e.to_string()),
        };
        print_report(&report, args.format)?;
        return Err(anyhow::Error::new(e).context(format!("harbor setup on {host} stopped")));
    }
    let code = if summary.errors > 0 {
        EXIT_ERROR
    } else if summary.drift > 0 || (args.dry_run && summary.would_create > 0) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    };
    let report = SetupReport {
        version: 1,
        harbor: host,
        dry_run: args.dry_run,
        actions,
        summary,
        error: None,
    };
    print_report(&report, args.format)?;
    Ok(code)
}

fn print_report(report: &SetupReport, format: SetupFormat) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        SetupFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        SetupFormat::Text => {
            let dry = if report.dry_run { " (dry run)" } else { "" };
            writeln!(out, "Harbor {}{dry}", report.harbor)?;
            let mut current = None;
            for a in &report.actions {
                if current != Some(&a.registry) {
                    writeln!(out, "{}", a.registry)?;
                    current = Some(&a.registry);
                }
                let detail = match a.kind {
                    Kind::Endpoint => {
                        let id = a.id.map(|id| format!(" (id {id})")).unwrap_or_default();
                        format!(
                            "{} {}{id}",
                            a.endpoint_type.as_deref().unwrap_or(""),
                            a.url.as_deref().unwrap_or("")
                        )
                    }
                    Kind::Project => match (a.action, a.registry_id) {
                        (_, Some(rid)) => format!("proxy cache of endpoint id {rid}"),
                        (Outcome::WouldCreate, None) => "proxy cache of the new endpoint".into(),
                        (Outcome::Drift, None) => "not a proxy cache".into(),
                        _ => String::new(),
                    },
                };
                let kind = match a.kind {
                    Kind::Endpoint => "endpoint",
                    Kind::Project => "project",
                };
                let line = format!(
                    "  {kind:<8} {:<20} {:<12} {detail}",
                    a.name,
                    a.action.as_str()
                );
                writeln!(out, "{}", line.trim_end())?;
                if let Some(m) = &a.message {
                    writeln!(out, "    {m}")?;
                }
            }
            let s = &report.summary;
            writeln!(
                out,
                "{} created, {} exist, {} drift, {} would be created, {} skipped, {} errors",
                s.created, s.exists, s.drift, s.would_create, s.skipped, s.errors
            )?;
            if let Some(e) = &report.error {
                writeln!(out, "stopped: {e}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_env_names() {
        assert_eq!(
            upstream_env_prefix("docker.io"),
            "HARBORIZE_UPSTREAM_DOCKER_IO"
        );
        assert_eq!(
            upstream_env_prefix("localhost:5000"),
            "HARBORIZE_UPSTREAM_LOCALHOST_5000"
        );
    }
}
