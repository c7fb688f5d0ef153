//! Many connections open at once, each echoing a message of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The environment variable that overrides how many connections
/// [`connection_count`] asks for, e.g. `ECHO_MANY_CONNECTIONS=10000`.
pub const ENV: &str = "ECHO_MANY_CONNECTIONS";

/// Descriptors kept back from the budget, for everything else a test (or the
/// server) has open.
const RESERVE: u64 = 100;

/// How many connections a test can open: `default`, or the number in
/// [`ENV`], scaled down (with the reason printed) when `RLIMIT_NOFILE`,
/// raised to its hard limit first, leaves too few descriptors. Each
/// connection costs the test one descriptor and the server, which inherits
/// the same limit, another.
pub fn connection_count(default: usize) -> usize {
    let wanted = std::env::var(ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let limit = echo_common::raise_fd_limit().unwrap_or(1024);
    let room = usize::try_from(limit.saturating_sub(RESERVE)).unwrap_or(usize::MAX);
    if room < wanted {
        eprintln!(
            "RLIMIT_NOFILE is {limit}: testing {room} connections instead of {wanted} \
             (raise the hard limit, e.g. `ulimit -Hn 20000` as root, for the full test)"
        );
    }
    wanted.min(room)
}

/// Opens `count` connections to `addr` and keeps them all open; then sends a
/// different message on each and reads every echo back. Fails on the first
/// connection that cannot connect or gets a wrong echo, or after `timeout`.
pub fn check_many_connections(
    addr: SocketAddr,
    count: usize,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut streams = Vec::with_capacity(count);
    for i in 0..count {
        if Instant::now() > deadline {
            return Err(format!("timed out after {i} of {count} connections"));
        }
        let stream = TcpStream::connect(addr).map_err(|e| format!("connection {i}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        streams.push(stream);
    }
    // Every connection is open while every one of them is used.
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .write_all(message(i).as_bytes())
            .map_err(|e| format!("send on connection {i}: {e}"))?;
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        if Instant::now() > deadline {
            return Err(format!("timed out after {i} of {count} echoes"));
        }
        let want = message(i);
        let mut got = vec![0; want.len()];
        stream
            .read_exact(&mut got)
            .map_err(|e| format!("echo on connection {i} of {count}: {e}"))?;
        if got != want.as_bytes() {
            return Err(format!(
                "connection {i} got {:?} back for {want:?}",
                String::from_utf8_lossy(&got)
            ));
        }
    }
    Ok(())
}

fn message(i: usize) -> String {
    format!("message {i:05}\n")
}
