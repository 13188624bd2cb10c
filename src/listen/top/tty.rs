//! The terminal `--top` reads its keys from: one `poll(2)` over the tty and a wake-up pipe
//! that SIGWINCH, SIGINT, SIGTERM and SIGHUP write to, bytes read with `read(2)` and turned
//! into [`Key`]s by [`KeyReader`] (pure).
//!
//! Nothing else reads the terminal: a second reader with readiness of its own (crossterm's
//! edge-triggered one beside this level-triggered poll) can take the readiness of a key
//! without reading it, and the loop then finds the tty ready for ever and never sees the key.

use super::view::Key;
use std::io::{self, IsTerminal, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// What [`Tty::wait`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// Keys were pressed (possibly none that mean anything).
    Keys(Vec<Key>),
    /// A signal came: the terminal may have a new size, or the run is asked to stop.
    Signalled,
    /// Nothing before the time was up.
    Nothing,
    /// The terminal is gone (its window closed).
    HungUp,
}

/// The signals that wake [`Tty::wait`] at once.
const WAKING: [libc::c_int; 4] = [libc::SIGWINCH, libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The terminal, and the pipe the signals wake it with.
pub struct Tty {
    /// `/dev/tty`, when stdin is not the terminal.
    _opened: Option<std::fs::File>,
    fd: RawFd,
    wake: UnixStream,
    registered: Vec<signal_hook::SigId>,
    keys: KeyReader,
}

impl Tty {
    /// Opens the terminal (stdin when it is one, else `/dev/tty`) and has the waking signals
    /// write to a pipe of its own.
    pub fn open() -> io::Result<Tty> {
        let (opened, fd) = if io::stdin().is_terminal() {
            (None, io::stdin().as_raw_fd())
        } else {
            let file = std::fs::File::open("/dev/tty")?;
            let fd = file.as_raw_fd();
            (Some(file), fd)
        };
        let (wake, writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let mut registered = Vec::with_capacity(WAKING.len());
        for signal in WAKING {
            let writer = writer.try_clone()?;
            registered.push(signal_hook::low_level::pipe::register(signal, writer)?);
        }
        Ok(Tty {
            _opened: opened,
            fd,
            wake,
            registered,
            keys: KeyReader::default(),
        })
    }

    /// Blocks until a key, a signal, a hang-up, or `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Ready> {
        let mut watched = [
            libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll(2) is given an array of two pollfds that lives across the call, and
        // its length.
        let ready = unsafe { libc::poll(watched.as_mut_ptr(), 2, millis) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::Interrupted => Ok(Ready::Signalled),
                _ => Err(error),
            };
        }
        if ready == 0 {
            return Ok(Ready::Nothing);
        }
        let [tty, wake] = watched;
        if wake.revents != 0 {
            self.drain_wake();
        }
        if tty.revents & libc::POLLIN != 0 {
            let mut buffer = [0u8; 1024];
            // SAFETY: read(2) writes at most `buffer.len()` bytes into `buffer`, which lives
            // across the call. poll(2) said the tty is readable, so this does not block.
            let read = unsafe { libc::read(self.fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            return match read {
                // End of file: the terminal is gone.
                0 => Ok(Ready::HungUp),
                n if n > 0 => Ok(Ready::Keys(self.keys.feed(&buffer[..n as usize]))),
                _ => {
                    let error = io::Error::last_os_error();
                    match error.kind() {
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
                            Ok(Ready::Signalled)
                        }
                        // EIO: the terminal hung up under us.
                        _ if error.raw_os_error() == Some(libc::EIO) => Ok(Ready::HungUp),
                        _ => Err(error),
                    }
                }
            };
        }
        if tty.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Ok(Ready::HungUp);
        }
        Ok(Ready::Signalled)
    }

    /// Empties the wake-up pipe (a byte per signal; it never blocks).
    fn drain_wake(&mut self) {
        let mut sink = [0u8; 64];
        while matches!(self.wake.read(&mut sink), Ok(n) if n > 0) {}
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Turns the bytes a terminal sends into keys, keeping an escape sequence cut between two
/// reads until its end arrives.
#[derive(Debug, Default)]
pub struct KeyReader {
    pending: Vec<u8>,
}

impl KeyReader {
    /// The keys in `bytes` (one read's worth), after what was pending. An `Esc` that ends a
    /// read is the Escape key: terminals send a sequence in one write.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut input = std::mem::take(&mut self.pending);
        input.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut at = 0;
        while at < input.len() {
            match parse(&input[at..]) {
                Parsed::Key(key, used) => {
                    keys.extend(key);
                    at += used;
                }
                Parsed::Incomplete => {
                    self.pending = input[at..].to_vec();
                    break;
                }
            }
        }
        keys
    }
}

enum Parsed {
    /// A key (or bytes that mean none) and how many bytes it took.
    Key(Option<Key>, usize),
    /// An escape sequence whose end has not arrived yet.
    Incomplete,
}

/// The longest escape sequence kept waiting for its end; a longer one is dropped.
const LONGEST_SEQUENCE: usize = 32;

fn parse(input: &[u8]) -> Parsed {
    let plain = |key| Parsed::Key(key, 1);
    match input[0] {
        0x1b => escape(input),
        b'q' | 0x03 => plain(Some(Key::Quit)),
        b's' => plain(Some(Key::Sort)),
        b'b' => plain(Some(Key::Group)),
        b'p' => plain(Some(Key::Pause)),
        b'k' => plain(Some(Key::Up)),
        b'j' => plain(Some(Key::Down)),
        b' ' => plain(Some(Key::PageDown)),
        b'g' => plain(Some(Key::Home)),
        b'G' => plain(Some(Key::End)),
        b'\r' | b'\n' => plain(Some(Key::Enter)),
        // Any other byte, or the rest of a UTF-8 character: no key.
        _ => plain(None),
    }
}

/// `input` starts with ESC: the Escape key, or a CSI (`ESC [`) or SS3 (`ESC O`) sequence.
fn escape(input: &[u8]) -> Parsed {
    let Some(&kind) = input.get(1) else {
        return Parsed::Key(Some(Key::Back), 1);
    };
    match kind {
        b'O' => match input.get(2) {
            None => Parsed::Incomplete,
            Some(last) => Parsed::Key(final_key(*last, &[]), 3),
        },
        b'[' => {
            // Parameters and intermediates (0x20..=0x3f), then one final byte (0x40..=0x7e).
            let body = &input[2..];
            match body.iter().position(|b| (0x40..=0x7e).contains(b)) {
                Some(end) => Parsed::Key(final_key(body[end], &body[..end]), end + 3),
                None if input.len() < LONGEST_SEQUENCE
                    && body.iter().all(|b| (0x20..=0x3f).contains(b)) =>
                {
                    Parsed::Incomplete
                }
                // Not a sequence after all: the Escape key, then the bytes on their own.
                None => Parsed::Key(Some(Key::Back), 1),
            }
        }
        // Escape, then another key read with it (typed quickly, or Alt and the key).
        _ => Parsed::Key(Some(Key::Back), 1),
    }
}

/// The key of a CSI or SS3 sequence from its final byte and parameters (modifiers ignored).
fn final_key(last: u8, parameters: &[u8]) -> Option<Key> {
    let first = parameters.split(|b| *b == b';').next().unwrap_or(&[]);
    match (last, first) {
        (b'A', _) => Some(Key::Up),
        (b'B', _) => Some(Key::Down),
        (b'H', _) => Some(Key::Home),
        (b'F', _) => Some(Key::End),
        (b'~', b"1" | b"7") => Some(Key::Home),
        (b'~', b"4" | b"8") => Some(Key::End),
        (b'~', b"5") => Some(Key::PageUp),
        (b'~', b"6") => Some(Key::PageDown),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        KeyReader::default().feed(bytes)
    }

    #[test]
    fn plain_keys_and_control_c() {
        assert_eq!(
            keys(b"qsbpjkgG \r\n\x03"),
            [
                Key::Quit,
                Key::Sort,
                Key::Group,
                Key::Pause,
                Key::Down,
                Key::Up,
                Key::Home,
                Key::End,
                Key::PageDown,
                Key::Enter,
                Key::Enter,
                Key::Quit
            ]
        );
        assert_eq!(keys(b"xyz\xc3\xa9"), []);
    }

    #[test]
    fn escape_sequences_of_xterm_and_the_linux_console() {
        assert_eq!(
            keys(b"\x1b[A\x1b[B\x1bOA\x1bOB\x1b[5~\x1b[6~"),
            [
                Key::Up,
                Key::Down,
                Key::Up,
                Key::Down,
                Key::PageUp,
                Key::PageDown
            ]
        );
        assert_eq!(
            keys(b"\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[7~\x1b[8~"),
            [
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End
            ]
        );
        // With a modifier (Shift-Up), and sequences that are no key of ours (F5, Right).
        assert_eq!(keys(b"\x1b[1;2A\x1b[15~\x1b[Cq"), [Key::Up, Key::Quit]);
    }

    #[test]
    fn a_lone_escape_is_the_escape_key() {
        assert_eq!(keys(b"\x1b"), [Key::Back]);
        assert_eq!(keys(b"\x1b\x1b"), [Key::Back, Key::Back]);
        // Typed quickly after Escape: both keys.
        assert_eq!(keys(b"\x1bq"), [Key::Back, Key::Quit]);
    }

    #[test]
    fn a_sequence_cut_between_reads_is_completed_by_the_next() {
        let mut reader = KeyReader::default();
        assert_eq!(reader.feed(b"q\x1b[5"), [Key::Quit]);
        assert_eq!(reader.feed(b"~q"), [Key::PageUp, Key::Quit]);
        assert_eq!(reader.feed(b"\x1bO"), []);
        assert_eq!(reader.feed(b"B"), [Key::Down]);
    }

    #[test]
    fn garbage_after_csi_is_not_held_for_ever() {
        let mut reader = KeyReader::default();
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 40));
        reader.feed(&long);
        assert!(reader.pending.len() < LONGEST_SEQUENCE);
        assert_eq!(reader.feed(b"q"), [Key::Quit]);
    }

    /// What a terminal sends for each key.
    fn encoded(key: Key) -> &'static [u8] {
        match key {
            Key::Quit => b"q",
            Key::Back => b"\x1b",
            Key::Sort => b"s",
            Key::Group => b"b",
            Key::Pause => b"p",
            Key::Up => b"\x1b[A",
            Key::Down => b"\x1bOB",
            Key::PageUp => b"\x1b[5~",
            Key::PageDown => b"\x1b[6~",
            Key::Home => b"\x1b[H",
            Key::End => b"\x1b[4~",
            Key::Enter => b"\r",
        }
    }

    fn any_key() -> impl Strategy<Value = Key> {
        prop::sample::select(Key::ALL.to_vec())
    }

    proptest! {
        /// Keys typed one read each, or several at once however the reads cut them, come back
        /// as typed (Escape only ever ends a read, as a terminal sends it).
        #[test]
        fn typed_keys_come_back_whatever_the_reads(
            typed in prop::collection::vec(any_key(), 0..40),
            cuts in prop::collection::vec(1usize..6, 0..40),
        ) {
            let mut reader = KeyReader::default();
            let mut got = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            let mut cuts = cuts.into_iter().cycle();
            for key in &typed {
                pending.extend_from_slice(encoded(*key));
                // A read ends after an Escape, or after a random number of keys.
                if *key == Key::Back || cuts.next().unwrap_or(1) == 1 {
                    got.extend(reader.feed(&pending));
                    pending.clear();
                }
            }
            got.extend(reader.feed(&pending));
            prop_assert_eq!(got, typed);
        }

        /// Whatever bytes came before (a cut sequence may take one more byte as its end),
        /// `q` pressed twice is read as Quit.
        #[test]
        fn q_is_read_after_any_bytes(noise in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut reader = KeyReader::default();
            reader.feed(&noise);
            let mut keys = reader.feed(b"q");
            keys.extend(reader.feed(b"q"));
            prop_assert!(keys.contains(&Key::Quit));
        }
    }
}
