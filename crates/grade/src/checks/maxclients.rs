//! Exercise 5: `--max-clients N` on a level-triggered `poll` loop. With N
//! clients connected the next ones wait in the listen backlog, the loop
//! sleeps meanwhile, and a client that leaves lets the first of them in.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use test_support::procfs;

use super::{CheckDef, Ctx, Outcome, Server, cpu_over};
use crate::probe::{End, connect, describe_error, judge_echo, read_within, round_trip};

pub const CAP: CheckDef = CheckDef {
    name: "cap",
    about: "with --max-clients 2, 2 clients are served; a third connects and sends, and gets nothing for 0.5 s: it is left in the listen backlog, not accepted",
    run: cap,
};

pub const QUIET_WHEN_FULL: CheckDef = CheckDef {
    name: "quiet-when-full",
    about: "with --max-clients 2, 2 clients connected and a third waiting: the server uses under 0.2 s of CPU in 1 s",
    run: quiet_when_full,
};

pub const SLOT_FREES: CheckDef = CheckDef {
    name: "slot-frees",
    about: "with --max-clients 2, 2 clients connected and a third waiting: when the first leaves, the third gets its echo within 1 s",
    run: slot_frees,
};

pub const MANY_WAITING: CheckDef = CheckDef {
    name: "many-waiting",
    about: "with --max-clients 2, 10 clients wait: each time a served client leaves, the next in line, and only it, gets its echo within 1 s; then, full again with one more waiting, the server stays quiet",
    run: many_waiting,
};

/// The `--max-clients` of every check, and so how many clients it holds.
const HELD: usize = 2;
/// How long a waiting client must hear nothing.
const WAIT: Duration = Duration::from_millis(500);
/// How long the next client in line may wait once a slot is free: a loop
/// that is told at once answers in milliseconds.
const LET_IN: Duration = Duration::from_secs(1);

/// A client that connected and sent its message, and the message.
struct Waiting {
    number: usize,
    stream: TcpStream,
    message: Vec<u8>,
}

fn start_limited<'a>(ctx: &'a Ctx) -> Result<Server<'a>, String> {
    ctx.start(&["--quiet", "--max-clients", &HELD.to_string()])
}

/// Connects clients 1 and 2 and has each echoed once.
fn hold(server: &Server<'_>) -> Result<Vec<TcpStream>, String> {
    (1..=HELD)
        .map(|i| {
            let c = connect(server.addr())?;
            round_trip(&c, format!("client {i} is served").as_bytes()).map_err(|e| {
                format!("with --max-clients {HELD}, client {i} of the first {HELD}: {e}")
            })?;
            Ok(c)
        })
        .collect()
}

/// Connects client `number` and has it send its message at once.
fn join_line(server: &Server<'_>, number: usize) -> Result<Waiting, String> {
    let stream = connect(server.addr())?;
    let message = format!("client {number} waits").into_bytes();
    (&stream)
        .write_all(&message)
        .map_err(|e| format!("client {number}: send failed: {e}"))?;
    Ok(Waiting {
        number,
        stream,
        message,
    })
}

/// What a waiting client has seen so far, without waiting.
enum Seen {
    Nothing,
    Data,
    Closed(String),
}

fn seen(stream: &TcpStream) -> Seen {
    let mut buf = [0u8; 1];
    if let Err(e) = stream.set_nonblocking(true) {
        return Seen::Closed(describe_error(&e));
    }
    let got = stream.peek(&mut buf);
    let _ = stream.set_nonblocking(false);
    match got {
        Ok(0) => Seen::Closed("end-of-file".into()),
        Ok(_) => Seen::Data,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Seen::Nothing,
        Err(e) => Seen::Closed(describe_error(&e)),
    }
}

/// `Ok` if none of `waiting` has been answered or closed.
fn all_still_waiting(waiting: &[Waiting], now: &str) -> Result<(), String> {
    for w in waiting {
        match seen(&w.stream) {
            Seen::Nothing => {}
            Seen::Data => {
                return Err(format!(
                    "client {} got its echo {now}: with --max-clients {HELD} it should still wait in the listen backlog",
                    w.number
                ));
            }
            Seen::Closed(how) => {
                return Err(format!(
                    "client {} saw {how} {now}: a client over the limit waits, it is not turned away",
                    w.number
                ));
            }
        }
    }
    Ok(())
}

fn cap(ctx: &Ctx) -> Outcome {
    let server = start_limited(ctx)?;
    let held = hold(&server)?;
    // Descriptors with the two clients, once the server has taken them.
    std::thread::sleep(Duration::from_millis(100));
    let fds_full = procfs::open_fds(server.pid());
    let third = join_line(&server, HELD + 1)?;
    std::thread::sleep(WAIT);
    let now = format!(
        "within {} s, with {HELD} clients connected",
        WAIT.as_secs_f64()
    );
    all_still_waiting(std::slice::from_ref(&third), &now)?;
    if let (Some(before), Some(after)) = (fds_full, procfs::open_fds(server.pid()))
        && after > before
    {
        return Err(format!(
            "client 3 got no echo, but the server accepted it ({after} descriptors open, {before} with {HELD} clients): \
             over the limit, a client is left in the listen backlog, not accepted and ignored"
        ));
    }
    for (i, c) in held.iter().enumerate() {
        round_trip(c, b"still served?")
            .map_err(|e| format!("client {}, while client 3 waited: {e}", i + 1))?;
    }
    Ok(format!(
        "{HELD} clients served; client 3 connected, sent, and got nothing for {} s, left in the listen backlog",
        WAIT.as_secs_f64()
    ))
}

fn quiet_when_full(ctx: &Ctx) -> Outcome {
    const CPU_LIMIT: Duration = Duration::from_millis(200);
    let server = start_limited(ctx)?;
    let _held = hold(&server)?;
    let third = join_line(&server, HELD + 1)?;
    // Time for the server to see the third client, and not accept it.
    std::thread::sleep(Duration::from_millis(200));
    let cpu = cpu_over(&server, Duration::from_secs(1));
    all_still_waiting(std::slice::from_ref(&third), "while it waited")?;
    match cpu {
        None => Ok("CPU not measured (no /proc here)".into()),
        Some(cpu) if cpu > CPU_LIMIT => Err(format!(
            "{:.2} s of CPU in 1 s, full with {HELD} clients and client 3 waiting (limit {:.2} s): the loop spins",
            cpu.as_secs_f64(),
            CPU_LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!(
            "{:.2} s of CPU in 1 s, full with {HELD} clients and client 3 waiting",
            cpu.as_secs_f64()
        )),
    }
}

/// Waits up to `LET_IN` for `w`'s echo; returns how long it took from
/// `left`, when client `who_left` left.
fn let_in(w: &Waiting, who_left: usize, left: Instant) -> Result<Duration, String> {
    let got = read_within(&w.stream, Some(w.message.len()), LET_IN, LET_IN);
    let took = left.elapsed();
    if got.data.is_empty() && matches!(got.end, End::Silent(_) | End::Limit(_)) {
        return Err(format!(
            "client {who_left} left, and client {}, first in line, got nothing in the next {} s: \
             the server did not take it",
            w.number,
            LET_IN.as_secs_f64()
        ));
    }
    judge_echo(&w.message, &got, false).map_err(|e| {
        format!(
            "client {who_left} left, and client {}, first in line: {e}",
            w.number
        )
    })?;
    Ok(took)
}

fn slot_frees(ctx: &Ctx) -> Outcome {
    let server = start_limited(ctx)?;
    let mut held = hold(&server)?;
    let third = join_line(&server, HELD + 1)?;
    std::thread::sleep(Duration::from_millis(300));
    all_still_waiting(
        std::slice::from_ref(&third),
        &format!("before anyone left, with {HELD} clients connected"),
    )?;
    let left = Instant::now();
    drop(held.remove(0));
    let took = let_in(&third, 1, left)?;
    round_trip(&held[0], b"still served?")
        .map_err(|e| format!("client 2, after client 1 left: {e}"))?;
    round_trip(&third.stream, b"and again")
        .map_err(|e| format!("client 3, once let in, a second message: {e}"))?;
    Ok(format!(
        "client 1 left, and client 3, waiting, got its echo {:.1} ms later",
        took.as_secs_f64() * 1000.0
    ))
}

fn many_waiting(ctx: &Ctx) -> Outcome {
    const WAITING: usize = 10;
    const CPU_LIMIT: Duration = Duration::from_millis(100);
    let server = start_limited(ctx)?;
    // Served clients, oldest first, by number.
    let mut served: Vec<(usize, TcpStream)> = hold(&server)?
        .into_iter()
        .zip(1..)
        .map(|(c, i)| (i, c))
        .collect();
    let mut line: Vec<Waiting> = (HELD + 1..=HELD + WAITING)
        .map(|i| join_line(&server, i))
        .collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_millis(300));
    all_still_waiting(
        &line,
        &format!("before anyone left, with {HELD} clients connected"),
    )?;
    let mut slowest = Duration::ZERO;
    while !line.is_empty() {
        let (left, stream) = served.remove(0);
        let left_at = Instant::now();
        drop(stream);
        let next = line.remove(0);
        let took = let_in(&next, left, left_at).map_err(|e| {
            // Say so if someone else got in instead.
            match line.iter().find(|w| matches!(seen(&w.stream), Seen::Data)) {
                Some(w) => format!("{e}; client {} got its echo instead", w.number),
                None => e,
            }
        })?;
        slowest = slowest.max(took);
        all_still_waiting(
            &line,
            &format!(
                "when client {left} left and client {} was let in",
                next.number
            ),
        )?;
        served.push((next.number, next.stream));
    }
    // Full again, after all these departures, with one more in line: the
    // listener must be out of the loop's way again too.
    let last = join_line(&server, HELD + WAITING + 1)?;
    std::thread::sleep(Duration::from_millis(200));
    let cpu = cpu_over(&server, Duration::from_millis(500));
    all_still_waiting(
        std::slice::from_ref(&last),
        &format!("with {HELD} clients connected"),
    )?;
    if let Some(cpu) = cpu.filter(|&c| c > CPU_LIMIT) {
        return Err(format!(
            "{WAITING} waiting clients were let in one at a time, but then, full again with client {} waiting, \
             the server used {:.2} s of CPU in 0.5 s (limit {:.2} s): the loop spins",
            last.number,
            cpu.as_secs_f64(),
            CPU_LIMIT.as_secs_f64()
        ));
    }
    Ok(format!(
        "{WAITING} waiting clients let in one at a time, in the order they came, each within {:.1} ms of a slot freeing; \
         then full again and quiet",
        slowest.as_secs_f64() * 1000.0
    ))
}
