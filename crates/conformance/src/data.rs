//! Checks 1-4: every byte comes back, whatever the client does.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use test_support::procfs;

use crate::client::{
    Reply, await_echo, connect, connect_small, echo, first_difference, random_bytes, remaining,
};
use crate::{CheckResult, Failure, Sizes, Target, secs, size, with_server_state};

/// How long a client waits to connect, or for one read or write to progress.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest single write the clients make.
const MAX_WRITE: usize = 64 * 1024;

/// Check 1: `integrity_clients` connections at once, each sending its own
/// random bytes in writes of random size (1 byte to 64 KiB) while a second
/// thread reads the echo and compares it as it comes.
pub(crate) fn integrity(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let (n, len) = (sizes.integrity_clients, sizes.integrity_bytes);
    let mut rng = fastrand::Rng::with_seed(sizes.seed);
    let payloads: Vec<(Vec<u8>, u64)> = (0..n)
        .map(|_| (random_bytes(&mut rng, len), rng.u64(..)))
        .collect();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120);
    let results: Vec<Result<(), String>> = thread::scope(|s| {
        let clients: Vec<_> = payloads
            .iter()
            .map(|(payload, seed)| s.spawn(move || echo_in_pieces(addr, payload, *seed, deadline)))
            .collect();
        clients
            .into_iter()
            .map(|c| {
                c.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let what = format!("{n} x {}", size(len as u64));
    let failures: Vec<(usize, &String)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i + 1, e)))
        .collect();
    match failures.first() {
        None => Ok(format!("{what} echoed in {}", secs(elapsed))),
        Some((i, e)) => {
            let others = match failures.len() - 1 {
                0 => String::new(),
                k => format!(" (and {k} other connections failed)"),
            };
            Err(with_server_state(
                &mut server,
                Failure::new(
                    format!("{} of {what} echoed", n - failures.len()),
                    format!("connection {i}: {e}{others}"),
                ),
            ))
        }
    }
}

/// One integrity client: writes `payload` in random-size pieces from one
/// thread while this one reads and compares.
fn echo_in_pieces(
    addr: SocketAddr,
    payload: &[u8],
    seed: u64,
    deadline: Instant,
) -> Result<(), String> {
    let stream = connect(addr, SOCKET_TIMEOUT)?;
    let writer_stream = stream
        .try_clone()
        .map_err(|e| format!("cloning a socket: {e}"))?;
    thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut w = &writer_stream;
            let mut sent = 0;
            while sent < payload.len() {
                let n = rng.usize(1..=MAX_WRITE).min(payload.len() - sent);
                w.set_write_timeout(Some(remaining(deadline)))
                    .and_then(|()| w.write_all(&payload[sent..sent + n]))
                    .map_err(|e| format!("send failed after {sent} bytes: {e}"))?;
                sent += n;
            }
            Ok(())
        });
        let reply = await_echo(&stream, payload, deadline);
        if reply != Reply::Echoed {
            // Unblock the writer if the server stopped reading.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent = writer
            .join()
            .unwrap_or_else(|_| Err("writer thread panicked".into()));
        match reply {
            Reply::Echoed => sent,
            other => Err(other.describe(payload.len())),
        }
    })
}

/// Check 2: send `half_close_bytes`, shut down the write side, and expect
/// the whole echo and then end-of-file.
pub(crate) fn half_close(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let len = sizes.half_close_bytes;
    let payload = random_bytes(&mut fastrand::Rng::with_seed(sizes.seed), len);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let stream =
        connect(server.addr(), SOCKET_TIMEOUT).map_err(|e| Failure::new("no connection", e))?;
    let writer_stream = stream
        .try_clone()
        .map_err(|e| Failure::new("no connection", e.to_string()))?;
    let (ending, sent) = thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = &writer_stream;
            w.write_all(&payload)
                .and_then(|()| w.shutdown(Shutdown::Write))
        });
        let ending = read_to_eof(&stream, &payload, deadline);
        if !matches!(ending, Ending::Eof(_)) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        (ending, writer.join())
    });
    let want = size(len as u64);
    let fail = |server: &mut test_support::ServerProcess, figure: String, reason: String| {
        Err(with_server_state(server, Failure::new(figure, reason)))
    };
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return fail(&mut server, "send failed".into(), e.to_string()),
        Err(_) => {
            return fail(
                &mut server,
                "send failed".into(),
                "writer thread panicked".into(),
            );
        }
    }
    match ending {
        Ending::Eof(got) if got == len => Ok(format!(
            "{want} back, then end-of-file, in {}",
            secs(start.elapsed())
        )),
        Ending::Eof(got) => fail(
            &mut server,
            format!("{} of {want} back, then end-of-file", size(got as u64)),
            "the server closed before sending all of its echo".into(),
        ),
        Ending::Wrong(at) => fail(
            &mut server,
            format!("wrong echo at byte {at}"),
            "the echo differs from what was sent".into(),
        ),
        Ending::Silent(got) if got == len => fail(
            &mut server,
            format!("{want} back, no end-of-file"),
            "the server did not close the connection after the client's end-of-file and its echo"
                .into(),
        ),
        Ending::Silent(got) => fail(
            &mut server,
            format!("{} of {want} back", size(got as u64)),
            "timed out waiting for the rest of the echo".into(),
        ),
        Ending::Failed(got, e) => fail(
            &mut server,
            format!("{} of {want} back", size(got as u64)),
            format!("read failed: {e}"),
        ),
    }
}

enum Ending {
    /// End-of-file after this many bytes, all as sent.
    Eof(usize),
    Wrong(usize),
    Silent(usize),
    Failed(usize, String),
}

/// Reads until end-of-file, comparing with `expected` (bytes beyond it are
/// wrong too).
fn read_to_eof(mut stream: &TcpStream, expected: &[u8], deadline: Instant) -> Ending {
    let mut got = 0;
    let mut buf = vec![0; MAX_WRITE];
    loop {
        if let Err(e) = stream.set_read_timeout(Some(remaining(deadline))) {
            return Ending::Failed(got, e.to_string());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ending::Eof(got),
            Ok(n) => {
                let want = &expected[got.min(expected.len())..(got + n).min(expected.len())];
                if let Some(i) = first_difference(&buf[..n], want) {
                    return Ending::Wrong(got + i);
                }
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return Ending::Silent(got);
                }
            }
            Err(e) => return Ending::Failed(got, e.to_string()),
        }
    }
}

/// Words that say a log line is about a connection that went wrong.
const DROP_WORDS: [&str; 6] = ["reset", "drop", "clos", "broken", "error", "abort"];

/// Check 3: a client sends, reads part of its echo, sends more, and resets
/// the connection (`SO_LINGER` 0, so `close` sends RST). The server must log
/// it, close that connection's descriptor, and serve the next client.
pub(crate) fn reset(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let pid = server.pid();
    // The baseline is taken after one connection: a server may still be
    // setting up (a spare descriptor, its poller) after its startup line.
    if let Err(e) = echo(server.addr(), b"warm-up\n", SOCKET_TIMEOUT) {
        return Err(with_server_state(
            &mut server,
            Failure::new("first connection not served", e),
        ));
    }
    let baseline = settled_fds(pid);
    let mut rng = fastrand::Rng::with_seed(sizes.seed);
    let mut stream =
        connect(server.addr(), SOCKET_TIMEOUT).map_err(|e| Failure::new("no connection", e))?;
    let port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let first = random_bytes(&mut rng, 64 * 1024);
    let sent = stream.write_all(&first);
    let reply = await_echo(&stream, &first[..4096], Instant::now() + SOCKET_TIMEOUT);
    if sent.is_err() || reply != Reply::Echoed {
        return Err(with_server_state(
            &mut server,
            Failure::new("no echo before the reset", reply.describe(4096)),
        ));
    }
    // More data in flight, 60 KiB of echo unread: then RST.
    let _ = stream.write_all(&random_bytes(&mut rng, 64 * 1024));
    let lingered = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    if let Err(e) = lingered {
        return Err(Failure::new("no reset", format!("setting SO_LINGER: {e}")));
    }
    let names_port = |l: &str| l.contains(&format!(", {port})")) || l.contains(&format!(":{port}"));
    let logged = server.wait_for_line(
        |l| {
            let lower = l.to_lowercase();
            names_port(l) && DROP_WORDS.iter().any(|w| lower.contains(w))
        },
        Duration::from_secs(5),
    );
    let Some(logged) = logged else {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                "reset not logged",
                format!(
                    "within 5 s the server printed no line naming port {port} and saying what \
                     happened (reset, dropping, closing, error...)"
                ),
            ),
        ));
    };
    let fds_after = wait_for_fds(pid, baseline, Duration::from_secs(5));
    if fds_after > baseline {
        return Err(Failure::new(
            format!("fds {baseline} -> {fds_after}"),
            "the reset connection's descriptor is still open after 5 s",
        ));
    }
    let next = random_bytes(&mut rng, 100 * 1024);
    if let Err(e) = echo(server.addr(), &next, SOCKET_TIMEOUT) {
        return Err(with_server_state(
            &mut server,
            Failure::new("next client not served", e),
        ));
    }
    Ok(format!(
        "logged {:?}; fds {baseline} -> {fds_after}; next client served",
        shorten(&logged, 72)
    ))
}

/// Waits up to `timeout` for the server's descriptor count to fall to
/// `target`; returns the last count seen.
pub(crate) fn wait_for_fds(pid: u32, target: usize, timeout: Duration) -> usize {
    procfs::wait_for_fds(pid, timeout, |n| n <= target)
        .map_or_else(|last| last.unwrap_or(usize::MAX), |(n, _)| n)
}

/// The server's descriptor count once the connections it just served are
/// closed: the lowest count seen over 300 ms.
pub(crate) fn settled_fds(pid: u32) -> usize {
    let mut lowest = usize::MAX;
    for _ in 0..6 {
        lowest = lowest.min(procfs::open_fds(pid).unwrap_or(usize::MAX));
        thread::sleep(Duration::from_millis(50));
    }
    lowest
}

pub(crate) fn shorten(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_string()
    } else {
        line.chars().take(max).collect::<String>() + "..."
    }
}

/// The slow readers' receive buffer. Left to itself, Linux grows a
/// loopback socket's buffers to megabytes, and they would hold the echo a
/// server without backpressure cannot send; the check is about the server.
const SLOW_RCVBUF: usize = 64 * 1024;

/// Check 4: `slow_clients` clients each write `slow_bytes`, then end-of-file,
/// and read nothing for `slow_pause`; the server must stop reading from them
/// rather than buffer everything (peak RSS under `rss_limit`), then echo
/// every byte once they read, and close.
pub(crate) fn slow_reader(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let pid = server.pid();
    let (n, len) = (sizes.slow_clients, sizes.slow_bytes);
    let what = format!("{n} x {}", size(len as u64));
    // One payload for all: integrity already checks that connections are
    // kept apart; this check is about memory.
    let payload = random_bytes(&mut fastrand::Rng::with_seed(sizes.seed), len);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        match connect_small(server.addr(), SOCKET_TIMEOUT, SLOW_RCVBUF) {
            Ok(c) => clients.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {n} clients connected"), e),
                ));
            }
        }
    }
    let deadline = Instant::now() + sizes.slow_pause + Duration::from_secs(120);
    let written = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let mut peak = 0u64;
    let sample = |peak: &mut u64| {
        *peak = (*peak).max(procfs::rss_bytes(pid).unwrap_or(0));
    };
    let (during_pause, read_time, replies) = thread::scope(|s| {
        let writers: Vec<_> = clients
            .iter()
            .map(|c| {
                let (payload, written) = (&payload, &written);
                s.spawn(move || {
                    let mut w = c;
                    for piece in payload.chunks(MAX_WRITE) {
                        w.set_write_timeout(Some(remaining(deadline)))
                            .and_then(|()| w.write_all(piece))
                            .map_err(|e| e.to_string())?;
                        written.fetch_add(piece.len(), Ordering::Relaxed);
                    }
                    // End-of-file while the server is still paused: it must
                    // notice it once it resumes reading.
                    w.shutdown(Shutdown::Write).map_err(|e| e.to_string())
                })
            })
            .collect();
        let pause_end = Instant::now() + sizes.slow_pause;
        while Instant::now() < pause_end {
            sample(&mut peak);
            thread::sleep(Duration::from_millis(50));
        }
        let during_pause = written.load(Ordering::Relaxed);
        let read_start = Instant::now();
        let readers: Vec<_> = clients
            .iter()
            .map(|c| {
                let (payload, finished) = (&payload, &finished);
                s.spawn(move || {
                    let reply = match await_echo(c, payload, deadline) {
                        Reply::Echoed => match read_to_eof(c, &[], deadline) {
                            Ending::Eof(0) => Ok(()),
                            Ending::Wrong(_) => Err("more bytes than were sent came back".into()),
                            _ => Err(format!(
                                "all {len} bytes came back, but no end-of-file: the client's \
                                 end-of-file, sent while the server was not reading, was missed"
                            )),
                        },
                        other => Err(other.describe(len)),
                    };
                    if reply.is_err() {
                        let _ = c.shutdown(Shutdown::Both);
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                    reply
                })
            })
            .collect();
        while finished.load(Ordering::Relaxed) < n && Instant::now() < deadline {
            sample(&mut peak);
            thread::sleep(Duration::from_millis(50));
        }
        let replies: Vec<Result<(), String>> = readers
            .into_iter()
            .map(|r| r.join().unwrap_or(Err("reader panicked".into())))
            .collect();
        for w in writers {
            let _ = w.join();
        }
        (during_pause, read_start.elapsed(), replies)
    });
    peak = peak.max(procfs::peak_rss_bytes(pid).unwrap_or(0));
    let echoed = replies.iter().filter(|r| r.is_ok()).count();
    let figure = format!(
        "{what}: peak RSS {} (limit {}), {} sent before the clients read, {echoed} of {n} echoed in {}",
        size(peak),
        size(sizes.rss_limit),
        size(during_pause as u64),
        secs(read_time)
    );
    if let Some((i, Err(e))) = replies.iter().enumerate().find(|(_, r)| r.is_err()) {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("client {}: {e}", i + 1)),
        ));
    }
    if peak >= sizes.rss_limit {
        return Err(Failure::new(
            figure,
            "the server's memory grew with what the clients sent: it must stop reading from a \
             client whose echo is not being read (backpressure)",
        ));
    }
    Ok(figure)
}
