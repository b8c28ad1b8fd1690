//! Who may receive the git token, and how libgit2 gets credentials.
//!
//! HTTPS uses a token from the environment (`HARBORIZE_GIT_TOKEN`, then `GITHUB_TOKEN`) as
//! the password of user `x-access-token`, handed to libgit2 through its credentials
//! callback only: never in a URL, a command line or any output. The token is meant for one
//! forge, so it is answered only over HTTPS and only to github.com, the host of
//! `GITHUB_SERVER_URL` or a host named with `--git-token-host`: any other URL (plain
//! `http://`, a redirect, a mirror) gets git's credential helpers instead, as if there were
//! no token. SSH uses the agent, then `~/.ssh` keys.

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use git2::{Cred, CredentialType, RemoteCallbacks};

/// A secret for HTTPS remotes and the hosts it may go to. `Debug` and `Display` never
/// show it.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<String>,
    /// Which variable it came from (for messages).
    source: Option<&'static str>,
    /// Where the token may be sent (over HTTPS only): `host` or `host:port`, lower case.
    hosts: Vec<String>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Auth {
    /// The token from `HARBORIZE_GIT_TOKEN` or `GITHUB_TOKEN` (first non-empty wins), for
    /// github.com and the host of `GITHUB_SERVER_URL` (GitHub Enterprise).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let mut hosts: Vec<String> = host_key("github.com").into_iter().collect();
        if let Some(h) = env("GITHUB_SERVER_URL").as_deref().and_then(host_key) {
            hosts.push(h);
        }
        // The same variables, in the same order, as the GitHub client's token.
        for var in crate::vcs::github::TOKEN_VARS {
            if let Some(t) = env(var).filter(|t| !t.trim().is_empty()) {
                return Auth {
                    token: Some(t.trim().to_string()),
                    source: Some(var),
                    hosts,
                };
            }
        }
        Auth {
            hosts,
            ..Auth::default()
        }
    }

    /// Also send the token to these hosts (`--git-token-host`: `HOST`, `HOST:PORT` or an
    /// `https://` URL), over HTTPS only. An entry that is not a host is an error.
    pub fn allow_hosts(mut self, hosts: &[String]) -> Result<Self> {
        for h in hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            let key = host_key(h).ok_or_else(|| {
                anyhow!("--git-token-host {h:?}: expected HOST, HOST:PORT or an https:// URL")
            })?;
            self.hosts.push(key);
        }
        Ok(self)
    }

    /// The token, when `url` may receive it: HTTPS to an allowed host (and port: a host
    /// named without one means HTTPS's 443). Anything else gets no token.
    pub fn token_for(&self, url: &str) -> Option<&str> {
        let token = self.token.as_deref()?;
        let u = reqwest::Url::parse(url).ok()?;
        if u.scheme() != "https" {
            return None;
        }
        let key = format!(
            "{}:{}",
            u.host_str()?.to_ascii_lowercase(),
            u.port_or_known_default()?
        );
        self.hosts.contains(&key).then_some(token)
    }

    /// Why the token was not offered to `url` (for the "authentication required" error).
    fn withheld_from(&self, url: &str) -> Option<String> {
        self.token.as_ref()?;
        let shown = redact_url(url);
        Some(format!(
            "the git token ({}) is sent only over HTTPS to {}, not to {shown}; name another host with --git-token-host",
            self.source.unwrap_or("token"),
            self.hosts.join(", ")
        ))
    }

    /// Remove the token from a text that is about to be shown (belt and braces: libgit2's
    /// messages do not carry it).
    pub fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(t) if !t.is_empty() => text.replace(t.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

/// `host:port` (lower case; HTTPS's 443 when no port is given) of an `https://` URL or of a
/// bare `HOST[:PORT]`; `None` for what is not a host.
fn host_key(entry: &str) -> Option<String> {
    let entry = entry.trim();
    let u = if entry.contains("://") {
        reqwest::Url::parse(entry).ok()?
    } else {
        reqwest::Url::parse(&format!("https://{entry}")).ok()?
    };
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    let host = u.host_str().filter(|h| !h.is_empty())?.to_ascii_lowercase();
    let port = u.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

/// `https://user:secret@host/x` → `https://host/x`.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// The credentials of every remote operation (fetch, push, clone): [`credential`] for
/// each of libgit2's requests, counted in `tries`; `config` is the repository's git config
/// (or the user's, for a clone), whose credential helpers are asked when no token fits.
pub fn remote_callbacks<'a>(
    tries: &'a Cell<u32>,
    auth: &'a Auth,
    config: Option<git2::Config>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |url, user_from_url, allowed| {
        tries.set(tries.get() + 1);
        credential(
            url,
            user_from_url,
            allowed,
            tries.get(),
            auth,
            config.as_ref(),
        )
    });
    cb
}

/// Answer one libgit2 credential request (the `n`th of this operation): the token as the
/// password of `x-access-token` when `url` may have it (HTTPS to a host it is meant for,
/// [`Auth::token_for`]; refused tokens are not retried), else git's credential helpers,
/// else the SSH agent and `~/.ssh` keys. The token only ever goes through this callback,
/// never onto a command line.
pub fn credential(
    url: &str,
    user_from_url: Option<&str>,
    allowed: CredentialType,
    n: u32,
    auth: &Auth,
    config: Option<&git2::Config>,
) -> Result<Cred, git2::Error> {
    if n > 4 {
        return Err(git2::Error::from_str("authentication failed"));
    }
    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
        if let Some(token) = auth.token_for(url) {
            // A second request for the same operation means the token was refused.
            if n > 1 {
                return Err(git2::Error::from_str(
                    "authentication failed: the token was rejected",
                ));
            }
            return Cred::userpass_plaintext("x-access-token", token);
        }
        if n == 1 {
            if let Some(c) =
                config.and_then(|cfg| Cred::credential_helper(cfg, url, user_from_url).ok())
            {
                return Ok(c);
            }
        }
        return Err(git2::Error::from_str(&match auth.withheld_from(url) {
            Some(why) => format!("authentication required: {why}"),
            None => "authentication required: set HARBORIZE_GIT_TOKEN or GITHUB_TOKEN".into(),
        }));
    }
    let user = user_from_url.unwrap_or("git");
    if allowed.contains(CredentialType::USERNAME) {
        return Cred::username(user);
    }
    if allowed.contains(CredentialType::SSH_KEY) {
        if n <= 2 {
            if let Ok(c) = Cred::ssh_key_from_agent(user) {
                return Ok(c);
            }
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let key = home.join(".ssh").join(name);
            if key.is_file() {
                return Cred::ssh_key(user, None, &key, None);
            }
        }
    }
    Err(git2::Error::from_str("no usable credentials"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            redact_url("https://x-access-token:abc@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(redact_url("/srv/git/r.git"), "/srv/git/r.git");
    }

    #[test]
    fn the_token_is_offered_over_https_to_its_hosts_only() {
        let env = |k: &str| match k {
            "GITHUB_TOKEN" => Some("s3cret".to_string()),
            "GITHUB_SERVER_URL" => Some("https://GHE.corp.example".to_string()),
            _ => None,
        };
        let a = Auth::from_env(env)
            .allow_hosts(&["git.example.org:8443".into()])
            .unwrap();
        for ok in [
            "https://github.com/o/r.git",
            "https://x-access-token@github.com:443/o/r",
            "https://ghe.corp.example/o/r.git",
            "https://git.example.org:8443/r.git",
        ] {
            assert_eq!(a.token_for(ok), Some("s3cret"), "{ok}");
        }
        for no in [
            "http://github.com/o/r.git",
            "http://git.example.org:8443/r.git",
            "https://github.com.evil.example/o/r",
            "https://evil.example/github.com/o/r",
            "https://git.example.org/r.git",
            "https://ghe.corp.example:8443/o/r.git",
            "ssh://git@github.com/o/r.git",
            "not a url",
        ] {
            assert_eq!(a.token_for(no), None, "{no}");
        }
        assert!(Auth::default().allow_hosts(&["user:pw@h".into()]).is_err());
    }

    #[test]
    fn auth_debug_hides_the_token() {
        let a = Auth::from_env(|k| (k == "GITHUB_TOKEN").then(|| "s3cret".to_string()));
        assert!(!format!("{a:?}").contains("s3cret"));
        assert_eq!(a.redact("x s3cret y"), "x <redacted> y");
    }
}
