//! Checks 11-13: a busy client must not starve the others, urgent data must
//! not strand the bytes behind it, and memory must be bounded by what queued
//! bytes cost, not only by how many there are.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use test_support::procfs;

use crate::client::{
    Reply, await_echo, connect, connect_narrow, echo, first_difference, is_closed, random_bytes,
    remaining,
};
use crate::faults::exchange;
use crate::{CheckResult, Failure, MIB, Sizes, Target, secs, size, with_server_state};

/// How long a client waits to connect, or for one read or write to progress.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// Clients that send as fast as they can in the fairness check.
const FLOODS: usize = 4;
/// Each flood writes this much at a time, over and over.
const FLOOD_WRITE: usize = MIB;
/// The ping client's message.
const PING_BYTES: usize = 64;
/// A ping whose echo takes longer than this is not answered at all.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The slowest round trip allowed for 99% of the pings. Generous, so that a
/// loaded machine (two cores, other checks running) cannot fail a fair
/// server: a server that serves every ready client a bounded amount per turn
/// answers in well under 10 ms on an idle machine, and under 30 ms with four
/// busy processes beside it. One that lets a client hold it for a 200 ms
/// turn (`broken-echo --fault greedy`) has a p99 over 400 ms.
const PING_P99_LIMIT: Duration = Duration::from_millis(100);
/// The largest ratio allowed between the most and the least any two floods
/// got echoed. A fair server gives each about a quarter; scheduling and
/// socket buffers make the shares wobble, so only a server that clearly
/// favours some clients goes past this.
const SHARE_RATIO_LIMIT: f64 = 4.0;

/// The ratio limit for a server with `loops` event loops. A connection stays
/// on the loop that took it, and loops share the machine, not their
/// clients: one loop may hold a single flood and another all the rest, so
/// even a server fair on every loop can give one flood `FLOODS - 1` times
/// another's share.
fn share_ratio_limit(loops: usize) -> f64 {
    if loops > 1 {
        SHARE_RATIO_LIMIT * (FLOODS - 1) as f64
    } else {
        SHARE_RATIO_LIMIT
    }
}
/// How long the floods get to start before the pings are timed.
const WARM_UP: Duration = Duration::from_secs(2);
/// How long a flood's read or write blocks before it looks at the clock and
/// whether it should stop.
const FLOOD_POLL: Duration = Duration::from_millis(100);
/// At most this many pings (a round trip takes tens of microseconds at least).
const MAX_PINGS: usize = 1_000_000;

/// Check 11: four "flood" clients each write megabyte buffers as fast as the
/// server takes them while another thread reads and compares their echo;
/// meanwhile a "ping" client sends 64 bytes, waits for their echo and sends
/// again, for `fairness_duration`. A server that serves each ready client a
/// bounded amount per turn answers the ping within milliseconds however hard
/// the floods push, and shares its time evenly between them; a server that
/// keeps reading from one client while it has data starves the rest.
/// Fails if the pings' 99th percentile is over 100 ms, if one flood got more
/// than four times what another got (or nothing), or if any echo is wrong.
pub(crate) fn fairness(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let mut rng = fastrand::Rng::with_seed(sizes.seed);
    let payloads: Vec<Vec<u8>> = (0..FLOODS)
        .map(|_| random_bytes(&mut rng, FLOOD_WRITE))
        .collect();
    let mut floods = Vec::with_capacity(FLOODS);
    for i in 0..FLOODS {
        let flood = connect(addr, SOCKET_TIMEOUT).and_then(|c| {
            c.set_read_timeout(Some(FLOOD_POLL))
                .and_then(|()| c.set_write_timeout(Some(FLOOD_POLL)))
                .map_err(|e| format!("setting up a client socket: {e}"))?;
            Ok(c)
        });
        match flood {
            Ok(c) => floods.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {FLOODS} floods connected"), e),
                ));
            }
        }
    }
    // Served once before the floods start, so a failure later is theirs.
    let mut pinger = connect(addr, SOCKET_TIMEOUT).map_err(|e| Failure::new("no connection", e))?;
    if let Err(e) = exchange(&mut pinger, &ping_message(0), PING_TIMEOUT) {
        return Err(with_server_state(
            &mut server,
            Failure::new("no ping", format!("the ping client got no echo: {e}")),
        ));
    }
    let duration = sizes.fairness_duration;
    let deadline = Instant::now() + WARM_UP + duration + PING_TIMEOUT + SOCKET_TIMEOUT;
    let stop = AtomicBool::new(false);
    let echoed: Vec<AtomicU64> = (0..FLOODS).map(|_| AtomicU64::new(0)).collect();
    let (pings, window, before, after, flood_results) = thread::scope(|s| {
        let threads: Vec<_> = floods
            .iter()
            .zip(&payloads)
            .zip(&echoed)
            .map(|((stream, payload), echoed)| {
                let stop = &stop;
                let writer = s.spawn(move || flood_writer(stream, payload, stop, deadline));
                let reader = s.spawn(move || flood_reader(stream, payload, echoed, stop, deadline));
                (writer, reader)
            })
            .collect();
        let counts = || -> Vec<u64> { echoed.iter().map(|e| e.load(Ordering::Relaxed)).collect() };
        let warm_end = Instant::now() + WARM_UP;
        while Instant::now() < warm_end && counts().iter().any(|&c| c < FLOOD_WRITE as u64) {
            thread::sleep(Duration::from_millis(20));
        }
        let before = counts();
        let start = Instant::now();
        let pings = ping(&pinger, duration);
        let window = start.elapsed();
        let after = counts();
        stop.store(true, Ordering::Relaxed);
        // The writers and readers notice within FLOOD_POLL; a write blocked
        // on a server that stopped reading fails at once.
        for f in &floods {
            let _ = f.shutdown(Shutdown::Both);
        }
        let flood_results: Vec<Result<u64, String>> = threads
            .into_iter()
            .map(|(w, r)| {
                let sent = w
                    .join()
                    .unwrap_or_else(|_| Err("writer thread panicked".into()));
                let read = r
                    .join()
                    .unwrap_or_else(|_| Err("reader thread panicked".into()));
                read.and(sent)
            })
            .collect();
        (pings, window, before, after, flood_results)
    });
    let rates: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.saturating_sub(*b) as f64 / MIB as f64 / window.as_secs_f64())
        .collect();
    let shares: Vec<u64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.saturating_sub(*b))
        .collect();
    let (most, least) = (
        shares.iter().copied().max().unwrap_or(0),
        shares.iter().copied().min().unwrap_or(0),
    );
    let ratio = if least > 0 {
        most as f64 / least as f64
    } else {
        f64::INFINITY
    };
    let (rtts, ping_error) = match pings {
        Ok(rtts) => (rtts, None),
        Err((rtts, e)) => (rtts, Some(e)),
    };
    let mut sorted = rtts.clone();
    sorted.sort();
    let p99 = percentile(&sorted, 99);
    let figure = format!(
        "ping p50 {}, p99 {}, max {} over {} pings in {}; floods {} MiB/s (max/min {})",
        ms(percentile(&sorted, 50)),
        ms(p99),
        ms(sorted.last().copied().unwrap_or_default()),
        sorted.len(),
        secs(window),
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        if ratio.is_finite() {
            format!("{ratio:.1}")
        } else {
            "-".into()
        }
    );
    if let Some((i, Err(e))) = flood_results.iter().enumerate().find(|(_, r)| r.is_err()) {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("flood {}: {e}", i + 1)),
        ));
    }
    if let Some(e) = ping_error {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("ping {}: {e}", rtts.len() + 1)),
        ));
    }
    if let Some(i) = shares.iter().position(|&s| s == 0) {
        return Err(Failure::new(
            figure,
            format!(
                "flood {} got nothing echoed in {} while the others did: the server starves it",
                i + 1,
                secs(window)
            ),
        ));
    }
    if p99 > PING_P99_LIMIT {
        return Err(Failure::new(
            figure,
            format!(
                "the ping p99 {} is over {}: a client that sends little waits behind clients \
                 that send much; serve each ready client a bounded amount per turn",
                ms(p99),
                ms(PING_P99_LIMIT)
            ),
        ));
    }
    let ratio_limit = share_ratio_limit(target.loops);
    if ratio > ratio_limit {
        let loops = match target.loops {
            1 => String::new(),
            n => format!(" with {n} loops"),
        };
        return Err(Failure::new(
            figure,
            format!(
                "one flood got {ratio:.1} times what another got echoed (limit \
                 {ratio_limit:.0}{loops}): the server favours some clients over others"
            ),
        ));
    }
    Ok(figure)
}

/// The `i`th ping: 64 bytes that differ from one ping to the next, so an
/// echo of an older ping is caught.
fn ping_message(i: usize) -> Vec<u8> {
    (0..PING_BYTES)
        .map(|j| (i.wrapping_mul(31).wrapping_add(j) % 256) as u8)
        .collect()
}

/// Pings for `duration`: the round trip of each ping, or those and why the
/// last one failed.
fn ping(
    mut stream: &TcpStream,
    duration: Duration,
) -> Result<Vec<Duration>, (Vec<Duration>, String)> {
    let end = Instant::now() + duration;
    let mut rtts = Vec::new();
    for i in 1..=MAX_PINGS {
        if Instant::now() >= end {
            break;
        }
        let message = ping_message(i);
        let start = Instant::now();
        if let Err(e) = stream.write_all(&message) {
            return Err((rtts, format!("send failed: {e}")));
        }
        match await_echo(stream, &message, start + PING_TIMEOUT) {
            Reply::Echoed => rtts.push(start.elapsed()),
            Reply::Silent(got) => {
                return Err((
                    rtts,
                    format!(
                        "no echo within {} ({got} of {PING_BYTES} bytes came back): the \
                         floods starve it",
                        secs(PING_TIMEOUT)
                    ),
                ));
            }
            other => return Err((rtts, other.describe(PING_BYTES))),
        }
    }
    Ok(rtts)
}

/// A flood's writer: `payload` again and again until told to stop. Returns
/// how much it sent.
fn flood_writer(
    mut stream: &TcpStream,
    payload: &[u8],
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<u64, String> {
    let mut sent = 0u64;
    let mut at = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match stream.write(&payload[at..]) {
            Ok(0) => return Err(format!("the server took nothing more after {sent} bytes")),
            Ok(n) => {
                sent += n as u64;
                at = (at + n) % payload.len();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(e) => return Err(format!("send failed after {sent} bytes: {e}")),
        }
    }
    Ok(sent)
}

/// A flood's reader: reads the echo until told to stop, comparing it with
/// `payload` repeated and counting it in `echoed`.
fn flood_reader(
    mut stream: &TcpStream,
    payload: &[u8],
    echoed: &AtomicU64,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<u64, String> {
    let mut got = 0u64;
    let mut buf = vec![0; 64 * 1024];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) if stop.load(Ordering::Relaxed) => break,
            Ok(0) => {
                return Err(format!(
                    "the server closed the connection after {got} bytes of echo"
                ));
            }
            Ok(n) => {
                if let Some(i) = differs_from_repeated(&buf[..n], payload, got) {
                    return Err(format!(
                        "the echo differs from what was sent at byte {}",
                        got + i as u64
                    ));
                }
                got += n as u64;
                echoed.store(got, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(e) if is_closed(&e) => {
                return Err(format!(
                    "the server reset the connection after {got} bytes of echo"
                ));
            }
            Err(e) => return Err(format!("read failed after {got} bytes of echo: {e}")),
        }
    }
    Ok(got)
}

/// Where `got`, read from offset `from` of a stream that repeats `payload`,
/// first differs from it.
fn differs_from_repeated(got: &[u8], payload: &[u8], from: u64) -> Option<usize> {
    let mut checked = 0;
    // Each pass compares up to the end of one repetition.
    while checked < got.len() {
        let at = ((from + checked as u64) % payload.len() as u64) as usize;
        let n = (payload.len() - at).min(got.len() - checked);
        if let Some(i) = first_difference(&got[checked..checked + n], &payload[at..at + n]) {
            return Some(checked + i);
        }
        checked += n;
    }
    None
}

/// The `pct`th percentile of `sorted` (zero if it is empty).
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Milliseconds for reports: `0.41 ms`, `12 ms`.
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Rounds in the urgent check, each on a new connection.
const URGENT_ROUNDS: usize = 8;
/// How long a round waits for its echo once the server is continued.
const URGENT_WAIT: Duration = Duration::from_secs(2);
/// Sent with `MSG_OOB`: TCP marks the last byte, `c`, urgent.
const URGENT: &[u8] = b"abc";
/// Sent normally after it.
const AFTER_URGENT: &[u8] = b"def";

/// Check 12: TCP urgent data. On each of eight connections, while the
/// server is stopped (`SIGSTOP`), a client sends `abc` with `MSG_OOB`, which
/// marks `c` urgent, then `def` normally; once the server is continued, all
/// of `abcdef` must come back.
///
/// Servers set `SO_OOBINLINE`, so the urgent byte stays in the stream and is
/// echoed like any other. But Linux's TCP stops a read at the urgent mark:
/// with `abcdef` queued, the first read returns `ab` however large its
/// buffer, and the next one `cdef`. A short read therefore does not mean
/// that the socket is empty. An edge-triggered server that takes it so
/// waits for an edge that never comes, and `cdef` stays stranded; without
/// `SO_OOBINLINE`, the urgent `c` is set aside out of band, and a plain read
/// never sees it.
pub(crate) fn urgent(target: &Target, _sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let expected: Vec<u8> = [URGENT, AFTER_URGENT].concat();
    let mut wrong = Vec::new();
    let mut echoed = 0;
    for round in 1..=URGENT_ROUNDS {
        let figure = || format!("{echoed} of {} rounds echoed everything", round - 1);
        let mut stream = match connect(addr, SOCKET_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(figure(), format!("round {round}: {e}")),
                ));
            }
        };
        // Echoed once, so the server has accepted and set up the connection.
        if let Err(e) = exchange(&mut stream, b"before the urgent byte\n", SOCKET_TIMEOUT) {
            return Err(with_server_state(
                &mut server,
                Failure::new(figure(), format!("round {round}: not served: {e}")),
            ));
        }
        if let Err(e) = server.signal(libc::SIGSTOP) {
            return Err(Failure::new(figure(), format!("SIGSTOP: {e}")));
        }
        let sent = send_urgent(&mut stream);
        // Continue it whatever happened, so it can be killed and reaped.
        let continued = server.signal(libc::SIGCONT);
        if let Err(e) = sent {
            return Err(Failure::new(figure(), format!("round {round}: {e}")));
        }
        if let Err(e) = continued {
            return Err(Failure::new(figure(), format!("SIGCONT: {e}")));
        }
        let (got, ending) = read_back(&stream, &expected, Instant::now() + URGENT_WAIT);
        if got == expected {
            echoed += 1;
        } else {
            wrong.push((round, got, ending));
        }
    }
    let figure = format!(
        "{echoed} of {URGENT_ROUNDS} rounds echoed all of {:?} (\"c\" sent urgent)",
        String::from_utf8_lossy(&expected)
    );
    let Some((_, first, _)) = wrong.first() else {
        return Ok(figure);
    };
    // Rounds that got the same are listed together: `rounds 1, 2: "ab" ...`.
    let mut groups: Vec<(Vec<usize>, String)> = Vec::new();
    for (round, got, ending) in &wrong {
        let what = format!("{:?} {ending}", got.escape_ascii().to_string());
        match groups.iter_mut().find(|(_, w)| *w == what) {
            Some((rounds, _)) => rounds.push(*round),
            None => groups.push((vec![*round], what)),
        }
    }
    let listed: Vec<String> = groups
        .iter()
        .map(|(rounds, what)| {
            let word = if rounds.len() == 1 { "round" } else { "rounds" };
            let numbers: Vec<String> = rounds.iter().map(ToString::to_string).collect();
            format!("{word} {}: {what}", numbers.join(", "))
        })
        .collect();
    let hint = if !first.contains(&b'c') && first.ends_with(AFTER_URGENT) {
        "the urgent byte was lost: set SO_OOBINLINE on accepted connections, so urgent data \
         stays in the stream"
    } else if expected.starts_with(first) {
        "the bytes after the urgent mark were stranded: a read stops short at the urgent mark \
         while more is queued, so a short read does not mean the socket is empty (read until \
         WouldBlock)"
    } else {
        "the echo differs from what was sent"
    };
    Err(with_server_state(
        &mut server,
        Failure::new(figure, format!("{}; {hint}", listed.join("; "))),
    ))
}

/// Sends [`URGENT`] with `MSG_OOB`, then [`AFTER_URGENT`], and gives them
/// time to arrive.
fn send_urgent(stream: &mut TcpStream) -> Result<(), String> {
    let sent = socket2::SockRef::from(&*stream)
        .send_out_of_band(URGENT)
        .map_err(|e| format!("send with MSG_OOB: {e}"))?;
    if sent != URGENT.len() {
        return Err(format!(
            "send with MSG_OOB took {sent} of {} bytes",
            URGENT.len()
        ));
    }
    stream
        .write_all(AFTER_URGENT)
        .map_err(|e| format!("send after the urgent byte: {e}"))?;
    thread::sleep(Duration::from_millis(100));
    Ok(())
}

/// How long a round waits for more once a byte differs, to show what
/// follows it.
const AFTER_WRONG: Duration = Duration::from_millis(200);

/// Reads the echo until `expected.len()` bytes came back, the server closes,
/// or `deadline` (cut short once a byte differs); returns what came back and
/// how the wait ended. (`await_echo` stops at the first wrong byte; this
/// reads on, to show what came back instead.)
fn read_back(mut stream: &TcpStream, expected: &[u8], deadline: Instant) -> (Vec<u8>, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let mut deadline = deadline;
    while got.len() < expected.len() {
        if let Err(e) = stream.set_read_timeout(Some(remaining(deadline))) {
            return (
                got,
                format!("came back, then setting a read timeout failed: {e}"),
            );
        }
        match stream.read(&mut buf) {
            Ok(0) => return (got, "came back, then the server closed".into()),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let k = got.len().min(expected.len());
                if got[..k] != expected[..k] {
                    deadline = deadline.min(Instant::now() + AFTER_WRONG);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    let k = got.len().min(expected.len());
                    return if got[..k] == expected[..k] {
                        (
                            got,
                            format!("came back, then nothing for {}", secs(URGENT_WAIT)),
                        )
                    } else {
                        (got, "came back".into())
                    };
                }
            }
            Err(e) => return (got, format!("came back, then the read failed: {e}")),
        }
    }
    (got, "came back".into())
}

/// The trickling clients' receive buffer: small, so the echo they do not
/// read stays with the server rather than in their sockets.
const TRICKLE_RCVBUF: usize = 4 * 1024;
/// The segment size the trickling clients announce. On loopback segments
/// are 64 KiB, and Linux sizes a connection's send buffer in segments (twenty
/// to start with), so the server's socket alone could hold megabytes of echo,
/// more than the clients can send a byte at a time within the check. With
/// 536-byte segments, it starts near 100 KiB, and the server's own queue
/// fills within a second or two.
const TRICKLE_MSS: u32 = 536;
/// A client whose one-byte write has blocked this long was stopped by the
/// server's backpressure (or by socket buffers full of one-byte segments,
/// which hold far fewer bytes than their size says): it sends no more.
const TRICKLE_STALL: Duration = Duration::from_secs(1);
/// How much the server's resident memory may grow per trickling client. A
/// server that stops reading from a connection at 256 KiB queued holds that
/// much per client, plus a read buffer and allocator slack: well under a
/// megabyte. One that keeps each read in a buffer of its own pays for the
/// buffer, not for the byte or two it holds: 4 KiB or more per read if the
/// buffer is read into and queued as it is, a 32-byte chunk and a queue
/// entry (over 50 bytes) if it is cut to size. A byte at a time, the first
/// passes 4 MiB within a few thousand reads.
const TRICKLE_RSS_PER_CLIENT: u64 = 4 * MIB as u64;

/// The `i`th byte a trickling client sends.
fn trickle_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// How a trickling client's sending ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trickled {
    /// A write blocked for [`TRICKLE_STALL`]: backpressure.
    Stalled,
    /// It sent all its bytes.
    All,
    /// Time was up, or the check stopped it.
    Stopped,
}

/// Check 13: `trickle_clients` clients with small receive buffers send
/// single bytes, one `write` each, and read nothing, until a write blocks
/// for a second (the server applied backpressure), `trickle_bytes` are
/// sent, or `trickle_time` is up. By then the server's resident memory must
/// not have grown by more than 4 MiB per client: counting queued bytes is
/// not enough if each read costs a buffer of its own. Then every byte must
/// come back, in order.
pub(crate) fn trickle(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let pid = server.pid();
    if let Err(e) = echo(addr, b"warm-up\n", SOCKET_TIMEOUT) {
        return Err(with_server_state(
            &mut server,
            Failure::new("first connection not served", e),
        ));
    }
    let (n, len) = (sizes.trickle_clients, sizes.trickle_bytes);
    let pattern: Vec<u8> = (0..len).map(trickle_byte).collect();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let client =
            connect_narrow(addr, SOCKET_TIMEOUT, TRICKLE_RCVBUF, TRICKLE_MSS).and_then(|c| {
                c.set_write_timeout(Some(TRICKLE_STALL))
                    .map_err(|e| format!("setting up a client socket: {e}"))?;
                Ok(c)
            });
        match client {
            Ok(c) => clients.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {n} clients connected"), e),
                ));
            }
        }
    }
    let Some(baseline) = procfs::rss_bytes(pid) else {
        return Err(with_server_state(
            &mut server,
            Failure::new("no figure", "cannot read the server's memory"),
        ));
    };
    let mut peak = baseline;
    let sample = |peak: &mut u64| *peak = (*peak).max(procfs::rss_bytes(pid).unwrap_or(0));
    let rss_limit = TRICKLE_RSS_PER_CLIENT * n as u64;
    let start = Instant::now();
    let send_end = start + sizes.trickle_time;
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let sent: Vec<Result<(usize, Trickled), String>> = thread::scope(|s| {
        let writers: Vec<_> = clients
            .iter()
            .map(|c| {
                let (pattern, stop, finished) = (&pattern, &stop, &finished);
                s.spawn(move || {
                    let r = trickle_writer(c, pattern, stop, send_end);
                    finished.fetch_add(1, Ordering::Relaxed);
                    r
                })
            })
            .collect();
        // Watched as they send; past the limit they are stopped, so that a
        // server whose memory runs away takes no more than it has shown.
        while finished.load(Ordering::Relaxed) < n && Instant::now() < send_end + TRICKLE_STALL {
            sample(&mut peak);
            if peak.saturating_sub(baseline) > rss_limit {
                stop.store(true, Ordering::Relaxed);
            }
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        writers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("writer thread panicked".into()))
            })
            .collect()
    });
    let send_time = start.elapsed();
    // All stalled: what is still in the sockets reaches the server meanwhile.
    for _ in 0..6 {
        sample(&mut peak);
        thread::sleep(Duration::from_millis(50));
    }
    peak = peak.max(procfs::peak_rss_bytes(pid).unwrap_or(0));
    let growth = peak.saturating_sub(baseline);
    let counts: Vec<usize> = sent
        .iter()
        .map(|r| r.as_ref().map_or(0, |(c, _)| *c))
        .collect();
    let stalled = sent
        .iter()
        .filter(|r| matches!(r, Ok((_, Trickled::Stalled))))
        .count();
    let read_start = Instant::now();
    let read_deadline = read_start + Duration::from_secs(60);
    let replies: Vec<Reply> = thread::scope(|s| {
        let readers: Vec<_> = clients
            .iter()
            .zip(&counts)
            .map(|(c, &count)| {
                let expected = &pattern[..count];
                s.spawn(move || {
                    let reply = await_echo(c, expected, read_deadline);
                    if reply != Reply::Echoed {
                        let _ = c.shutdown(Shutdown::Both);
                    }
                    reply
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Reply::Failed(0, "reader thread panicked".into()))
            })
            .collect()
    });
    let read_time = read_start.elapsed();
    drop(clients);
    let (least, most) = (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    let echoed = replies.iter().filter(|r| **r == Reply::Echoed).count();
    let each = if least == most {
        size(least as u64)
    } else {
        format!("{} to {}", size(least as u64), size(most as u64))
    };
    let figure = format!(
        "{n} clients sent {each} each, 1 byte per write, in {} ({stalled} stalled); server RSS \
         +{} (limit {}); {echoed} of {n} echoed back in {}",
        secs(send_time),
        size(growth),
        size(rss_limit),
        secs(read_time)
    );
    if let Some((i, Err(e))) = sent.iter().enumerate().find(|(_, r)| r.is_err()) {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("client {}: {e}", i + 1)),
        ));
    }
    if let Some((i, r)) = replies
        .iter()
        .enumerate()
        .find(|(_, r)| **r != Reply::Echoed)
    {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                figure,
                format!("client {}: {}", i + 1, r.describe(counts[i])),
            ),
        ));
    }
    if growth > rss_limit {
        return Err(Failure::new(
            figure,
            format!(
                "the server's memory grew by {} while the clients had sent {} in all: what a \
                 queued byte costs must be bounded too, not only how many are queued (keep the \
                 bytes together rather than one buffer per read)",
                size(growth),
                size(counts.iter().sum::<usize>() as u64)
            ),
        ));
    }
    Ok(figure)
}

/// One trickling client: one byte per `write` until a write stalls, all of
/// `pattern` is sent, `end`, or `stop`. Returns how many bytes it sent.
fn trickle_writer(
    mut stream: &TcpStream,
    pattern: &[u8],
    stop: &AtomicBool,
    end: Instant,
) -> Result<(usize, Trickled), String> {
    let mut sent = 0;
    while sent < pattern.len() {
        if stop.load(Ordering::Relaxed) || Instant::now() >= end {
            return Ok((sent, Trickled::Stopped));
        }
        match stream.write(&pattern[sent..=sent]) {
            Ok(0) => return Err(format!("the server took nothing more after {sent} bytes")),
            Ok(k) => sent += k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok((sent, Trickled::Stalled));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("send failed after {sent} bytes: {e}")),
        }
    }
    Ok((sent, Trickled::All))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_payload_is_compared_across_its_end() {
        let payload = b"abcd";
        assert_eq!(differs_from_repeated(b"cdab", payload, 2), None);
        assert_eq!(differs_from_repeated(b"cdabcdab", payload, 6), None);
        assert_eq!(differs_from_repeated(b"cdaX", payload, 2), Some(3));
        assert_eq!(differs_from_repeated(b"b", payload, 4), Some(0));
    }

    #[test]
    fn percentiles_and_milliseconds() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50), Duration::from_millis(50));
        assert_eq!(percentile(&d, 99), Duration::from_millis(99));
        assert_eq!(percentile(&d[..3], 99), Duration::from_millis(3));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(410)), "0.41 ms");
        assert_eq!(ms(Duration::from_millis(228)), "228 ms");
    }

    #[test]
    fn pings_differ_from_one_another() {
        assert_eq!(ping_message(1).len(), PING_BYTES);
        assert_ne!(ping_message(1), ping_message(2));
    }
}
