//! The receiving engine's other source: notifications saved by `oslo-listen` (a `--save`
//! directory, a file of `--format json` lines, or stdin), read instead of a broker and handed
//! to the same [`Handler`] in the order they were saved, second copies dropped.
//!
//! The input is read and decoded on a thread of its own, a bounded way ahead, so that memory
//! stays flat whatever its length and a signal or the deadline is seen while stdin is quiet.
//! What is not a notification is told to the [`Observer`] with its place, and skipped.

mod listing;

pub use listing::saved_files;

use super::recent::{Key, RecentIds, REMEMBERED_IDS};
use super::settings::TICK;
use super::{Ended, Handler, Received, Verdict};
use crate::engine::Error;
use crate::events::{Event, Observer};
use crate::wire::envelope::saved::{self, Saved};
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::Instant;

/// Where saved notifications are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// An `oslo-listen --save` directory: its `*.json` files in name order (which is time
    /// order), the `.partial` ones still being written skipped.
    Dir(PathBuf),
    /// A file of `--format json` lines.
    Lines(PathBuf),
    /// `--format json` lines on stdin.
    Stdin,
}

impl Stored {
    /// What `path` names: stdin for `-`, a directory, or a file of lines.
    pub fn at(path: &Path) -> Stored {
        if path == Path::new("-") {
            Stored::Stdin
        } else if path.is_dir() {
            Stored::Dir(path.to_owned())
        } else {
            Stored::Lines(path.to_owned())
        }
    }
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Dir(path) | Stored::Lines(path) => path.display().fmt(f),
            Stored::Stdin => f.write_str("stdin"),
        }
    }
}

/// What the reading thread hands over.
enum Item {
    /// A notification, and the text it was read from (boxed: the channel's slots stay small).
    Read(Box<(Saved, Vec<u8>)>),
    /// Something that is not one: where, and why.
    Unreadable { place: String, reason: String },
    /// The input could not be read on: the run fails.
    Failed(io::Error),
}

/// How many notifications the reading thread hands over at once (fewer when the input
/// pauses): one wake-up for many.
const BATCH: usize = 32;
/// How many batches the reading thread may run ahead: memory stays flat.
const AHEAD: usize = 4;
/// How many notifications are handled between two requests to make the work durable.
const SETTLE_EVERY: usize = 1024;

/// Hands the reading thread's items over in batches.
struct Batches {
    sender: mpsc::SyncSender<Vec<Item>>,
    batch: Vec<Item>,
}

/// Nobody takes the items any more.
struct Closed;

impl Batches {
    /// Adds `item`, handing the batch over once it is full.
    fn push(&mut self, item: Item) -> Result<(), Closed> {
        self.batch.push(item);
        match self.batch.len() >= BATCH {
            true => self.flush(),
            false => Ok(()),
        }
    }

    /// Hands over what the batch holds.
    fn flush(&mut self) -> Result<(), Closed> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.sender.send(batch).map_err(|_| Closed)
    }
}

/// Reads `from` until its end, the handler says stop, `stop` is set or `deadline` passes;
/// hands each notification (its payload unwrapped when `unwrap`) to `handler`. Every so often
/// and at the end, `handler` is asked to make its work durable and visible, as the engine
/// does before acknowledging. What is skipped and where the input ended go to `observer`.
pub fn run(
    from: &Stored,
    unwrap: bool,
    deadline: Option<Instant>,
    handler: &mut dyn Handler,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended, Error> {
    let (sender, batches) = mpsc::sync_channel(AHEAD);
    {
        let from = from.clone();
        let mut batches = Batches {
            sender,
            batch: Vec::with_capacity(BATCH),
        };
        // Not joined: it may wait on stdin for ever; a closed channel ends it otherwise.
        std::thread::spawn(move || {
            if read(&from, unwrap, &mut batches).is_ok() {
                let _ = batches.flush();
            }
        });
    }
    let mut pending = Vec::new().into_iter();
    let mut recent = RecentIds::new(REMEMBERED_IDS);
    let (mut read, mut skipped, mut unsettled) = (0u64, 0u64, 0usize);
    let settle = |handler: &mut dyn Handler| -> Result<(), Error> {
        handler.before_acknowledging().map_err(Error::Handler)?;
        handler.caught_up().map_err(Error::Handler)
    };
    let ended = loop {
        if stop.load(Ordering::Relaxed) {
            break Ended::Interrupted;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break Ended::TimedOut;
        }
        let item = match pending.next() {
            Some(item) => item,
            None => {
                let batch = match batches.try_recv() {
                    Ok(batch) => batch,
                    Err(TryRecvError::Disconnected) => break Ended::EndOfInput,
                    Err(TryRecvError::Empty) => {
                        // Nothing waits: what was handled is made visible while the input
                        // is quiet.
                        settle(handler)?;
                        unsettled = 0;
                        let wait =
                            deadline.map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
                        match batches.recv_timeout(wait) {
                            Ok(batch) => batch,
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => break Ended::EndOfInput,
                        }
                    }
                };
                pending = batch.into_iter();
                continue;
            }
        };
        let (saved, body) = match item {
            Item::Read(read) => *read,
            Item::Unreadable { place, reason } => {
                skipped += 1;
                observer.event(Event::Unreadable { place, reason });
                continue;
            }
            Item::Failed(error) => return Err(Error::Read(error)),
        };
        read += 1;
        // Saved twice (two captures put together): handled once.
        if recent.contains(Key::of(&saved.message.message_id)) {
            continue;
        }
        let received = Received {
            message: &saved.message,
            exchange: saved.exchange.as_deref().unwrap_or_default(),
            routing_key: saved.routing_key.as_deref().unwrap_or_default(),
            source: saved.source.as_deref().unwrap_or_default(),
            body: &body,
        };
        let verdict = handler.handle(&received).map_err(Error::Handler)?;
        recent.insert(Key::of(&saved.message.message_id));
        if verdict == Verdict::DoneAndStop {
            break Ended::Stopped;
        }
        unsettled += 1;
        if unsettled >= SETTLE_EVERY {
            handler.before_acknowledging().map_err(Error::Handler)?;
            unsettled = 0;
        }
    };
    settle(handler)?;
    if ended == Ended::EndOfInput {
        observer.event(Event::EndOfInput {
            from: from.to_string(),
            read,
            skipped,
        });
    }
    Ok(ended)
}

/// How many files of a directory are opened, and asked of the disk, ahead of the one read.
const READ_AHEAD: usize = 32;
/// Room for a saved file whose size is not known.
const FILE_ROOM: usize = 16 * 1024;

/// Asks the kernel to read `file` into memory now, without waiting for it.
fn will_need(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise(2) only reads the descriptor, which `file` keeps open for the
    // call, and is given no pointer; its answer is advice only, so a failure is ignored.
    // Reading a directory through it is tested (`a_save_directory_is_read_...`).
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED);
    }
}

/// Reads every notification of `from` into `items`, until its end or until nobody takes
/// them.
fn read(from: &Stored, unwrap: bool, items: &mut Batches) -> Result<(), Closed> {
    let item = |text: Vec<u8>, place: &dyn Fn() -> String| match decode(&text, unwrap) {
        Ok(saved) => Item::Read(Box::new((saved, text))),
        Err(reason) => Item::Unreadable {
            place: place(),
            reason,
        },
    };
    match from {
        Stored::Dir(dir) => {
            let mut files = saved_files(dir);
            // Opened a few files ahead, each asked of the disk at once: small files read
            // one after the other would each wait for the disk in turn.
            let mut ahead = VecDeque::with_capacity(READ_AHEAD);
            loop {
                while ahead.len() < READ_AHEAD {
                    match files.next() {
                        Some(Ok(path)) => {
                            let file = File::open(&path);
                            if let Ok(file) = &file {
                                will_need(file);
                            }
                            ahead.push_back(Ok((path, file)));
                        }
                        Some(Err(e)) => {
                            ahead.push_back(Err(e));
                            break;
                        }
                        None => break,
                    }
                }
                let (path, file) = match ahead.pop_front() {
                    None => return Ok(()),
                    Some(Ok(next)) => next,
                    Some(Err(e)) => {
                        let why = format!("reading the directory {}: {e}", dir.display());
                        return items.push(Item::Failed(io::Error::new(e.kind(), why)));
                    }
                };
                let place = || path.display().to_string();
                // Room for the file as it is (one byte more to see its end): a text held in
                // flight takes no more memory than it needs.
                let room = |file: &File| match file.metadata() {
                    Ok(meta) => usize::try_from(meta.len()).map_or(FILE_ROOM, |n| n + 1),
                    Err(_) => FILE_ROOM,
                };
                let mut text = Vec::new();
                let read = file.and_then(|mut f| {
                    text.reserve_exact(room(&f));
                    f.read_to_end(&mut text)
                });
                items.push(match read {
                    Ok(_) => item(trimmed(text), &place),
                    Err(e) => Item::Unreadable {
                        place: place(),
                        reason: format!("cannot be read: {e}"),
                    },
                })?;
            }
        }
        Stored::Lines(path) => match File::open(path) {
            Ok(file) => lines(file, &path.display().to_string(), items, item),
            Err(e) => {
                let why = format!("reading {}: {e}", path.display());
                items.push(Item::Failed(io::Error::new(e.kind(), why)))
            }
        },
        Stored::Stdin => lines(io::stdin(), "stdin", items, item),
    }
}

/// Reads the non-blank lines of `input`, each as `item` makes it, into `items`; what was
/// read is handed over before waiting for more.
fn lines(
    input: impl Read,
    name: &str,
    items: &mut Batches,
    item: impl Fn(Vec<u8>, &dyn Fn() -> String) -> Item,
) -> Result<(), Closed> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut number = 0u64;
    loop {
        if input.buffer().is_empty() {
            // The next read may wait: what is read so far goes first.
            items.flush()?;
        }
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                let why = format!("reading {name} after line {number}: {e}");
                return items.push(Item::Failed(io::Error::new(e.kind(), why)));
            }
        }
        number += 1;
        let line = trimmed(line);
        if !line.is_empty() {
            items.push(item(line, &|| format!("{name} line {number}")))?;
        }
    }
}

/// `text` without the white space around it.
fn trimmed(mut text: Vec<u8>) -> Vec<u8> {
    let end = text
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    text.truncate(end);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    text.drain(..start);
    text
}

/// A saved notification read from `text`, its payload unwrapped when `unwrap`; what is wrong
/// with it, reading after its place, when it is not one.
fn decode(text: &[u8], unwrap: bool) -> Result<Saved, String> {
    let saved = saved::read(text).map_err(|e| e.to_string())?;
    if !unwrap {
        return Ok(saved);
    }
    Ok(Saved {
        message: saved.message.unwrap_versioned(),
        ..saved
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let path = std::env::temp_dir().join(format!("stored-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir(&path).unwrap();
            TempDir(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn line(id: &str, event_type: &str) -> String {
        format!(
            r#"{{"priority":"info","event_type":"{event_type}","publisher_id":"p","payload":{{"nova_object.name":"X","nova_object.data":{{"uuid":"u"}}}},"metadata":{{"message_id":"{id}","timestamp":"2026-12-05 00:00:00"}},"context":{{}},"exchange":"nova","routing_key":"n.info"}}"#
        )
    }

    /// Runs the engine over `from`, collecting event types and events.
    fn collect(
        from: &Stored,
        unwrap: bool,
        stop_after: usize,
    ) -> (Ended, Vec<String>, Vec<String>) {
        let mut seen = Vec::new();
        let mut handler = |received: &Received| -> Result<Verdict, io::Error> {
            let m = received.message;
            seen.push(format!(
                "{} {} {}",
                m.event_type,
                m.payload_json(),
                received.exchange
            ));
            Ok(if seen.len() == stop_after {
                Verdict::DoneAndStop
            } else {
                Verdict::Done
            })
        };
        let mut events = Vec::new();
        let mut observer = |e: Event| events.push(e.to_string());
        let ended = run(
            from,
            unwrap,
            None,
            &mut handler,
            &mut observer,
            &AtomicBool::new(false),
        )
        .unwrap();
        (ended, seen, events)
    }

    #[test]
    fn a_file_of_lines_is_read_to_its_end_and_what_is_not_a_notification_is_skipped() {
        let dir = TempDir::new();
        let path = dir.path().join("events.jsonl");
        let text = [
            line("a", "one"),
            String::new(),
            "not json".to_owned(),
            line("b", "two"),
            line("a", "one again"),
            "  ".to_owned(),
            line("c", "three"),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let (ended, seen, events) = collect(&Stored::at(&path), true, 0);
        assert_eq!(ended, Ended::EndOfInput);
        assert_eq!(
            seen,
            [
                r#"one {"@object":"X","uuid":"u"} nova"#,
                r#"two {"@object":"X","uuid":"u"} nova"#,
                r#"three {"@object":"X","uuid":"u"} nova"#
            ]
        );
        let place = format!("{} line 3", path.display());
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            events[0].starts_with(&format!("{place} is not valid JSON")),
            "{events:?}"
        );
        assert_eq!(
            events[1],
            format!(
                "read 4 notification(s) from {}; skipped 1 that were not (said above)",
                path.display()
            )
        );
    }

    #[test]
    fn a_save_directory_is_read_in_name_order_without_partial_files() {
        let dir = TempDir::new();
        for (name, text) in [
            ("20261205T000002-b.json", line("b", "second")),
            (
                "20261205T000001-a.json",
                format!("{}\n", line("a", "first")),
            ),
            (".20261205T000003-c.json.partial", line("c", "partial")),
            ("20261205T000004-d.json", "{}".to_owned()),
            ("notes.txt", "not one".to_owned()),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let from = Stored::at(dir.path());
        assert_eq!(from, Stored::Dir(dir.path().to_owned()));
        let (ended, seen, events) = collect(&from, false, 0);
        assert_eq!(ended, Ended::EndOfInput);
        let types: Vec<_> = seen.iter().map(|s| s.split(' ').next().unwrap()).collect();
        assert_eq!(types, ["first", "second"]);
        assert!(events[0].ends_with("20261205T000004-d.json has no \"priority\" (skipped)"));
        // The handler's stop ends the reading.
        let (ended, seen, _) = collect(&from, false, 1);
        assert_eq!((ended, seen.len()), (Ended::Stopped, 1));
    }

    #[test]
    fn a_missing_file_fails_the_run_naming_it() {
        let from = Stored::Lines(PathBuf::from("/nonexistent/events.jsonl"));
        let mut handler = |_: &Received| -> Result<Verdict, io::Error> { Ok(Verdict::Done) };
        let error = run(
            &from,
            false,
            None,
            &mut handler,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("reading /nonexistent/events.jsonl: "),
            "{error}"
        );
    }
}
