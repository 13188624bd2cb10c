//! The first bytes a peer answers with, checked before the AMQP client reads them: a broker
//! opens with a method frame (Connection.Start) on channel 0, small. Anything else (an HTTP,
//! TLS or SSH server on the port) is refused at once and named, instead of its bytes being
//! taken as a frame size (an HTTP status line reads as 1.3 GB).

use std::fmt;
use std::io::{self, Read, Write};

/// The largest first frame a broker is believed: RabbitMQ's Connection.Start is well under
/// 1 KiB, and before tuning the spec allows 4 KiB frames; this leaves room for more.
pub const LARGEST_FIRST_FRAME: u32 = 128 * 1024;

/// What a peer that is not an AMQP 0-9-1 broker answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// An HTTP server (`HTTP/`).
    Http,
    /// A TLS server (a TLS record: the port wants `ssl=1`).
    Tls,
    /// An SSH server (`SSH-`).
    Ssh,
    /// An AMQP server of another protocol version (AMQP 1.0, say).
    OtherAmqp,
    /// A frame no broker opens with (another type or channel, or an absurd size).
    BadFrame,
    /// Something else: its first bytes.
    Unknown(Vec<u8>),
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answered::Http => write!(f, "an HTTP server answered, not an AMQP broker"),
            Answered::Tls => write!(
                f,
                "a TLS server answered: the port wants TLS (ssl=1 in the transport URL)"
            ),
            Answered::Ssh => write!(f, "an SSH server answered, not an AMQP broker"),
            Answered::OtherAmqp => write!(
                f,
                "an AMQP server of another protocol version answered (AMQP 1.0?), not an \
                 AMQP 0-9-1 broker"
            ),
            Answered::BadFrame => write!(
                f,
                "the peer's first frame is not an AMQP broker's (not a method frame on \
                 channel 0 of a sane size)"
            ),
            Answered::Unknown(bytes) => {
                write!(f, "the peer answered something that is not AMQP: \"")?;
                for byte in bytes {
                    write!(f, "{}", std::ascii::escape_default(*byte))?;
                }
                write!(f, "\"")
            }
        }
    }
}

impl std::error::Error for Answered {}

/// What the first bytes of `seen` say: `Ok(true)` a broker's first frame, `Ok(false)` not
/// enough seen yet to tell, `Err` what answered instead.
pub fn judge(seen: &[u8]) -> Result<bool, Answered> {
    let Some(&first) = seen.first() else {
        return Ok(false);
    };
    let starts = |text: &[u8]| {
        let n = seen.len().min(text.len());
        seen[..n] == text[..n]
    };
    // A method frame: type 1, channel 0, then the size (big-endian).
    if first == 1 {
        if seen.len() < 7 {
            return match seen.get(1..3) {
                Some(channel) if channel != [0, 0] => Err(Answered::BadFrame),
                _ => Ok(false),
            };
        }
        let size = u32::from_be_bytes([seen[3], seen[4], seen[5], seen[6]]);
        return if seen[1..3] == [0, 0] && size <= LARGEST_FIRST_FRAME {
            Ok(true)
        } else {
            Err(Answered::BadFrame)
        };
    }
    // Each decided within 7 bytes: the client reads a frame size from bytes 3 to 6.
    let guesses: [(&[u8], Answered); 3] = [
        (b"HTTP/", Answered::Http),
        (b"SSH-", Answered::Ssh),
        (b"AMQP", Answered::OtherAmqp),
    ];
    for (prefix, answered) in guesses {
        if starts(prefix) {
            if seen.len() < prefix.len() {
                return Ok(false);
            }
            return Err(answered);
        }
    }
    // A TLS record: handshake (22) or alert (21), then version 3.x.
    if matches!(first, 21 | 22) {
        return match seen.get(1) {
            None => Ok(false),
            Some(3) => Err(Answered::Tls),
            Some(_) => Err(Answered::Unknown(seen.to_vec())),
        };
    }
    Err(Answered::Unknown(seen.to_vec()))
}

/// How many bytes [`Guarded`] keeps to judge the peer by.
const JUDGED: usize = 16;

/// A stream whose first bytes from the peer are judged before they are handed on: once they
/// are a broker's, it is the stream itself.
pub struct Guarded<S> {
    inner: S,
    /// The peer is to start a TLS session (`ssl=1`): a TLS record is what it should send.
    tls: bool,
    /// The first bytes read, until judged.
    seen: Vec<u8>,
    /// Judged a broker's: reads pass straight through.
    trusted: bool,
}

impl<S> Guarded<S> {
    /// Guards `inner`, on which the peer is to answer an AMQP header, or with `tls` start a
    /// TLS session.
    pub fn new(inner: S, tls: bool) -> Self {
        Guarded {
            inner,
            tls,
            seen: Vec::with_capacity(JUDGED),
            trusted: false,
        }
    }
}

impl<S: Read> Read for Guarded<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.trusted || n == 0 {
            return Ok(n);
        }
        let room = JUDGED - self.seen.len();
        self.seen.extend_from_slice(&buf[..n.min(room)]);
        let judged = match judge(&self.seen) {
            Err(Answered::Tls) if self.tls => Ok(true),
            Ok(true) if self.tls => Err(Answered::BadFrame),
            judged => judged,
        };
        match judged {
            Ok(true) => {
                self.trusted = true;
                self.seen = Vec::new();
                Ok(n)
            }
            // Not enough to tell: what was read holds no size yet.
            Ok(false) if self.seen.len() < JUDGED => Ok(n),
            Ok(false) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                Answered::Unknown(self.seen.clone()),
            )),
            Err(answered) => Err(io::Error::new(io::ErrorKind::InvalidData, answered)),
        }
    }
}

impl<S: Write> Write for Guarded<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: mio::Evented> mio::Evented for Guarded<S> {
    fn register(
        &self,
        poll: &mio::Poll,
        token: mio::Token,
        interest: mio::Ready,
        opts: mio::PollOpt,
    ) -> io::Result<()> {
        self.inner.register(poll, token, interest, opts)
    }

    fn reregister(
        &self,
        poll: &mio::Poll,
        token: mio::Token,
        interest: mio::Ready,
        opts: mio::PollOpt,
    ) -> io::Result<()> {
        self.inner.reregister(poll, token, interest, opts)
    }

    fn deregister(&self, poll: &mio::Poll) -> io::Result<()> {
        self.inner.deregister(poll)
    }
}

impl<S: amiquip::IoStream> amiquip::IoStream for Guarded<S> {}

/// The peer's answer that [`Guarded`] refused, if `error` (from the AMQP client) is one.
pub fn refused(error: &amiquip::Error) -> Option<&Answered> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(answered) = cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<Answered>())
        {
            return Some(answered);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RabbitMQ's first frame header: a method frame on channel 0 of 0x1f7 bytes.
    const START: [u8; 7] = [1, 0, 0, 0, 0, 0x01, 0xf7];

    #[test]
    fn a_brokers_first_frame_is_trusted_byte_by_byte() {
        for n in 0..7 {
            assert_eq!(judge(&START[..n]), Ok(false), "{n} bytes");
        }
        assert_eq!(judge(&START), Ok(true));
    }

    #[test]
    fn what_answered_is_named() {
        assert_eq!(judge(b"HTTP/1.1 400 Bad Request\r\n"), Err(Answered::Http));
        assert_eq!(judge(b"HTT"), Ok(false));
        assert_eq!(judge(b"SSH-2.0-OpenSSH_9.2\r\n"), Err(Answered::Ssh));
        assert_eq!(judge(&[22, 3, 3, 0, 0x7a]), Err(Answered::Tls));
        assert_eq!(judge(&[21, 3, 1, 0, 2, 2, 70]), Err(Answered::Tls));
        assert_eq!(judge(b"AMQP\x03\x01\x00\x00"), Err(Answered::OtherAmqp));
        assert_eq!(judge(b"AMQ"), Ok(false));
        assert_eq!(
            judge(b"-ERR unknown command\r\n"),
            Err(Answered::Unknown(b"-ERR unknown command\r\n".to_vec()))
        );
        // A frame of the wrong channel, or of 1.3 GB.
        assert_eq!(judge(&[1, 0, 7]), Err(Answered::BadFrame));
        assert_eq!(
            judge(&[1, 0, 0, 0x50, 0x2f, 0x31, 0x2e]),
            Err(Answered::BadFrame)
        );
    }

    #[test]
    fn messages_say_what_answered_in_one_line() {
        let http = Answered::Http.to_string();
        assert_eq!(http, "an HTTP server answered, not an AMQP broker");
        let unknown = Answered::Unknown(b"+OK\r\n\x00".to_vec()).to_string();
        assert_eq!(
            unknown,
            "the peer answered something that is not AMQP: \"+OK\\r\\n\\x00\""
        );
    }

    #[test]
    fn the_guard_refuses_before_handing_on_a_size() {
        let mut http = Guarded::new(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..], false);
        let mut buf = [0; 64];
        let error = http.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("HTTP server"), "{error}");
        // A broker's frame read in pieces passes through whole, and so does what follows.
        let mut frame = START.to_vec();
        frame.extend_from_slice(&[9; 40]);
        let mut broker = Guarded::new(&frame[..], false);
        let mut got = Vec::new();
        let mut piece = [0; 3];
        loop {
            let n = broker.read(&mut piece).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, frame);
        // Where TLS is expected, a TLS record is the right answer, and HTTP still is not.
        let mut tls = Guarded::new(&[22, 3, 3, 0, 0x7a, 2][..], true);
        assert_eq!(tls.read(&mut [0; 8]).unwrap(), 6);
        let mut http = Guarded::new(&b"HTTP/1.0 400"[..], true);
        assert!(http.read(&mut [0; 8]).is_err());
    }

    /// Read a byte at a time, whatever is not a broker is refused before the client has the 7
    /// bytes of a frame header (and so before it reads a size from them).
    #[test]
    fn no_answer_reaches_a_frame_size_unjudged() {
        let answers: [&[u8]; 7] = [
            b"HTTP/1.1 400 Bad Request\r\n",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"AMQP\x00\x01\x00\x00",
            &[22, 3, 3, 0, 0x7a, 2, 0, 0, 0x76],
            &[1, 0, 0, 0x50, 0x2f, 0x31, 0x2e, 0],
            &[1, 0, 9, 0, 0, 0, 8, 0],
            b"-ERR unknown\r\n",
        ];
        for answer in answers {
            let mut guard = Guarded::new(answer, false);
            let mut handed_on = 0;
            let refused = loop {
                match guard.read(&mut [0; 1]) {
                    Ok(0) => break false,
                    Ok(n) => handed_on += n,
                    Err(_) => break true,
                }
            };
            assert!(refused, "{answer:?} was not refused");
            assert!(
                handed_on < 7,
                "{answer:?}: {handed_on} bytes handed on first"
            );
        }
    }
}
