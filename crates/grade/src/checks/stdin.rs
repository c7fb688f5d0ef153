//! Exercise 3: commands typed on the server's stdin, run by the same
//! `select` loop that serves the clients.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::echo::echo_messages;
use super::{CheckDef, Ctx, Outcome, Server, cpu_over};
use crate::probe::{End, SILENCE, connect, judge_echo, read_until, show};

pub const STATS: CheckDef = CheckDef {
    name: "stats",
    about: "2 clients echo 1100 bytes; `stats` typed in two pieces prints `stats: 2 connections open, 1100 bytes echoed`",
    run: stats,
};

pub const LIST: CheckDef = CheckDef {
    name: "list",
    about: "2 clients send 10000 and 100 bytes; `list` prints `ADDR sent N bytes` for each; once one has left, `list` leaves it out",
    run: list,
};

pub const KICK: CheckDef = CheckDef {
    name: "kick",
    about: "`kick ADDR` of one of 2 clients prints `kicked ADDR` and closes it; the other and a new client are still served",
    run: kick,
};

pub const KICK_UNKNOWN: CheckDef = CheckDef {
    name: "kick-unknown",
    about: "`kick 127.0.0.1:1` and `kick nobody` each print a line starting `no client`; the connected client is still served",
    run: kick_unknown,
};

pub const UNKNOWN: CheckDef = CheckDef {
    name: "unknown-command",
    about: "`hello` prints a line with `unknown command`, and the server goes on serving",
    run: unknown,
};

pub const STDIN_EOF: CheckDef = CheckDef {
    name: "stdin-eof",
    about: "`sta`, then `ts` with no newline, then end-of-file: `stats` still runs, and the server goes on serving, idle (under 0.1 s of CPU in 0.5 s)",
    run: stdin_eof,
};

const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn type_text(server: &mut Server<'_>, text: &str) -> Result<(), String> {
    server
        .write_stdin(text.as_bytes())
        .map_err(|e| format!("cannot write to the server's stdin: {e}"))
}

/// The first line the server printed that starts with `prefix`.
fn printed(server: &Server<'_>, prefix: &str) -> Option<String> {
    server.wait_for_line(|l| l.starts_with(prefix), ANSWER_WITHIN)
}

/// Sends `size` bytes on a new connection and waits for their echo.
fn echo_bytes(server: &Server<'_>, size: usize) -> Result<TcpStream, String> {
    let c = connect(server.addr())?;
    let data = vec![b'e'; size];
    (&c).write_all(&data)
        .map_err(|e| format!("send failed: {e}"))?;
    judge_echo(&data, &read_until(&c, Some(size), SILENCE), false)?;
    Ok(c)
}

/// The address the server sees for `client`, as `list` prints it.
fn address(client: &TcpStream) -> Result<String, String> {
    client
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|e| format!("cannot read the client's address: {e}"))
}

/// Whether `line` names `addr` as a word of its own.
fn mentions(line: &str, addr: &str) -> bool {
    line.split_whitespace().any(|w| w == addr)
}

/// Whether `line` is `ADDR sent N bytes` (spaces around it allowed).
fn is_list_line(line: &str, addr: &str, sent: usize) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words == [addr, "sent", &sent.to_string(), "bytes"]
}

/// `error`, and, if the server has exited, that and its last line: a
/// server that stops on a command has its clients see only a close.
fn with_exit(server: &mut Server<'_>, error: String) -> String {
    let Some(status) = server.wait_exit(Duration::from_millis(200)) else {
        return error;
    };
    let lines = server.lines();
    // After a panic, the last line is Rust's note about backtraces.
    match lines.iter().rev().find(|l| !l.starts_with("note: ")) {
        Some(last) => format!("{error}; the server had exited ({status}), its last line: {last:?}"),
        None => format!("{error}; the server had exited ({status})"),
    }
}

/// Whether the client's connection is closed: end-of-file or a reset
/// within [`SILENCE`].
fn sees_close(client: &TcpStream) -> bool {
    matches!(
        read_until(client, None, SILENCE).end,
        End::Eof | End::Error(_)
    )
}

fn stats(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    let _a = echo_bytes(&server, 1000)?;
    let _b = echo_bytes(&server, 100)?;
    // Half a command, a pause, the rest: a read of stdin is not a line.
    type_text(&mut server, "sta")?;
    std::thread::sleep(Duration::from_millis(100));
    type_text(&mut server, "ts\n")?;
    let Some(line) = printed(&server, "stats:") else {
        return Err(format!(
            "no line starting with `stats:` within {} s of typing `stats` (in two pieces: \
             `sta`, then `ts` and Enter)",
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

/// The lines printed under each `list:` line, up to the next one (or the
/// end), once `count` of them have been printed.
fn listings(server: &Server<'_>, count: usize) -> Option<Vec<Vec<String>>> {
    let is_header = |l: &str| l.starts_with("list:");
    if !server.wait_for_count(is_header, count, ANSWER_WITHIN) {
        return None;
    }
    let mut found: Vec<Vec<String>> = Vec::new();
    for line in server.lines() {
        if is_header(&line) {
            found.push(Vec::new());
        } else if let Some(current) = found.last_mut() {
            current.push(line);
        }
    }
    Some(found)
}

fn list(ctx: &Ctx) -> Outcome {
    const SENT_A: usize = 10_000;
    const SENT_B: usize = 100;
    let no_list = || {
        format!(
            "no line starting with `list:` within {} s of typing `list`",
            ANSWER_WITHIN.as_secs()
        )
    };
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    // More than one read's worth: every read counts, not the last one.
    let a = echo_bytes(&server, SENT_A)?;
    let b = echo_bytes(&server, SENT_B)?;
    let (addr_a, addr_b) = (address(&a)?, address(&b)?);
    type_text(&mut server, "list\n")?;
    if printed(&server, "list:").is_none() {
        return Err(no_list());
    }
    // The second client leaves; once it sees the close, the server has
    // forgotten it.
    let _ = b.shutdown(Shutdown::Write);
    if !sees_close(&b) {
        return Err(
            "a client sent end-of-file, and the server did not close its connection".into(),
        );
    }
    // The third `list:` line closes the second listing.
    type_text(&mut server, "list\nlist\n")?;
    let Some(listings) = listings(&server, 3) else {
        return Err(no_list());
    };
    let has = |listing: &[String], addr: &str, sent: usize| {
        listing.iter().any(|l| is_list_line(l, addr, sent))
    };
    let both = &listings[0];
    if !has(both, &addr_a, SENT_A) || !has(both, &addr_b, SENT_B) {
        return Err(format!(
            "with 2 clients that sent {SENT_A} and {SENT_B} bytes, `list` printed {both:?}; \
             expected the lines `{addr_a} sent {SENT_A} bytes` and `{addr_b} sent {SENT_B} bytes`"
        ));
    }
    let one = &listings[1];
    if one.iter().any(|l| mentions(l, &addr_b)) || !has(one, &addr_a, SENT_A) {
        return Err(format!(
            "after {addr_b} left, `list` printed {one:?}; expected `{addr_a} sent {SENT_A} bytes` \
             and no line for {addr_b}"
        ));
    }
    drop(a);
    Ok(format!(
        "listed both clients with the bytes each sent ({SENT_A} and {SENT_B}), then only the one left"
    ))
}

fn kick(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    let a = connect(server.addr())?;
    echo_messages(&a)?;
    let b = connect(server.addr())?;
    echo_messages(&b)?;
    let addr_a = address(&a)?;
    type_text(&mut server, &format!("kick {addr_a}\n"))?;
    let Some(line) = server.wait_for_line(
        |l| l.starts_with("kicked") && mentions(l, &addr_a),
        ANSWER_WITHIN,
    ) else {
        return Err(format!(
            "no line `kicked {addr_a}` within {} s of typing `kick {addr_a}`",
            ANSWER_WITHIN.as_secs()
        ));
    };
    if !sees_close(&a) {
        return Err(format!(
            "printed {line:?}, but the client's connection was still open {} s later",
            SILENCE.as_secs()
        ));
    }
    if let Err(e) = echo_messages(&b) {
        return Err(with_exit(
            &mut server,
            format!("the other client, after the kick: {e}"),
        ));
    }
    let c = connect(server.addr())?;
    echo_messages(&c).map_err(|e| format!("a client that connected after the kick: {e}"))?;
    Ok(format!(
        "printed {line:?}, the client saw its connection close, the other and a new one were served"
    ))
}

fn kick_unknown(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    let client = connect(server.addr())?;
    echo_messages(&client)?;
    // Port 1 is never a client's: clients get ports from the ephemeral range.
    type_text(&mut server, "kick 127.0.0.1:1\nkick nobody\n")?;
    let is_answer = |l: &str| l.starts_with("no client");
    if !server.wait_for_count(is_answer, 2, ANSWER_WITHIN) {
        let got = server.lines().iter().filter(|l| is_answer(l)).count();
        return Err(format!(
            "typed `kick 127.0.0.1:1` and `kick nobody`, addresses of no client: \
             {got} of 2 lines starting with `no client` within {} s",
            ANSWER_WITHIN.as_secs()
        ));
    }
    if let Err(e) = echo_messages(&client) {
        return Err(with_exit(
            &mut server,
            format!("the client, after `kick` of addresses not its own: {e}"),
        ));
    }
    Ok("printed `no client` twice; the client kept its connection and was served".into())
}

fn unknown(ctx: &Ctx) -> Outcome {
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    type_text(&mut server, "hello\n")?;
    let line = server
        .wait_for_line(|l| l.contains("unknown command"), ANSWER_WITHIN)
        .ok_or_else(|| {
            format!(
                "no line with `unknown command` within {} s of typing `hello`",
                ANSWER_WITHIN.as_secs()
            )
        })?;
    let served = connect(server.addr()).and_then(|client| echo_messages(&client));
    if let Err(e) = served {
        return Err(with_exit(
            &mut server,
            format!("printed {line:?}, then a client: {e}"),
        ));
    }
    Ok(format!(
        "printed {}, and still serves",
        show(line.as_bytes())
    ))
}

fn stdin_eof(ctx: &Ctx) -> Outcome {
    const LIMIT: Duration = Duration::from_millis(100);
    let mut server = ctx.start_with_stdin(&["--quiet"])?;
    type_text(&mut server, "sta")?;
    std::thread::sleep(Duration::from_millis(100));
    type_text(&mut server, "ts")?;
    server.close_stdin();
    let Some(line) = printed(&server, "stats:") else {
        return Err(format!(
            "typed `sta`, then `ts` with no newline, then closed stdin: no line starting \
             with `stats:` within {} s",
            ANSWER_WITHIN.as_secs()
        ));
    };
    let client = connect(server.addr())?;
    echo_messages(&client).map_err(|e| format!("with stdin closed: {e}"))?;
    match cpu_over(&server, Duration::from_millis(500)) {
        Some(cpu) if cpu > LIMIT => Err(format!(
            "{:.2} s of CPU in 0.5 s with stdin closed and one idle client (limit {:.2} s)",
            cpu.as_secs_f64(),
            LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!(
            "ran the last line ({line:?}), then served with stdin closed, {:.2} s of CPU in 0.5 s idle",
            cpu.as_secs_f64()
        )),
        None => Ok(format!(
            "ran the last line ({line:?}), then served with stdin closed (CPU not measured: no /proc here)"
        )),
    }
}
