//! Checks for any echo server: short messages, a client that reads late, a
//! client that half-closes, clients that do not read at all, a burst.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use test_support::checks::binary_payload;
use test_support::procfs;

use super::{CheckDef, Ctx, Outcome, cpu_over, idle_clients};
use crate::probe::{
    Received, SILENCE, bytes, connect, judge_echo, mib, read_until, send_in_background,
};

pub const ECHO: CheckDef = CheckDef {
    name: "echo",
    about: "three short messages come back one by one; a second client is served after the first leaves",
    run: echo,
};

pub const SLOW_READER: CheckDef = CheckDef {
    name: "slow-reader",
    about: "a client sends 16 MiB and starts reading only 0.3 s later: every byte comes back",
    run: slow_reader,
};

pub const HALF_CLOSE: CheckDef = CheckDef {
    name: "half-close",
    about: "a client sends 16 MiB, shuts down its write side, reads 0.3 s later: all of it, then end-of-file",
    run: half_close,
};

pub const BOUNDED_MEMORY: CheckDef = CheckDef {
    name: "bounded-memory",
    about: "2 clients send 24 MiB each without reading for 1 s: the server's memory stays bounded",
    run: bounded_memory,
};

pub const BURST: CheckDef = CheckDef {
    name: "burst",
    about: "300 KiB sent in one write, and nothing after it, comes back whole",
    run: burst,
};

/// The messages the book's client sends.
pub const MESSAGES: [&[u8]; 3] = [b"This is the message. ", b"It will be sent ", b"in parts."];

/// What the late readers send: more than the kernel's socket buffers hold
/// (a few MiB on Linux), so a server that forgets what `write` did not take
/// loses some of it.
const LATE_SIZE: usize = 16 << 20;

/// How long the late readers wait before they read.
const LATE: Duration = Duration::from_millis(300);

/// Sends each message and waits for its echo before the next.
pub fn echo_messages(stream: &TcpStream) -> Result<usize, String> {
    let mut total = 0;
    for (i, m) in MESSAGES.iter().enumerate() {
        let mut writer = stream;
        writer
            .write_all(m)
            .map_err(|e| format!("message {} of 3: send failed: {e}", i + 1))?;
        let got = read_until(stream, Some(m.len()), SILENCE);
        judge_echo(m, &got, false).map_err(|e| format!("message {} of 3: {e}", i + 1))?;
        total += m.len();
    }
    Ok(total)
}

fn echo(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&[])?;
    let first = connect(server.addr())?;
    let total = echo_messages(&first)?;
    drop(first);
    let second = connect(server.addr())?;
    let m = b"still there?";
    (&second)
        .write_all(m)
        .map_err(|e| format!("second client: send failed: {e}"))?;
    judge_echo(m, &read_until(&second, Some(m.len()), SILENCE), false)
        .map_err(|e| format!("the first client left, then a second one: {e}"))?;
    Ok(format!(
        "3 of 3 messages came back ({}), and a second client was served",
        bytes(total)
    ))
}

/// Shuts the connection down (so a sender blocked on a server that stopped
/// reading gives up) and waits for the sender.
fn finish(stream: &TcpStream, sender: JoinHandle<std::io::Result<()>>) {
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
}

/// Sends `size` bytes, waits `LATE`, then reads: the echo must be complete
/// (and followed by end-of-file if the client half-closed).
fn late_reader(ctx: &Ctx, size: usize, half_close: bool) -> Outcome {
    let server = ctx.start(&["--quiet"])?;
    let payload = Arc::new(binary_payload(size, 11));
    let stream = connect(server.addr())?;
    let sender = send_in_background(&stream, Arc::clone(&payload), half_close)?;
    std::thread::sleep(LATE);
    let want = if half_close { None } else { Some(size) };
    let got = read_until(&stream, want, SILENCE);
    finish(&stream, sender);
    judge_echo(&payload, &got, half_close)
}

fn slow_reader(ctx: &Ctx) -> Outcome {
    late_reader(ctx, LATE_SIZE, false).map(|ok| format!("{ok}, read 0.3 s late"))
}

fn half_close(ctx: &Ctx) -> Outcome {
    late_reader(ctx, LATE_SIZE, true).map(|ok| format!("{ok}, then end-of-file"))
}

const FLOODERS: usize = 2;
const FLOOD: usize = 24 << 20;
/// More than a bounded server needs (a few hundred KiB per client), far less
/// than an unbounded one takes.
const MEMORY_LIMIT: u64 = 16 << 20;

fn bounded_memory(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--quiet"])?;
    let pid = server.pid();
    let before = procfs::peak_rss_bytes(pid);
    let payload = Arc::new(binary_payload(FLOOD, 5));
    let mut clients = Vec::new();
    for _ in 0..FLOODERS {
        let stream = connect(server.addr())?;
        let sender = send_in_background(&stream, Arc::clone(&payload), false)?;
        clients.push((stream, sender));
    }
    std::thread::sleep(Duration::from_secs(1));
    let readers: Vec<JoinHandle<Received>> = clients
        .iter()
        .filter_map(|(stream, _)| stream.try_clone().ok())
        .map(|stream| std::thread::spawn(move || read_until(&stream, Some(FLOOD), SILENCE)))
        .collect();
    let results: Vec<Option<Received>> = readers.into_iter().map(|r| r.join().ok()).collect();
    let after = procfs::peak_rss_bytes(pid);
    for (stream, sender) in clients {
        finish(&stream, sender);
    }
    for (i, got) in results.iter().enumerate() {
        let Some(got) = got else {
            return Err(format!("client {}: the reader failed", i + 1));
        };
        judge_echo(&payload, got, false).map_err(|e| format!("client {}: {e}", i + 1))?;
    }
    let flood = format!(
        "{FLOODERS} clients sent {} each without reading for 1 s",
        bytes(FLOOD)
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let growth = after.saturating_sub(before);
            if growth > MEMORY_LIMIT {
                Err(format!(
                    "peak memory grew by {} while {flood} (limit {})",
                    mib(growth),
                    mib(MEMORY_LIMIT)
                ))
            } else {
                Ok(format!(
                    "peak memory grew by {} while {flood}; all came back",
                    mib(growth)
                ))
            }
        }
        _ => Ok(format!(
            "{flood}; all came back (memory not measured: no /proc here)"
        )),
    }
}

fn burst(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--quiet"])?;
    let payload = Arc::new(binary_payload(300 << 10, 3));
    let stream = connect(server.addr())?;
    let sender = send_in_background(&stream, Arc::clone(&payload), false)?;
    let got = read_until(&stream, Some(payload.len()), SILENCE);
    finish(&stream, sender);
    judge_echo(&payload, &got, false)
}

pub const QUIET_WHEN_IDLE: CheckDef = CheckDef {
    name: "quiet-when-idle",
    about: "3 clients get their echo and stay connected, silent: the server uses under 0.1 s of CPU in 1 s",
    run: quiet_when_idle,
};

fn quiet_when_idle(ctx: &Ctx) -> Outcome {
    const LIMIT: Duration = Duration::from_millis(100);
    let server = ctx.start(&["--quiet"])?;
    let _clients = idle_clients(&server, 3)?;
    match cpu_over(&server, Duration::from_secs(1)) {
        None => Ok("CPU not measured (no /proc here)".into()),
        Some(cpu) if cpu > LIMIT => Err(format!(
            "{:.2} s of CPU in 1 s with 3 idle clients (limit {:.2} s): the loop spins",
            cpu.as_secs_f64(),
            LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!(
            "{:.2} s of CPU in 1 s with 3 idle clients",
            cpu.as_secs_f64()
        )),
    }
}
