//! The contract check: each recorded exchange against Harbor's own Swagger 2.0 file
//! (`../shared/reference/harbor-swagger-v2.0.yaml`, goharbor/harbor `api/v2.0/swagger.yaml`).
//!
//! For every exchange: the (method, path) is an operation under `basePath`; every query
//! parameter and `X-` request header is a declared parameter of that operation, with its
//! type and bounds (`page_size` ≤ 100); required parameters are present; a request body
//! is the declared `in: body` parameter and matches its schema; the response status is
//! declared, its body matches the declared schema (none declared: no body) and the
//! declared `Location` / `X-Total-Count` headers are there. A schema match resolves
//! `$ref`s (definitions, responses, parameters), checks `required`, every property's type
//! (and `format` int32/int64/date-time, `maxLength`, `maximum`), `x-nullable`, and refuses
//! any property outside the definition.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::Exchange;

pub struct Swagger {
    doc: Value,
    base_path: String,
}

/// What one or more checks found and touched.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<String>,
    /// `#/definitions/X` names a checked value went through.
    pub definitions: BTreeSet<String>,
    /// `METHOD /template` of every checked exchange.
    pub operations: BTreeSet<String>,
}

impl Findings {
    pub fn merge(&mut self, other: Findings) {
        self.errors.extend(other.errors);
        self.definitions.extend(other.definitions);
        self.operations.extend(other.operations);
    }
}

pub fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/harbor-swagger-v2.0.yaml")
}

impl Swagger {
    /// Harbor's Swagger file, parsed once.
    pub fn harbor() -> &'static Swagger {
        static S: OnceLock<Swagger> = OnceLock::new();
        S.get_or_init(|| Swagger::load(&reference_path()))
    }

    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (check out ../shared beside the repository)",
                path.display()
            )
        });
        let doc: Value = serde_yaml_ng::from_str(&text).expect("swagger parses");
        assert_eq!(doc["swagger"], "2.0", "a Swagger 2.0 file");
        let base_path = doc["basePath"].as_str().expect("basePath").to_string();
        Swagger { doc, base_path }
    }

    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    fn pointer(&self, reference: &str) -> Option<&Value> {
        self.doc.pointer(reference.strip_prefix('#')?)
    }

    /// Follow `$ref`s; the names of the definitions passed go to `seen`.
    fn resolve<'a>(&'a self, mut v: &'a Value, seen: &mut BTreeSet<String>) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            if let Some(name) = r.strip_prefix("#/definitions/") {
                seen.insert(name.to_string());
            }
            v = self
                .pointer(r)
                .unwrap_or_else(|| panic!("unresolved $ref {r}"));
        }
        panic!("$ref loop");
    }

    /// The operation for a concrete path (`/api/v2.0/projects/ghcr`): its template and
    /// the operation object. Literal segments win over `{params}`.
    pub fn operation(&self, method: &str, path: &str) -> Option<(String, &Value, &Value)> {
        let rel = path.strip_prefix(&self.base_path)?;
        let segs: Vec<&str> = rel.split('/').collect();
        let mut best: Option<(usize, &String, &Value)> = None;
        for (template, item) in self.doc["paths"].as_object()? {
            let tsegs: Vec<&str> = template.split('/').collect();
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut params = 0;
            let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    params += 1;
                    !s.is_empty()
                } else {
                    t == s
                }
            });
            if fits
                && item.get(method.to_ascii_lowercase()).is_some()
                && best.is_none_or(|(n, _, _)| params < n)
            {
                best = Some((params, template, item));
            }
        }
        let (_, template, item) = best?;
        Some((template.clone(), &item[method.to_ascii_lowercase()], item))
    }

    /// Every parameter of an operation (path item's and operation's), resolved.
    fn parameters<'a>(
        &'a self,
        op: &'a Value,
        item: &'a Value,
        seen: &mut BTreeSet<String>,
    ) -> Vec<&'a Value> {
        let mut out = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")]
            .into_iter()
            .flatten()
        {
            for p in list.as_array().into_iter().flatten() {
                out.push(self.resolve(p, seen));
            }
        }
        out
    }

    /// Check one exchange.
    pub fn check_exchange(&self, ex: &Exchange) -> Findings {
        let mut f = Findings::default();
        let line = ex.line();
        let Some((template, op, item)) = self.operation(&ex.method, &ex.path) else {
            f.errors.push(format!(
                "{line}: no operation {} {} under basePath {} in the swagger paths",
                ex.method, ex.path, self.base_path
            ));
            return f;
        };
        f.operations.insert(format!("{} {template}", ex.method));
        let params = self.parameters(op, item, &mut f.definitions);
        let at = |what: &str| format!("{line}: {what}");

        // Query parameters.
        for (k, v) in &ex.query {
            match params
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == k.as_str())
            {
                Some(p) => self.check_simple(p, v, &at(&format!("query {k}")), &mut f.errors),
                None => f
                    .errors
                    .push(at(&format!("query parameter {k:?} is not declared"))),
            }
        }
        // Header parameters: every X- header the client sent is declared.
        for (k, v) in &ex.request_headers {
            let declared = params.iter().find(|p| {
                p["in"] == "header"
                    && p["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(k))
            });
            match declared {
                Some(p) => self.check_simple(p, v, &at(&format!("header {k}")), &mut f.errors),
                None if k.to_ascii_lowercase().starts_with("x-") => f.errors.push(at(&format!(
                    "request header {k} is not a declared parameter"
                ))),
                None => {}
            }
        }
        // Required parameters and path parameters.
        for p in &params {
            let name = p["name"].as_str().unwrap_or("");
            let required = p["required"] == true;
            let present = match p["in"].as_str() {
                Some("query") => ex.query.iter().any(|(k, _)| k == name),
                Some("header") => ex.request_header(name).is_some(),
                Some("path") => template.contains(&format!("{{{name}}}")),
                Some("body") => !ex.request_body.is_empty(),
                _ => true,
            };
            if required && !present {
                f.errors.push(at(&format!(
                    "required {} parameter {name:?} missing",
                    p["in"]
                )));
            }
        }
        for seg in template.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if !params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name)
                {
                    f.errors
                        .push(at(&format!("path parameter {name} is not declared")));
                }
            }
        }
        // The request body.
        if !ex.request_body.is_empty() {
            match params.iter().find(|p| p["in"] == "body") {
                None => f
                    .errors
                    .push(at("a request body, but the operation declares none")),
                Some(p) => {
                    let ct = ex.request_header("Content-Type").unwrap_or("");
                    if !ct.starts_with("application/json") {
                        f.errors
                            .push(at(&format!("request Content-Type {ct:?}, not JSON")));
                    }
                    match ex.request_json() {
                        Some(body) => {
                            let mut errs = Vec::new();
                            self.check_value(
                                &p["schema"],
                                &body,
                                "request body",
                                &mut errs,
                                &mut f.definitions,
                            );
                            f.errors.extend(errs.into_iter().map(|e| at(&e)));
                        }
                        None => f.errors.push(at("the request body is not JSON")),
                    }
                }
            }
        }
        // The response.
        let status = ex.status.to_string();
        let responses = &op["responses"];
        let declared = responses.get(&status).or_else(|| responses.get("default"));
        let Some(declared) = declared else {
            f.errors.push(at(&format!(
                "response status {status} is not declared for this operation"
            )));
            return f;
        };
        let declared = self.resolve(declared, &mut f.definitions);
        for (name, h) in declared["headers"].as_object().into_iter().flatten() {
            match ex.response_header(name) {
                Some(v) => {
                    self.check_simple(h, v, &at(&format!("response header {name}")), &mut f.errors)
                }
                None if name == "Location" || name == "X-Total-Count" => f
                    .errors
                    .push(at(&format!("declared response header {name} missing"))),
                None => {}
            }
        }
        if ex.method == "HEAD" {
            // A HEAD answer has no body, whatever the schema says.
            return f;
        }
        match declared.get("schema") {
            None => {
                if !ex.response_body.is_empty() {
                    f.errors
                        .push(at("a response body where the operation declares none"));
                }
            }
            Some(schema) => {
                let produces_text = op["produces"]
                    .as_array()
                    .is_some_and(|p| p.iter().all(|m| m == "text/plain"));
                let body = if produces_text {
                    String::from_utf8(ex.response_body.clone())
                        .ok()
                        .map(Value::String)
                } else {
                    ex.response_json()
                };
                match body {
                    Some(body) => {
                        let mut errs = Vec::new();
                        self.check_value(
                            schema,
                            &body,
                            "response body",
                            &mut errs,
                            &mut f.definitions,
                        );
                        f.errors.extend(errs.into_iter().map(|e| at(&e)));
                    }
                    None => f
                        .errors
                        .push(at("the response body does not parse as declared")),
                }
            }
        }
        f
    }

    /// A query/header/path parameter or response header value (strings on the wire).
    fn check_simple(&self, p: &Value, v: &str, at: &str, errs: &mut Vec<String>) {
        match p["type"].as_str() {
            Some("integer") => match v.parse::<i64>() {
                Ok(n) => {
                    if let Some(max) = p["maximum"].as_i64() {
                        if n > max {
                            errs.push(format!("{at}: {n} is above the maximum {max}"));
                        }
                    }
                    if let Some(min) = p["minimum"].as_i64() {
                        if n < min {
                            errs.push(format!("{at}: {n} is below the minimum {min}"));
                        }
                    }
                }
                Err(_) => errs.push(format!("{at}: {v:?} is not an integer")),
            },
            Some("boolean") => {
                if v != "true" && v != "false" {
                    errs.push(format!("{at}: {v:?} is not a boolean"));
                }
            }
            Some("string") | None => {
                if let Some(min) = p["minLength"].as_u64() {
                    if (v.chars().count() as u64) < min {
                        errs.push(format!("{at}: shorter than {min}"));
                    }
                }
            }
            Some(other) => errs.push(format!("{at}: parameter type {other} not handled")),
        }
    }

    /// Check a JSON value against a schema.
    pub fn check_value(
        &self,
        schema: &Value,
        v: &Value,
        at: &str,
        errs: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) {
        let nullable_here = schema.get("x-nullable") == Some(&Value::Bool(true));
        let schema = self.resolve(schema, seen);
        if v.is_null() {
            if !(nullable_here || schema.get("x-nullable") == Some(&Value::Bool(true))) {
                errs.push(format!("{at}: null, and the schema is not x-nullable"));
            }
            return;
        }
        for s in schema["allOf"].as_array().into_iter().flatten() {
            self.check_value(s, v, at, errs, seen);
        }
        let ty = schema["type"].as_str().or_else(|| {
            schema
                .get("properties")
                .or_else(|| schema.get("additionalProperties"))
                .map(|_| "object")
        });
        match ty {
            Some("object") => {
                let Some(obj) = v.as_object() else {
                    errs.push(format!("{at}: expected an object, got {v}"));
                    return;
                };
                for r in schema["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap_or("");
                    if !obj.contains_key(r) {
                        errs.push(format!("{at}: required property {r:?} missing"));
                    }
                }
                let props = schema["properties"].as_object();
                for (k, val) in obj {
                    let here = format!("{at}.{k}");
                    if let Some(ps) = props.and_then(|p| p.get(k)) {
                        self.check_value(ps, val, &here, errs, seen);
                    } else {
                        match schema.get("additionalProperties") {
                            Some(Value::Bool(true)) => {}
                            Some(s) if s.is_object() => self.check_value(s, val, &here, errs, seen),
                            _ => errs
                                .push(format!("{here}: property {k:?} is not in the definition")),
                        }
                    }
                }
            }
            Some("array") => {
                let Some(items) = v.as_array() else {
                    errs.push(format!("{at}: expected an array, got {v}"));
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    self.check_value(&schema["items"], item, &format!("{at}[{i}]"), errs, seen);
                }
            }
            Some("string") => {
                let Some(s) = v.as_str() else {
                    errs.push(format!("{at}: expected a string, got {v}"));
                    return;
                };
                if let Some(max) = schema["maxLength"].as_u64() {
                    if s.chars().count() as u64 > max {
                        errs.push(format!("{at}: longer than maxLength {max}"));
                    }
                }
                if let Some(values) = schema["enum"].as_array() {
                    if !values.iter().any(|e| e == v) {
                        errs.push(format!("{at}: {s:?} is not one of {values:?}"));
                    }
                }
                if schema["format"] == "date-time" && !is_date_time(s) {
                    errs.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
                }
            }
            Some("integer") => {
                let n = v.as_i64().or_else(|| v.as_u64().map(|u| u as i64));
                let Some(n) = n else {
                    errs.push(format!("{at}: expected an integer, got {v}"));
                    return;
                };
                if schema["format"] == "int32" && i32::try_from(n).is_err() {
                    errs.push(format!("{at}: {n} does not fit int32"));
                }
                if let Some(max) = schema["maximum"].as_i64() {
                    if n > max {
                        errs.push(format!("{at}: {n} is above the maximum {max}"));
                    }
                }
            }
            Some("number") => {
                if !v.is_number() {
                    errs.push(format!("{at}: expected a number, got {v}"));
                }
            }
            Some("boolean") => {
                if !v.is_boolean() {
                    errs.push(format!("{at}: expected a boolean, got {v}"));
                }
            }
            Some("file") | None => {}
            Some(other) => errs.push(format!("{at}: schema type {other} not handled")),
        }
    }
}

/// `2026-08-21T10:00:00Z`, `...00.000Z`, `...00+02:00`.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains(['+', '-']))
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit))
}

/// Check every exchange.
pub fn check_all(exchanges: &[Exchange]) -> Findings {
    let swagger = Swagger::harbor();
    let mut all = Findings::default();
    for ex in exchanges {
        all.merge(swagger.check_exchange(ex));
    }
    all
}
