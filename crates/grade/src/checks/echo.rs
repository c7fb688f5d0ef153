//! The check every exercise starts with: the book's three short messages
//! come back one by one.

use std::io::Write;
use std::net::TcpStream;

use super::{CheckDef, Ctx, Outcome};
use crate::probe::{SILENCE, bytes, connect, judge_echo, read_until};

pub const ECHO: CheckDef = CheckDef {
    name: "echo",
    about: "three short messages come back one by one; a second client is served after the first leaves",
    run: echo,
};

/// The messages the book's client sends.
pub const MESSAGES: [&[u8]; 3] = [b"This is the message. ", b"It will be sent ", b"in parts."];

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
