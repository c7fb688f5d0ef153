//! Checks for a byte quota per client (`--quota BYTES`): the first BYTES
//! bytes are echoed, then one line says the quota is used up, then the
//! server shuts down its sending side, drains, and closes, without a reset
//! that would destroy the echo or the line, and without holding up anyone
//! else.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use test_support::checks::binary_payload;
use test_support::procfs;

use super::{CheckDef, Ctx, Outcome, Server};
use crate::probe::{
    End, Received, SILENCE, bytes, connect, describe_error, finish_sender, read_until, round_trip,
    round_trip_within, send_in_background,
};

pub const EXACT_CUT: CheckDef = CheckDef {
    name: "exact-cut",
    about: "with --quota 100000, a client sends 101000 bytes: exactly the first 100000 come back, the line, end-of-file; bytes it sends after are not answered with a reset",
    run: exact_cut,
};

pub const SLOW_READER_CUT: CheckDef = CheckDef {
    name: "slow-reader-cut",
    about: "with --quota 200000, a client sends 8 MiB before it reads a byte: it can, and then gets the first 200000 bytes, the line, end-of-file",
    run: slow_reader_cut,
};

pub const OTHERS_UNAFFECTED: CheckDef = CheckDef {
    name: "others-unaffected",
    about: "with --quota 100000, one client is cut while another, which stays under its quota, is echoed before and after; a client that comes later has a quota of its own",
    run: others_unaffected,
};

pub const CLOSES_AFTER_DRAIN: CheckDef = CheckDef {
    name: "closes-after-drain",
    about: "with --quota 10000, a cut client that closes is closed by the server within 1 s; one that stays, silent, within 5 s",
    run: closes_after_drain,
};

/// The line a client gets once its quota is used up.
fn used_up_line(quota: usize) -> String {
    format!("quota of {quota} bytes used up\n")
}

/// How long a cut client waits before it reads: a server that closes its
/// socket with unread bytes in it sends a reset meanwhile, and the reset
/// arrives before the client has taken the echo.
const LATE: Duration = Duration::from_millis(300);

/// How long a client under its quota may wait for its echo while another is
/// cut: far more than a server needs, less than the drain.
const PROMPT: Duration = Duration::from_secs(1);

/// Judges what a client that sent `sent` (more than `quota` bytes) read
/// until the end: the first `quota` bytes of it, the line, end-of-file.
fn judge_cut(sent: &[u8], quota: usize, got: &Received) -> Result<(), String> {
    let data = &got.data;
    let echoed = data
        .iter()
        .zip(sent)
        .take(quota)
        .take_while(|(a, b)| a == b)
        .count();
    let ending = || match &got.end {
        End::Complete | End::Limit(_) => String::new(),
        End::Eof => ", then end-of-file".into(),
        End::Silent(d) => format!(", then nothing for {} s", d.as_secs_f64()),
        End::Error(e) => format!(", then {}", describe_error(e)),
    };
    if echoed < quota {
        if echoed < data.len() {
            return Err(format!(
                "the echo differs from what was sent at byte {echoed} of {quota}: {} came there",
                shown(&data[echoed..])
            ));
        }
        return Err(format!(
            "got {echoed} of the first {quota} bytes back{}",
            ending()
        ));
    }
    let rest = &data[quota..];
    let line = used_up_line(quota);
    if !line.as_bytes().starts_with(rest) {
        let past = rest
            .iter()
            .zip(&sent[quota..])
            .take_while(|(a, b)| a == b)
            .count();
        if past > 0 {
            return Err(format!(
                "the echo went on past the quota: {} bytes came back, not {quota}",
                quota + past
            ));
        }
        return Err(format!(
            "after the first {quota} bytes came {}, not the line {}",
            shown(rest),
            shown(line.as_bytes())
        ));
    }
    if rest.is_empty() {
        return Err(format!(
            "got the first {quota} bytes, then no line{}",
            ending()
        ));
    }
    if rest.len() < line.len() {
        return Err(format!(
            "got the first {quota} bytes, then {} of the line {}{}",
            shown(rest),
            shown(line.as_bytes()),
            ending()
        ));
    }
    match &got.end {
        End::Eof => Ok(()),
        End::Silent(d) => Err(format!(
            "got the first {quota} bytes and the line, but no end-of-file in {} s: \
             shut down the sending side once the line is sent",
            d.as_secs_f64()
        )),
        _ => Err(format!(
            "got the first {quota} bytes and the line{}",
            ending()
        )),
    }
}

/// A few bytes the way a student can read them: text quoted, the rest
/// counted.
fn shown(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) if text.len() <= 60 && !text.contains(|c: char| c.is_control() && c != '\n') => {
            format!("{text:?}")
        }
        _ => format!("{} other bytes", data.len()),
    }
}

/// Reads a cut client's echo, line and end-of-file.
fn read_cut(stream: &TcpStream, sent: &[u8], quota: usize) -> Result<(), String> {
    let got = read_until(stream, None, SILENCE);
    judge_cut(sent, quota, &got)
}

/// After end-of-file, sends more and reads again a moment later: a server
/// that still drains reads and drops it (the read sees end-of-file again); one
/// that has closed its socket answers with a reset.
fn probe_still_draining(stream: &TcpStream) -> Result<(), String> {
    let reset = "the server closed its socket instead of shutting down its sending side \
                 and reading (and dropping) until the client closes or the drain is over";
    // A reset after end-of-file does not show in a read, which keeps
    // returning end-of-file: it is the socket's pending error.
    match stream.take_error() {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(
                "the connection was reset after end-of-file: the server closed its socket \
                 with bytes from the client still unread, and such a close sends a reset; \
                 shut down the sending side instead, and read (and drop) until the client \
                 closes or the drain is over"
                    .into(),
            );
        }
        Err(e) => return Err(format!("cannot ask the socket for its error: {e}")),
    }
    let mut writer = stream;
    let sent_more = "the client sent 1000 more bytes after end-of-file and the connection \
                     was reset";
    if let Err(e) = writer.write_all(&[b'x'; 1000]) {
        return Err(format!("{sent_more} (the send failed: {e}): {reset}"));
    }
    std::thread::sleep(LATE);
    match stream.take_error() {
        Ok(None) => {}
        Ok(Some(_)) => return Err(format!("{sent_more}: {reset}")),
        Err(e) => return Err(format!("cannot ask the socket for its error: {e}")),
    }
    let _ = stream.set_read_timeout(Some(SILENCE));
    let mut byte = [0u8; 1];
    let mut reader = stream;
    match reader.read(&mut byte) {
        Ok(0) => Ok(()),
        Ok(_) => Err("after end-of-file, more bytes came".into()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            Err(format!("{sent_more}: {reset}"))
        }
        Err(e) => Err(format!("after end-of-file, a read failed: {e}")),
    }
}

fn start_with_quota<'a>(ctx: &'a Ctx, quota: usize) -> Result<Server<'a>, String> {
    ctx.start(&["--quiet", "--quota", &quota.to_string()])
}

fn exact_cut(ctx: &Ctx) -> Outcome {
    const QUOTA: usize = 100_000;
    const SENT: usize = QUOTA + 1000;
    let server = start_with_quota(ctx, QUOTA)?;
    let payload = Arc::new(binary_payload(SENT, 21));
    let stream = connect(server.addr())?;
    let sender = send_in_background(&stream, Arc::clone(&payload), false)?;
    std::thread::sleep(LATE);
    let read = read_cut(&stream, &payload, QUOTA);
    let probed = read.clone().and_then(|()| probe_still_draining(&stream));
    finish_sender(&stream, sender);
    probed?;
    Ok(format!(
        "sent {SENT} bytes: got the first {QUOTA}, the line, end-of-file; \
         bytes sent after it got no reset"
    ))
}

fn slow_reader_cut(ctx: &Ctx) -> Outcome {
    const QUOTA: usize = 200_000;
    const SENT: usize = 8 << 20;
    const SEND_LIMIT: Duration = Duration::from_secs(10);
    let server = start_with_quota(ctx, QUOTA)?;
    let payload = Arc::new(binary_payload(SENT, 22));
    let stream = connect(server.addr())?;
    // A send buffer of fixed size (the kernel would grow it to megabytes):
    // the client's sends then wait as soon as the server stops reading.
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(64 << 10);
    // Sent in pieces, counted, so that a send that stalls says how far it got.
    let done = Arc::new(AtomicUsize::new(0));
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let _ = writer.set_write_timeout(Some(SEND_LIMIT));
    let sender = {
        let (payload, done) = (Arc::clone(&payload), Arc::clone(&done));
        std::thread::spawn(move || {
            for piece in payload.chunks(16 << 10) {
                writer.write_all(piece)?;
                done.fetch_add(piece.len(), Ordering::Relaxed);
            }
            Ok(())
        })
    };
    let start = Instant::now();
    while !sender.is_finished() && start.elapsed() < SEND_LIMIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !sender.is_finished() {
        let sent = done.load(Ordering::Relaxed);
        finish_sender(&stream, sender);
        return Err(format!(
            "the client could send only {sent} of {SENT} bytes in {} s without reading: \
             after the quota, the server stopped reading from it, so its sends wait \
             (for the echo, which it reads only once it has sent everything)",
            SEND_LIMIT.as_secs()
        ));
    }
    if let Ok(Err(e)) = sender.join() {
        return Err(format!(
            "after {} of {SENT} bytes, sent without reading, the client's send failed ({}): \
             the server closed its socket while the client was still sending",
            done.load(Ordering::Relaxed),
            describe_error(&e)
        ));
    }
    read_cut(&stream, &payload, QUOTA)?;
    Ok(format!(
        "sent {} before reading: got the first {QUOTA} bytes, the line, end-of-file",
        bytes(SENT)
    ))
}

fn others_unaffected(ctx: &Ctx) -> Outcome {
    const QUOTA: usize = 100_000;
    const PIECE: usize = 15_000;
    let server = start_with_quota(ctx, QUOTA)?;
    let other = connect(server.addr())?;
    let piece = |i: u64| binary_payload(PIECE, 30 + i);
    let mut echoed = 0;
    for i in 0..3 {
        round_trip(&other, &piece(i)).map_err(|e| {
            format!(
                "before any client was cut, a client at {} of its quota: {e}",
                bytes(echoed + PIECE)
            )
        })?;
        echoed += PIECE;
    }
    // One client is cut and stays connected, still sending.
    let cut_payload = Arc::new(binary_payload(QUOTA + 1000, 23));
    let cut = connect(server.addr())?;
    let sender = send_in_background(&cut, Arc::clone(&cut_payload), false)?;
    let read = read_cut(&cut, &cut_payload, QUOTA);
    let _ = sender.join();
    read.map_err(|e| format!("the client that uses up its quota: {e}"))?;
    let more = send_in_background(&cut, Arc::new(vec![b'x'; 50_000]), false)?;
    // The other client, under its quota, goes on, and at once: nothing
    // waits for the cut client's drain.
    for i in 3..6 {
        round_trip_within(&other, &piece(i), PROMPT).map_err(|e| {
            format!(
                "while another client was cut, a client at {} of its quota: {e}",
                bytes(echoed + PIECE)
            )
        })?;
        echoed += PIECE;
    }
    finish_sender(&cut, more);
    drop(cut);
    // A client that comes later has a quota of its own.
    let later = connect(server.addr())?;
    round_trip(&later, &binary_payload(echoed, 40))
        .map_err(|e| format!("a client that came after the cut one left, {echoed} bytes: {e}"))?;
    Ok(format!(
        "another client got all of its {echoed} bytes back while one was cut, and so did a later one"
    ))
}

fn closes_after_drain(ctx: &Ctx) -> Outcome {
    const QUOTA: usize = 10_000;
    const CLOSED_WITHIN: Duration = Duration::from_secs(1);
    const DRAINED_WITHIN: Duration = Duration::from_secs(5);
    let server = start_with_quota(ctx, QUOTA)?;
    let pid = server.pid();
    if procfs::open_fds(pid).is_none() {
        return Ok("not measured: no /proc here".into());
    }
    let payload = binary_payload(QUOTA + 100, 24);
    let mut clients = Vec::new();
    let mut with_first = None;
    for name in ["the client that closes", "the client that stays"] {
        let c = connect(server.addr())?;
        let mut writer = &c;
        writer
            .write_all(&payload)
            .map_err(|e| format!("{name}: send failed: {e}"))?;
        read_cut(&c, &payload, QUOTA).map_err(|e| format!("{name}: {e}"))?;
        clients.push(c);
        // Counted with the server in its loop and the first client just cut
        // (its drain has only begun): a count taken at start-up can miss a
        // descriptor the server opens just after it starts listening.
        with_first = with_first.or(procfs::open_fds(pid));
    }
    let with_first = with_first.ok_or("/proc stopped answering")?;
    let staying = clients.pop();
    let cut_at = Instant::now();
    drop(clients);
    let fds_at_most = |n: usize, limit: Duration| {
        procfs::wait_for_fds(pid, limit, |fds| fds <= n)
            .ok()
            .map(|(_, took)| took)
    };
    let closed = fds_at_most(with_first, CLOSED_WITHIN).ok_or_else(|| {
        format!(
            "a cut client closed its end, and {} s later the server still had its socket open: \
             close when a read returns end-of-file",
            CLOSED_WITHIN.as_secs()
        )
    })?;
    fds_at_most(with_first - 1, DRAINED_WITHIN).ok_or_else(|| {
        format!(
            "a cut client that stays connected, silent, was still not closed {} s after \
             its end-of-file: end the drain after a short time",
            DRAINED_WITHIN.as_secs()
        )
    })?;
    let stayed = cut_at.elapsed();
    drop(staying);
    Ok(format!(
        "a cut client that closed was closed by the server within {:.2} s; one that stayed, {:.1} s after its end-of-file",
        closed.as_secs_f64(),
        stayed.as_secs_f64()
    ))
}
