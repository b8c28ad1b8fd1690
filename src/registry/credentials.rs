//! Registry credentials: from `HARBORIZE_USERNAME` / `HARBORIZE_PASSWORD`, or from a docker
//! `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). Never from a
//! command-line argument, and never printed: `Debug` redacts the secret.

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

    /// Look up credentials for `host`: environment first, then docker's config.json.
    pub fn discover(host: &str) -> Result<Option<Self>, String> {
        let user = std::env::var("HARBORIZE_USERNAME")
            .ok()
            .filter(|s| !s.is_empty());
        let pass = std::env::var("HARBORIZE_PASSWORD")
            .ok()
            .filter(|s| !s.is_empty());
        match (user, pass) {
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
        let Some(path) = docker_config_path() else {
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

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
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
    }
}
