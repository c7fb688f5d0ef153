//! Exercise 3: commands typed on the server's stdin.

use std::io::Write;
use std::time::{Duration, Instant};

use super::echo::echo_messages;
use super::{CheckDef, Ctx, Outcome, Server, cpu_over};
use crate::probe::{End, SILENCE, connect, judge_echo, read_until, show};

pub const STATS: CheckDef = CheckDef {
    name: "stats",
    about: "2 clients echo 1100 bytes; `stats` typed in two pieces prints `stats: 2 connections open, 1100 bytes echoed`",
    run: stats,
};

pub const QUIT: CheckDef = CheckDef {
    name: "quit",
    about: "`quit` stops the server with status 0 within 2 s; its client sees end-of-file",
    run: quit,
};

pub const UNKNOWN: CheckDef = CheckDef {
    name: "unknown-command",
    about: "`hello` prints a line with `unknown command`, and the server goes on serving",
    run: unknown,
};

pub const STDIN_EOF: CheckDef = CheckDef {
    name: "stdin-eof",
    about: "with stdin closed, the server goes on serving and stays idle (under 0.1 s of CPU in 0.5 s)",
    run: stdin_eof,
};

const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn type_line(server: &mut Server<'_>, text: &str) -> Result<(), String> {
    server
        .write_stdin(text.as_bytes())
        .map_err(|e| format!("cannot write to the server's stdin: {e}"))
}

/// Lines the server printed that start with `prefix`.
fn printed(server: &Server<'_>, prefix: &str) -> Option<String> {
    server.wait_for_line(|l| l.starts_with(prefix), ANSWER_WITHIN)
}

/// Sends `size` bytes on a new connection and waits for their echo.
fn echo_bytes(server: &Server<'_>, size: usize) -> Result<std::net::TcpStream, String> {
    let c = connect(server.addr())?;
    let data = vec![b'e'; size];
    (&c).write_all(&data)
        .map_err(|e| format!("send failed: {e}"))?;
    judge_echo(&data, &read_until(&c, Some(size), SILENCE), false)?;
    Ok(c)
}

fn stats(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    let _a = echo_bytes(&server, 1000)?;
    let _b = echo_bytes(&server, 100)?;
    // Half a command, a pause, the rest: a read of stdin is not a line.
    type_line(&mut server, "sta")?;
    std::thread::sleep(Duration::from_millis(100));
    type_line(&mut server, "ts\n")?;
    let Some(line) = printed(&server, "stats:") else {
        return Err(format!(
            "no line starting with `stats:` within {} s of typing `stats`",
            ANSWER_WITHIN.as_secs()
        ));
    };
    if line.starts_with("stats: 2 connections open") && line.contains(" 1100 bytes echoed") {
        Ok(format!("printed {line:?}"))
    } else {
        Err(format!(
            "printed {line:?}; with 2 clients that echoed 1000 and 100 bytes: \
             \"stats: 2 connections open, 1100 bytes echoed\""
        ))
    }
}

fn quit(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    let client = connect(server.addr())?;
    echo_messages(&client)?;
    let start = Instant::now();
    type_line(&mut server, "quit\n")?;
    let Some(status) = server.wait_exit(ANSWER_WITHIN) else {
        return Err(format!(
            "still running {} s after `quit`",
            ANSWER_WITHIN.as_secs()
        ));
    };
    let took = start.elapsed();
    if !status.success() {
        return Err(format!("stopped on `quit`, but with {status}"));
    }
    match read_until(&client, None, SILENCE).end {
        End::Eof | End::Error(_) => Ok(format!(
            "exited with status 0, {:.0} ms after `quit`; its client saw the close",
            took.as_secs_f64() * 1000.0
        )),
        _ => Err("the server stopped, but its client's connection stayed open".into()),
    }
}

fn unknown(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    type_line(&mut server, "hello\n")?;
    let line = server
        .wait_for_line(|l| l.contains("unknown command"), ANSWER_WITHIN)
        .ok_or_else(|| {
            format!(
                "no line with `unknown command` within {} s of typing `hello`",
                ANSWER_WITHIN.as_secs()
            )
        })?;
    let client = connect(server.addr())?;
    echo_messages(&client).map_err(|e| format!("after `hello`: {e}"))?;
    Ok(format!(
        "printed {}, and still serves",
        show(line.as_bytes())
    ))
}

fn stdin_eof(ctx: &Ctx) -> Outcome {
    const LIMIT: Duration = Duration::from_millis(100);
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    server.close_stdin();
    std::thread::sleep(Duration::from_millis(100));
    let client = connect(server.addr())?;
    echo_messages(&client).map_err(|e| format!("with stdin closed: {e}"))?;
    match cpu_over(&server, Duration::from_millis(500)) {
        Some(cpu) if cpu > LIMIT => Err(format!(
            "{:.2} s of CPU in 0.5 s with stdin closed and one idle client (limit {:.2} s)",
            cpu.as_secs_f64(),
            LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!(
            "serves with stdin closed, {:.2} s of CPU in 0.5 s idle",
            cpu.as_secs_f64()
        )),
        None => Ok("serves with stdin closed (CPU not measured: no /proc here)".into()),
    }
}
