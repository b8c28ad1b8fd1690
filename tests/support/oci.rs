//! Tiny but valid container images: a one-file tar layer (gzip, stored
//! blocks), a config JSON with os/architecture and rootfs diff_ids, and an OCI
//! or Docker v2 manifest; plus OCI image indexes. Everything is deterministic:
//! the same inputs give the same digests.

use ring::digest::{digest, SHA256};
use serde_json::json;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The four manifest media types a tag check should send in `Accept`.
pub const MANIFEST_ACCEPT: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let d = digest(&SHA256, bytes);
    let mut s = String::from("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A ustar archive holding one regular file.
pub fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100, "tar name too long");
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], v: u64| {
        let s = format!("{:0width$o}\0", v, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], 0o644); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], content.len() as u64); // size
    octal(&mut h[136..148], 0); // mtime (fixed: deterministic digests)
    h[148..156].copy_from_slice(b"        "); // checksum placeholder
    h[156] = b'0'; // regular file
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let cs = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(cs.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]); // end-of-archive marker
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// gzip (RFC 1952) with deflate stored blocks: valid, uncompressed, deterministic.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    let n = chunks.len();
    for (i, c) in chunks.into_iter().enumerate() {
        out.push(if i + 1 == n { 1 } else { 0 });
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Manifest flavour of a single-platform image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// `application/vnd.oci.image.manifest.v1+json`
    Oci,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    Docker,
}

/// What to build for `push_image_with`.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub format: ManifestFormat,
    pub os: String,
    /// `amd64`, `arm64`, or `arm/v7` style (architecture/variant).
    pub architecture: String,
    /// Content of the single file `/hello.txt`; None derives it from repo:tag
    /// and platform, so different tags and platforms get different digests.
    /// Set it to push a new digest under an existing tag.
    pub content: Option<String>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            format: ManifestFormat::Oci,
            os: "linux".into(),
            architecture: "amd64".into(),
            content: None,
        }
    }
}

/// A built image: blobs to upload first, then the manifest.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub manifest: Vec<u8>,
    pub media_type: &'static str,
    pub digest: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

pub fn build_image(spec: &ImageSpec, default_content: &str) -> BuiltImage {
    let (arch, variant) = match spec.architecture.split_once('/') {
        Some((a, v)) => (a.to_string(), Some(v.to_string())),
        None => (spec.architecture.clone(), None),
    };
    let content = spec
        .content
        .clone()
        .unwrap_or_else(|| default_content.to_string());
    let tar = tar_one_file("hello.txt", format!("{content}\n").as_bytes());
    let diff_id = sha256_digest(&tar);
    let layer = gzip_stored(&tar);
    let layer_digest = sha256_digest(&layer);
    let mut config = json!({
        "architecture": arch,
        "os": spec.os,
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "harborize registry test harness"}],
    });
    if let Some(v) = &variant {
        config["variant"] = json!(v);
    }
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = sha256_digest(&config);
    let (media_type, config_mt, layer_mt) = match spec.format {
        ManifestFormat::Oci => (
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        ManifestFormat::Docker => (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    };
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_mt, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": layer_mt, "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    BuiltImage {
        digest: sha256_digest(&manifest),
        blobs: vec![(config_digest, config), (layer_digest, layer)],
        manifest,
        media_type,
        os: spec.os.clone(),
        architecture: arch,
        variant,
    }
}

/// An OCI image index over already-built images.
pub fn build_index(images: &[BuiltImage]) -> Vec<u8> {
    let manifests: Vec<_> = images
        .iter()
        .map(|img| {
            let mut platform = json!({"architecture": img.architecture, "os": img.os});
            if let Some(v) = &img.variant {
                platform["variant"] = json!(v);
            }
            json!({
                "mediaType": img.media_type,
                "digest": img.digest,
                "size": img.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    serde_json::to_vec_pretty(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
    )
    .unwrap()
}
