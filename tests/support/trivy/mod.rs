//! Test harness for `harborize scan`: the real Trivy and the real registry.
//!
//! - [`build_db`]: a tiny valid Trivy vulnerability DB (bbolt via bbolt-rs with `compat`,
//!   plus metadata.json) from the planted advisories in `fixtures/trivy/advisories.json`.
//! - [`AlpineImage`]: a deterministic Alpine-like image (`etc/alpine-release`,
//!   `lib/apk/db/installed`) pushed with the registry HTTP API.
//! - Images are pushed to `support::registry::Registry` (a plain `docker-registry`);
//!   [`fixture::ScanFixture`] is the registry with the planted image the scan tests share.
//! - [`TrivyServer`]: `trivy server` on a free port; stopped on drop.
//! - [`wrapper`]: a `trivy` wrapper script that records each invocation's argv and the names
//!   of its environment variables, then execs the real Trivy.
#![allow(dead_code)]

pub mod fixture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bbolt_rs::{BucketRwApi, DbRwAPI, TxRwRefApi};
use serde_json::{json, Value};

pub use crate::support::registry::plain::{PASSWORD, USER};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn trivy_bin() -> PathBuf {
    crate::support::common::tool("trivy")
}

pub use crate::support::common::free_port;

/// `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::from("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

// ---------------------------------------------------------------------------------------
// Trivy DB

/// Write `CACHE/db/trivy.db` and `CACHE/db/metadata.json` from the planted advisories.
pub fn build_db(cache_dir: &Path) {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/trivy/advisories.json")).unwrap(),
    )
    .unwrap();
    build_db_from(cache_dir, &spec);
}

pub fn build_db_from(cache_dir: &Path, spec: &Value) {
    let db_dir = cache_dir.join("db");
    std::fs::create_dir_all(&db_dir).unwrap();
    let path = db_dir.join("trivy.db");
    let _ = std::fs::remove_file(&path);
    let puts = spec["puts"].as_array().expect("puts").clone();
    {
        let mut db = bbolt_rs::Bolt::open(&path).expect("open bbolt file");
        db.update(|mut tx| {
            for p in &puts {
                let buckets: Vec<&str> = p["bucket"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_str().unwrap())
                    .collect();
                let key = p["key"].as_str().unwrap();
                let value = serde_json::to_vec(&p["value"]).unwrap();
                let mut bucket = tx.create_bucket_if_not_exists(buckets[0])?;
                match buckets.len() {
                    1 => bucket.put(key, &value)?,
                    2 => {
                        let mut nested = bucket.create_bucket_if_not_exists(buckets[1])?;
                        nested.put(key, &value)?
                    }
                    n => panic!("bucket depth {n} not supported"),
                }
            }
            Ok(())
        })
        .expect("write the DB");
    }
    std::fs::write(
        db_dir.join("metadata.json"),
        serde_json::to_vec(&spec["metadata"]).unwrap(),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------
// Images

/// A ustar archive of regular files (fixed mode, owner and mtime: deterministic).
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        assert!(name.len() < 100, "tar name too long");
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |field: &mut [u8], v: u64| {
            let s = format!("{:0width$o}\0", v, width = field.len() - 1);
            field.copy_from_slice(s.as_bytes());
        };
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], content.len() as u64);
        octal(&mut h[136..148], 1_704_067_200);
        h[148..156].copy_from_slice(b"        ");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    crc ^ 0xFFFF_FFFF
}

/// gzip with stored deflate blocks: valid, deterministic, no compressor needed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    let n = chunks.len();
    for (i, c) in chunks.into_iter().enumerate() {
        out.push(u8::from(i + 1 == n));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// An Alpine-like image: `etc/alpine-release` and an apk database, plus extra files.
#[derive(Clone, Debug)]
pub struct AlpineImage {
    /// `None`: no OS files at all (Trivy detects no OS and reports no `Results`).
    pub release: Option<String>,
    /// (name, version): each package is its own origin.
    pub packages: Vec<(String, String)>,
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// The config's `architecture` (default `amd64`).
    pub arch: String,
}

/// A built image: blobs and manifest.
pub struct Built {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl AlpineImage {
    pub fn new(release: &str, packages: &[(&str, &str)]) -> Self {
        AlpineImage {
            release: Some(release.to_string()),
            packages: packages
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            extra_files: Vec::new(),
            arch: "amd64".to_string(),
        }
    }

    pub fn without_os() -> Self {
        AlpineImage {
            release: None,
            packages: Vec::new(),
            extra_files: vec![("app/hello.txt".into(), b"hello\n".to_vec())],
            arch: "amd64".to_string(),
        }
    }

    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.to_string();
        self
    }

    pub fn with_file(mut self, path: &str, content: &[u8]) -> Self {
        self.extra_files.push((path.to_string(), content.to_vec()));
        self
    }

    pub fn build(&self) -> Built {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(r) = &self.release {
            files.push(("etc/alpine-release".into(), format!("{r}\n").into_bytes()));
            let mut installed = String::new();
            for (name, version) in &self.packages {
                installed.push_str(&format!(
                    "P:{name}\nV:{version}\nA:x86_64\nT:{name} (test package)\nL:MIT\no:{name}\nF:lib\nR:{name}.so\n\n"
                ));
            }
            files.push(("lib/apk/db/installed".into(), installed.into_bytes()));
        }
        files.extend(self.extra_files.iter().cloned());
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect();
        let tar = tar(&refs);
        let layer = gzip(&tar);
        let config = serde_json::to_vec(&json!({
            "architecture": self.arch,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "harborize tests"}]
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": sha256(&layer), "size": layer.len()}]
        }))
        .unwrap();
        let digest = sha256(&manifest);
        Built {
            layer,
            config,
            manifest,
            digest,
        }
    }
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Status of a plain GET (no auth).
pub fn http_status(url: &str) -> Result<u16, String> {
    let url = url.to_string();
    block_on(async move {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

// ---------------------------------------------------------------------------------------
// Trivy server and wrapper

/// `trivy server --listen 127.0.0.1:PORT --cache-dir CACHE --skip-db-update [--token T]`.
pub struct TrivyServer {
    pub url: String,
    child: Child,
}

impl TrivyServer {
    pub fn start(cache_dir: &Path, token: Option<&str>, log: &Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new(trivy_bin());
        cmd.args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--skip-db-update",
            "--cache-dir",
        ])
        .arg(cache_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
        if let Some(t) = token {
            // The token goes by environment here too, like harborize does for the client.
            cmd.env("TRIVY_TOKEN", t);
        }
        let child = cmd.spawn().expect("start trivy server");
        let mut server = TrivyServer {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "trivy server exited ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if http_status(&format!("{}/healthz", server.url)) == Ok(200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = server.child.kill();
        panic!(
            "trivy server did not answer /healthz: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Drop for TrivyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `trivy` wrapper in `dir` that appends one line per invocation to `dir/calls.log`:
/// the argv (tab-separated) and the names of the environment variables, then execs the
/// real Trivy. Returns the wrapper's path.
pub fn wrapper(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("calls.log");
    let script = format!(
        "#!/bin/sh\n\
         line=\"ARGV\"\n\
         for a in \"$@\"; do line=\"$line\t$a\"; done\n\
         names=$(env | cut -d= -f1 | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort | tr '\\n' ' ')\n\
         printf '%s\\tENV %s\\n' \"$line\" \"$names\" >> '{}'\n\
         exec '{}' \"$@\"\n",
        log.display(),
        trivy_bin().display()
    );
    let path = dir.join("trivy");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(script.as_bytes()).unwrap();
    drop(f);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A `trivy` wrapper in `dir` that appends its whole environment, exactly as the kernel
/// handed it over (`/proc/$$/environ`: names with `-` included, values included), to
/// `dir/environ.log`, then execs the real Trivy. Returns the wrapper's path.
pub fn environ_wrapper(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        r#"#!/bin/sh
{{ tr '\000' '\n' < /proc/$$/environ; echo '-- end'; }} >> '{}'
exec '{}' "$@"
"#,
        dir.join("environ.log").display(),
        trivy_bin().display()
    );
    let path = dir.join("trivy");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// One recorded invocation of the wrapper.
#[derive(Debug, Clone)]
pub struct Call {
    pub argv: Vec<String>,
    pub env_names: Vec<String>,
}

impl Call {
    pub fn is_scan(&self) -> bool {
        self.argv.first().map(String::as_str) == Some("image")
            && !self.argv.iter().any(|a| a == "--download-db-only")
    }
}

pub fn calls(dir: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (argv, env) = l.split_once("\tENV ").unwrap_or((l, ""));
            let argv: Vec<String> = argv.split('\t').skip(1).map(str::to_string).collect();
            Call {
                argv,
                env_names: env.split_whitespace().map(str::to_string).collect(),
            }
        })
        .collect()
}
