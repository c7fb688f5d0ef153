//! Exercise 1: with `--pool N`, a client that finds every worker busy is
//! told so in one line and gets end-of-file at once, never a reset; a worker
//! that frees up takes the next client; the threads stay N and a few more,
//! however many clients are refused.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use test_support::procfs;

use super::echo::echo_messages;
use super::{CheckDef, Ctx, Outcome, Server};
use crate::probe::{
    End, SILENCE, bytes, connect, describe_error, judge_echo, read_until, read_within, round_trip,
    show,
};

pub const POOL_ECHO: CheckDef = CheckDef {
    name: "pool-echo",
    about: "with --pool 2, five clients one after another each get their echo and end-of-file",
    run: pool_echo,
};

pub const REFUSE_WHEN_FULL: CheckDef = CheckDef {
    name: "refuse-when-full",
    about: "with --pool 2 and both workers busy, a 3rd client gets one busy line, then end-of-file",
    run: refuse_when_full,
};

pub const NO_RESET: CheckDef = CheckDef {
    name: "no-reset",
    about: "3 refused clients send 256 KiB each before reading: the busy line, end-of-file, no reset",
    run: no_reset,
};

pub const FREED_WORKER: CheckDef = CheckDef {
    name: "freed-worker",
    about: "with --pool 2, each time a served client leaves, a new client is served",
    run: freed_worker,
};

pub const THREADS_BOUNDED: CheckDef = CheckDef {
    name: "threads-bounded",
    about: "50 clients refused in a burst: at most 6 threads with --pool 2, and no descriptor kept",
    run: threads_bounded,
};

/// The pool the checks ask for.
const POOL: usize = 2;
const POOL_ARG: &str = "2";

/// The most threads allowed: the workers, the accept loop, and a few more
/// (a thread that drains the refused clients, say), whatever their number.
const MAX_THREADS: u64 = POOL as u64 + 4;

/// A busy line longer than this is not a short line.
const LINE_LIMIT: usize = 256;

/// How long a refused client waits for its line, and then for end-of-file.
/// A right server sends both in a millisecond; this leaves room for a
/// loaded machine, not for a server that sends end-of-file only when it
/// closes the connection, later.
const REFUSAL_SILENCE: Duration = Duration::from_secs(1);

/// How long a refused client waits for its line and end-of-file, in all.
const REFUSAL_LIMIT: Duration = Duration::from_secs(3);

/// What `no-reset`'s refused clients send before they read.
const BLOCK: usize = 256 << 10;

/// How long a refused connection may stay open on the server's side while
/// its client stays connected and silent: "drain briefly".
const LINGER_LIMIT: Duration = Duration::from_secs(6);

/// How long a client may still be refused while a worker is free, or about
/// to be.
const FREE_LIMIT: Duration = Duration::from_secs(1);

/// Between two tries of a client that was refused.
const RETRY: Duration = Duration::from_millis(50);

fn start_pool<'a>(ctx: &'a Ctx) -> Result<Server<'a>, String> {
    ctx.start(&["--quiet", "--pool", POOL_ARG])
}

/// Connects `POOL` clients and has each get an echo: every worker is busy.
fn hold_workers(server: &Server<'_>) -> Result<Vec<TcpStream>, String> {
    (1..=POOL)
        .map(|i| {
            let who = format!("client {i} (of the first {POOL})");
            served_within(server, format!("client {i}\n").as_bytes(), &who).map(|(c, _)| c)
        })
        .collect()
}

/// The client leaves as a polite client does: it shuts down its side and
/// reads until the server closes the connection.
fn leave(stream: &TcpStream, who: &str) -> Result<(), String> {
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| format!("{who}: shutdown failed: {e}"))?;
    let got = read_until(stream, None, SILENCE);
    match got.end {
        End::Eof if got.data.is_empty() => Ok(()),
        End::Eof => Err(format!(
            "{who} shut down its side and got {} before end-of-file",
            show(&got.data)
        )),
        End::Silent(d) => Err(format!(
            "{who} shut down its side, but got no end-of-file for {} s",
            d.as_secs_f64()
        )),
        End::Error(e) => Err(format!(
            "{who} shut down its side, then {}",
            describe_error(&e)
        )),
        End::Complete | End::Limit(_) => Err(format!("{who}: the server kept sending")),
    }
}

/// Reads what a refused client gets: it must be one line starting with
/// `busy`, then end-of-file, neither more than [`REFUSAL_SILENCE`] after
/// the one before, and both within [`REFUSAL_LIMIT`]. Returns the line
/// and how long it took.
fn expect_refusal(stream: &TcpStream, who: &str) -> Result<(String, Duration), String> {
    let start = Instant::now();
    let got = read_within(stream, Some(LINE_LIMIT + 1), REFUSAL_SILENCE, REFUSAL_LIMIT);
    let took = start.elapsed();
    let what = if got.data.is_empty() {
        "nothing".to_string()
    } else {
        show(&got.data)
    };
    match got.end {
        End::Eof => {}
        End::Silent(d) if got.data.is_empty() => {
            return Err(format!(
                "{who} got nothing for {} s: it waits in silence for a worker",
                d.as_secs_f64()
            ));
        }
        End::Silent(d) => {
            return Err(format!(
                "{who} got {what}, then no end-of-file for {} s",
                d.as_secs_f64()
            ));
        }
        End::Limit(d) => {
            return Err(format!(
                "{who} got {what}, and no end-of-file in the {} s allowed",
                d.as_secs_f64()
            ));
        }
        End::Complete => {
            return Err(format!(
                "{who} got more than {LINE_LIMIT} bytes ({what}): not one short line"
            ));
        }
        End::Error(e) => return Err(format!("{who} got {what}, then {}", describe_error(&e))),
    }
    let data = &got.data;
    if data.is_empty() {
        return Err(format!(
            "{who}: the connection was closed without a word; send the busy line first"
        ));
    }
    let lines = data.iter().filter(|&&b| b == b'\n').count();
    if !data.starts_with(b"busy") || lines != 1 || !data.ends_with(b"\n") {
        return Err(format!(
            "{who} got {what} before end-of-file; it should get one line that starts with `busy` and ends with \\n"
        ));
    }
    let line = String::from_utf8_lossy(data).trim_end().to_string();
    Ok((line, took))
}

/// Connects a client that sends `message`, until one is served: a client
/// that gets a busy line tries again after [`RETRY`], for at most
/// [`FREE_LIMIT`] (a worker may need a moment to start, or to go back to
/// waiting for a client). Returns the client and the number of tries.
fn served_within(
    server: &Server<'_>,
    message: &[u8],
    who: &str,
) -> Result<(TcpStream, usize), String> {
    let start = Instant::now();
    for tries in 1.. {
        let c = connect(server.addr())?;
        (&c).write_all(message)
            .map_err(|e| format!("{who}: send failed: {e}"))?;
        let got = read_until(&c, Some(message.len()), SILENCE);
        if got.data == message {
            return Ok((c, tries));
        }
        if !got.data.starts_with(b"busy") {
            return Err(match judge_echo(message, &got, false) {
                Err(e) => format!("{who}: {e}"),
                Ok(_) => format!("{who}: no echo"),
            });
        }
        if start.elapsed() > FREE_LIMIT {
            return Err(format!(
                "{who} is still refused after {} s ({tries} tries), with a worker free",
                FREE_LIMIT.as_secs_f64()
            ));
        }
        std::thread::sleep(RETRY);
    }
    unreachable!("the tries are counted without end")
}

/// The server's threads now, and the most seen so far.
fn sample_threads(server: &Server<'_>, most: &mut Option<u64>) {
    if let Some(t) = procfs::threads(server.pid()) {
        *most = Some(most.map_or(t, |m| m.max(t)));
    }
}

fn pool_echo(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--pool", POOL_ARG])?;
    for i in 1..=5 {
        let who = format!("client {i} of 5");
        let (client, _) = served_within(&server, format!("client {i}\n").as_bytes(), &who)?;
        echo_messages(&client).map_err(|e| format!("{who}: {e}"))?;
        // Each leaves before the next comes, so a worker is always free.
        leave(&client, &who)?;
    }
    Ok(format!(
        "5 clients one after another each got their echo with --pool {POOL}"
    ))
}

fn refuse_when_full(ctx: &Ctx) -> Outcome {
    let server = start_pool(ctx)?;
    let held = hold_workers(&server)?;
    let third = connect(server.addr())?;
    (&third)
        .write_all(b"hello\n")
        .map_err(|e| format!("client 3: send failed: {e}"))?;
    let (line, took) = expect_refusal(&third, "with both workers busy, client 3")?;
    // Refusing one client must not disturb the others.
    for (i, c) in held.iter().enumerate() {
        round_trip(c, b"still there?\n")
            .map_err(|e| format!("after client 3 was refused, client {}: {e}", i + 1))?;
    }
    Ok(format!(
        "client 3 got {line:?} and end-of-file in {:.0} ms; clients 1 and 2 are still served",
        took.as_secs_f64() * 1000.0
    ))
}

fn no_reset(ctx: &Ctx) -> Outcome {
    const REFUSED: usize = 3;
    let server = start_pool(ctx)?;
    let _held = hold_workers(&server)?;
    let fds_before = procfs::open_fds(server.pid());
    let block = vec![b'x'; BLOCK];
    let mut refused = Vec::new();
    for i in 1..=REFUSED {
        let who = format!("refused client {i} of {REFUSED}");
        let c = connect(server.addr())?;
        let _ = c.set_write_timeout(Some(REFUSAL_LIMIT));
        (&c).write_all(&block).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                "{who} could not send {} in {} s: the server reads none of it",
                bytes(BLOCK),
                REFUSAL_LIMIT.as_secs_f64()
            ),
            _ => format!(
                "{who}: sending {} failed ({}): the server closed the connection with data it had not read",
                bytes(BLOCK),
                describe_error(&e)
            ),
        })?;
        refused.push((c, who));
    }
    let mut figure = String::new();
    for (c, who) in &refused {
        let (line, took) = expect_refusal(c, &format!("{who}, after sending {}", bytes(BLOCK)))?;
        figure = format!(
            "{line:?} and end-of-file in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
    }
    // The clients stay connected and silent: the server closes the refused
    // connections when it is done draining them, and that close must not be
    // a reset either.
    let closed = match fds_before {
        Some(before) => match procfs::wait_for_fds(server.pid(), LINGER_LIMIT, |n| n <= before) {
            Ok((_, took)) => Some(took),
            Err(Some(now)) => {
                return Err(format!(
                    "{REFUSED} refused clients got their line and end-of-file, but {} s later \
                     the server still holds {} descriptors for them: drain briefly, then close",
                    LINGER_LIMIT.as_secs_f64(),
                    now - before
                ));
            }
            Err(None) => None,
        },
        // No /proc: give the server the time it may take.
        None => {
            std::thread::sleep(LINGER_LIMIT);
            None
        }
    };
    for (c, who) in &refused {
        if let Ok(Some(e)) = c.take_error() {
            return Err(format!(
                "{who} got its line and end-of-file, then the server reset the connection ({}): \
                 it closed the socket with data it had not read",
                describe_error(&e)
            ));
        }
        let after = read_within(c, Some(1), Duration::from_millis(100), SILENCE);
        if let End::Error(e) = after.end {
            return Err(format!(
                "{who} got its line and end-of-file, then {}",
                describe_error(&e)
            ));
        }
    }
    Ok(format!(
        "{REFUSED} clients each sent {} before reading, got {figure}, no reset{}",
        bytes(BLOCK),
        closed.map_or(String::new(), |d| format!(
            "; the server closed them {:.1} s later",
            d.as_secs_f64()
        ))
    ))
}

fn freed_worker(ctx: &Ctx) -> Outcome {
    let server = start_pool(ctx)?;
    let mut held = hold_workers(&server)?;
    let first = held.remove(0);
    leave(&first, "client 1")?;
    let (third, tries_one) =
        served_within(&server, b"client 3\n", "client 3, after client 1 left")?;
    held.push(third);
    // Both leave: both workers are free, and two new clients are served at once.
    for (i, c) in held.iter().enumerate() {
        leave(c, &format!("served client {} of 2", i + 1))?;
    }
    let (fourth, tries_two) =
        served_within(&server, b"client 4\n", "client 4, after both clients left")?;
    let (fifth, _) = served_within(&server, b"client 5\n", "client 5, beside client 4")?;
    round_trip(&fourth, b"still there?\n").map_err(|e| format!("client 4: {e}"))?;
    drop(fifth);
    Ok(format!(
        "a client that left freed its worker for the next ({} and {} tries); two freed workers served two clients",
        tries_one, tries_two
    ))
}

fn threads_bounded(ctx: &Ctx) -> Outcome {
    const FLOOD: usize = 50;
    let server = start_pool(ctx)?;
    let held = hold_workers(&server)?;
    // Its own descriptors, and one for each of the two held clients.
    let fds_before = procfs::open_fds(server.pid());
    let mut most = None;
    sample_threads(&server, &mut most);
    // A burst: every client connects and sends before any reads.
    let mut flood = Vec::with_capacity(FLOOD);
    for i in 1..=FLOOD {
        let c =
            connect(server.addr()).map_err(|e| format!("refused client {i} of {FLOOD}: {e}"))?;
        (&c).write_all(b"hello\n")
            .map_err(|e| format!("refused client {i} of {FLOOD}: send failed: {e}"))?;
        flood.push(c);
        if i % 10 == 0 {
            sample_threads(&server, &mut most);
        }
    }
    for (i, c) in flood.iter().enumerate() {
        expect_refusal(c, &format!("refused client {} of {FLOOD}", i + 1))?;
        if i % 10 == 0 {
            sample_threads(&server, &mut most);
        }
    }
    sample_threads(&server, &mut most);
    if let Some(t) = most.filter(|&t| t > MAX_THREADS) {
        return Err(format!(
            "{t} threads with --pool {POOL} and {FLOOD} refused clients (at most {MAX_THREADS} \
             allowed): a thread per refused client grows with the clients"
        ));
    }
    // The workers still serve their clients.
    for (i, c) in held.iter().enumerate() {
        round_trip(c, b"still there?\n")
            .map_err(|e| format!("after {FLOOD} refused clients, client {}: {e}", i + 1))?;
    }
    // The refused clients leave: the server must let go of them too.
    drop(flood);
    let mut fds_after = None;
    if let Some(before) = fds_before {
        match procfs::wait_for_fds(server.pid(), LINGER_LIMIT, |n| n <= before) {
            Ok((now, _)) => fds_after = Some(now),
            Err(Some(now)) => {
                return Err(format!(
                    "the {FLOOD} refused clients have closed, but {} s later the server still \
                     has {} descriptors open for them: refused connections are not closed",
                    LINGER_LIMIT.as_secs_f64(),
                    now - before
                ));
            }
            Err(None) => {}
        }
    }
    Ok(format!(
        "{FLOOD} clients refused in a burst, each with one line; {}; {}",
        most.map_or("threads not counted (no /proc here)".into(), |t| format!(
            "at most {t} threads"
        )),
        fds_after.map_or("descriptors not counted".into(), |n| format!(
            "{n} descriptors once they left"
        ))
    ))
}
