//! Exercise 8: `--idle-timeout SECS` closes connections that stay silent,
//! from the one loop the server has.

use std::time::{Duration, Instant};

use test_support::procfs;

use super::{CheckDef, Ctx, Outcome};
use crate::probe::{End, connect, describe_error, read_until, round_trip};

pub const IDLE_CLOSE: CheckDef = CheckDef {
    name: "idle-close",
    about: "with --idle-timeout 0.5, a client that falls silent is closed 0.5 s (at most 1.5 s) later",
    run: idle_close,
};

pub const ACTIVE_STAYS: CheckDef = CheckDef {
    name: "active-stays",
    about: "with --idle-timeout 0.8, a client sending every 0.2 s stays connected for 2 s, and is closed once it stops",
    run: active_stays,
};

pub const MANY_IDLE: CheckDef = CheckDef {
    name: "many-idle",
    about: "with --idle-timeout 1, 200 silent clients are all closed within 1 to 2.5 s, by a server with at most 2 threads and under 0.3 s of CPU",
    run: many_idle,
};

/// Waits for the server to close `stream`, and says when, from `since`.
fn closed_after(stream: &std::net::TcpStream, since: Instant) -> Result<Duration, String> {
    let got = read_until(stream, None, Duration::from_secs(3));
    let when = since.elapsed();
    match got.end {
        End::Eof => Ok(when),
        End::Error(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(when),
        End::Error(e) => Err(describe_error(&e)),
        _ if !got.data.is_empty() => Err(format!(
            "got {} unexpected bytes instead of the close",
            got.data.len()
        )),
        _ => Err(format!(
            "still open {:.1} s after it fell silent",
            when.as_secs_f64()
        )),
    }
}

/// Whether the server has not closed `stream` (nor sent anything on it),
/// without waiting.
fn still_open(stream: &std::net::TcpStream) -> bool {
    let mut buf = [0u8; 1];
    let open = stream.set_nonblocking(true).is_ok()
        && matches!(stream.peek(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let _ = stream.set_nonblocking(false);
    open
}

fn within(after: Duration, low: f64, high: f64, what: &str) -> Outcome {
    let secs = after.as_secs_f64();
    if secs < low {
        Err(format!("{what} after {secs:.2} s: too early"))
    } else if secs > high {
        Err(format!(
            "{what} after {secs:.2} s: too late (limit {high} s)"
        ))
    } else {
        Ok(format!("{what} after {secs:.2} s"))
    }
}

fn idle_close(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--idle-timeout", "0.5"])?;
    let client = connect(server.addr())?;
    // The clock starts before the last message goes out: the server cannot
    // have started its count earlier, so a slow checker never makes a close
    // on time look early.
    let silent = Instant::now();
    round_trip(&client, b"anyone there?")?;
    let after = closed_after(&client, silent)?;
    within(after, 0.45, 1.5, "closed with --idle-timeout 0.5").map(|f| f + " of silence")
}

fn active_stays(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--quiet", "--idle-timeout", "0.8"])?;
    let client = connect(server.addr())?;
    let start = Instant::now();
    let mut rounds = 0;
    let mut silent = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(200));
        // As in idle-close: the silence is counted from before the send.
        silent = Instant::now();
        round_trip(&client, b"still here").map_err(|e| {
            format!(
                "after {:.1} s of a message every 0.2 s: {e}",
                start.elapsed().as_secs_f64()
            )
        })?;
        rounds += 1;
    }
    let after = closed_after(&client, silent)?;
    within(after, 0.75, 2.0, "then closed").map(|f| {
        format!(
            "a client that spoke every 0.2 s stayed connected for {rounds} messages; {f} of silence"
        )
    })
}

fn many_idle(ctx: &Ctx) -> Outcome {
    const CLIENTS: usize = 200;
    const CPU_LIMIT: Duration = Duration::from_millis(300);
    let server = ctx.start(&["--quiet", "--idle-timeout", "1"])?;
    let pid = server.pid();
    let cpu_before = procfs::cpu_time(pid);
    let start = Instant::now();
    let clients = (0..CLIENTS)
        .map(|_| connect(server.addr()))
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(Duration::from_millis(300));
    let threads = procfs::threads(pid);
    // Before the timeout, every client must still be connected.
    std::thread::sleep(Duration::from_millis(800).saturating_sub(start.elapsed()));
    for (i, c) in clients.iter().enumerate() {
        // A checker slowed past the timeout itself cannot tell early from
        // on time: then the closing times below are the judge.
        let early = start.elapsed() < Duration::from_secs(1);
        if early && !still_open(c) {
            return Err(format!(
                "client {} of {CLIENTS} was closed {:.2} s after connecting, with --idle-timeout 1",
                i + 1,
                start.elapsed().as_secs_f64()
            ));
        }
    }
    let first = start.elapsed();
    let mut last = Duration::ZERO;
    for (i, c) in clients.iter().enumerate() {
        let after =
            closed_after(c, start).map_err(|e| format!("client {} of {CLIENTS}: {e}", i + 1))?;
        last = last.max(after);
    }
    if last.as_secs_f64() > 2.5 {
        return Err(format!(
            "the last of {CLIENTS} silent clients was closed {:.2} s after they connected, with --idle-timeout 1 (limit 2.5 s)",
            last.as_secs_f64()
        ));
    }
    if let Some(t) = threads.filter(|&t| t > 2) {
        return Err(format!(
            "{t} threads for {CLIENTS} clients: one loop should do"
        ));
    }
    let cpu = cpu_before
        .zip(procfs::cpu_time(pid))
        .map(|(b, a)| a.saturating_sub(b));
    if let Some(cpu) = cpu.filter(|&c| c > CPU_LIMIT) {
        return Err(format!(
            "{:.2} s of CPU to wait for {CLIENTS} timeouts (limit {:.2} s): the loop wakes up too often",
            cpu.as_secs_f64(),
            CPU_LIMIT.as_secs_f64()
        ));
    }
    Ok(format!(
        "{CLIENTS} silent clients still open after {:.2} s, all closed by {:.2} s; {}; {}",
        first.as_secs_f64(),
        last.as_secs_f64(),
        threads.map_or("threads not counted".into(), |t| format!(
            "{t} thread{}",
            if t == 1 { "" } else { "s" }
        )),
        cpu.map_or("CPU not measured".into(), |c| format!(
            "{:.2} s of CPU",
            c.as_secs_f64()
        ))
    ))
}
