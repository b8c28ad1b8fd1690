//! The contract check for the local GitHub service: every recorded exchange against GitHub's
//! own REST API description, the part of it harborize uses, kept beside this file in
//! `github-openapi-subset.json` (extracted from github/rest-api-description; see
//! `SOURCES.md` there). Harbor's Swagger gets the same treatment in `support::harbor`.
//!
//! For every exchange: the (method, path) is one of the operations in the subset; a request
//! body is the operation's declared `requestBody` and matches its schema, with no property
//! the schema does not declare (GitHub ignores unknown fields silently, so a misspelt or
//! extra field would go unnoticed against the real service); the response status is
//! declared for the operation, and its body matches the declared schema (none declared: no
//! body). GitHub answers `401` and `404` on every endpoint although the description lists
//! them only where an operation documents them: those bodies are checked against the
//! description's own `requires_authentication` and `not_found` responses.
//!
//! A schema match resolves `$ref`s, checks `type` (OpenAPI 3.0 `nullable`), `required`,
//! `properties`, `items`, `enum`, `oneOf`/`anyOf` and the `date-time` format. A `$ref` to a
//! schema the subset does not hold is an error naming it (extract it, never guess it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::Exchange;

/// The subset of GitHub's REST API description.
pub struct Contract {
    doc: Value,
}

/// What the checks found and which parts of the description they went through.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<String>,
    /// `METHOD /template STATUS` of every checked exchange.
    pub operations: BTreeSet<String>,
    /// `#/components/schemas/X` names a checked value went through.
    pub schemas: BTreeSet<String>,
}

/// Where the subset lives.
pub fn subset_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/github/github-openapi-subset.json")
}

impl Contract {
    /// The subset, parsed once.
    pub fn github() -> &'static Contract {
        static C: OnceLock<Contract> = OnceLock::new();
        C.get_or_init(|| {
            let path = subset_path();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let doc =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Contract { doc }
        })
    }

    /// Follow `$ref`s (`#/components/...`); None when the target is not in the subset.
    fn resolve<'a>(&'a self, mut v: &'a Value, found: &mut Findings) -> Result<&'a Value, String> {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            if let Some(name) = r.strip_prefix("#/components/schemas/") {
                found.schemas.insert(name.to_string());
            }
            v = r
                .strip_prefix('#')
                .and_then(|p| self.doc.pointer(p))
                .ok_or_else(|| {
                    format!("{r} is not in the subset: extract it from GitHub's description")
                })?;
        }
        Err("$ref loop".into())
    }

    /// The operation for `method path` (the path after any `/api/v3` prefix).
    fn operation(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let path = &path[path.find("/repos/")?..];
        let actual: Vec<&str> = path.split('/').collect();
        for (template, item) in self.doc["paths"].as_object()? {
            let want: Vec<&str> = template.split('/').collect();
            let matches = want.len() == actual.len()
                && want.iter().zip(&actual).all(|(w, a)| {
                    if w == &"{pull_number}" {
                        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit())
                    } else if w.starts_with('{') {
                        !a.is_empty()
                    } else {
                        w == a
                    }
                });
            if matches {
                let op = item.get(method.to_ascii_lowercase())?;
                return Some((template.clone(), op));
            }
        }
        None
    }

    /// Check one exchange (request and response).
    pub fn check_exchange(&self, ex: &Exchange) -> Findings {
        let mut f = Findings::default();
        let at = format!("{} {} -> {}", ex.method, ex.path, ex.status);
        let Some((template, op)) = self.operation(&ex.method, &ex.path) else {
            f.errors
                .push(format!("{at}: not an operation of the subset"));
            return f;
        };
        f.operations
            .insert(format!("{} {template} {}", ex.method, ex.status));
        self.check_request(op, ex, &at, &mut f);
        self.check_response(op, ex, &at, &mut f);
        f
    }

    fn check_request(&self, op: &Value, ex: &Exchange, at: &str, f: &mut Findings) {
        let declared = op
            .pointer("/requestBody/content/application~1json/schema")
            .cloned();
        match (declared, ex.body.is_empty()) {
            (None, true) => {}
            (None, false) => f
                .errors
                .push(format!("{at}: a request body, none declared")),
            (Some(_), true) => {
                if op.pointer("/requestBody/required") == Some(&Value::Bool(true)) {
                    f.errors
                        .push(format!("{at}: the request body is required but empty"));
                }
            }
            (Some(schema), false) => match serde_json::from_slice::<Value>(&ex.body) {
                Ok(body) => self.check_value(&schema, &body, &format!("{at}: request"), true, f),
                Err(e) => f
                    .errors
                    .push(format!("{at}: request body is not JSON: {e}")),
            },
        }
    }

    fn check_response(&self, op: &Value, ex: &Exchange, at: &str, f: &mut Findings) {
        let status = ex.status.to_string();
        let common = match ex.status {
            401 => Some("requires_authentication"),
            404 => Some("not_found"),
            _ => None,
        };
        let declared = op["responses"].get(&status).or_else(|| {
            common.and_then(|name| self.doc.pointer(&format!("/components/responses/{name}")))
        });
        let Some(declared) = declared else {
            f.errors.push(format!(
                "{at}: status {status} is not declared for the operation"
            ));
            return;
        };
        let response = match self.resolve_response(declared) {
            Ok(r) => r,
            Err(e) => return f.errors.push(format!("{at}: {e}")),
        };
        match response.pointer("/content/application~1json/schema") {
            None if ex.response_body.is_empty() => {}
            None => f
                .errors
                .push(format!("{at}: a response body, none declared")),
            Some(schema) => match serde_json::from_slice::<Value>(&ex.response_body) {
                Ok(body) => self.check_value(schema, &body, &format!("{at}: response"), false, f),
                Err(e) => f
                    .errors
                    .push(format!("{at}: response body is not JSON: {e}")),
            },
        }
    }

    fn resolve_response<'a>(&'a self, mut v: &'a Value) -> Result<&'a Value, String> {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = r
                .strip_prefix('#')
                .and_then(|p| self.doc.pointer(p))
                .ok_or_else(|| format!("{r} is not in the subset"))?;
        }
        Ok(v)
    }

    /// Check `v` against `schema` at `at`. `strict`: properties the schema does not declare
    /// are errors (request bodies: what harborize sends must be documented).
    pub fn check_value(&self, schema: &Value, v: &Value, at: &str, strict: bool, f: &mut Findings) {
        let schema = match self.resolve(schema, f) {
            Ok(s) => s,
            Err(e) => return f.errors.push(format!("{at}: {e}")),
        };
        if v.is_null() {
            let nullable = schema["nullable"] == Value::Bool(true)
                || schema["oneOf"]
                    .as_array()
                    .is_some_and(|alts| alts.iter().any(|a| a["nullable"] == Value::Bool(true)));
            if !nullable {
                f.errors
                    .push(format!("{at}: null, the schema is not nullable"));
            }
            return;
        }
        if let Some(alts) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
            let fits = alts.iter().any(|alt| {
                let mut trial = Findings::default();
                self.check_value(alt, v, at, strict, &mut trial);
                trial.errors.is_empty()
            });
            if !fits {
                f.errors
                    .push(format!("{at}: {v} matches none of the alternatives"));
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(v) {
                f.errors
                    .push(format!("{at}: {v} is not one of {allowed:?}"));
            }
        }
        match schema["type"].as_str() {
            Some("object") => self.check_object(schema, v, at, strict, f),
            Some("array") => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(&schema["items"], item, &format!("{at}[{i}]"), strict, f);
                    }
                }
                None => f.errors.push(format!("{at}: {v} is not an array")),
            },
            Some("string") => match v.as_str() {
                Some(s) if schema["format"] == "date-time" && !is_date_time(s) => {
                    f.errors.push(format!("{at}: {s:?} is not a date-time"))
                }
                Some(_) => {}
                None => f.errors.push(format!("{at}: {v} is not a string")),
            },
            Some("integer") if !(v.is_i64() || v.is_u64()) => {
                f.errors.push(format!("{at}: {v} is not an integer"))
            }
            Some("number") if !v.is_number() => f.errors.push(format!("{at}: {v} is not a number")),
            Some("boolean") if !v.is_boolean() => {
                f.errors.push(format!("{at}: {v} is not a boolean"))
            }
            _ => {}
        }
    }

    fn check_object(&self, schema: &Value, v: &Value, at: &str, strict: bool, f: &mut Findings) {
        let Some(obj) = v.as_object() else {
            return f.errors.push(format!("{at}: {v} is not an object"));
        };
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !obj.contains_key(key) {
                f.errors.push(format!("{at}: required `{key}` is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (key, value) in obj {
            match props.and_then(|p| p.get(key)) {
                Some(s) => self.check_value(s, value, &format!("{at}.{key}"), strict, f),
                None if strict => f
                    .errors
                    .push(format!("{at}: `{key}` is not a documented property")),
                None => {}
            }
        }
    }
}

/// RFC 3339 date-time as GitHub writes it (`2011-01-26T19:01:12Z`, offsets allowed).
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains(['+', '-']))
}

/// Check every exchange; the findings of all of them.
pub fn check_all(exchanges: &[Exchange]) -> Findings {
    let contract = Contract::github();
    let mut all = Findings::default();
    for ex in exchanges {
        let f = contract.check_exchange(ex);
        all.errors.extend(f.errors);
        all.operations.extend(f.operations);
        all.schemas.extend(f.schemas);
    }
    all
}
