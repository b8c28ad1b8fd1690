//! The warm report as text (one line per image, then the totals), JSON (the
//! [`WarmReport`] contract) or Markdown (a table for a job summary or a pull request).

use crate::report::escape_markdown_cell;
use std::io::Write;

use super::{ImageReport, WarmOutcome, WarmReport};
use crate::report::escape_text;

/// How the warm report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WarmFormat {
    Text,
    Json,
    Markdown,
}

/// `12.3 MB`-style sizes (decimal units, as registries and `skopeo` print them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl WarmReport {
    /// Write the report in `format`.
    pub fn render(&self, format: WarmFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            WarmFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, self)?;
                writeln!(out)
            }
            WarmFormat::Text => self.text(out),
            WarmFormat::Markdown => self.markdown(out),
        }
    }

    /// One line of totals (what the commands print on stderr).
    pub fn totals(&self) -> String {
        let s = &self.summary;
        format!(
            "warm: {} image(s), {} warmed, {} failed; {} blob(s), {} downloaded in {:.2} s ({} requests)",
            s.images,
            s.warmed,
            s.failed,
            s.blobs_downloaded,
            human_bytes(s.bytes_downloaded),
            s.seconds,
            s.requests
        )
    }

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut buf = String::new();
        for i in &self.images {
            let state = match i.outcome {
                WarmOutcome::Warmed => "warmed",
                WarmOutcome::Failed => "FAILED",
            };
            buf.push_str(&format!("{state:<7} {}", escape_text(&i.image)));
            if i.outcome == WarmOutcome::Warmed {
                buf.push_str(&format!(
                    "  {}  {} blob(s), {}, {:.2} s{}",
                    platforms(i),
                    i.blobs,
                    human_bytes(i.bytes),
                    i.seconds,
                    extras(i)
                ));
            }
            if let Some(e) = &i.error {
                buf.push_str(&format!("  {}", escape_text(e)));
            }
            buf.push('\n');
        }
        buf.push_str(&self.totals());
        buf.push('\n');
        out.write_all(buf.as_bytes())
    }

    fn markdown(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut buf = String::from(
            "| image | result | platforms | blobs | size | seconds | shared | already cached |\n\
             |---|---|---|---:|---:|---:|---:|---:|\n",
        );
        for i in &self.images {
            let result = match (&i.outcome, &i.error) {
                (WarmOutcome::Warmed, _) => "warmed".to_string(),
                (WarmOutcome::Failed, Some(e)) => format!("failed: {}", escape_markdown_cell(e)),
                (WarmOutcome::Failed, None) => "failed".to_string(),
            };
            buf.push_str(&format!(
                "| `{}` | {result} | {} | {} | {} | {:.2} | {} | {} |\n",
                escape_markdown_cell(&i.image),
                escape_markdown_cell(&platforms(i)),
                i.blobs,
                human_bytes(i.bytes),
                i.seconds,
                i.shared,
                i.already_cached
            ));
        }
        buf.push_str(&format!("\n{}\n", escape_markdown_cell(&self.totals())));
        out.write_all(buf.as_bytes())
    }
}

fn platforms(i: &ImageReport) -> String {
    let mut s = if i.platforms.is_empty() {
        "single-platform".to_string()
    } else {
        i.platforms.join(",")
    };
    if !i.missing_platforms.is_empty() {
        s.push_str(&format!(" (index lacks {})", i.missing_platforms.join(",")));
    }
    s
}

fn extras(i: &ImageReport) -> String {
    let mut parts = Vec::new();
    if i.shared > 0 {
        parts.push(format!("{} shared", i.shared));
    }
    if i.already_cached > 0 {
        parts.push(format!("{} already cached", i.already_cached));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_decimal() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(20_000_000), "20.0 MB");
    }
}
