//! Exercise 7: a chat server. Every complete line from one client goes,
//! whole and unchanged, to every other client, and a client that does not
//! read holds nobody up.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use test_support::procfs;

use super::{CheckDef, Ctx, Outcome};
use crate::probe::{
    End, READ_LIMIT, Received, SILENCE, connect, describe_error, expect_silence, judge_echo, mib,
    read_counting, read_until, show,
};

pub const BROADCAST: CheckDef = CheckDef {
    name: "broadcast",
    about: "3 clients: a line from one reaches the two others, unchanged, and not its sender",
    run: broadcast,
};

pub const WHOLE_LINES: CheckDef = CheckDef {
    name: "whole-lines",
    about: "a line sent in two pieces and 200 lines from another client reach a third whole and in order",
    run: whole_lines,
};

pub const SLOW_LISTENER: CheckDef = CheckDef {
    name: "slow-listener",
    about: "a client that never reads: another still gets all of 16 MiB of lines, memory stays bounded, the slow one is disconnected",
    run: slow_listener,
};

/// Connects `n` clients, then gives the server a moment to accept them all
/// before anyone speaks (a line sent before a client is accepted is not
/// for that client).
fn clients(ctx_server: &super::Server<'_>, n: usize) -> Result<Vec<TcpStream>, String> {
    let pid = ctx_server.pid();
    let before = procfs::open_fds(pid);
    let all = (0..n)
        .map(|_| connect(ctx_server.addr()))
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(Duration::from_millis(200));
    // On a slow machine 200 ms may not be enough: wait (a little longer, and
    // bounded) until the server holds a descriptor for each.
    if let Some(before) = before {
        let _ = procfs::wait_for_fds(pid, Duration::from_secs(5), |now| now >= before + n);
    }
    Ok(all)
}

fn say(stream: &TcpStream, who: &str, line: &[u8]) -> Result<(), String> {
    let mut writer = stream;
    writer
        .write_all(line)
        .map_err(|e| format!("{who} cannot send: {e}"))
}

fn hear(stream: &TcpStream, who: &str, line: &[u8]) -> Result<(), String> {
    judge_echo(line, &read_until(stream, Some(line.len()), SILENCE), false)
        .map(drop)
        .map_err(|e| format!("{who} should get {}: {e}", show(line)))
}

fn broadcast(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&[])?;
    let c = clients(&server, 3)?;
    let (a, b, c) = (&c[0], &c[1], &c[2]);
    let from_a = b"hello from A\n";
    say(a, "A", from_a)?;
    hear(b, "B", from_a)?;
    hear(c, "C", from_a)?;
    let from_b = b"and hello from B\n";
    say(b, "B", from_b)?;
    hear(a, "A", from_b)?;
    hear(c, "C", from_b)?;
    expect_silence(a, Duration::from_millis(200))
        .map_err(|e| format!("A should hear nothing more (not its own line): {e}"))?;
    Ok(
        "a line from A reached B and C, one from B reached A and C, and nobody heard their own"
            .into(),
    )
}

fn whole_lines(ctx: &Ctx) -> Outcome {
    const LINES: usize = 200;
    let server = ctx.start(&["--quiet"])?;
    let all = clients(&server, 3)?;
    let (a, b, c) = (&all[0], &all[1], &all[2]);
    let mut c_writer = c.try_clone().map_err(|e| e.to_string())?;
    let chatter = std::thread::spawn(move || -> std::io::Result<()> {
        for i in 0..LINES {
            c_writer.write_all(format!("C line {i:03}\n").as_bytes())?;
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    });
    say(a, "A", b"a line sent in ")?;
    std::thread::sleep(Duration::from_millis(100));
    say(a, "A", b"two pieces\n")?;
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.iter().filter(|&&b| b == b'\n').count() < LINES + 1 {
        let got = read_until(b, None, SILENCE);
        received.extend_from_slice(&got.data);
        match got.end {
            End::Silent(_) | End::Limit(_) => break,
            End::Eof => return Err("B was disconnected".into()),
            End::Error(e) => return Err(format!("B: {}", describe_error(&e))),
            End::Complete => {}
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let _ = chatter.join();
    let text = String::from_utf8_lossy(&received);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut next_c = 0;
    let mut from_a = 0;
    for line in &lines {
        if *line == "a line sent in two pieces\n" {
            from_a += 1;
        } else if *line == format!("C line {next_c:03}\n") {
            next_c += 1;
        } else {
            return Err(format!(
                "B got {} where a whole line from A or C line {next_c:03} was due",
                show(line.as_bytes())
            ));
        }
    }
    if from_a != 1 || next_c != LINES {
        return Err(format!(
            "B got {from_a} of A's 1 line and {next_c} of C's {LINES}, then nothing for {} s",
            SILENCE.as_secs()
        ));
    }
    Ok(format!(
        "B got A's line (sent in two pieces) and C's {LINES} lines, each whole and in order"
    ))
}

/// How far A's sending may run ahead of what B has received.
const AHEAD: usize = 256 * 1024;

/// Sends `payload` on `stream` in 64 KiB pieces, never more than [`AHEAD`]
/// past `received`; gives up when `received` stands still for [`SILENCE`].
fn send_paced(stream: &TcpStream, payload: &[u8], received: &AtomicUsize) -> Result<(), String> {
    let mut writer = stream;
    let mut sent = 0;
    for chunk in payload.chunks(64 * 1024) {
        let waiting = Instant::now();
        while sent > received.load(Ordering::Acquire) + AHEAD {
            if waiting.elapsed() > SILENCE {
                return Err(format!(
                    "B received nothing more for {} s with {} sent",
                    SILENCE.as_secs(),
                    mib(sent as u64)
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        writer.write_all(chunk).map_err(|e| e.to_string())?;
        sent += chunk.len();
    }
    Ok(())
}

fn slow_listener(ctx: &Ctx) -> Outcome {
    const LINE: usize = 1024;
    const TOTAL: usize = 16 << 20;
    const MEMORY_LIMIT: u64 = 16 << 20;
    let server = ctx.start(&["--quiet"])?;
    let pid = server.pid();
    let all = clients(&server, 3)?;
    let (slow, a, b) = (&all[0], &all[1], &all[2]);
    let before = procfs::peak_rss_bytes(pid);
    let mut payload = Vec::with_capacity(TOTAL);
    for i in 0..TOTAL / LINE {
        let start = payload.len();
        payload.extend_from_slice(format!("A {i:08} ").as_bytes());
        payload.resize(start + LINE - 1, b'.');
        payload.push(b'\n');
    }
    let start = Instant::now();
    // A runs at most AHEAD of what B has received: B's queue in the server
    // then stays far below any sensible limit however long the machine
    // leaves B's reader waiting, while the slow client's grows without end.
    let received = AtomicUsize::new(0);
    let (got, sent) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_counting(b, Some(TOTAL), SILENCE, READ_LIMIT, &received));
        let sent = send_paced(a, &payload, &received);
        let _ = a.shutdown(std::net::Shutdown::Write);
        let got = reader.join().unwrap_or_else(|_| Received {
            data: Vec::new(),
            end: End::Silent(SILENCE),
        });
        (got, sent)
    });
    let took = start.elapsed();
    let after = procfs::peak_rss_bytes(pid);
    judge_echo(&payload, &got, false).map_err(|e| {
        format!("while one client read nothing, B should get all of A's 16 MiB: {e}")
    })?;
    sent.map_err(|e| format!("A could not send its 16 MiB: {e}"))?;
    // The slow client must have been let go: reading now, it finds the
    // end of what was sent before that, then the close.
    let slow_got = read_until(slow, None, SILENCE);
    let slow_end = match slow_got.end {
        End::Eof | End::Error(_) => format!(
            "the slow one was disconnected after {}",
            mib(slow_got.data.len() as u64)
        ),
        _ => {
            return Err(format!(
                "B got all 16 MiB, but the client that did not read is still connected with {} sent to it",
                mib(slow_got.data.len() as u64)
            ));
        }
    };
    let memory = match (before, after) {
        (Some(b), Some(a)) => {
            let growth = a.saturating_sub(b);
            if growth > MEMORY_LIMIT {
                return Err(format!(
                    "peak memory grew by {} while one client read nothing (limit {})",
                    mib(growth),
                    mib(MEMORY_LIMIT)
                ));
            }
            format!("peak memory grew by {}", mib(growth))
        }
        _ => "memory not measured (no /proc here)".into(),
    };
    Ok(format!(
        "B got all 16 MiB of lines in {:.1} s while one client read nothing; {slow_end}; {memory}",
        took.as_secs_f64()
    ))
}
