//! `oslo-listen --save DIR`: each notification as a file of its own, holding the same JSON
//! object as a `--format json` line, so that `oslo-notify --replay DIR` can send them again.
//!
//! Files are named `<timestamp>-<message_id>.json` (the timestamp's digits, so that names
//! sort in time order). Each is written under a temporary name (`.<name>.partial`); then,
//! in batches, [`SaveDir::sync`] syncs the written files to disk, renames them into place and
//! syncs the directory, and only after that are their messages acknowledged: a file that
//! can be seen is whole, and a message taken off its queue has its file on disk, power loss
//! included. A notification delivered twice lands in the same file.

use crate::engine::receive::Received;
use crate::listen::output::{OutputFormat, Printer};
use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Where notifications are saved, and how (secrets masked unless the printer shows them).
#[derive(Debug)]
pub struct SaveDir {
    dir: PathBuf,
    printer: Printer,
    /// Written and not yet synced: each file's temporary path and its final one.
    unsynced: Mutex<Vec<(PathBuf, PathBuf)>>,
}

/// The file name for a notification: `20261125T084145.339791-<message_id>.json`, with any
/// character of the message_id other than letters, digits, `-`, `_` and `.` replaced by `_`.
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

/// Writes every dirty page of the file system that holds `file` to disk (syncfs(2)).
fn sync_file_system(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs(2) only reads the descriptor, which `file` keeps open for the call.
    let done = unsafe { libc::syncfs(file.as_raw_fd()) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// Writes one notification's file under its temporary name; returns the path it will
    /// have once [`SaveDir::sync`] has put it in place.
    pub fn save(&self, received: &Received) -> Result<PathBuf> {
        let n = received.message;
        let name = file_name(&n.timestamp, &n.message_id);
        let path = self.dir.join(&name);
        let partial = self.dir.join(format!(".{name}.partial"));
        let mut text = Vec::with_capacity(received.body.len() + 256);
        self.printer.write(&mut text, received)?;
        std::fs::write(&partial, &text).with_context(|| format!("saving {}", path.display()))?;
        let mut unsynced = self.unsynced.lock().unwrap_or_else(PoisonError::into_inner);
        // The same notification again before a sync: the same temporary file, written anew.
        unsynced.retain(|(_, earlier)| *earlier != path);
        unsynced.push((partial, path.clone()));
        Ok(path)
    }

    /// Syncs every file written since the last sync to disk, renames each into place, and
    /// syncs the directory: after this, their messages may be acknowledged.
    pub fn sync(&self) -> Result<()> {
        let mut unsynced = self.unsynced.lock().unwrap_or_else(PoisonError::into_inner);
        if unsynced.is_empty() {
            return Ok(());
        }
        let dir = File::open(&self.dir)
            .with_context(|| format!("opening the --save directory {}", self.dir.display()))?;
        // One flush of the file system for the whole batch, rather than one per file.
        sync_file_system(&dir)
            .with_context(|| format!("syncing the files saved in {}", self.dir.display()))?;
        for (partial, path) in unsynced.drain(..) {
            std::fs::rename(&partial, &path)
                .with_context(|| format!("saving {}", path.display()))?;
        }
        dir.sync_all()
            .with_context(|| format!("syncing the --save directory {}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_sort_by_time_and_keep_only_safe_characters() {
        assert_eq!(
            file_name("2026-11-25 08:41:45.339791", "e1d4f970-b543"),
            "20261125T084145.339791-e1d4f970-b543.json"
        );
        assert_eq!(
            file_name("2026-11-25 08:41:45", "../x y"),
            "20261125T084145-.._x_y.json"
        );
    }
}
