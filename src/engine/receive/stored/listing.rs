//! The notification files of an `oslo-listen --save` directory, listed in name order a few
//! thousand names at a time.

use std::collections::BinaryHeap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// How many file names of a directory are held at once.
const NAMES_AT_ONCE: usize = 8192;

/// The notification files of an `oslo-listen --save` directory, in name order: `*.json`,
/// without the hidden `.NAME.partial` ones being written. The names are read a few thousand
/// at a time (the next ones in order, from another pass over the directory), so that memory
/// stays flat whatever the directory holds.
pub fn saved_files(dir: &Path) -> SavedFiles {
    SavedFiles {
        dir: dir.to_owned(),
        after: None,
        next: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator of [`saved_files`].
#[derive(Debug)]
pub struct SavedFiles {
    dir: PathBuf,
    /// The last name handed out.
    after: Option<OsString>,
    next: std::vec::IntoIter<OsString>,
    /// The last pass found every name that is left.
    done: bool,
}

impl SavedFiles {
    /// Reads the directory for the next names in order.
    fn pass(&mut self) -> io::Result<()> {
        // The smallest names after the last one, the largest of them on top.
        let mut names: BinaryHeap<OsString> = BinaryHeap::with_capacity(NAMES_AT_ONCE + 1);
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let saved = name
                .to_str()
                .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'));
            let later = self.after.as_ref().is_none_or(|after| name > *after);
            let wanted = names.len() < NAMES_AT_ONCE || names.peek().is_some_and(|top| name < *top);
            if !(saved && later && wanted) {
                continue;
            }
            let file = match entry.file_type()? {
                kind if kind.is_symlink() => entry.path().is_file(),
                kind => kind.is_file(),
            };
            if file {
                names.push(name);
                if names.len() > NAMES_AT_ONCE {
                    names.pop();
                }
            }
        }
        self.done = names.len() < NAMES_AT_ONCE;
        let names = names.into_sorted_vec();
        self.after = names.last().cloned().or(self.after.take());
        self.next = names.into_iter();
        Ok(())
    }
}

impl Iterator for SavedFiles {
    type Item = io::Result<PathBuf>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(name) = self.next.next() {
                return Some(Ok(self.dir.join(name)));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.pass() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_s_names_come_in_order_a_few_thousand_at_a_time() {
        let dir = std::env::temp_dir().join(format!("listing-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        let dir = Dir(dir);
        let count = NAMES_AT_ONCE * 2 + 3;
        // Written in an order of their own, with a hidden file and another kind among them.
        for i in (0..count).rev() {
            std::fs::write(dir.path().join(format!("{i:06}.json")), "").unwrap();
        }
        std::fs::write(dir.path().join(".000001.json.partial"), "").unwrap();
        std::fs::create_dir(dir.path().join("000002x.json")).unwrap();
        let names: Vec<String> = saved_files(dir.path())
            .map(|path| {
                path.unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let expected: Vec<String> = (0..count).map(|i| format!("{i:06}.json")).collect();
        assert_eq!(names, expected);
        assert!(saved_files(Path::new("/nonexistent"))
            .next()
            .unwrap()
            .is_err());
    }

    /// A directory of a test's own, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
