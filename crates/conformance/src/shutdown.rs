//! The opt-in check: a server that says it stops cleanly on SIGINT and
//! SIGTERM must keep that promise. Killed by the signal, a server leaves the
//! kernel to close its sockets, and a socket closed with unread data sends
//! a reset: its client can lose echo that was already on its way. A clean
//! stop delivers what is owed, half-closes, and lets the clients go first.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{connect, connect_narrow, first_difference, random_bytes, remaining};
use crate::faults::exchange;
use crate::{CheckResult, Failure, KIB, MIB, Sizes, Target, secs, size, with_server_state};

/// How long a client waits to connect, or to be served before the signal.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients that were served once and are quiet when the signal comes.
const IDLE_CLIENTS: usize = 5;
/// What the busy client sends, in all: far more than the sockets between
/// it and the server take in before the server stops reading from it
/// (2 to 12 MiB on loopback, the server's receive buffer growing as it
/// reads), so that it is still sending when the signal comes.
const BUSY_BYTES: usize = 32 * MIB;
/// The busy client's largest write; between writes it looks at whether it
/// should stop.
const BUSY_WRITE: usize = 64 * KIB;
/// The busy client's receive buffer: small, so that the echo it does not
/// read stays with the server, which must then deliver it after the signal.
const BUSY_RCVBUF: usize = 64 * KIB;
/// The segment size the busy client announces: Linux sizes the server's
/// send buffer in segments, and with loopback's 64 KiB segments that buffer
/// alone could take in megabytes (see the trickle check).
const BUSY_MSS: u32 = 536;
/// The busy client's writes have made no progress for this long: the
/// server has stopped reading from it, its echo queued.
const STALL: Duration = Duration::from_millis(300);
/// At most this long for the writes to stall before the signal is sent
/// anyway (a server that never stops reading is another check's failure).
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// The server must have exited this long after the signal: its own grace
/// for slow clients is 2 s, and these clients close as soon as they see
/// end-of-file.
const EXIT_LIMIT: Duration = Duration::from_secs(3);
/// The clients wait this much longer for their end-of-file, so that a
/// server that exited late is reported as late, not as silent.
const READ_SLACK: Duration = Duration::from_secs(1);
/// How long a blocked write waits before the writer looks at the clock.
const WRITE_POLL: Duration = Duration::from_millis(100);
/// The busy client starts reading its echo only once every idle client has
/// seen the end of its connection, or this long after the signal...
const NOTICE_LIMIT: Duration = Duration::from_secs(1);
/// ...and this long after that: by then every loop of the server has
/// noticed the signal. Were it to read at once, the server, not yet aware
/// of the signal, could rightly resume reading and echo more; this way all
/// it echoes is what it had read before the signal.
const SETTLE: Duration = Duration::from_millis(100);

/// Why a clean stop must not reset: the reason a reset is reported with.
const RESET: &str = "the server reset the connection: it closed with unread data, or did not \
                     drain (a clean stop delivers the echo owed, half-closes, reads and drops \
                     what still comes, and closes once the client has)";

/// The opt-in check: twice, once with SIGTERM and once with SIGINT, each on
/// a fresh server, 5 idle clients and one busy client that is owed echo
/// (it sends without reading until the server stops reading from it, and
/// goes on sending after the signal) are connected when the signal comes.
/// The server must exit 0 within 3 s; every idle client must see
/// end-of-file; the busy client must get back a prefix of what it sent,
/// byte for byte, with all that the server had read before the signal and
/// nothing it sent after, then end-of-file; nobody may see a reset; and the
/// server's last line must name the signal and the 6 connections closed.
pub(crate) fn shutdown(target: &Target, sizes: &Sizes) -> CheckResult {
    let payload = random_bytes(&mut fastrand::Rng::with_seed(sizes.seed), BUSY_BYTES);
    let mut figures = Vec::new();
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        match stop_once(target, &payload, signal, name) {
            Ok(figure) => figures.push(format!("{name}: {figure}")),
            Err(f) => {
                figures.push(format!("{name}: {}", f.figure));
                return Err(Failure::new(
                    figures.join("; "),
                    format!("{name}: {}", f.reason),
                ));
            }
        }
    }
    Ok(figures.join("; "))
}

/// How a client's last reads ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// End-of-file after this many bytes, all as expected.
    Eof(usize),
    /// A reset after this many bytes.
    Reset(usize),
    /// A byte that was not expected, at this offset.
    Wrong(usize),
    /// No end-of-file by the deadline, after this many bytes.
    Silent(usize),
    /// Another error, after this many bytes.
    Failed(usize, String),
}

impl Ending {
    fn bytes(&self) -> usize {
        match self {
            Ending::Eof(n)
            | Ending::Reset(n)
            | Ending::Wrong(n)
            | Ending::Silent(n)
            | Ending::Failed(n, _) => *n,
        }
    }

    /// What the client saw last, for the figure.
    fn seen(&self) -> String {
        match self {
            Ending::Eof(_) => "end-of-file".into(),
            Ending::Reset(_) => "a reset".into(),
            Ending::Wrong(_) => "wrong bytes".into(),
            Ending::Silent(_) => "no end-of-file".into(),
            Ending::Failed(_, e) => format!("a failed read ({e})"),
        }
    }
}

/// What one round measured.
struct Round {
    /// The server had stopped reading from the busy client when the signal
    /// came (its writes had stalled).
    paused: bool,
    status: Option<ExitStatus>,
    exit_time: Duration,
    idle: Vec<Ending>,
    busy: Ending,
    /// What the busy client had sent when the signal came...
    sent_by_signal: usize,
    /// ...and the least of it the server had read by then, if the kernel's
    /// socket queues could be read.
    read_by_signal: Option<usize>,
}

/// One round: a fresh server, its clients, `signal`, and what followed.
fn stop_once(target: &Target, payload: &[u8], signal: libc::c_int, name: &str) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let mut idle = Vec::with_capacity(IDLE_CLIENTS);
    for i in 0..IDLE_CLIENTS {
        let served = connect(addr, SOCKET_TIMEOUT).and_then(|mut c| {
            exchange(
                &mut c,
                format!("idle client {i}\n").as_bytes(),
                SOCKET_TIMEOUT,
            )?;
            Ok(c)
        });
        match served {
            Ok(c) => idle.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {IDLE_CLIENTS} idle clients served"), e),
                ));
            }
        }
    }
    let busy = connect_narrow(addr, SOCKET_TIMEOUT, BUSY_RCVBUF, BUSY_MSS)
        .and_then(|c| {
            socket2::SockRef::from(&c)
                .set_send_buffer_size(BUSY_RCVBUF)
                .map_err(|e| format!("SO_SNDBUF: {e}"))?;
            c.set_write_timeout(Some(WRITE_POLL))
                .map_err(|e| format!("setting up a client socket: {e}"))?;
            Ok(c)
        })
        .map_err(|e| Failure::new("the busy client did not connect", e))?;
    let busy_port = busy
        .local_addr()
        .map_err(|e| Failure::new("the busy client has no address", e.to_string()))?
        .port();
    let sent = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let idle_done = AtomicUsize::new(0);
    let writer_reset = AtomicBool::new(false);
    let round = thread::scope(|s| -> Result<Round, Failure> {
        let send_deadline = Instant::now() + SEND_LIMIT;
        let (busy, sent, stop, idle_done) = (&busy, &sent, &stop, &idle_done);
        let reset = &writer_reset;
        let writer =
            s.spawn(move || busy_writer(busy, payload, (sent, stop, reset), send_deadline));
        let paused = wait_for_stall(sent, || writer.is_finished(), send_deadline);
        if writer.is_finished() {
            let done = writer
                .join()
                .unwrap_or_else(|_| Err("the writer thread panicked".into()));
            if let Err(e) = done {
                return Err(Failure::new(
                    format!(
                        "the busy client sent {}",
                        size(sent.load(Ordering::Acquire) as u64)
                    ),
                    format!("before the signal: {e}"),
                ));
            }
        }
        // Read before the signal, in this order, so that the estimate of
        // what the server has read can only be too low: the count of bytes
        // sent only grows, and so does what the server has read.
        let sent_by_signal = sent.load(Ordering::Acquire);
        let read_by_signal = socket_queues(busy_port, addr.port())
            .map(|(unacked, unread)| sent_by_signal.saturating_sub(unacked + unread));
        server.signal(signal).map_err(|e| {
            stop.store(true, Ordering::Release);
            Failure::new("no signal sent", format!("{name}: {e}"))
        })?;
        let signalled = Instant::now();
        let read_deadline = signalled + EXIT_LIMIT + READ_SLACK;
        let idle_readers: Vec<_> = idle
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let ending = read_to_eof(c, &[], read_deadline);
                    idle_done.fetch_add(1, Ordering::Release);
                    ending
                })
            })
            .collect();
        let busy_reader = s.spawn(move || {
            let noticed = signalled + NOTICE_LIMIT;
            while idle_done.load(Ordering::Acquire) < IDLE_CLIENTS && Instant::now() < noticed {
                thread::sleep(Duration::from_millis(10));
            }
            thread::sleep(SETTLE);
            let ending = read_to_eof(busy, payload, read_deadline);
            // Seen the end (or given up): the writer stops, and the server
            // gets its end-of-file from the reader.
            stop.store(true, Ordering::Release);
            ending
        });
        let status = server.wait_exit(EXIT_LIMIT);
        let exit_time = signalled.elapsed();
        let idle = idle_readers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Ending::Failed(0, "the reader thread panicked".into()))
            })
            .collect();
        let mut busy = busy_reader
            .join()
            .unwrap_or_else(|_| Ending::Failed(0, "the reader thread panicked".into()));
        stop.store(true, Ordering::Release);
        // Whichever thread makes the first call after a reset gets the
        // error, and the other then sees end-of-file: a reset the writer
        // got is the reader's too.
        if let Ending::Eof(n) = busy
            && reset.load(Ordering::Acquire)
        {
            busy = Ending::Reset(n);
        }
        Ok(Round {
            paused,
            status,
            exit_time,
            idle,
            busy,
            sent_by_signal,
            read_by_signal,
        })
    });
    let round = match round {
        Ok(r) => r,
        Err(f) => return Err(with_server_state(&mut server, f)),
    };
    judge(&mut server, &round, signal, name)
}

/// Waits until the busy client's writes stall (no progress for [`STALL`]
/// after some), `finished` says the writer is done, or `deadline`; returns
/// whether they stalled.
fn wait_for_stall(sent: &AtomicUsize, finished: impl Fn() -> bool, deadline: Instant) -> bool {
    let mut last = 0;
    let mut since = Instant::now();
    while Instant::now() < deadline && !finished() {
        let now = sent.load(Ordering::Acquire);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if now > 0 && since.elapsed() >= STALL {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The busy client's writer: `payload` in writes of at most 64 KiB, until
/// all is sent, `stop`, or `deadline` (before the signal; after it, the
/// reader's end-of-file stops it). It counts what it has `sent`, and says
/// if it got a `reset`. Other errors after the signal are expected (the
/// reader shuts down the sending side at end-of-file).
fn busy_writer(
    mut stream: &TcpStream,
    payload: &[u8],
    (sent, stop, reset): (&AtomicUsize, &AtomicBool, &AtomicBool),
    deadline: Instant,
) -> Result<(), String> {
    let mut at = 0;
    let hard_deadline = deadline + EXIT_LIMIT + READ_SLACK;
    while at < payload.len() && !stop.load(Ordering::Acquire) && Instant::now() < hard_deadline {
        let end = (at + BUSY_WRITE).min(payload.len());
        match stream.write(&payload[at..end]) {
            Ok(0) => return Err(format!("the server took nothing more after {at} bytes")),
            Ok(n) => {
                at += n;
                sent.store(at, Ordering::Release);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                if e.kind() == ErrorKind::ConnectionReset {
                    reset.store(true, Ordering::Release);
                }
                return Err(format!("send failed after {at} bytes: {e}"));
            }
        }
    }
    Ok(())
}

/// Reads until end-of-file, a reset or `deadline`, comparing with
/// `expected` (bytes beyond it are wrong). At end-of-file the client shuts
/// down its own sending side, as a client does when it is done, so that the
/// server need not wait out its grace; otherwise it shuts down both.
fn read_to_eof(mut stream: &TcpStream, expected: &[u8], deadline: Instant) -> Ending {
    let mut got = 0;
    let mut buf = vec![0; 64 * KIB];
    let ending = loop {
        if let Err(e) = stream.set_read_timeout(Some(remaining(deadline))) {
            break Ending::Failed(got, e.to_string());
        }
        match stream.read(&mut buf) {
            Ok(0) => break Ending::Eof(got),
            Ok(n) => {
                let want = &expected[got.min(expected.len())..(got + n).min(expected.len())];
                if let Some(i) = first_difference(&buf[..n], want) {
                    break Ending::Wrong(got + i);
                }
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    break Ending::Silent(got);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                break Ending::Reset(got);
            }
            Err(e) => break Ending::Failed(got, e.to_string()),
        }
    };
    let how = if matches!(ending, Ending::Eof(_)) {
        Shutdown::Write
    } else {
        Shutdown::Both
    };
    let _ = stream.shutdown(how);
    ending
}

/// The figure of a round, and its first failure if any.
fn judge(
    server: &mut test_support::ServerProcess,
    round: &Round,
    signal: libc::c_int,
    name: &str,
) -> CheckResult {
    let exit = match round.status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit {code} in {}", secs(round.exit_time)),
            (None, Some(sig)) if sig == signal => format!("killed by {name}"),
            _ => format!("{status}"),
        },
        None => format!("still running {} later", secs(EXIT_LIMIT)),
    };
    let at_eof = round
        .idle
        .iter()
        .filter(|e| matches!(e, Ending::Eof(0)))
        .count();
    let idle = if at_eof == IDLE_CLIENTS {
        format!("{IDLE_CLIENTS} idle clients saw end-of-file")
    } else {
        format!("{at_eof} of {IDLE_CLIENTS} idle clients saw end-of-file")
    };
    let got = round.busy.bytes();
    let owed = round.read_by_signal.map_or(String::new(), |r| {
        format!(" (it was owed at least {})", size(r as u64))
    });
    let intact = if matches!(round.busy, Ending::Wrong(_)) {
        ""
    } else {
        ", intact,"
    };
    let paused = if round.paused {
        format!("paused after sending {}", size(round.sent_by_signal as u64))
    } else {
        format!(
            "not paused ({} sent by the signal)",
            size(round.sent_by_signal as u64)
        )
    };
    let busy = format!(
        "the busy client, {paused}, got {} of its {} back{owed}{intact} then {}",
        size(got as u64),
        size(BUSY_BYTES as u64),
        round.busy.seen()
    );
    let figure = format!("{exit}; {idle}; {busy}");
    let fail = |reason: String| Err(Failure::new(figure.clone(), reason));

    match round.status {
        None => {
            return fail(format!(
                "the server was still running {} after {name}: a clean stop waits for its \
                 clients for a bounded time, then exits",
                secs(EXIT_LIMIT)
            ));
        }
        Some(status) if status.signal() == Some(signal) => {
            return fail(format!(
                "the server was killed by {name}: it does not handle the signal (run this check \
                 only against a server that stops cleanly, with --clean-stop)"
            ));
        }
        Some(status) if status.code() != Some(0) => {
            return Err(with_server_state(
                server,
                Failure::new(
                    figure,
                    format!("{status}: a clean stop exits with status 0"),
                ),
            ));
        }
        Some(_) => {}
    }
    for (i, ending) in round.idle.iter().enumerate() {
        let who = format!("idle client {}", i + 1);
        match ending {
            Ending::Eof(0) => {}
            Ending::Reset(_) => return fail(format!("{who}: {RESET}")),
            Ending::Eof(_) | Ending::Wrong(_) => {
                return fail(format!(
                    "{who}: bytes came that it was not owed (its message had come back already)"
                ));
            }
            Ending::Silent(_) => {
                return fail(format!(
                    "{who}: no end-of-file within {} of {name}: the server must half-close \
                     every connection it has, idle or not",
                    secs(EXIT_LIMIT + READ_SLACK)
                ));
            }
            Ending::Failed(_, e) => return fail(format!("{who}: the read failed: {e}")),
        }
    }
    match &round.busy {
        Ending::Eof(_) => {}
        Ending::Reset(_) => return fail(format!("the busy client: {RESET}")),
        Ending::Wrong(at) => {
            return fail(format!(
                "the busy client: the echo differs from what was sent at byte {at} (of {} \
                 sent by the signal)",
                round.sent_by_signal
            ));
        }
        Ending::Silent(n) => {
            return fail(format!(
                "the busy client: no end-of-file within {} of {name}, after {} of echo",
                secs(EXIT_LIMIT + READ_SLACK),
                size(*n as u64)
            ));
        }
        Ending::Failed(_, e) => return fail(format!("the busy client: the read failed: {e}")),
    }
    if let Some(read) = round.read_by_signal
        && got < read
    {
        return fail(format!(
            "the server had read at least {} from the busy client before {name}, but echoed \
             only {}: a clean stop delivers the echo it owes before it half-closes",
            size(read as u64),
            size(got as u64)
        ));
    }
    // A write in progress may have been partly taken before it returned.
    let sent = round.sent_by_signal + BUSY_WRITE;
    if round.paused && got > sent {
        return fail(format!(
            "the busy client had sent at most {} when {name} came, but got {} back: what a \
             client sends after the signal gets no echo (read and drop it until the client \
             closes)",
            size(sent as u64),
            size(got as u64)
        ));
    }
    let last = last_line(server);
    let closed = (IDLE_CLIENTS + 1).to_string();
    let names_both = last.contains(name)
        && last
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n == closed);
    if !names_both {
        return fail(format!(
            "the server's last line should name {name} and the {closed} connections it closed \
             (e.g. \"stopped by {name}: closed {closed} connections\"); it was {last:?}"
        ));
    }
    Ok(figure)
}

/// The server's last non-empty line on stderr, once it has exited.
fn last_line(server: &test_support::ServerProcess) -> String {
    // Returns when stderr reaches end-of-file: every line has been read.
    server.wait_for_line(|_| false, Duration::from_millis(500));
    server
        .lines()
        .into_iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

/// The kernel's queues for the loopback connection from `client_port` to
/// `server_port`, from `/proc/net/tcp`: what the client has sent that the
/// server's kernel has not acknowledged, and what the server's kernel holds
/// that the server has not read. What the client sent, less both, is what
/// the server has read (or less, as a byte on its way is in both). `None`
/// if the table cannot be read or lacks either socket.
fn socket_queues(client_port: u16, server_port: u16) -> Option<(usize, usize)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (mut unacked, mut unread) = (None, None);
    // The table can hold many thousands of rows (connections in TIME_WAIT
    // from earlier checks): only the rows that mention the client's port
    // are parsed.
    let needle = format!(":{client_port:04X} ");
    for line in table.lines().skip(1).filter(|l| l.contains(&needle)) {
        let Some((local, remote, tx, rx)) = tcp_row(line) else {
            continue;
        };
        if (local, remote) == (client_port, server_port) {
            unacked = Some(tx);
        } else if (local, remote) == (server_port, client_port) {
            unread = Some(rx);
        }
    }
    Some((unacked?, unread?))
}

/// One row of `/proc/net/tcp`: the local and remote ports and the send and
/// receive queues, e.g. from
/// `0: 0100007F:8AE3 0100007F:C350 01 00000200:00001000 ...`.
fn tcp_row(line: &str) -> Option<(u16, u16, usize, usize)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    let (tx, rx) = fields.get(4)?.split_once(':')?;
    Some((
        port(fields.get(1)?)?,
        port(fields.get(2)?)?,
        usize::from_str_radix(tx, 16).ok()?,
        usize::from_str_radix(rx, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_rows_are_read() {
        let row = "  12: 0100007F:8AE3 0100007F:C350 01 00000200:00001000 00:00000000 \
                   00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(tcp_row(row), Some((0x8ae3, 0xc350, 0x200, 0x1000)));
        assert_eq!(
            tcp_row("  sl  local_address rem_address   st tx_queue rx_queue"),
            None
        );
    }

    #[test]
    fn the_queues_of_a_live_connection_are_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server_port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        client.write_all(b"unread").unwrap();
        let client_port = client.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(5);
        // The bytes reach the other socket's queue at once on loopback; the
        // loop only guards against a slow machine.
        loop {
            let queues = socket_queues(client_port, server_port).unwrap();
            if queues.1 == 6 || Instant::now() >= deadline {
                assert_eq!(queues, (0, 6));
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}
