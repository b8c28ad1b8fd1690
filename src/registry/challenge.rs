//! `WWW-Authenticate` challenges (RFC 7235 auth-params), as registries send them:
//! `Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:p/r:pull"`.

use std::collections::BTreeMap;

/// A parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Parse the first challenge of a header value; `None` when it is neither Bearer nor Basic.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = auth_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `key=value` or `key="quoted, value"` pairs separated by commas.
fn auth_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[key_start..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = s[i..].chars().next().unwrap_or('\0');
                v.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
            v
        } else {
            let start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            s[start..i].trim().to_string()
        };
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_and_docker_hub_challenges() {
        let c = parse(
            r#"Bearer realm="https://h.example.com/service/token",service="harbor-registry",scope="repository:p/r:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://h.example.com/service/token".into(),
                service: Some("harbor-registry".into()),
                scope: Some("repository:p/r:pull".into()),
            })
        );
        let c =
            parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#)
                .unwrap();
        assert!(matches!(c, Challenge::Bearer { scope: None, .. }));
        assert_eq!(parse(r#"Basic realm="harbor""#), Some(Challenge::Basic));
        assert_eq!(parse("Negotiate"), None);
        let c = parse(r#"bearer realm=https://x/token, scope="a:b:pull c:d:pull""#).unwrap();
        assert!(matches!(c, Challenge::Bearer { scope: Some(s), .. } if s == "a:b:pull c:d:pull"));
    }
}
