//! Reading and writing files safely: bytes in, atomic replace out.
//!
//! A write goes to a temporary file in the same directory and is renamed over the
//! original, so a crash or a full disk never leaves a half-written manifest; the
//! original's permissions are kept.

use std::io::Write;
use std::path::Path;

/// Files larger than this are not parsed unless the config says otherwise: the YAML tree
/// costs a multiple of the file's size, and manifests this large are generated output.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

static MAX_FILE_SIZE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Set the size limit for this process (from `max_file_size` in harborize.yaml), once,
/// when the configuration is loaded; later calls keep the first value.
pub fn set_max_file_size(bytes: u64) {
    let _ = MAX_FILE_SIZE.set(bytes);
}

/// The size limit in force.
pub fn max_file_size() -> u64 {
    *MAX_FILE_SIZE.get().unwrap_or(&DEFAULT_MAX_FILE_SIZE)
}

/// Read a file, or say why it is skipped: `Ok(None)` with a note when it is larger than
/// the limit (checked before reading, so a huge file costs nothing).
pub fn read_limited(path: &Path) -> std::io::Result<Result<Vec<u8>, String>> {
    let limit = max_file_size();
    let size = std::fs::metadata(path)?.len();
    if size > limit {
        return Ok(Err(format!(
            "{size} bytes, larger than max_file_size ({limit} bytes): skipped (raise max_file_size in harborize.yaml to include it)"
        )));
    }
    std::fs::read(path).map(Ok)
}

/// What a file turned out to hold.
pub enum Content {
    Text { text: String, bom: bool },
    Binary,
    NotUtf8,
}

/// Classify bytes: binary (NUL byte), not UTF-8, or text with an optional BOM stripped.
pub fn decode(bytes: Vec<u8>) -> Content {
    if memchr::memchr(0, &bytes).is_some() {
        return Content::Binary;
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            let bom = text.starts_with('\u{feff}');
            if bom {
                text.drain(..3);
            }
            Content::Text { text, bom }
        }
        Err(_) => Content::NotUtf8,
    }
}

/// Replace `path` atomically with `text` (plus the BOM when the original had one).
pub fn write_atomic(path: &Path, text: &str, bom: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = tempfile::Builder::new()
        .prefix(".harborize-")
        .tempfile_in(dir)?;
    if bom {
        tmp.write_all("\u{feff}".as_bytes())?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), permissions)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
