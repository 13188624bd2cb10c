//! A TCP proxy on loopback between the tools and a broker node, for network faults the tests
//! control: forward; blackhole (both sockets stay open, nothing moves either way: a silent
//! partition); latency added per direction; a reset after so many bytes (in the middle of a
//! frame); new connections refused (the port closed).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the pumps look at what the test asked for.
const TICK: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    blackhole: AtomicBool,
    refuse: AtomicBool,
    stop: AtomicBool,
    /// Latency added to each direction, in microseconds: client to broker, broker to client.
    up_latency: AtomicU64,
    down_latency: AtomicU64,
    /// Reset each connection once this many bytes went from the broker to the client; 0: never.
    cut_after: AtomicU64,
    /// Connections accepted, and reset.
    accepted: AtomicUsize,
    resets: AtomicUsize,
    /// The client side of every connection open, to reset them all.
    open: Mutex<Vec<(usize, TcpStream)>>,
}

/// A running proxy; it stops, and resets what it holds, when dropped.
pub struct Proxy {
    port: u16,
    upstream: SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    /// A proxy on a free loopback port to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream)),
            state: Arc::new(State::default()),
        };
        let (state, upstream) = (Arc::clone(&proxy.state), proxy.upstream);
        std::thread::spawn(move || accept(listener, port, upstream, &state));
        proxy
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forwards again in both directions (the end of a blackhole; latency stays as set).
    pub fn forward(&self) {
        self.state.blackhole.store(false, Ordering::SeqCst);
    }

    /// Forwards nothing either way, keeping every socket open: a silent partition.
    pub fn blackhole(&self) {
        self.state.blackhole.store(true, Ordering::SeqCst);
    }

    /// Adds `up` to what goes to the broker and `down` to what comes back.
    pub fn latency(&self, up: Duration, down: Duration) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.state.up_latency.store(micros(up), Ordering::SeqCst);
        self.state
            .down_latency
            .store(micros(down), Ordering::SeqCst);
    }

    /// Resets every connection (now open or opened later) once `bytes` went from the broker
    /// to the client over it; `None` to stop.
    pub fn cut_after(&self, bytes: Option<u64>) {
        self.state
            .cut_after
            .store(bytes.unwrap_or(0), Ordering::SeqCst);
    }

    /// Closes the port (connections are refused) or opens it again.
    pub fn refuse(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Resets every open connection now.
    pub fn reset_all(&self) {
        let open = std::mem::take(&mut *self.state.open.lock().unwrap());
        for (_, stream) in open {
            reset(&stream);
            self.state.resets.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections reset so far.
    pub fn resets(&self) -> usize {
        self.state.resets.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state.open.lock().unwrap().len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.reset_all();
    }
}

/// Sends a TCP reset: SO_LINGER with a zero timeout, then close.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) on a socket we own, with a linger value that lives across the
    // call and its exact size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn accept(listener: TcpListener, port: u16, upstream: SocketAddr, state: &Arc<State>) {
    let mut listener = Some(listener);
    let mut next_id = 0;
    while !state.stop.load(Ordering::SeqCst) {
        if state.refuse.load(Ordering::SeqCst) {
            // A closed port: connecting is refused at once.
            listener = None;
            std::thread::sleep(TICK);
            continue;
        }
        let open = match &listener {
            Some(open) => open,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(open) => listener.insert(open),
                Err(_) => {
                    std::thread::sleep(TICK);
                    continue;
                }
            },
        };
        open.set_nonblocking(true).unwrap();
        let client = match open.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(TICK);
                continue;
            }
            Err(_) => continue,
        };
        client.set_nonblocking(false).unwrap();
        let Ok(server) = TcpStream::connect(upstream) else {
            reset(&client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        next_id += 1;
        state.accepted.fetch_add(1, Ordering::SeqCst);
        state
            .open
            .lock()
            .unwrap()
            .push((next_id, client.try_clone().unwrap()));
        let id = next_id;
        let cut = Arc::new(AtomicU64::new(0));
        for up in [true, false] {
            let (from, to) = if up {
                (client.try_clone().unwrap(), server.try_clone().unwrap())
            } else {
                (server.try_clone().unwrap(), client.try_clone().unwrap())
            };
            let (state, cut) = (Arc::clone(state), Arc::clone(&cut));
            let ends = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(from, to, up, id, &state, &cut, ends));
        }
    }
}

/// Moves bytes one way until either side closes: read, hold for the latency, write; nothing
/// is read while blackholed.
fn pump(
    mut from: TcpStream,
    to: TcpStream,
    up: bool,
    id: usize,
    state: &Arc<State>,
    moved_down: &AtomicU64,
    ends: (TcpStream, TcpStream),
) {
    // The writer: holds each chunk until it is due, so latency does not limit throughput.
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let mut to = to.try_clone().unwrap();
        let state = Arc::clone(state);
        std::thread::spawn(move || {
            for (due, chunk) in rx {
                while Instant::now() < due || state.blackhole.load(Ordering::SeqCst) {
                    if state.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(
                        TICK.min(due.saturating_duration_since(Instant::now()))
                            .max(Duration::from_millis(1)),
                    );
                }
                if to.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    from.set_read_timeout(Some(TICK)).unwrap();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        if state.blackhole.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            continue;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => break,
        };
        let mut chunk = buffer[..read].to_vec();
        let mut reset_now = false;
        if !up {
            let limit = state.cut_after.load(Ordering::SeqCst);
            let before = moved_down.fetch_add(read as u64, Ordering::SeqCst);
            if limit > 0 && before + read as u64 >= limit {
                chunk.truncate(limit.saturating_sub(before) as usize);
                reset_now = true;
            }
        }
        let latency = if up {
            &state.up_latency
        } else {
            &state.down_latency
        };
        let due = Instant::now() + Duration::from_micros(latency.load(Ordering::SeqCst));
        if tx.send((due, chunk)).is_err() {
            break;
        }
        if reset_now {
            // Let the partial frame go out, then reset both sides.
            drop(tx);
            let _ = writer.join();
            reset(&ends.0);
            reset(&ends.1);
            state.resets.fetch_add(1, Ordering::SeqCst);
            state.open.lock().unwrap().retain(|(open, _)| *open != id);
            return;
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = ends.0.shutdown(Shutdown::Both);
    let _ = ends.1.shutdown(Shutdown::Both);
    state.open.lock().unwrap().retain(|(open, _)| *open != id);
}
