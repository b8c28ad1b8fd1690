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
use serde::Serialize;

use super::{harbor_host, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::cli::{HarborArgs, HarborCommand, HarborSetupArgs, SetupFormat};
use crate::config::Config;
use crate::harbor_api::{
    ApiError, ApiOptions, Created, HarborApi, NewProject, NewProjectMetadata, NewRegistry, Project,
    Registry, RegistryCredential,
};
use crate::registry::Credentials;

pub fn run(args: &HarborArgs) -> Result<u8> {
    match &args.command {
        HarborCommand::Setup(a) => setup(a),
    }
}

/// Names Docker Hub goes by.
const DOCKER_HUB: [&str; 5] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "hub.docker.com",
];

/// The endpoint type and URL Harbor's proxy cache needs for an upstream registry domain.
pub fn endpoint_for(domain: &str) -> (&'static str, String) {
    let d = domain.to_ascii_lowercase();
    if DOCKER_HUB.contains(&d.as_str()) {
        ("docker-hub", "https://hub.docker.com".into())
    } else if d == "ghcr.io" {
        ("github-ghcr", "https://ghcr.io".into())
    } else {
        // quay.io too: Harbor 2.14+ no longer permits the `quay` type for proxy cache.
        ("docker-registry", format!("https://{d}"))
    }
}

/// What one registry of harborize.yaml needs on Harbor.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The upstream domain (the config key).
    pub registry: String,
    pub project: String,
    /// The endpoint's name: the project's.
    pub endpoint: String,
    pub kind: &'static str,
    pub url: String,
    pub credential: Option<RegistryCredential>,
}

impl Wanted {
    fn matches(&self, r: &Registry) -> bool {
        r.kind.eq_ignore_ascii_case(self.kind) && same_url(&r.url, &self.url)
    }
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
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

/// What happened (or would happen) to one endpoint or project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Exists,
    Drift,
    WouldCreate,
    /// Not attempted because its endpoint drifted or failed.
    Skipped,
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Exists => "exists",
            Outcome::Drift => "drift",
            Outcome::WouldCreate => "would-create",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Endpoint,
    Project,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    /// The upstream registry (harborize.yaml key).
    pub registry: String,
    pub kind: Kind,
    /// The endpoint's or project's name on Harbor.
    pub name: String,
    pub action: Outcome,
    /// Harbor's id of the endpoint or project, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Endpoint: its type (the wanted one, or the one found when it drifted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<String>,
    /// Endpoint: its URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Project: the endpoint it proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub created: usize,
    pub exists: usize,
    pub drift: usize,
    pub would_create: usize,
    pub skipped: usize,
    pub errors: usize,
}

#[derive(Debug, Serialize)]
pub struct SetupReport {
    pub version: u32,
    pub harbor: String,
    pub dry_run: bool,
    pub actions: Vec<Action>,
    pub summary: Summary,
    /// A failure that stopped the run (credentials, permissions, connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn setup(args: &HarborSetupArgs) -> Result<u8> {
    let config = Config::load(args.config.as_deref(), Path::new("."))
        .context("cannot load the configuration")?;
    let host = harbor_host(args.harbor.as_deref(), &config)?;

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

    let credentials = Credentials::discover(&host)
        .map_err(anyhow::Error::msg)
        .context("cannot read Harbor credentials")?;
    let Some(credentials) = credentials else {
        bail!("no Harbor credentials: set HARBORIZE_USERNAME and HARBORIZE_PASSWORD (a Harbor system administrator, or a system robot account allowed to create registries and projects)");
    };
    if args.insecure {
        eprintln!("warning: --insecure: Harbor's TLS certificate is not verified");
    }
    if args.plain_http && !crate::reference::is_loopback_host(&host) {
        eprintln!("warning: --plain-http: the Harbor credentials cross the network unencrypted");
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

/// Ping, list the endpoints, then each registry in turn. A fatal error stops the run and
/// comes back with the actions done so far.
async fn apply(
    api: &HarborApi,
    wanted: &[Wanted],
    dry_run: bool,
) -> (Vec<Action>, Option<ApiError>) {
    let mut actions = Vec::new();
    if let Err(e) = api.ping().await {
        return (actions, Some(e));
    }
    let mut endpoints = match api.list_registries().await {
        Ok(list) => list,
        Err(e) => return (actions, Some(e)),
    };
    for w in wanted {
        if let Err(e) = one(api, w, &mut endpoints, dry_run, &mut actions).await {
            // Non-fatal errors were recorded as actions by `one`.
            return (actions, Some(e));
        }
    }
    (actions, None)
}

/// The endpoint's state, for its project.
enum EndpointState {
    Ready(i64),
    Pending,
    Unusable(String),
}

/// Set up one registry: its endpoint, then its project.
async fn one(
    api: &HarborApi,
    w: &Wanted,
    endpoints: &mut Vec<Registry>,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), ApiError> {
    let project = match api.project_exists(&w.project).await? {
        true => api.get_project(&w.project).await?,
        false => None,
    };
    let linked: Option<Registry> = project
        .as_ref()
        .and_then(Project::proxy_registry_id)
        .and_then(|id| endpoints.iter().find(|e| e.id == id).cloned());

    // The endpoint.
    let endpoint_action =
        |outcome: Outcome, r: Option<&Registry>, message: Option<String>| Action {
            registry: w.registry.clone(),
            kind: Kind::Endpoint,
            name: r.map_or_else(|| w.endpoint.clone(), |r| r.name.clone()),
            action: outcome,
            id: r.map(|r| r.id),
            endpoint_type: Some(r.map_or(w.kind.to_string(), |r| r.kind.clone())),
            url: Some(r.map_or(w.url.clone(), |r| r.url.clone())),
            registry_id: None,
            message,
        };
    let by_name = endpoints.iter().find(|e| e.name == w.endpoint).cloned();
    let state = if let Some(e) = by_name {
        let (action, state) = judge_endpoint(w, &e);
        actions.push(endpoint_action(action.0, Some(&e), action.1));
        state
    } else if let Some(l) = linked.as_ref().filter(|l| w.matches(l)) {
        actions.push(endpoint_action(
            Outcome::Exists,
            Some(l),
            Some(format!(
                "project {} already proxies this upstream through endpoint {:?}",
                w.project, l.name
            )),
        ));
        EndpointState::Ready(l.id)
    } else if dry_run {
        actions.push(endpoint_action(Outcome::WouldCreate, None, None));
        EndpointState::Pending
    } else {
        let body = NewRegistry {
            name: w.endpoint.clone(),
            kind: w.kind.to_string(),
            url: w.url.clone(),
            credential: w.credential.clone(),
            insecure: false,
            description: format!("{} (harborize proxy cache)", w.registry),
        };
        match api.create_registry(&body).await {
            Ok(Created::New(id)) => {
                let id = match id {
                    Some(id) => Some(id),
                    None => api.find_registry(&w.endpoint).await?.map(|r| r.id),
                };
                let created = Registry {
                    id: id.unwrap_or(0),
                    name: w.endpoint.clone(),
                    kind: w.kind.to_string(),
                    url: w.url.clone(),
                    status: None,
                };
                let mut a = endpoint_action(Outcome::Created, Some(&created), None);
                a.id = id;
                actions.push(a);
                match id {
                    Some(id) => {
                        endpoints.push(created);
                        EndpointState::Ready(id)
                    }
                    None => EndpointState::Unusable(format!(
                        "endpoint {:?} was created but Harbor did not say its id",
                        w.endpoint
                    )),
                }
            }
            Ok(Created::Conflict) => match api.find_registry(&w.endpoint).await? {
                Some(e) => {
                    endpoints.push(e.clone());
                    let (action, state) = judge_endpoint(w, &e);
                    actions.push(endpoint_action(action.0, Some(&e), action.1));
                    state
                }
                None => {
                    let message = format!(
                        "Harbor answered 409 Conflict but lists no endpoint named {:?}",
                        w.endpoint
                    );
                    actions.push(endpoint_action(Outcome::Error, None, Some(message.clone())));
                    EndpointState::Unusable(message)
                }
            },
            Err(e) if !e.is_fatal() => {
                let message = e.to_string();
                actions.push(endpoint_action(Outcome::Error, None, Some(message)));
                EndpointState::Unusable(format!("endpoint {:?} could not be created", w.endpoint))
            }
            Err(e) => {
                actions.push(endpoint_action(Outcome::Error, None, Some(e.to_string())));
                return Err(e);
            }
        }
    };

    // The project.
    let project_action = |outcome: Outcome,
                          p: Option<&Project>,
                          registry_id: Option<i64>,
                          message: Option<String>| Action {
        registry: w.registry.clone(),
        kind: Kind::Project,
        name: w.project.clone(),
        action: outcome,
        id: p.map(|p| p.project_id).filter(|id| *id > 0),
        endpoint_type: None,
        url: None,
        registry_id,
        message,
    };
    if let Some(p) = project {
        let (outcome, message) = judge_project(w, &p, linked.as_ref());
        actions.push(project_action(
            outcome,
            Some(&p),
            p.proxy_registry_id(),
            message,
        ));
        return Ok(());
    }
    match state {
        EndpointState::Unusable(why) => {
            actions.push(project_action(
                Outcome::Skipped,
                None,
                None,
                Some(format!("not created: {why}")),
            ));
        }
        EndpointState::Pending => {
            actions.push(project_action(Outcome::WouldCreate, None, None, None));
        }
        EndpointState::Ready(id) if dry_run => {
            actions.push(project_action(Outcome::WouldCreate, None, Some(id), None));
        }
        EndpointState::Ready(id) => {
            let body = NewProject {
                project_name: w.project.clone(),
                registry_id: id,
                metadata: NewProjectMetadata {
                    public: "true".into(),
                },
            };
            match api.create_project(&body).await {
                Ok(Created::New(pid)) => {
                    let mut a = project_action(Outcome::Created, None, Some(id), None);
                    a.id = pid;
                    actions.push(a);
                }
                Ok(Created::Conflict) => match api.get_project(&w.project).await? {
                    Some(p) => {
                        let linked = p
                            .proxy_registry_id()
                            .and_then(|rid| endpoints.iter().find(|e| e.id == rid));
                        let (outcome, message) = judge_project(w, &p, linked);
                        actions.push(project_action(
                            outcome,
                            Some(&p),
                            p.proxy_registry_id(),
                            message,
                        ));
                    }
                    None => actions.push(project_action(
                        Outcome::Error,
                        None,
                        Some(id),
                        Some(format!(
                            "Harbor answered 409 Conflict but project {:?} cannot be read",
                            w.project
                        )),
                    )),
                },
                Err(e) if !e.is_fatal() => {
                    actions.push(project_action(
                        Outcome::Error,
                        None,
                        Some(id),
                        Some(e.to_string()),
                    ));
                }
                Err(e) => {
                    actions.push(project_action(
                        Outcome::Error,
                        None,
                        Some(id),
                        Some(e.to_string()),
                    ));
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// An endpoint found by name: the wanted one, or drift.
fn judge_endpoint(w: &Wanted, e: &Registry) -> ((Outcome, Option<String>), EndpointState) {
    if w.matches(e) {
        ((Outcome::Exists, None), EndpointState::Ready(e.id))
    } else {
        let message = format!(
            "endpoint {:?} (id {}) is {} {}, expected {} {}; harborize does not change it",
            e.name, e.id, e.kind, e.url, w.kind, w.url
        );
        (
            (Outcome::Drift, Some(message)),
            EndpointState::Unusable(format!("endpoint {:?} differs (drift)", e.name)),
        )
    }
}

/// A project that exists: a proxy cache of the wanted upstream, or drift.
fn judge_project(w: &Wanted, p: &Project, linked: Option<&Registry>) -> (Outcome, Option<String>) {
    let Some(rid) = p.proxy_registry_id() else {
        return (
            Outcome::Drift,
            Some(format!(
                "project {:?} exists but is not a proxy-cache project; harborize does not change it",
                w.project
            )),
        );
    };
    match linked {
        Some(l) if w.matches(l) => {
            let message = (!p.is_public()).then(|| {
                format!(
                    "project {:?} is private: nodes pulling through it need imagePullSecrets",
                    w.project
                )
            });
            (Outcome::Exists, message)
        }
        Some(l) => (
            Outcome::Drift,
            Some(format!(
                "project {:?} proxies endpoint {:?} (id {rid}, {} {}), expected {} {}; harborize does not change it",
                w.project, l.name, l.kind, l.url, w.kind, w.url
            )),
        ),
        None => (
            Outcome::Drift,
            Some(format!(
                "project {:?} proxies endpoint id {rid}, which Harbor does not list; expected {} {}",
                w.project, w.kind, w.url
            )),
        ),
    }
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
    fn endpoint_types_for_the_reference_setup() {
        assert_eq!(
            endpoint_for("docker.io"),
            ("docker-hub", "https://hub.docker.com".into())
        );
        assert_eq!(
            endpoint_for("ghcr.io"),
            ("github-ghcr", "https://ghcr.io".into())
        );
        assert_eq!(
            endpoint_for("quay.io"),
            ("docker-registry", "https://quay.io".into())
        );
        assert_eq!(
            endpoint_for("registry.k8s.io"),
            ("docker-registry", "https://registry.k8s.io".into())
        );
    }

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
