//! JSON for tools: the version-1 contracts (`Report`, `ScanOutput`, …) pretty-printed,
//! one document and a newline. serde_json does the escaping.

use std::io::Write;

/// Write `value` as pretty JSON and a newline.
pub fn write(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
