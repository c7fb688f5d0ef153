//! The client side of the checks: connections with timeouts, reads bounded
//! by a deadline, and the payloads.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Time left until `deadline`, at least a millisecond (a zero socket timeout
/// means "none" to the OS, and std refuses it).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Connects to `addr` within `timeout`, with reads and writes bounded by it too.
pub(crate) fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    setup(stream, timeout)
}

/// Like [`connect`], with a receive buffer of `rcvbuf` bytes, set before
/// connecting so the window is small from the start and the kernel does not
/// grow it: what the client does not read then stays with the server instead
/// of piling up in this socket.
pub(crate) fn connect_small(
    addr: SocketAddr,
    timeout: Duration,
    rcvbuf: usize,
) -> Result<TcpStream, String> {
    connect_with(addr, timeout, rcvbuf, None)
}

/// Like [`connect_small`], and announcing a maximum segment size of `mss`
/// bytes (`TCP_MAXSEG`), which the server's side of the connection adopts
/// too: its send buffer, sized in segments, stays small.
pub(crate) fn connect_narrow(
    addr: SocketAddr,
    timeout: Duration,
    rcvbuf: usize,
    mss: u32,
) -> Result<TcpStream, String> {
    connect_with(addr, timeout, rcvbuf, Some(mss))
}

fn connect_with(
    addr: SocketAddr,
    timeout: Duration,
    rcvbuf: usize,
    mss: Option<u32>,
) -> Result<TcpStream, String> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    socket
        .set_recv_buffer_size(rcvbuf)
        .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    if let Some(mss) = mss {
        socket
            .set_tcp_mss(mss)
            .map_err(|e| format!("TCP_MAXSEG: {e}"))?;
    }
    socket
        .connect_timeout(&addr.into(), timeout)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    setup(socket.into(), timeout)
}

fn setup(stream: TcpStream, timeout: Duration) -> Result<TcpStream, String> {
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| format!("setting up a client socket: {e}"))?;
    Ok(stream)
}

/// How a wait for an echo ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Every byte came back, in order.
    Echoed,
    /// The server closed or reset the connection after this many bytes.
    Closed(usize),
    /// Nothing more came before the deadline, after this many bytes.
    Silent(usize),
    /// The echo differs from what was sent at this byte.
    Wrong(usize),
    /// Some other error, after this many bytes.
    Failed(usize, String),
}

impl Reply {
    /// The reply as a reason, for `len` bytes expected.
    pub(crate) fn describe(&self, len: usize) -> String {
        match self {
            Reply::Echoed => format!("all {len} bytes came back"),
            Reply::Closed(got) => {
                format!("the server closed the connection after {got} of {len} bytes")
            }
            Reply::Silent(got) => format!("timed out after {got} of {len} bytes"),
            Reply::Wrong(at) => format!("the echo differs from what was sent at byte {at}"),
            Reply::Failed(got, e) => format!("read failed after {got} of {len} bytes: {e}"),
        }
    }
}

/// Reads until `expected` has come back (or not) by `deadline`, comparing as
/// it goes.
pub(crate) fn await_echo(mut stream: &TcpStream, expected: &[u8], deadline: Instant) -> Reply {
    let mut got = 0;
    let mut buf = vec![0; expected.len().clamp(1, 64 * 1024)];
    while got < expected.len() {
        if stream.set_read_timeout(Some(remaining(deadline))).is_err() {
            return Reply::Failed(got, "cannot set a read timeout".into());
        }
        let want = (expected.len() - got).min(buf.len());
        match stream.read(&mut buf[..want]) {
            Ok(0) => return Reply::Closed(got),
            Ok(n) => {
                if let Some(i) = first_difference(&buf[..n], &expected[got..got + n]) {
                    return Reply::Wrong(got + i);
                }
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return Reply::Silent(got);
                }
            }
            Err(e) if is_closed(&e) => return Reply::Closed(got),
            Err(e) => return Reply::Failed(got, e.to_string()),
        }
    }
    Reply::Echoed
}

/// Whether a read or write error means the peer closed or reset the connection.
pub(crate) fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// Sends `message` on a new connection and waits for its echo.
pub(crate) fn echo(addr: SocketAddr, message: &[u8], timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(addr, timeout)?;
    stream
        .write_all(message)
        .map_err(|e| format!("send: {e}"))?;
    match await_echo(&stream, message, deadline) {
        Reply::Echoed => Ok(()),
        other => Err(other.describe(message.len())),
    }
}

/// Like [`echo`], retried until it works or `timeout` has passed (a server
/// that backs off after running out of descriptors takes a moment).
pub(crate) fn echo_eventually(
    addr: SocketAddr,
    message: &[u8],
    timeout: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let attempt = echo(
            addr,
            message,
            remaining(deadline).min(Duration::from_secs(2)),
        );
        match attempt {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `len` random bytes that start with a NUL and bytes that are not UTF-8,
/// so a server that treats data as text fails.
pub(crate) fn random_bytes(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rng.fill(&mut bytes);
    for (b, special) in bytes.iter_mut().zip([0u8, 0xff, 0xc3, 0x28, 0x00, b'\n']) {
        *b = special;
    }
    bytes
}

/// The first index at which `got` and `want` differ.
pub(crate) fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    if got == want {
        return None;
    }
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or(Some(got.len().min(want.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_found() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abd", b"abc"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
    }

    #[test]
    fn random_bytes_are_not_text() {
        let mut rng = fastrand::Rng::with_seed(1);
        let b = random_bytes(&mut rng, 100);
        assert_eq!(b[0], 0);
        assert!(std::str::from_utf8(&b).is_err());
        assert_eq!(random_bytes(&mut rng, 3).len(), 3);
    }
}
