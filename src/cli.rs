//! The command line: clap definitions only. Every flag with a config or env twin says so.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "harborize",
    version,
    about = "Route every container image reference in a GitOps repository through Harbor, byte-exact.",
    after_long_help = crate::cli::EXIT_STATUS_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Output habits of every command (global: accepted before or after the command name).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only errors and warnings (stderr); the text report is left out, machine
    /// formats (json, github, sarif, markdown) still print. The exit status tells the rest.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also say what harborize decided: config file, Harbor host, ignore files, Trivy
    /// cache and settings (stderr).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour: auto (only on a terminal, never with NO_COLOR set), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = crate::term::ColorWhen::Auto)]
    pub color: crate::term::ColorWhen,
}

/// The EXIT STATUS section of `--help` and of the man pages.
pub const EXIT_STATUS_HELP: &str = "EXIT STATUS:
  0  success: nothing to report (check: every reference goes through Harbor; scan: the
     policy passed; a reader that stopped reading, as `| head`, is a success too)
  1  findings: changes pending (check, --dry-run), references that did not resolve
     (verify), a failing scan policy, drift (harbor setup)
  2  error: bad arguments or configuration, unreadable or unparsable files, Harbor or
     Trivy unreachable; nothing was half-written";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rewrite image references to their Harbor proxy-cache paths, in place.
    Rewrite(RewriteArgs),
    /// Report references that bypass Harbor; writes nothing (exit 1 when any would change).
    Check(CheckArgs),
    /// Prove through Harbor that every reference resolves (strict HEAD, no pulls).
    Verify(VerifyArgs),
    /// Warm Harbor's cache: GET every image's manifests (the wanted platforms) and blobs
    /// through Harbor so that it fetches and stores them before the rollout.
    Warm(WarmArgs),
    /// The whole pipeline: rewrite → verify → scan → commit (→ push).
    Run(RunArgs),
    /// Set a new tag (and digest) on every reference to one image, as its Harbor path;
    /// optionally commit and push (race-safe).
    Bump(BumpArgs),
    /// Copy an image's tag and digest from one environment to another (as its Harbor
    /// path); optionally commit, push or open a pull request.
    Promote(PromoteArgs),
    /// Scan every image referenced through Harbor with Trivy (once per digest) and enforce a
    /// severity policy.
    Scan(ScanArgs),
    /// Print the JSON Schema of harborize.yaml.
    Schema,
    /// Generate the node-side mirror config (k3s/rke2 registries.yaml, containerd hosts.toml,
    /// CRI-O registries.conf.d, Talos machine-config patch) from harborize.yaml.
    Mirrors(MirrorsArgs),
    /// Generate admission policies (Kyverno, ValidatingAdmissionPolicy, Gatekeeper) that
    /// admit only images through Harbor, from harborize.yaml.
    Policy(PolicyArgs),
    /// Set up Harbor itself from harborize.yaml (`harbor setup`: registry endpoints and
    /// proxy-cache projects, through Harbor's REST API).
    Harbor(HarborArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --out.
    Man(ManArgs),
    /// Migrate whole repositories (directories or git URLs): rewrite, verify, scan,
    /// commit per repository or top-level directory, push; resumable, with a report.
    Migrate(MigrateArgs),
    /// GitHub Action entrypoint: run the command the INPUT_* variables describe.
    #[command(hide = true)]
    Action(ActionArgs),
}

/// Where the settings come from: the Harbor host and harborize.yaml. The same two flags,
/// with the same meaning, in every command that maps references (commands whose config
/// is not looked up next to a PATH say so in their own help text).
#[derive(Debug, Args, Clone, Default)]
pub struct HarborSource {
    /// Harbor host (HOST[:PORT], no scheme). Overrides `harbor.host` in the config.
    #[arg(long, env = "HARBORIZE_HARBOR", value_name = "HOST[:PORT]")]
    pub harbor: Option<String>,
    /// Config file (default: harborize.yaml found next to PATH or above it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--config` of the commands that look harborize.yaml up from the current directory.
const CONFIG_HERE_HELP: &str =
    "Config file (default: harborize.yaml found in the current directory or above it)";

/// Options shared by every command that reads a repository.
#[derive(Debug, Args)]
pub struct Common {
    /// Files or directories to process (directories are walked, honouring .gitignore).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub source: HarborSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Map Harbor proxy paths back to their upstream references (familiar short form).
    #[arg(long)]
    pub revert: bool,
    /// Also rewrite hints (env vars named like images, `--*image=` arguments).
    #[arg(long)]
    pub rewrite_hints: bool,
    /// Directory of unpacked Helm charts (`helm pull --untar` output), found by chart name
    /// for override values whose chart is not in the repository.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// Parse every YAML document in full, also those that cannot hold a reference (no
    /// image, repository or registry word outside opaque text), which are otherwise
    /// skipped unparsed. Slower; reports syntax errors anywhere in a file, and rules the
    /// fast path out when a result looks wrong.
    #[arg(long)]
    pub parse_every_document: bool,
}

#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[command(flatten)]
    pub common: Common,
    /// Write nothing; exit 1 when changes are pending.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
    /// Verify the rewritten references through Harbor before writing; nothing is written
    /// if any fails.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: write even when some references do not resolve.
    #[arg(long, requires = "verify")]
    pub allow_unresolved: bool,
    /// Scan the rewritten images with Trivy before writing; nothing is written when the
    /// policy fails (see `scan` for the policy flags).
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub trivy: TrivyArgs,
    #[command(flatten)]
    pub render: RenderArgs,
}

/// The render proof: Helm and kustomize edits are rendered before and after writing.
#[derive(Debug, Args, Clone)]
pub struct RenderArgs {
    /// Do not prove Helm and kustomize edits by rendering (`helm template`,
    /// `kubectl kustomize`) before writing them.
    #[arg(long)]
    pub no_render_proof: bool,
    /// The helm program for the render proof (default: `helm` on PATH).
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// The kustomize renderer: a `kubectl` (runs `kubectl kustomize`) or a standalone
    /// `kustomize` (runs `kustomize build`); default: `kubectl`, else `kustomize`, on PATH.
    #[arg(long, value_name = "PATH")]
    pub kustomize: Option<PathBuf>,
}

/// What to do when Harbor cannot be reached at all (a setting of the verify stage).
pub use crate::checks::verify::OnUnreachable;

/// How to reach Harbor's registry API. Credentials come only from the environment
/// (HARBORIZE_USERNAME / HARBORIZE_PASSWORD) or a docker config.json, never from flags.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Extra CA certificate (PEM) to trust besides the system roots.
    #[arg(long, value_name = "FILE", env = "HARBORIZE_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Do not verify Harbor's TLS certificate (prints a warning).
    #[arg(long)]
    pub insecure: bool,
    /// Talk plain HTTP to the registry (test and local registries only).
    #[arg(long)]
    pub plain_http: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub jobs: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Retries for 429/502/503/504 and connection failures (backoff with jitter, Retry-After honoured).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
    /// When Harbor cannot be reached (connection or TLS failure): fail (exit 2) or warn.
    #[arg(long, value_enum, default_value_t = OnUnreachable::Fail)]
    pub on_unreachable: OnUnreachable,
    /// Platforms, e.g. linux/amd64,linux/arm64: verify requires them in the index (fetched
    /// with GET); warm fetches their images (default: `platforms:` in harborize.yaml, else
    /// linux/amd64).
    #[arg(long, value_delimiter = ',', value_name = "OS/ARCH")]
    pub platform: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Rewrite each reference to name:tag@digest with the digest Harbor returned.
    #[arg(long)]
    pub pin: bool,
    /// Write a lock file (reference → digest, with time and Harbor host).
    #[arg(long, value_name = "FILE", conflicts_with = "locked")]
    pub lock: Option<PathBuf>,
    /// Check every reference against a lock file instead (digest must match).
    #[arg(long, value_name = "FILE")]
    pub locked: Option<PathBuf>,
}

/// `harborize warm`: its own `--format` (text, json, markdown), so not [`Common`].
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Files or directories whose Harbor references are warmed (ignored with --image).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Warm these references instead of a repository's: Harbor references, or upstream
    /// ones routed through harborize.yaml (repeatable).
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub source: HarborSource,
    /// Report format.
    #[arg(long, value_enum, default_value_t = crate::warm::output::WarmFormat::Text)]
    pub format: crate::warm::output::WarmFormat,
    /// Also warm the images named by hints (env vars named like images, `--*image=`).
    #[arg(long)]
    pub rewrite_hints: bool,
    /// Directory of unpacked Helm charts, as for `rewrite`.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also fail on unmapped registries and invalid references.
    #[arg(long)]
    pub strict: bool,
    /// Print the unified diff the rewrite would make.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help(CONFIG_HERE_HELP)))]
pub struct MirrorsArgs {
    /// Node configuration to generate.
    #[arg(long, value_enum)]
    pub format: crate::mirrors::MirrorFormat,
    /// Write under DIR instead of stdout: DIR/registries.yaml (k3s, rke2, e.g.
    /// /etc/rancher/k3s), DIR/<host>/hosts.toml (containerd: DIR is containerd's
    /// `config_path`, e.g. /etc/containerd/certs.d), DIR/registries.conf.d/harborize.conf
    /// (cri-o, e.g. /etc/containers) or DIR/talos-registries.yaml (talos).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Harbor's CA certificate, as a path on the node (k3s/rke2 configs.<harbor>.tls.ca_file,
    /// containerd `ca`; cri-o: where to install it is said); talos: read here and embedded.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<String>,
    /// No upstream fallback: containerd hosts.toml without `server`, cri-o prefix remapped
    /// to Harbor, talos skipFallback (k3s, rke2: see the note).
    #[arg(long)]
    pub no_fallback: bool,
    #[command(flatten)]
    pub source: HarborSource,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Where harborize.yaml is looked up (this directory or file, and upwards).
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,
    /// The admission controller to write the policy for.
    #[arg(long, value_enum)]
    pub format: crate::policy::PolicyFormat,
    /// Audit (report only) or enforce (deny). Overrides `policy.mode` (default audit).
    #[arg(long, value_enum)]
    pub mode: Option<crate::policy::PolicyMode>,
    /// Also require every image to name a digest (`@sha256:`); or `policy.require_digest`.
    #[arg(long)]
    pub require_digest: bool,
    /// Write the policy to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub source: HarborSource,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (harborize.1, harborize-rewrite.1, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// Print the planned command line (and the names of the environment variables it
    /// sets) as JSON; run nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// Files or directories to process (directories are walked, honouring .gitignore).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// The image to bump, upstream or Harbor form, without tag (ghcr.io/org/app).
    #[arg(long, value_name = "NAME")]
    pub image: String,
    /// The new tag.
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// The new digest (sha256:...); set wherever the image is pinned or given a digest.
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    #[command(flatten)]
    pub source: HarborSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also bump hints (env vars named like images, `--*image=` arguments).
    #[arg(long)]
    pub rewrite_hints: bool,
    /// Write nothing; exit 1 when changes are pending.
    #[arg(long, conflicts_with_all = ["commit", "push", "pull_request"])]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
    /// Commit the changed files (exactly those) with git.
    #[arg(long)]
    pub commit: bool,
    /// Bump every environment that references the image, on purpose (without it, a bump
    /// that spans several environments and is not narrowed by a PATH or a `bump:` rule
    /// changes nothing and lists them).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub git: GitArgs,
}

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help("Config file (default: harborize.yaml found next to --to or above it)")))]
pub struct PromoteArgs {
    /// The image to promote, upstream or Harbor form, without tag (ghcr.io/org/app).
    #[arg(long, value_name = "NAME")]
    pub image: String,
    /// The environment whose tag and digest are promoted (a directory or file).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The environment that gets them (a directory or file).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    #[command(flatten)]
    pub source: HarborSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write nothing; exit 1 when changes are pending.
    #[arg(long, conflicts_with_all = ["commit", "push", "pull_request"])]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
    /// Commit the changed files (exactly those) with git.
    #[arg(long)]
    pub commit: bool,
    #[command(flatten)]
    pub git: GitArgs,
}

/// Trivy and policy options of a scan (`harborize scan`; flattened into commands with a
/// `--scan` stage). Registry credentials reach Trivy only through its environment.
#[derive(Debug, Args, Clone)]
pub struct TrivyArgs {
    /// Lowest severity that fails the scan.
    #[arg(long, value_enum, ignore_case = true, default_value_t = crate::trivy::Severity::Critical, value_name = "SEVERITY")]
    pub severity: crate::trivy::Severity,
    /// Vulnerabilities without a fixed version never fail the scan (still reported).
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Ignore file: harborize's YAML list (`- {id: CVE-..., expires: YYYY-MM-DD, reason: ...}`),
    /// Trivy's `.trivyignore` (`ID [exp:YYYY-MM-DD]` lines) or `.trivyignore.yaml`; the
    /// format is detected. Default: `.trivyignore` / `.trivyignore.yaml` at the repository
    /// root. Expired entries ignore nothing.
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// The Trivy binary (a path, or a name looked up on PATH).
    #[arg(
        long,
        value_name = "PATH",
        env = "HARBORIZE_TRIVY",
        default_value = "trivy"
    )]
    pub trivy: PathBuf,
    /// Trivy cache dir shared by every scan (DB and layer cache); default TRIVY_CACHE_DIR,
    /// else Trivy's own (~/.cache/trivy), shared with the user's Trivy and CI caches.
    #[arg(long, value_name = "DIR", env = "HARBORIZE_TRIVY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Client/server mode: scan through this Trivy server (`trivy server`; default
    /// TRIVY_SERVER); its token comes from env HARBORIZE_TRIVY_TOKEN (else TRIVY_TOKEN).
    #[arg(long, value_name = "URL", env = "HARBORIZE_TRIVY_SERVER")]
    pub trivy_server: Option<String>,
    /// Do not download or update the vulnerability DB (it must be in the cache dir); also
    /// TRIVY_SKIP_DB_UPDATE=true.
    #[arg(long)]
    pub skip_db_update: bool,
    /// Where Trivy downloads its DB from (OCI repository, e.g. through Harbor); default
    /// TRIVY_DB_REPOSITORY, else Trivy's.
    #[arg(long, value_name = "REPO", value_delimiter = ',')]
    pub db_repository: Vec<String>,
    /// Trivy processes at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub scan_jobs: usize,
    /// Timeout of one image scan, in seconds (default TRIVY_TIMEOUT, else 300).
    #[arg(long, value_name = "SECONDS")]
    pub scan_timeout: Option<u64>,
    /// What Trivy looks for.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "vuln",
        value_name = "SCANNER"
    )]
    pub scanners: Vec<crate::trivy::Scanner>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to process (directories are walked, honouring .gitignore).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub source: HarborSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::trivy::ScanFormat::Text)]
    pub format: crate::trivy::ScanFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub trivy: TrivyArgs,
}

#[derive(Debug, Args)]
pub struct HarborArgs {
    #[command(subcommand)]
    pub command: HarborCommand,
}

#[derive(Debug, Subcommand)]
pub enum HarborCommand {
    /// Create, idempotently, a registry endpoint and a public proxy-cache project for every
    /// registry in harborize.yaml; report drift (exit 1) without changing it.
    ///
    /// Credentials: HARBORIZE_USERNAME / HARBORIZE_PASSWORD (a Harbor system administrator),
    /// never a flag. Upstream credentials for an endpoint: HARBORIZE_UPSTREAM_<DOMAIN>_USERNAME
    /// / _PASSWORD (docker.io → DOCKER_IO).
    Setup(HarborSetupArgs),
}

#[derive(Debug, Args)]
pub struct HarborSetupArgs {
    /// Config file (default: harborize.yaml found in the current directory or above it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Harbor host (HOST[:PORT], no scheme). Overrides `harbor.host` in the config.
    #[arg(long, env = "HARBORIZE_HARBOR", value_name = "HOST[:PORT]")]
    pub harbor: Option<String>,
    /// Print the plan; send no write (exit 1 when something would be created).
    #[arg(long)]
    pub dry_run: bool,
    /// Extra CA certificate (PEM) to trust besides the system roots.
    #[arg(long, value_name = "FILE", env = "HARBORIZE_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Do not verify Harbor's TLS certificate (prints a warning).
    #[arg(long)]
    pub insecure: bool,
    /// Talk plain HTTP to Harbor (test and local instances only).
    #[arg(long)]
    pub plain_http: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SetupFormat::Text)]
    pub format: SetupFormat,
}

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help("Config file for every repository (default: each repository's harborize.yaml)")))]
pub struct MigrateArgs {
    /// Repositories: local directories, or git URLs (https://, ssh://, git@host:path,
    /// file://) cloned into --workdir.
    #[arg(
        value_name = "REPO_DIR|GIT_URL",
        required_unless_present_any = ["matrix", "merge_reports"]
    )]
    pub repos: Vec<String>,
    /// Migrate only shard I of N (0 <= I < N): a repository's shard is a stable hash of its
    /// URL. Without it, JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT (a Kubernetes Indexed
    /// Job) select the shard. Report and state files are named per shard
    /// (migration-report-shard-I-of-N.json).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::migrate::shard::Shard>,
    /// Print the GitHub Actions matrix of N shards (`{"shard":["0/N",...]}`, one line) and exit.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=256),
        conflicts_with_all = ["repos", "shard", "merge_reports"]
    )]
    pub matrix: Option<u32>,
    /// Combine the shard reports in DIR (and its subdirectories, one per shard) into one
    /// migration-report.md/.json, as one run over the whole list writes (in --report-dir,
    /// default DIR); exit code as that run's.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["repos", "shard"])]
    pub merge_reports: Option<PathBuf>,
    #[command(flatten)]
    pub source: HarborSource,
    /// Undo a migration: map Harbor proxy paths back to upstream (same commits and batching).
    #[arg(long)]
    pub revert: bool,
    /// Also rewrite hints (env vars named like images, `--*image=` arguments).
    #[arg(long)]
    pub rewrite_hints: bool,
    /// Plan and report only: write, commit and record nothing (exit 1 when changes are pending).
    #[arg(long, conflicts_with_all = ["commit", "push", "batch_by", "pull_request"])]
    pub dry_run: bool,
    /// Verify every reference through Harbor first; a repository whose references do not
    /// resolve is not written nor committed (takes verify's registry flags).
    #[arg(long)]
    pub verify: bool,
    /// Trivy gate on the images first (takes scan's flags); a failing repository is not
    /// written nor committed.
    #[arg(long)]
    pub scan: bool,
    /// Commit the changed files of each repository (exactly those).
    #[arg(long)]
    pub commit: bool,
    /// One commit per repository, or per top-level directory that changed (implies --commit).
    #[arg(long, value_enum, value_name = "repo|dir")]
    pub batch_by: Option<crate::migrate::BatchBy>,
    /// Push each repository's branch after committing (implies --commit); never forced.
    #[arg(long)]
    pub push: bool,
    /// Remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// When the remote moved: fetch, reset, migrate again and retry this many times.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub push_retries: u32,
    /// Per repository: commit to a branch named after the change (harborize/<hash>), push
    /// it (never forced) and open a pull request into the repository's remote branch, or
    /// update the one already open (implies --push). The repository comes from its own
    /// remote URL (else GITHUB_REPOSITORY); token and GITHUB_API_URL as for bump.
    #[arg(long)]
    pub pull_request: bool,
    #[command(flatten)]
    pub identity: CommitIdentity,
    /// Where git URLs are cloned (default: <report-dir>/repos, else ./harborize-repos).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Write migration-report.md and migration-report.json into DIR.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// State file of finished repositories (default: <report-dir>/migration-state.json);
    /// a rerun skips them.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Write a Renovate config snippet (JSON) with registryAliases: Harbor proxy path →
    /// upstream registry.
    #[arg(long, value_name = "FILE")]
    pub renovate: Option<PathBuf>,
    /// Write the imagePullSecrets that only served upstream registries now reached through
    /// Harbor (markdown, or JSON for a .json FILE).
    #[arg(long, value_name = "FILE")]
    pub pull_secrets: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub trivy: TrivyArgs,
}

/// `harborize run`: every stage on by default, each can be switched off.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub trivy: TrivyArgs,
    /// Do not verify references through Harbor.
    #[arg(long)]
    pub skip_verify: bool,
    /// Do not scan images with Trivy.
    #[arg(long)]
    pub skip_scan: bool,
    /// Warm Harbor's cache after verify (every manifest and blob of the wanted platforms,
    /// as `harborize warm`); an image that cannot be warmed stops the run.
    #[arg(long)]
    pub warm: bool,
    /// Write the files but do not commit.
    #[arg(long, conflicts_with = "pull_request")]
    pub skip_commit: bool,
    /// Plan, verify and scan; show what would change; write and commit nothing.
    #[arg(long, conflicts_with = "pull_request")]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub git: GitArgs,
}

/// Who commits, and whether a dirty tree may be committed from: every command that
/// commits (`bump`, `run`, `migrate`).
#[derive(Debug, Args, Clone)]
pub struct CommitIdentity {
    /// Commit even when tracked files have uncommitted changes (only the run's own files
    /// are committed).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Commit author name (else GIT_AUTHOR_NAME, GITHUB_ACTOR, git config user.name).
    #[arg(long, value_name = "NAME")]
    pub author_name: Option<String>,
    /// Commit author email (else GIT_AUTHOR_EMAIL, <GITHUB_ACTOR>@users.noreply.github.com,
    /// git config user.email).
    #[arg(long, value_name = "EMAIL")]
    pub author_email: Option<String>,
    /// Add a Signed-off-by trailer (the committer).
    #[arg(long)]
    pub signoff: bool,
    /// Another host that may receive the git token (HARBORIZE_GIT_TOKEN/GITHUB_TOKEN),
    /// besides github.com and GITHUB_SERVER_URL's host: HOST[:PORT] (443 when none), or
    /// several, comma-separated. The token is only ever sent over HTTPS, to these hosts.
    #[arg(
        long,
        env = "HARBORIZE_GIT_TOKEN_HOST",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    pub git_token_host: Vec<String>,
}

/// Git options of the commands that commit (`bump`, `run`).
#[derive(Debug, Args, Clone)]
pub struct GitArgs {
    #[command(flatten)]
    pub identity: CommitIdentity,
    /// Commit message template: {summary}, {images} (one `- old → new` line each), {count}.
    #[arg(long, value_name = "TEMPLATE")]
    pub message_template: Option<String>,
    /// Push the commit to the current branch's remote (implies a commit). HTTPS uses a
    /// token from HARBORIZE_GIT_TOKEN or GITHUB_TOKEN; SSH the agent or ~/.ssh keys.
    #[arg(long)]
    pub push: bool,
    /// Remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// When the remote moved: fetch, reset, redo the change and retry this many times.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub push_retries: u32,
    /// Commit to a branch named after the change (harborize/<hash>), push it (never
    /// forced) and open a pull request into the current branch's remote branch, or update
    /// the one already open for the same change (implies --push). Token from
    /// HARBORIZE_GIT_TOKEN or GITHUB_TOKEN; GITHUB_API_URL honoured (GitHub Enterprise);
    /// repository from the remote URL, else GITHUB_REPOSITORY.
    #[arg(long)]
    pub pull_request: bool,
}

/// Output format of `harbor setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupFormat {
    Text,
    Json,
}
