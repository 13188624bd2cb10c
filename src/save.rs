//! `oslo-listen --save DIR`: each notification as a file of its own, holding the same JSON
//! object as a `--format json` line, so that `oslo-notify --replay DIR` can send them again.
//!
//! Files are named `<timestamp>-<message_id>.json` (the timestamp's digits, so that names
//! sort in time order), written under a temporary name and renamed, so a reader never sees
//! half a file. A notification delivered twice lands in the same file.

use crate::output::{OutputFormat, Printer, Received};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where notifications are saved, and how (secrets masked unless the printer shows them).
#[derive(Debug, Clone)]
pub struct SaveDir {
    dir: PathBuf,
    printer: Printer,
}

/// The file name for a notification: `20261125T084145.339791-<message_id>.json`, with any
/// character of the message_id other than letters, digits, `-`, `_` and `.` replaced by `_`.
///
/// ```
/// use oslo_notify::save::file_name;
///
/// assert_eq!(
///     file_name("2026-11-25 08:41:45.339791", "e1d4f970-b543"),
///     "20261125T084145.339791-e1d4f970-b543.json"
/// );
/// assert_eq!(file_name("2026-11-25 08:41:45", "../x y"), "20261125T084145-.._x_y.json");
/// ```
pub fn file_name(timestamp: &str, message_id: &str) -> String {
    let mut name = String::with_capacity(timestamp.len() + message_id.len() + 8);
    for c in timestamp.chars() {
        match c {
            '0'..='9' | '.' => name.push(c),
            ' ' | 'T' => name.push('T'),
            _ => {}
        }
    }
    name.push('-');
    name.extend(message_id.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '_'
        }
    }));
    name.push_str(".json");
    name
}

impl SaveDir {
    /// Creates `dir` when missing.
    pub fn create(dir: &Path, show_secrets: bool) -> Result<SaveDir> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the --save directory {}", dir.display()))?;
        Ok(SaveDir {
            dir: dir.to_owned(),
            printer: Printer {
                format: OutputFormat::Json,
                show_secrets,
                ..Printer::default()
            },
        })
    }

    /// Writes one notification's file; returns its path.
    pub fn save(&self, received: &Received) -> Result<PathBuf> {
        let n = received.notification;
        let name = file_name(&n.timestamp, &n.message_id);
        let path = self.dir.join(&name);
        let partial = self.dir.join(format!(".{name}.partial"));
        let mut text = Vec::with_capacity(received.body.len() + 256);
        self.printer.write(&mut text, received)?;
        std::fs::write(&partial, &text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .with_context(|| format!("saving {}", path.display()))?;
        Ok(path)
    }
}
