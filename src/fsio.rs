//! Reading and writing files safely: bytes in, atomic replace out.
//!
//! A write goes to a temporary file in the same directory and is renamed over the
//! original, so a crash or a full disk never leaves a half-written manifest; the
//! original's permissions are kept.

use std::io::Write;
use std::path::Path;

/// What a file turned out to hold.
pub enum Content {
    Text {
        text: String,
        bom: bool,
    },
    /// UTF-16 with a byte-order mark (YAML allows it): decoded so callers can tell a
    /// manifest from other text, but not written back (see [`decode`]).
    Utf16 {
        text: String,
        big_endian: bool,
    },
    Binary,
    NotUtf8,
}

/// Classify bytes: UTF-16 with a BOM, binary (NUL byte), not UTF-8, or text with an
/// optional BOM stripped. UTF-16 is decoded but only reported: writing it back would need
/// an encoder of its own for files that are vanishingly rare in GitOps repositories, and a
/// manifest harborize cannot edit must fail `check`, not pass it silently.
pub fn decode(bytes: Vec<u8>) -> Content {
    if let Some(utf16) = decode_utf16(&bytes) {
        return utf16;
    }
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

/// UTF-16 text after a BOM (`FF FE` little-endian, `FE FF` big-endian); `None` without a
/// BOM, and binary when the rest is not valid UTF-16.
fn decode_utf16(bytes: &[u8]) -> Option<Content> {
    let big_endian = match bytes {
        [0xFF, 0xFE, ..] => false,
        [0xFE, 0xFF, ..] => true,
        _ => return None,
    };
    let body = &bytes[2..];
    if !body.len().is_multiple_of(2) {
        return Some(Content::Binary);
    }
    let units = body.chunks_exact(2).map(|p| {
        if big_endian {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            u16::from_le_bytes([p[0], p[1]])
        }
    });
    Some(
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_or(Content::Binary, |text| Content::Utf16 { text, big_endian }),
    )
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
