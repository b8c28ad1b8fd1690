//! Registry credentials: from `HARBORIZE_USERNAME` / `HARBORIZE_PASSWORD`, or from a docker
//! `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). Never from a
//! command-line argument, and never printed: `Debug` redacts the secret.
//!
//! The environment is read by the command (`commands::settings`), which hands the values
//! here as [`CredentialSources`]: this module reads files, never the process environment.

use std::fmt;
use std::path::PathBuf;

use base64::Engine;

/// A user (or robot account, `robot$name`) and its secret.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
    /// Where they came from, for messages.
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <redacted>, source: {:?} }}",
            self.username, self.source
        )
    }
}

/// Where [`Credentials::discover`] looks, as the command read it from its environment:
/// `HARBORIZE_USERNAME` / `HARBORIZE_PASSWORD` first, then the docker config.
#[derive(Clone, Default)]
pub struct CredentialSources {
    pub username: Option<String>,
    pub password: Option<String>,
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

impl fmt::Debug for CredentialSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSources")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("docker_config", &self.docker_config)
            .finish()
    }
}

impl CredentialSources {
    /// The sources as `env` (a variable lookup) names them; empty values count as unset.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| env(name).filter(|s| !s.is_empty());
        let docker_config = match var("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => var("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
        };
        CredentialSources {
            username: var("HARBORIZE_USERNAME"),
            password: var("HARBORIZE_PASSWORD"),
            docker_config,
        }
    }
}

impl Credentials {
    pub fn new(username: &str, password: &str, source: &str) -> Self {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            source: source.to_string(),
        }
    }

    /// The secret, for building an Authorization header only.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `Basic base64(user:password)`.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Look up credentials for `host`: the variables first, then docker's config.json.
    pub fn discover(host: &str, sources: &CredentialSources) -> Result<Option<Self>, String> {
        match (sources.username.clone(), sources.password.clone()) {
            (Some(u), Some(p)) => {
                return Ok(Some(Credentials::new(
                    &u,
                    &p,
                    "HARBORIZE_USERNAME/HARBORIZE_PASSWORD",
                )))
            }
            (Some(_), None) => {
                return Err("HARBORIZE_USERNAME is set but HARBORIZE_PASSWORD is not".into())
            }
            (None, Some(_)) => {
                return Err("HARBORIZE_PASSWORD is set but HARBORIZE_USERNAME is not".into())
            }
            (None, None) => {}
        }
        let Some(path) = sources.docker_config.clone() else {
            return Ok(None);
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
        let auths = &json["auths"];
        for key in [
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ] {
            let entry = &auths[key.as_str()];
            if entry.is_null() {
                continue;
            }
            let source = format!("{} (auths.{key})", path.display());
            if let Some(auth) = entry["auth"].as_str() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth)
                    .map_err(|_| format!("{source}: auth is not base64"))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| format!("{source}: auth is not UTF-8"))?;
                let (u, p) = decoded
                    .split_once(':')
                    .ok_or_else(|| format!("{source}: auth is not user:password"))?;
                return Ok(Some(Credentials::new(u, p, &source)));
            }
            if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
                return Ok(Some(Credentials::new(u, p, &source)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials::new("robot$ci", "s3cr3t-value", "test");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("robot$ci"));
        let sources = CredentialSources::from_env(|k| {
            (k == "HARBORIZE_PASSWORD").then(|| "s3cr3t-value".to_string())
        });
        assert!(!format!("{sources:?}").contains("s3cr3t-value"));
    }

    /// The variables are the command's to read: the lookup is given, and what it gives
    /// decides (an unset or empty half of the pair is refused, the docker config follows
    /// DOCKER_CONFIG, else HOME).
    #[test]
    fn credentials_come_from_the_sources_given() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = CredentialSources::from_env(env(&[
            ("HARBORIZE_USERNAME", "admin"),
            ("HARBORIZE_PASSWORD", "pw"),
        ]));
        let c = Credentials::discover("h.example", &s).unwrap().unwrap();
        assert_eq!(c.username, "admin");
        assert_eq!(c.password(), "pw");
        let s = CredentialSources::from_env(env(&[
            ("HARBORIZE_USERNAME", "admin"),
            ("HARBORIZE_PASSWORD", ""),
        ]));
        assert!(Credentials::discover("h.example", &s).is_err());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"h.example":{"username":"u","password":"p"}}}"#,
        )
        .unwrap();
        let docker = dir.path().to_str().unwrap().to_string();
        let s =
            CredentialSources::from_env(move |k| (k == "DOCKER_CONFIG").then(|| docker.clone()));
        let c = Credentials::discover("h.example", &s).unwrap().unwrap();
        assert_eq!(c.username, "u");
        let s = CredentialSources::from_env(|k| (k == "HOME").then(|| "/nonexistent-home".into()));
        assert_eq!(
            s.docker_config.as_deref(),
            Some(std::path::Path::new(
                "/nonexistent-home/.docker/config.json"
            ))
        );
        assert!(Credentials::discover("h.example", &s).unwrap().is_none());
    }
}
