//! Exercise 10: a server with one epoll loop per thread stops cleanly on
//! SIGINT and SIGTERM (the echo owed delivered, every connection
//! half-closed, no reset, exit 0 and one line that says why), and at once,
//! with exit status 1, on a second signal during the stop or at the end of
//! `--stop-timeout`.

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use test_support::checks::binary_payload;
use test_support::procfs;

use super::{CheckDef, Ctx, Outcome, Server};
use crate::probe::{End, Received, connect, describe_error, mib, read_within, round_trip, show};

pub const LOOPS_ECHO: CheckDef = CheckDef {
    name: "loops-echo",
    about: "with --threads 2, 8 clients connected at once each get three messages back, one by one; a 9th is served after they leave",
    run: loops_echo,
};

pub const SIGTERM: CheckDef = CheckDef {
    name: "sigterm",
    about: "with --threads 2, 3 idle clients and 1 owed echo, then SIGTERM: exit 0 within 3 s, end-of-file for all, the echo intact, no reset, \"stopped by SIGTERM: closed 4 connections\"",
    run: sigterm,
};

pub const SIGINT: CheckDef = CheckDef {
    name: "sigint",
    about: "with --threads 2, 1 client owed echo, then SIGINT: the same, and \"stopped by SIGINT: closed 1 connection\"",
    run: sigint,
};

pub const STOP_LIMITS: CheckDef = CheckDef {
    name: "stop-limits",
    about: "with --threads 2, clients that keep their side open hold up the stop: a second signal 0.5 s later ends the process within 1 s, exit 1, \"stopped by SIGINT again: N of 2 loops had not finished\"; so does --stop-timeout 500, with \"stop timed out after 500 ms: 1 of 2 loops had not finished\"; a stop that ends in time exits 0",
    run: stop_limits,
};

/// Every check runs the server with two loops: the stop must reach both.
const SERVER_ARGS: [&str; 3] = ["--quiet", "--threads", "2"];
/// The loops of [`SERVER_ARGS`].
const LOOPS: usize = 2;

/// The server must have exited this long after the signal: its grace for
/// slow clients is 2 s, and these clients close as soon as they see
/// end-of-file.
const EXIT_LIMIT: Duration = Duration::from_secs(3);
/// How long a client waits for its end-of-file after the signal: longer
/// than [`EXIT_LIMIT`], so that a server that exits late is reported as
/// late, not as silent.
const READ_WAIT: Duration = Duration::from_secs(4);

/// What the owed client sends in all: far more than the sockets between it
/// and the server take in before the server stops reading from it, so that
/// it is still sending when the signal comes.
const BUSY_BYTES: usize = 32 << 20;
/// Its largest write; between writes it looks at whether it should stop.
const BUSY_WRITE: usize = 64 << 10;
/// Its socket buffers: small, so that the echo it does not read stays with
/// the server, which then owes it.
const BUSY_BUFFER: usize = 64 << 10;
/// The segment size it announces: Linux sizes the server's send buffer in
/// segments, and loopback's 64 KiB segments would let that buffer alone
/// take in megabytes of echo.
const BUSY_MSS: u32 = 536;
/// Its writes have made no progress for this long: the server has stopped
/// reading from it, with its echo queued.
const STALL: Duration = Duration::from_millis(300);
/// At most this long for the writes to stall before the signal is sent
/// anyway.
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// It starts reading its echo this long after the signal, when every loop
/// has seen the stop: had it read at once, a server not yet aware of the
/// signal could rightly read and echo more.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest it waits, before that, for the idle clients' end-of-file.
const SEEN_LIMIT: Duration = Duration::from_secs(1);

/// The second signal comes this long after the first, while the clients
/// that keep their side open hold up the stop...
const SECOND_AFTER: Duration = Duration::from_millis(500);
/// ...and the server must be gone this long after it, well before its grace
/// of 2 s runs out.
const AT_ONCE: Duration = Duration::from_secs(1);

fn loops_echo(ctx: &Ctx) -> Outcome {
    const CLIENTS: usize = 8;
    let server = ctx.start(&SERVER_ARGS)?;
    let clients = (0..CLIENTS)
        .map(|_| connect(server.addr()))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, c) in clients.iter().enumerate() {
        super::echo::echo_messages(c)
            .map_err(|e| format!("client {} of {CLIENTS}, all connected: {e}", i + 1))?;
    }
    drop(clients);
    let last = connect(server.addr())?;
    round_trip(&last, b"still there?")
        .map_err(|e| format!("the {CLIENTS} clients left, then another: {e}"))?;
    let threads = procfs::threads(server.pid())
        .map_or(String::new(), |n| format!(" (the server has {n} threads)"));
    Ok(format!(
        "{CLIENTS} clients connected at once each got 3 of 3 messages back, and a 9th was \
         served{threads}"
    ))
}

fn sigterm(ctx: &Ctx) -> Outcome {
    clean_stop(ctx, 3, libc::SIGTERM, "SIGTERM")
}

fn sigint(ctx: &Ctx) -> Outcome {
    clean_stop(ctx, 0, libc::SIGINT, "SIGINT")
}

/// The client owed echo: it sends without reading, from a thread of its
/// own, until the server stops reading from it, and goes on after the
/// signal until its reader has seen the end.
struct Busy {
    stream: TcpStream,
    /// What it has sent so far.
    sent: AtomicUsize,
    /// Its reader has seen the end: the writer stops.
    stop: AtomicBool,
    /// A write failed with a reset.
    reset: AtomicBool,
}

impl Busy {
    fn connect(addr: SocketAddr) -> Result<Busy, String> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)
            .map_err(|e| format!("the owed client: socket: {e}"))?;
        // Before the connection, so that the window it announces is small.
        socket
            .set_recv_buffer_size(BUSY_BUFFER)
            .and_then(|()| socket.set_send_buffer_size(BUSY_BUFFER))
            .and_then(|()| socket.set_tcp_mss(BUSY_MSS))
            .map_err(|e| format!("the owed client: setting up its socket: {e}"))?;
        socket
            .connect(&addr.into())
            .map_err(|e| format!("the owed client cannot connect: {e}"))?;
        let stream = TcpStream::from(socket);
        // The writer looks at `stop` between blocked writes.
        stream
            .set_write_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| format!("the owed client: setting up its socket: {e}"))?;
        Ok(Busy {
            stream,
            sent: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            reset: AtomicBool::new(false),
        })
    }

    /// Sends `payload` until all is sent, `stop`, an error, or a limit well
    /// past every other.
    fn write(&self, payload: &[u8]) {
        let deadline = Instant::now() + SEND_LIMIT + READ_WAIT + SETTLE;
        let mut at = 0;
        while at < payload.len() && !self.stop.load(Ordering::Acquire) && Instant::now() < deadline
        {
            let end = (at + BUSY_WRITE).min(payload.len());
            match (&self.stream).write(&payload[at..end]) {
                Ok(0) => return,
                Ok(n) => {
                    at += n;
                    self.sent.store(at, Ordering::Release);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    if e.kind() == ErrorKind::ConnectionReset {
                        self.reset.store(true, Ordering::Release);
                    }
                    return;
                }
            }
        }
    }

    /// Waits until the writes stall (no progress for [`STALL`] after some)
    /// or `SEND_LIMIT`; says whether they stalled.
    fn wait_for_stall(&self) -> bool {
        let deadline = Instant::now() + SEND_LIMIT;
        let (mut last, mut since) = (0, Instant::now());
        while Instant::now() < deadline {
            let now = self.sent.load(Ordering::Acquire);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if now > 0 && since.elapsed() >= STALL {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Reads until end-of-file (or a reset, or [`READ_WAIT`] of silence), then
/// shuts down the client's own sending side, as a client does when it is
/// done, so that the server need not wait out its grace.
fn read_to_end(stream: &TcpStream) -> Received {
    let got = read_within(stream, None, READ_WAIT, READ_WAIT);
    let how = if matches!(got.end, End::Eof) {
        Shutdown::Write
    } else {
        Shutdown::Both
    };
    let _ = stream.shutdown(how);
    got
}

/// How a read that should have ended in end-of-file ended instead.
fn ending(got: &Received) -> String {
    match &got.end {
        End::Eof => "end-of-file".into(),
        End::Complete => "no end-of-file".into(),
        End::Silent(d) | End::Limit(d) => {
            format!("no end-of-file within {} s", d.as_secs_f64())
        }
        End::Error(e) => describe_error(e),
    }
}

/// How the server ended, `after` signal `sent` (its number and name), for
/// the figures.
fn exit_figure(
    status: Option<ExitStatus>,
    after: Duration,
    (signal, name): (libc::c_int, &str),
) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit {code} in {:.2} s", after.as_secs_f64()),
            (None, Some(sig)) if sig == signal => format!("killed by {name}"),
            _ => s.to_string(),
        },
        None => format!("still running {:.1} s after {name}", after.as_secs_f64()),
    }
}

/// The exit status if the server has exited, without waiting (much).
fn exited(server: &mut Server<'_>) -> Option<ExitStatus> {
    // `wait_exit` looks at least once only if its deadline is ahead.
    server.wait_exit(Duration::from_millis(20))
}

/// `1 client`, `16 clients`.
fn clients(n: usize) -> String {
    format!("{n} client{}", if n == 1 { "" } else { "s" })
}

/// The server's last non-empty line on stderr, once it has exited.
fn last_line(server: &Server<'_>) -> String {
    // Returns when stderr reaches end-of-file: every line has been read.
    server.wait_for_line(|_| false, Duration::from_millis(500));
    server
        .lines()
        .into_iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

/// A fresh server with two loops, `idle` clients served once and quiet,
/// one client owed echo, then `signal`: the server must exit 0 within
/// [`EXIT_LIMIT`], every client must see end-of-file and no reset, the owed
/// client a prefix of what it sent, and the last line must say what
/// stopped the server and how many connections it closed.
fn clean_stop(ctx: &Ctx, idle: usize, signal: libc::c_int, name: &str) -> Outcome {
    let mut server = ctx.start(&SERVER_ARGS)?;
    let addr = server.addr();
    let mut quiet = Vec::with_capacity(idle);
    for i in 1..=idle {
        let c = connect(addr)?;
        round_trip(&c, format!("idle client {i}\n").as_bytes())
            .map_err(|e| format!("idle client {i}, before {name}: {e}"))?;
        quiet.push(c);
    }
    let payload = binary_payload(BUSY_BYTES, 10);
    let busy = Busy::connect(addr)?;
    let quiet_ended = AtomicUsize::new(0);
    thread::scope(|s| {
        let (busy, payload) = (&busy, &payload[..]);
        let writer = s.spawn(move || busy.write(payload));
        let paused = busy.wait_for_stall();
        let sent_by_signal = busy.sent.load(Ordering::Acquire);
        let signalled = server.signal(signal).map(|()| Instant::now());
        let signalled = match signalled {
            Ok(t) => t,
            Err(e) => {
                busy.stop.store(true, Ordering::Release);
                return Err(format!("cannot send {name}: {e}"));
            }
        };
        // Each client reads on its own thread, so that the wait below sees
        // the exit when it happens.
        let quiet_ended = &quiet_ended;
        let quiet_readers: Vec<_> = quiet
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let got = read_to_end(c);
                    quiet_ended.fetch_add(1, Ordering::AcqRel);
                    got
                })
            })
            .collect();
        let reader = s.spawn(move || {
            // An idle client's end-of-file shows that the server has seen
            // the signal; on a slow machine that can take a while.
            let waiting = Instant::now();
            while quiet_ended.load(Ordering::Acquire) < idle && waiting.elapsed() < SEEN_LIMIT {
                thread::sleep(Duration::from_millis(10));
            }
            thread::sleep(SETTLE);
            let got = read_to_end(&busy.stream);
            busy.stop.store(true, Ordering::Release);
            got
        });
        let status = server.wait_exit(EXIT_LIMIT.saturating_sub(signalled.elapsed()));
        let exit_time = signalled.elapsed();
        let joined = |r: thread::ScopedJoinHandle<'_, Received>| {
            r.join().unwrap_or_else(|_| Received {
                data: Vec::new(),
                end: End::Error(std::io::Error::other("the reader thread panicked")),
            })
        };
        let quiet_ends: Vec<Received> = quiet_readers.into_iter().map(joined).collect();
        let owed = joined(reader);
        busy.stop.store(true, Ordering::Release);
        let _ = writer.join();
        let owed_reset = busy.reset.load(Ordering::Acquire);
        judge_stop(
            &server,
            Stopped {
                signal,
                name,
                status,
                exit_time,
                quiet: &quiet_ends,
                owed: &owed,
                owed_reset,
                paused,
                sent_by_signal,
                payload,
                closed: idle + 1,
            },
        )
    })
}

/// What a clean stop left behind.
struct Stopped<'a> {
    signal: libc::c_int,
    name: &'a str,
    status: Option<ExitStatus>,
    exit_time: Duration,
    quiet: &'a [Received],
    owed: &'a Received,
    /// The owed client's writer got a reset.
    owed_reset: bool,
    /// The owed client's writes had stalled by the signal.
    paused: bool,
    sent_by_signal: usize,
    payload: &'a [u8],
    /// The connections open at the signal.
    closed: usize,
}

fn judge_stop(server: &Server<'_>, stop: Stopped<'_>) -> Outcome {
    let name = stop.name;
    let exit = exit_figure(stop.status, stop.exit_time, (stop.signal, name));
    let at_eof = stop
        .quiet
        .iter()
        .filter(|r| matches!(r.end, End::Eof) && r.data.is_empty())
        .count();
    let got = stop.owed.data.len();
    let idle = match stop.quiet.len() {
        0 => String::new(),
        n => format!("{at_eof} of {n} idle clients saw end-of-file; "),
    };
    let figure = format!(
        "{exit}; {idle}the owed client got {} of echo, then {}",
        mib(got as u64),
        if stop.owed_reset {
            "a reset".to_string()
        } else {
            ending(stop.owed)
        }
    );
    let fail = |why: String| Err(format!("{figure}: {why}"));
    match stop.status {
        None => {
            return fail(format!(
                "the server was still running {} s after {name}: a clean stop waits for its \
                 clients for a bounded time (2 s), then exits",
                EXIT_LIMIT.as_secs()
            ));
        }
        Some(s) if s.signal() == Some(stop.signal) => {
            return fail(format!(
                "the server was killed by {name}: block the signals before any thread starts \
                 (threads inherit the mask), and read them from a signalfd"
            ));
        }
        Some(s) if s.code() != Some(0) => {
            return fail(format!("{s}: a clean stop exits with status 0"));
        }
        Some(_) => {}
    }
    for (i, r) in stop.quiet.iter().enumerate() {
        let who = format!("idle client {}", i + 1);
        if !r.data.is_empty() {
            return fail(format!(
                "{who} got {} after {name}, which it was not owed",
                show(&r.data)
            ));
        }
        if !matches!(r.end, End::Eof) {
            return fail(format!(
                "{who} saw {} instead of end-of-file: the stop half-closes every connection, \
                 idle or not",
                ending(r)
            ));
        }
    }
    let n = got.min(stop.payload.len());
    if let Some(at) = (0..n).find(|&i| stop.owed.data[i] != stop.payload[i]) {
        return fail(format!(
            "the owed client's echo differs from what it sent at byte {at}"
        ));
    }
    if stop.owed_reset || !matches!(stop.owed.end, End::Eof) {
        return fail(format!(
            "the owed client saw {} after {}: the stop delivers the echo owed, half-closes, \
             reads and drops what still comes, and closes once the client has",
            if stop.owed_reset {
                "a reset".to_string()
            } else {
                ending(stop.owed)
            },
            mib(got as u64)
        ));
    }
    if got == 0 {
        return fail("the owed client got none of its echo".into());
    }
    // A write in progress at the signal may have been partly taken.
    if stop.paused && got > stop.sent_by_signal + BUSY_WRITE {
        return fail(format!(
            "the owed client had sent at most {} by {name} but got {} back: what comes after \
             the stop is read and dropped, not echoed",
            mib((stop.sent_by_signal + BUSY_WRITE) as u64),
            mib(got as u64)
        ));
    }
    let want = format!(
        "stopped by {name}: closed {} connection{}",
        stop.closed,
        if stop.closed == 1 { "" } else { "s" }
    );
    let last = last_line(server);
    if last != want {
        return fail(format!(
            "the server's last line should be {want:?}; it was {last:?}"
        ));
    }
    Ok(format!("{figure}; {last:?}"))
}

/// The two ways a stop ends before its clients are done: a second signal,
/// and the end of `--stop-timeout`; and a stop that ends in time is not cut.
fn stop_limits(ctx: &Ctx) -> Outcome {
    let one = hold_then_signal_twice(ctx, 1, (libc::SIGINT, "SIGINT"), 1)?;
    // With 16 clients spread by SO_REUSEPORT, both loops have some (the
    // odds of one loop getting all 16 are 1 in 32,768).
    let many = hold_then_signal_twice(ctx, 16, (libc::SIGTERM, "SIGTERM"), LOOPS)?;
    let cut = cut_at_deadline(ctx)?;
    let clean = done_before_deadline(ctx)?;
    Ok(format!(
        "1 client kept open: {one}; 16 kept open: {many}; {cut}; {clean}"
    ))
}

/// A fresh server with `count` clients that are served once, then keep their side
/// open after their end-of-file; `first` starts the stop, which waits for
/// them, and SIGINT [`SECOND_AFTER`] later must end the process at once,
/// with status 1 and a line that counts the `unfinished` loops.
fn hold_then_signal_twice(
    ctx: &Ctx,
    count: usize,
    (first, first_name): (libc::c_int, &str),
    unfinished: usize,
) -> Outcome {
    let mut server = ctx.start(&SERVER_ARGS)?;
    let held = (1..=count)
        .map(|i| {
            let c = connect(server.addr())?;
            round_trip(&c, format!("client {i}\n").as_bytes())
                .map_err(|e| format!("client {i} of {count}, before the signals: {e}"))?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, String>>()?;
    server
        .signal(first)
        .map_err(|e| format!("cannot send {first_name}: {e}"))?;
    let signalled = Instant::now();
    for (i, c) in held.iter().enumerate() {
        // Read only: the client keeps its side open, and the stop waits.
        let got = read_within(c, None, READ_WAIT, READ_WAIT);
        if !(matches!(got.end, End::Eof) && got.data.is_empty()) {
            let status = exited(&mut server);
            return Err(format!(
                "{}: client {} of {count} saw {} after {first_name}, not end-of-file alone \
                 (the clean stop of the checks above comes first)",
                exit_figure(status, signalled.elapsed(), (first, first_name)),
                i + 1,
                ending(&got)
            ));
        }
    }
    thread::sleep(SECOND_AFTER.saturating_sub(signalled.elapsed()));
    match exited(&mut server) {
        None => {}
        Some(s) if s.signal() == Some(first) => {
            return Err(format!(
                "killed by {first_name}: the clean stop of the checks above comes first"
            ));
        }
        Some(s) => {
            return Err(format!(
                "{s} within {} s of {first_name}, while {} still had {} side open: the \
                 clean stop waits up to 2 s for them",
                SECOND_AFTER.as_secs_f64(),
                clients(count),
                if count == 1 { "its" } else { "their" }
            ));
        }
    }
    server
        .signal(libc::SIGINT)
        .map_err(|e| format!("cannot send SIGINT: {e}"))?;
    let again = Instant::now();
    let status = server.wait_exit(AT_ONCE);
    let after = again.elapsed();
    let figure = exit_figure(status, after, (libc::SIGINT, "the second signal"));
    match status {
        None => {
            let later = server.wait_exit(READ_WAIT);
            let how = exit_figure(later, signalled.elapsed(), (first, first_name));
            return Err(format!(
                "{figure} ({first_name}, then SIGINT; in the end: {how}): a second signal during \
                 the stop ends the process at once; the main thread must watch the signalfd \
                 while the loops stop"
            ));
        }
        Some(s) if s.signal().is_some() => {
            return Err(format!(
                "killed by the second signal ({first_name}, then SIGINT): the signals stay \
                 blocked to the end, and the second is read from the signalfd too"
            ));
        }
        Some(s) if s.code() != Some(1) => {
            return Err(format!(
                "{figure} ({first_name}, then SIGINT): a stop cut short exits with status 1"
            ));
        }
        Some(_) => {}
    }
    let want = format!("stopped by SIGINT again: {unfinished} of {LOOPS} loops had not finished");
    let last = last_line(&server);
    if last != want {
        return Err(format!(
            "{figure} ({first_name}, then SIGINT, {} on {LOOPS} loops): the last line should \
             be {want:?}; it was {last:?}",
            clients(count)
        ));
    }
    Ok(format!("{figure}, {last:?}"))
}

/// The `--stop-timeout` whose end the check waits for: well under the grace
/// of 2 s, so that a stop cut at the deadline is told apart from one that
/// waited out its grace.
const CUT_MS: u64 = 500;
/// A stop cut at [`CUT_MS`] must have ended by then, after the signal.
const CUT_LIMIT: Duration = Duration::from_millis(1500);
/// ...and not before this: the deadline gives the clients that long.
const CUT_EARLIEST: Duration = Duration::from_millis(450);
/// A `--stop-timeout` that a stop whose clients close at once never reaches.
const LONG_MS: u64 = 5000;

/// `--stop-timeout 500`, one client served that keeps its side open after
/// the stop's end-of-file, then SIGTERM: the stop waits for the client
/// until the deadline, and the process ends then, status 1, with a line
/// that counts the loop still waiting.
fn cut_at_deadline(ctx: &Ctx) -> Outcome {
    let ms = CUT_MS.to_string();
    let mut server = ctx.start(&[&SERVER_ARGS[..], &["--stop-timeout", &ms]].concat())?;
    let held = connect(server.addr())?;
    round_trip(&held, b"client 1\n").map_err(|e| format!("before SIGTERM: {e}"))?;
    server
        .signal(libc::SIGTERM)
        .map_err(|e| format!("cannot send SIGTERM: {e}"))?;
    let signalled = Instant::now();
    // Read only: the client keeps its side open, and the stop waits.
    let got = read_within(&held, None, READ_WAIT, READ_WAIT);
    let status = server.wait_exit(CUT_LIMIT.saturating_sub(signalled.elapsed()));
    let after = signalled.elapsed();
    let figure = exit_figure(status, after, (libc::SIGTERM, "SIGTERM"));
    let with = format!("--stop-timeout {CUT_MS}, 1 client kept open");
    if !(matches!(got.end, End::Eof) && got.data.is_empty()) {
        return Err(format!(
            "{figure} ({with}): the client saw {} after SIGTERM, not end-of-file alone (the \
             clean stop of the checks above comes first)",
            ending(&got)
        ));
    }
    match status {
        None => {
            return Err(format!(
                "{figure} ({with}): the stop must end {CUT_MS} ms after the signal, whatever \
                 the loops are doing; the main thread waits for them with a deadline"
            ));
        }
        Some(s) if s.signal() == Some(libc::SIGTERM) => {
            return Err(format!(
                "killed by SIGTERM ({with}): the clean stop of the checks above comes first"
            ));
        }
        Some(_) if after < CUT_EARLIEST => {
            return Err(format!(
                "{figure} ({with}): the stop ended before its {CUT_MS} ms were up, while the \
                 client could still have closed"
            ));
        }
        Some(s) if s.code() == Some(0) => {
            return Err(format!(
                "{figure} ({with}): a stop cut short at the deadline exits with status 1 and \
                 says so; the loops keep their grace of 2 s, and the main thread ends the \
                 process when the deadline comes first"
            ));
        }
        Some(s) if s.code() != Some(1) => {
            return Err(format!(
                "{figure} ({with}): a stop cut short at the deadline exits with status 1"
            ));
        }
        Some(_) => {}
    }
    let want = format!("stop timed out after {CUT_MS} ms: 1 of {LOOPS} loops had not finished");
    let last = last_line(&server);
    if last != want {
        return Err(format!(
            "{figure} ({with}): the last line should be {want:?}; it was {last:?}"
        ));
    }
    Ok(format!("{with}: {figure}, {last:?}"))
}

/// `--stop-timeout 5000`, three clients that close when they see the stop's
/// end-of-file, then SIGINT: the stop ends as soon as the loops are done,
/// cleanly, long before the deadline.
fn done_before_deadline(ctx: &Ctx) -> Outcome {
    const CLIENTS: usize = 3;
    let ms = LONG_MS.to_string();
    let mut server = ctx.start(&[&SERVER_ARGS[..], &["--stop-timeout", &ms]].concat())?;
    let clients = (1..=CLIENTS)
        .map(|i| {
            let c = connect(server.addr())?;
            round_trip(&c, format!("client {i}\n").as_bytes())
                .map_err(|e| format!("client {i} of {CLIENTS}, before SIGINT: {e}"))?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, String>>()?;
    server
        .signal(libc::SIGINT)
        .map_err(|e| format!("cannot send SIGINT: {e}"))?;
    let signalled = Instant::now();
    // Each reads to its end-of-file, then closes its side: the stop can end.
    let ends: Vec<Received> = clients.iter().map(read_to_end).collect();
    let status = server.wait_exit(EXIT_LIMIT.saturating_sub(signalled.elapsed()));
    let figure = exit_figure(status, signalled.elapsed(), (libc::SIGINT, "SIGINT"));
    let with = format!("--stop-timeout {LONG_MS}, {CLIENTS} clients that close");
    if let Some((i, r)) = ends
        .iter()
        .enumerate()
        .find(|(_, r)| !(matches!(r.end, End::Eof) && r.data.is_empty()))
    {
        return Err(format!(
            "{figure} ({with}): client {} saw {} after SIGINT, not end-of-file alone",
            i + 1,
            ending(r)
        ));
    }
    match status {
        None => {
            return Err(format!(
                "{figure} ({with}): the stop ends when every loop is done, not at the deadline"
            ));
        }
        Some(s) if s.code() != Some(0) => {
            return Err(format!(
                "{figure} ({with}): a stop that ends in time is a clean stop, status 0"
            ));
        }
        Some(_) => {}
    }
    let want = format!("stopped by SIGINT: closed {CLIENTS} connections");
    let last = last_line(&server);
    if last != want {
        return Err(format!(
            "{figure} ({with}): the last line should be {want:?}; it was {last:?}"
        ));
    }
    Ok(format!("{with}: {figure}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_named() {
        let r = |end| Received {
            data: Vec::new(),
            end,
        };
        assert_eq!(ending(&r(End::Eof)), "end-of-file");
        assert_eq!(
            ending(&r(End::Silent(Duration::from_secs(4)))),
            "no end-of-file within 4 s"
        );
        assert_eq!(
            ending(&r(End::Error(ErrorKind::ConnectionReset.into()))),
            "the connection was reset"
        );
    }

    #[test]
    fn exits_are_named() {
        const TERM: (libc::c_int, &str) = (libc::SIGTERM, "SIGTERM");
        let secs = Duration::from_millis(310);
        assert_eq!(
            exit_figure(Some(ExitStatus::from_raw(0)), secs, TERM),
            "exit 0 in 0.31 s"
        );
        assert_eq!(
            exit_figure(Some(ExitStatus::from_raw(libc::SIGTERM)), secs, TERM),
            "killed by SIGTERM"
        );
        assert_eq!(
            exit_figure(Some(ExitStatus::from_raw(libc::SIGABRT)), secs, TERM),
            "signal: 6 (SIGABRT)"
        );
        assert_eq!(
            exit_figure(None, secs, (libc::SIGINT, "SIGINT")),
            "still running 0.3 s after SIGINT"
        );
        assert_eq!(clients(1), "1 client");
        assert_eq!(clients(16), "16 clients");
    }
}
