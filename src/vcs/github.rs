//! Pull requests on GitHub (and GitHub Enterprise Server) for `--pull-request`: push the
//! change to a branch named after it (`harborize/<hash>`), then open a pull request from
//! that branch, or update the one already open, through octocrab.
//!
//! - Where: `GITHUB_API_URL` (GitHub Actions sets it, Enterprise included), else derived
//!   from the remote's host (`https://<host>/api/v3` for a host other than github.com),
//!   else `https://api.github.com`.
//! - Who: a token from `HARBORIZE_GIT_TOKEN` or `GITHUB_TOKEN` (first non-empty wins, as for
//!   pushes in `git::auth`). It is sent as `Authorization: Bearer`, and never shown: `Debug`
//!   redacts it and every error message is scrubbed of it.
//! - Which repository: `owner/name` parsed from the remote URL (https, ssh and scp-like
//!   forms), else `GITHUB_REPOSITORY`. The remote comes first because in the reference
//!   setup the bump runs in an *app's* CI, where `GITHUB_REPOSITORY` names the app, not
//!   the GitOps repository that gets the pull request.
//! - What: `GET /repos/{o}/{r}/pulls?head={o}:{branch}&state=open`; when one is open,
//!   `PATCH /repos/{o}/{r}/pulls/{n}` with the new title and body; else
//!   `POST /repos/{o}/{r}/pulls` with title, head, base and body. A pull request opened by
//!   a concurrent run between the list and the create (422 "A pull request already
//!   exists") is found again and updated.

use std::fmt;
use std::time::Duration;

use octocrab::models::pulls::PullRequest as OctoPullRequest;
use octocrab::params::State;
use octocrab::Octocrab;
use sha2::{Digest, Sha256};

use crate::report::escape_markdown_cell as md_cell;

/// GitHub.com's REST API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where the token comes from, in order (the same order as for pushes).
pub const TOKEN_VARS: [&str; 2] = ["HARBORIZE_GIT_TOKEN", "GITHUB_TOKEN"];

/// The REST API version asked for (`X-GitHub-Api-Version`: octocrab sends it on every
/// request).
pub const API_VERSION: &str = "2022-11-28";

/// Branches for pull requests are `harborize/<this many hex digits of the change's hash>`.
pub const BRANCH_HASH_LEN: usize = 12;

/// GitHub refuses pull request bodies above 65,536 characters.
const MAX_BODY_CHARS: usize = 65_000;

/// What `open_or_update` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// The page people open (`html_url`); the API URL when GitHub gave none.
    pub url: String,
    /// `true` when this call opened it, `false` when it was already open and got updated.
    pub created: bool,
}

/// `owner/name` of a repository and the host it lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepo {
    /// `github.com`, or an Enterprise host (no port).
    pub host: String,
    pub owner: String,
    pub name: String,
}

/// Why a pull request could not be opened or updated. Messages never hold the token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GitHub token for the pull request: set HARBORIZE_GIT_TOKEN or GITHUB_TOKEN to a token that may open pull requests on {repo}")]
    MissingToken { repo: String },
    #[error("{token} is not a valid HTTP header value (it holds spaces, line breaks or non-ASCII characters)")]
    InvalidToken { token: String },
    #[error("cannot tell which GitHub repository gets the pull request: {why}; use a GitHub remote (https://HOST/OWNER/NAME or git@HOST:OWNER/NAME) or set GITHUB_REPOSITORY=OWNER/NAME")]
    NoRepository { why: String },
    #[error("invalid GitHub API URL {url:?} (from {var}): {why}")]
    ApiUrl {
        url: String,
        var: String,
        why: String,
    },
    #[error("GitHub at {api} rejected {token} (401 Unauthorized: {message}): it is wrong, expired or revoked")]
    Unauthorized {
        api: String,
        /// "the token from GITHUB_TOKEN" (never the token itself).
        token: String,
        message: String,
    },
    #[error("{token} may not {action} on {repo} (403 Forbidden: {message}); it needs write access to pull requests and contents (in GitHub Actions: `permissions: pull-requests: write, contents: write`)")]
    Forbidden {
        token: String,
        action: String,
        repo: String,
        message: String,
    },
    #[error("GitHub at {api} has no repository {repo} that {token} can see (404 Not Found while trying to {action}): check the remote or GITHUB_REPOSITORY, GITHUB_API_URL, and the token's access")]
    NotFound {
        api: String,
        repo: String,
        token: String,
        action: String,
    },
    #[error("the branch {head} has nothing new for {base} on {repo}, so there is no pull request to open (GitHub: {message})")]
    NothingNew {
        head: String,
        base: String,
        repo: String,
        message: String,
    },
    #[error("GitHub refused to {action} on {repo} (422 Unprocessable Entity): {message}")]
    Unprocessable {
        action: String,
        repo: String,
        message: String,
    },
    #[error("GitHub answered {status} when trying to {action} on {repo}: {message}")]
    Status {
        status: u16,
        action: String,
        repo: String,
        message: String,
    },
    #[error("cannot {action} on {repo} through {api}: {message}")]
    Transport {
        api: String,
        action: String,
        repo: String,
        message: String,
    },
    #[error("cannot start the async runtime for the GitHub client: {0}")]
    Runtime(String),
}

impl Error {
    /// The HTTP status GitHub answered, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::NothingNew { .. } | Error::Unprocessable { .. } => Some(422),
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client for one repository's pull requests.
#[derive(Clone)]
pub struct GitHub {
    api_url: String,
    token: String,
    /// The variable the token came from (for messages), or `""` when given directly.
    token_var: String,
    owner: String,
    repo: String,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .field("token_var", &self.token_var)
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .finish()
    }
}

impl GitHub {
    /// A client for `owner/repo` at `api_url` (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server).
    pub fn new(api_url: &str, token: &str, owner: &str, repo: &str) -> Result<Self> {
        Self::build(api_url, "the API URL given", token, "", owner, repo)
    }

    /// From the environment (`env` is `|k| std::env::var(k).ok()` in the commands) and the
    /// URL of the remote the branch is pushed to (`None`, or a local path, when there is no
    /// GitHub remote: then `GITHUB_REPOSITORY` names the repository).
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        remote_url: Option<&str>,
    ) -> Result<Self> {
        let set = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let remote = remote_url.and_then(parse_remote);
        let (owner, repo) = match (&remote, set("GITHUB_REPOSITORY")) {
            (Some(r), _) => (r.owner.clone(), r.name.clone()),
            (None, Some(full)) => parse_full_name(&full).ok_or_else(|| Error::NoRepository {
                why: format!("GITHUB_REPOSITORY={full:?} is not OWNER/NAME"),
            })?,
            (None, None) => {
                return Err(Error::NoRepository {
                    why: match remote_url {
                        Some(u) if !u.is_empty() => format!(
                            "the remote {} is not a GitHub repository URL and GITHUB_REPOSITORY is not set",
                            crate::vcs::git::redact_url(u)
                        ),
                        _ => "there is no remote URL and GITHUB_REPOSITORY is not set".into(),
                    },
                })
            }
        };
        let (api_url, api_var) = match set("GITHUB_API_URL") {
            Some(u) => (u, "GITHUB_API_URL".to_string()),
            None => match &remote {
                Some(r) if !r.host.eq_ignore_ascii_case("github.com") => (
                    format!("https://{}/api/v3", r.host),
                    format!("the remote's host {}", r.host),
                ),
                _ => (DEFAULT_API_URL.to_string(), "the default".to_string()),
            },
        };
        let Some((var, token)) = TOKEN_VARS.iter().find_map(|v| set(v).map(|t| (*v, t))) else {
            return Err(Error::MissingToken {
                repo: format!("{owner}/{repo}"),
            });
        };
        Self::build(&api_url, &api_var, &token, var, &owner, &repo)
    }

    fn build(
        api_url: &str,
        api_var: &str,
        token: &str,
        token_var: &str,
        owner: &str,
        repo: &str,
    ) -> Result<Self> {
        let api_url = api_url.trim().trim_end_matches('/').to_string();
        let bad = |why: &str| Error::ApiUrl {
            url: crate::vcs::git::redact_url(&api_url),
            var: api_var.to_string(),
            why: why.to_string(),
        };
        let url = reqwest::Url::parse(&api_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("expected http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("no query string or fragment expected"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the API URL: use HARBORIZE_GIT_TOKEN or GITHUB_TOKEN",
            ));
        }
        if token.is_empty() {
            return Err(Error::MissingToken {
                repo: format!("{owner}/{repo}"),
            });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidToken {
                token: token_phrase(token_var),
            });
        }
        if !valid_name(owner) || !valid_name(repo) {
            return Err(Error::NoRepository {
                why: format!("{owner:?}/{repo:?} is not a valid OWNER/NAME"),
            });
        }
        Ok(GitHub {
            api_url,
            token: token.to_string(),
            token_var: token_var.to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
        })
    }

    /// The same client for another repository on the same host (`--github-repository`).
    pub fn with_repository(mut self, owner: &str, repo: &str) -> Result<Self> {
        if !valid_name(owner) || !valid_name(repo) {
            return Err(Error::NoRepository {
                why: format!("{owner:?}/{repo:?} is not a valid OWNER/NAME"),
            });
        }
        self.owner = owner.to_string();
        self.repo = repo.to_string();
        Ok(self)
    }

    /// The API base, without a trailing slash.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// Which variable the token came from (`""` when given to [`GitHub::new`]).
    pub fn token_source(&self) -> &str {
        &self.token_var
    }

    fn token_phrase(&self) -> String {
        token_phrase(&self.token_var)
    }

    /// `text` with the token replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(self.token.as_str(), "<redacted>")
        }
    }

    fn client(&self) -> Result<Octocrab> {
        let transport = |message: String| Error::Transport {
            api: self.api_url.clone(),
            action: "set up the GitHub client".into(),
            repo: self.full_name(),
            message: self.redact(&message),
        };
        Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .map_err(|e| transport(e.to_string()))?
            .personal_token(self.token.clone())
            .add_header(
                reqwest::header::ACCEPT,
                "application/vnd.github+json".to_string(),
            )
            .set_connect_timeout(Some(Duration::from_secs(15)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .set_write_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|e| transport(e.to_string()))
    }

    /// The open pull request whose head is `head` (a branch of this repository), if any.
    pub async fn find_open(&self, head: &str) -> Result<Option<PullRequest>> {
        let client = self.client()?;
        self.find_open_with(&client, head).await
    }

    async fn find_open_with(&self, client: &Octocrab, head: &str) -> Result<Option<PullRequest>> {
        let page = client
            .pulls(&self.owner, &self.repo)
            .list()
            .state(State::Open)
            .head(format!("{}:{head}", self.owner))
            .per_page(100u8)
            .send()
            .await
            .map_err(|e| self.error(e, "list the open pull requests", head, ""))?;
        // GitHub filters by head already; check again (an older Enterprise that ignores the
        // filter must not make us update somebody else's pull request).
        Ok(page
            .items
            .into_iter()
            .find(|pr| pr.head.ref_field == head)
            .map(|pr| summary(&pr, false)))
    }

    /// Open a pull request from the branch `head` (already pushed to this repository) into
    /// `base`, or update the title and body of the one already open from `head`.
    pub async fn open_or_update(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        let client = self.client()?;
        let body = clip_body(body);
        if let Some(open) = self.find_open_with(&client, head).await? {
            return self
                .update_with(&client, open.number, head, title, &body)
                .await;
        }
        let created = client
            .pulls(&self.owner, &self.repo)
            .create(title, head, base)
            .body(body.as_str())
            .send()
            .await;
        match created {
            Ok(pr) => Ok(summary(&pr, true)),
            Err(e) => {
                let err = self.error(e, "open a pull request", head, base);
                // A concurrent run opened it between our list and our create.
                if matches!(&err, Error::Unprocessable { message, .. } if message.contains("already exists"))
                {
                    if let Some(open) = self.find_open_with(&client, head).await? {
                        return self
                            .update_with(&client, open.number, head, title, &body)
                            .await;
                    }
                }
                Err(err)
            }
        }
    }

    async fn update_with(
        &self,
        client: &Octocrab,
        number: u64,
        head: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        // octocrab's update builder also serializes its `pull_number` into the body; GitHub
        // documents only these fields, so they go through octocrab's plain PATCH.
        let route = format!("/repos/{}/{}/pulls/{number}", self.owner, self.repo);
        let fields = serde_json::json!({ "title": title, "body": body });
        let pr: OctoPullRequest = client
            .patch(route, Some(&fields))
            .await
            .map_err(|e| self.error(e, &format!("update pull request #{number}"), head, ""))?;
        Ok(summary(&pr, false))
    }

    /// [`open_or_update`](Self::open_or_update) for the synchronous commands: runs on a
    /// current-thread runtime of its own (on a separate thread when called from inside a
    /// tokio runtime, which may not block).
    pub fn open_or_update_blocking(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        crate::runtime::block_on_anywhere(self.open_or_update(head, base, title, body))
            .map_err(|e| Error::Runtime(e.to_string()))?
    }

    /// Turn octocrab's error into ours, with the token scrubbed from every message.
    fn error(&self, e: octocrab::Error, action: &str, head: &str, base: &str) -> Error {
        let repo = self.full_name();
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                let details: Vec<String> = source
                    .errors
                    .iter()
                    .flatten()
                    .map(describe_error_item)
                    .filter(|d| !d.is_empty())
                    .collect();
                if !details.is_empty() {
                    message = format!("{message}: {}", details.join("; "));
                }
                let message = self.redact(&message);
                match status {
                    401 => Error::Unauthorized {
                        api: self.api_url.clone(),
                        token: self.token_phrase(),
                        message,
                    },
                    403 => Error::Forbidden {
                        token: self.token_phrase(),
                        action: action.to_string(),
                        repo,
                        message,
                    },
                    404 => Error::NotFound {
                        api: self.api_url.clone(),
                        repo,
                        token: self.token_phrase(),
                        action: action.to_string(),
                    },
                    422 if message.contains("No commits between") => Error::NothingNew {
                        head: head.to_string(),
                        base: base.to_string(),
                        repo,
                        message,
                    },
                    422 => Error::Unprocessable {
                        action: action.to_string(),
                        repo,
                        message,
                    },
                    status => Error::Status {
                        status,
                        action: action.to_string(),
                        repo,
                        message,
                    },
                }
            }
            other => {
                let mut message = other.to_string();
                let mut source = std::error::Error::source(&other);
                while let Some(s) = source {
                    let text = s.to_string();
                    if !message.contains(&text) {
                        message.push_str(": ");
                        message.push_str(&text);
                    }
                    source = s.source();
                }
                Error::Transport {
                    api: self.api_url.clone(),
                    action: action.to_string(),
                    repo,
                    message: self.redact(&message),
                }
            }
        }
    }
}

/// "the token from GITHUB_TOKEN", or "the GitHub token" when it came from the caller.
fn token_phrase(var: &str) -> String {
    if var.is_empty() {
        "the GitHub token".to_string()
    } else {
        format!("the token from {var}")
    }
}

/// One entry of GitHub's `errors` array as text: its `message`, else `field` + `code`.
fn describe_error_item(item: &serde_json::Value) -> String {
    if let Some(m) = item.get("message").and_then(|m| m.as_str()) {
        return m.to_string();
    }
    if let Some(s) = item.as_str() {
        return s.to_string();
    }
    let field = item.get("field").and_then(|f| f.as_str());
    let code = item.get("code").and_then(|c| c.as_str());
    match (field, code) {
        (Some(f), Some("invalid")) => format!("{f} is invalid (does the branch exist?)"),
        (Some(f), Some("missing_field")) => format!("{f} is missing"),
        (Some(f), Some(c)) => format!("{f}: {c}"),
        (None, Some(c)) => c.to_string(),
        _ => String::new(),
    }
}

fn summary(pr: &OctoPullRequest, created: bool) -> PullRequest {
    PullRequest {
        number: pr.number,
        url: pr
            .html_url
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| pr.url.clone()),
        created,
    }
}

fn clip_body(body: &str) -> String {
    if body.chars().count() <= MAX_BODY_CHARS {
        return body.to_string();
    }
    let mut out: String = body.chars().take(MAX_BODY_CHARS).collect();
    out.push_str("\n\n… (truncated: GitHub limits a pull request body to 65,536 characters)\n");
    out
}

/// GitHub owner and repository names: letters, digits, `-`, `_`, `.`; not `.`/`..`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn parse_full_name(full: &str) -> Option<(String, String)> {
    let (owner, name) = full.trim().split_once('/')?;
    let name = name.strip_suffix(".git").unwrap_or(name);
    (valid_name(owner) && valid_name(name)).then(|| (owner.to_string(), name.to_string()))
}

/// `owner/name` (and host) of a GitHub remote URL:
/// `https://[user[:secret]@]host[:port]/owner/name[.git][/]`, `http://…`,
/// `ssh://[user@]host[:port]/owner/name[.git]`, `git://host/owner/name[.git]` and the
/// scp-like `[user@]host:owner/name[.git]`. Local paths and `file://` URLs give `None`.
pub fn parse_remote(url: &str) -> Option<RemoteRepo> {
    let url = url.trim();
    let (authority, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git"
        ) {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        (authority, path)
    } else {
        // scp-like: a colon before the first slash, and not a Windows drive letter.
        let colon = url.find(':')?;
        if url.find('/').is_some_and(|s| s < colon) || colon <= 1 {
            return None;
        }
        (&url[..colon], &url[colon + 1..])
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']').map(|(h, _)| h)?
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return None;
    }
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = path.split_once('/')?;
    if name.contains('/') || !valid_name(owner) || !valid_name(name) {
        return None;
    }
    Some(RemoteRepo {
        host: host.to_ascii_lowercase(),
        owner: owner.to_string(),
        name: name.to_string(),
    })
}

/// The branch for a change: `harborize/<12 hex digits of SHA-256(change_key)>`. The same
/// key always gives the same branch, so a rerun of the same change updates its pull
/// request instead of opening another; build the key with [`change_key`].
pub fn branch_name(change_key: &str) -> String {
    let digest = Sha256::digest(change_key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("harborize/{}", &hex[..BRANCH_HASH_LEN])
}

/// A canonical key for [`branch_name`]: the kind of change (`bump`, `migrate`), the base
/// branch, and the items that define it (for bump: the image and the reference it is set
/// to; for migrate: each `old → new`), sorted and deduplicated so their order does not
/// matter.
pub fn change_key<S: AsRef<str>>(kind: &str, base: &str, items: &[S]) -> String {
    let mut items: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    items.sort_unstable();
    items.dedup();
    let mut key = format!("harborize {kind}\nbase {base}\n");
    for i in items {
        key.push_str(i);
        key.push('\n');
    }
    key
}

/// A markdown pull request body: a heading, one table row per `old → new`, then free
/// lines (what was verified and scanned, the commit), then a footer.
pub fn markdown_body(heading: &str, changes: &[(String, String)], notes: &[String]) -> String {
    let mut md = format!("### {heading}\n\n");
    if !changes.is_empty() {
        md.push_str("| from | to |\n|---|---|\n");
        for (old, new) in changes {
            md.push_str(&format!("| `{}` | `{}` |\n", md_cell(old), md_cell(new)));
        }
        md.push('\n');
    }
    for n in notes {
        md.push_str(n);
        md.push('\n');
    }
    if !notes.is_empty() {
        md.push('\n');
    }
    md.push_str(
        "<sub>Opened by harborize. Running the same change again updates this pull request.</sub>\n",
    );
    md
}

/// A pull request a run opened or updated (`bump` and `run` JSON, `migrate` report).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PrOut {
    pub number: u64,
    pub url: String,
    /// `true` when this run opened it, `false` when it updated the one already open.
    pub created: bool,
    /// The branch it is from (`harborize/<hash>`).
    pub head: String,
    /// The branch it goes into.
    pub base: String,
}
