//! Checks that every chapter's tests run against its server: the documented
//! transcript, a binary payload echoed intact, a half-closing client.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{ServerProcess, workspace_root};
use crate::transcript::Transcript;

/// How long any one check may take before it is declared failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of a chapter's captured transcripts:
/// `docs/transcripts/<chapter>/`, holding `server.txt` and `client.txt`.
pub fn transcript_dir(chapter: &str) -> PathBuf {
    workspace_root().join("docs/transcripts").join(chapter)
}

/// A captured transcript's lines, without its first line (the command that
/// produced it, `$ cargo run -p ...`).
pub fn load_transcript(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(first) if first.starts_with("$ ") => Ok(lines.map(str::to_string).collect()),
        _ => Err(format!(
            "{} must start with the command that produced it (`$ ...`)",
            path.display()
        )),
    }
}

/// Runs the multiclient (two sockets) against `server`, waits until the server
/// has logged both closes, and compares both transcripts, connection by
/// connection, with the chapter's captured ones.
pub fn check_multiclient_transcripts(server: &ServerProcess, chapter: &str) -> Result<(), String> {
    let args = multiclient::Args {
        host: "127.0.0.1".into(),
        port: server.port,
        sockets: 2,
    };
    let mut client_out = Vec::new();
    multiclient::run(&args, &mut client_out)?;
    let client_lines: Vec<String> = String::from_utf8_lossy(&client_out)
        .lines()
        .map(str::to_string)
        .collect();
    let closed = server.wait_for_count(|l| l.starts_with("closing ("), 2, Duration::from_secs(10));
    let server_lines = server.lines();
    if !closed {
        return Err(format!(
            "the server did not log two closes: {server_lines:#?}"
        ));
    }
    let dir = transcript_dir(chapter);
    for (name, got) in [("server.txt", &server_lines), ("client.txt", &client_lines)] {
        let expected = load_transcript(&dir.join(name))?;
        let got_t = Transcript::from_lines(got);
        let want_t = Transcript::from_lines(&expected);
        if want_t.connections.is_empty() {
            return Err(format!("{chapter}/{name} names no connection"));
        }
        if let Some(diff) = got_t.diff(&want_t) {
            return Err(format!(
                "{chapter}/{name} does not match a fresh run:\n{diff}\nthe run printed:\n{}\n\
                 (if the server's output changed on purpose, `scripts/transcripts.sh {chapter}` \
                 captures it again and copies it into the book)",
                got.join("\n")
            ));
        }
    }
    Ok(())
}

/// Deterministic bytes of every value, NUL and invalid UTF-8 included.
pub fn binary_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            // xorshift64: cheap, and every byte value turns up.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Sends `payload` while reading the echo in parallel (a server that only
/// writes when the client reads would otherwise deadlock), then checks that
/// every byte came back in order.
pub fn check_echo(addr: SocketAddr, payload: &[u8]) -> Result<(), String> {
    let stream = connect(addr)?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let to_send = payload.to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    let echoed = read_exactly(&stream, payload.len())?;
    sender
        .join()
        .map_err(|_| "sender thread panicked".to_string())?
        .map_err(|e| format!("send: {e}"))?;
    compare(&echoed, payload)
}

/// Sends `payload`, shuts down the write side, and expects the whole echo and
/// then end-of-file.
pub fn check_half_close(addr: SocketAddr, payload: &[u8]) -> Result<(), String> {
    let stream = connect(addr)?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let to_send = payload.to_vec();
    let sender = std::thread::spawn(move || {
        writer.write_all(&to_send)?;
        writer.shutdown(Shutdown::Write)
    });
    let echoed = read_to_end(&stream)?;
    sender
        .join()
        .map_err(|_| "sender thread panicked".to_string())?
        .map_err(|e| format!("send: {e}"))?;
    compare(&echoed, payload)
}

fn read_exactly(mut stream: &TcpStream, len: usize) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        if Instant::now() > deadline {
            return Err(format!("timed out after {got} of {len} bytes"));
        }
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Err(format!("server closed after {got} of {len} bytes")),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {got} of {len} bytes: {e}")),
        }
    }
    Ok(buf)
}

fn read_to_end(mut stream: &TcpStream) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let mut out = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(format!("timed out after {} bytes", out.len()));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {} bytes: {e}", out.len())),
        }
    }
}

fn compare(echoed: &[u8], sent: &[u8]) -> Result<(), String> {
    if echoed.len() != sent.len() {
        return Err(format!(
            "sent {} bytes, got {} back",
            sent.len(),
            echoed.len()
        ));
    }
    match echoed.iter().zip(sent).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!("echo differs from what was sent at byte {i}")),
    }
}

/// Runs `program` with `args` and returns its exit code and stderr, or an
/// error if it has not exited within `timeout`.
fn run_to_exit(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<(Option<i32>, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                return Ok((status.code(), err));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} {args:?} did not exit within {timeout:?}",
                    program.display()
                ));
            }
        }
    }
}

/// The command-line half of the server contract: a bad argument, a port in
/// use and a host that does not resolve each give one `error:` line and a
/// non-zero exit (2 for usage mistakes, 1 for the others), and `--help`
/// lists `--host`, `--port` and `--quiet`. `args` are extra flags (a mode
/// such as `--level`) given in every case.
pub fn check_command_line(program: &Path, args: &[&str]) -> Result<(), String> {
    let timeout = Duration::from_secs(30);
    let one_error_line = |what: &str, code: Option<i32>, want: i32, err: &str, needle: &str| {
        let lines: Vec<&str> = err.lines().collect();
        if code != Some(want)
            || lines.len() != 1
            || !lines[0].starts_with("error: ")
            || !err.contains(needle)
        {
            Err(format!(
                "{what}: expected exit {want} and one `error:` line containing {needle:?}, got exit {code:?} and {err:?}"
            ))
        } else {
            Ok(())
        }
    };
    for bad in [&["--port", "99999"][..], &["--port", "abc"], &["--bogus"]] {
        let all: Vec<&str> = args.iter().chain(bad).copied().collect();
        let (code, err) = run_to_exit(program, &all, timeout)?;
        one_error_line(&format!("{bad:?}"), code, 2, &err, "error: ")?;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = taken
        .local_addr()
        .map_err(|e| e.to_string())?
        .port()
        .to_string();
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--host", "127.0.0.1", "--port", &port])
        .collect();
    let (code, err) = run_to_exit(program, &all, timeout)?;
    one_error_line("a port in use", code, 1, &err, "Address already in use")?;
    // And what to do about it.
    one_error_line("a port in use", code, 1, &err, "--port 0")?;
    let host = "no-such-host.invalid";
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--host", host, "--port", "0"])
        .collect();
    let (code, err) = run_to_exit(program, &all, timeout)?;
    one_error_line(
        "an unresolvable host",
        code,
        1,
        &err,
        "cannot resolve host 'no-such-host.invalid'",
    )?;

    let out = Command::new(program)
        .args(args)
        .arg("--help")
        .output()
        .map_err(|e| e.to_string())?;
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--host", "--port", "--quiet"] {
        if !out.status.success() || !help.contains(flag) {
            return Err(format!("--help does not list {flag}: {help}"));
        }
    }
    Ok(())
}

/// Data and the end-of-file arrive while the server is stopped (SIGSTOP),
/// so one event reports both: the server must echo the data and then close.
pub fn check_data_then_end_of_file(server: &ServerProcess) -> Result<(), String> {
    let client = TcpStream::connect(server.addr()).map_err(|e| format!("connect: {e}"))?;
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    server
        .wait_for_line(
            |l| l.starts_with("new connection from"),
            Duration::from_secs(5),
        )
        .ok_or("the server did not log the new connection")?;
    // Stopped, the server cannot look between the two arrivals.
    server
        .signal(libc::SIGSTOP)
        .map_err(|e| format!("SIGSTOP: {e}"))?;
    let sent = (&client)
        .write_all(b"last words")
        .and_then(|()| client.shutdown(Shutdown::Write));
    std::thread::sleep(Duration::from_millis(200));
    server
        .signal(libc::SIGCONT)
        .map_err(|e| format!("SIGCONT: {e}"))?;
    sent.map_err(|e| format!("send: {e}"))?;
    let mut echoed = Vec::new();
    (&client)
        .read_to_end(&mut echoed)
        .map_err(|e| format!("after {} bytes: {e}", echoed.len()))?;
    if echoed != b"last words" {
        return Err(format!("got {:?}", String::from_utf8_lossy(&echoed)));
    }
    Ok(())
}

/// `rounds` times, on a fresh connection: with the server stopped, `ab`, an
/// urgent `c` (`MSG_OOB`) and `def` arrive; continued, the server must echo
/// all six bytes. TCP stops a read at the urgent mark, so the first read
/// is short while data is still queued: a server that takes every short
/// read to mean "empty" echoes `ab` and strands the rest.
pub fn check_urgent_not_stranded(server: &ServerProcess, rounds: usize) -> Result<(), String> {
    for round in 0..rounds {
        let client = TcpStream::connect(server.addr()).map_err(|e| format!("connect: {e}"))?;
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut hello = [0; 5];
        (&client)
            .write_all(b"hello")
            .and_then(|()| (&client).read_exact(&mut hello))
            .map_err(|e| format!("round {round}: before the stop: {e}"))?;
        server
            .signal(libc::SIGSTOP)
            .map_err(|e| format!("SIGSTOP: {e}"))?;
        let sent = (&client)
            .write_all(b"ab")
            .and_then(|()| socket2::SockRef::from(&client).send_out_of_band(b"c"))
            .and_then(|_| (&client).write_all(b"def"));
        std::thread::sleep(Duration::from_millis(100));
        server
            .signal(libc::SIGCONT)
            .map_err(|e| format!("SIGCONT: {e}"))?;
        sent.map_err(|e| format!("round {round}: send: {e}"))?;
        let mut echoed = [0; 6];
        let got = (&client).read_exact(&mut echoed);
        if got.is_err() || &echoed != b"abcdef" {
            return Err(format!(
                "round {round}: {got:?}, got {:?}",
                String::from_utf8_lossy(&echoed)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_every_byte_value() {
        let p = binary_payload(1 << 16, 7);
        let mut seen = [false; 256];
        for b in &p {
            seen[*b as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert!(std::str::from_utf8(&p).is_err());
    }

    #[test]
    fn the_command_line_check_fails_on_a_program_that_ignores_its_arguments() {
        // `true` exits 0 whatever it is given: no error line, no help.
        let err = check_command_line(Path::new("/bin/true"), &[]).unwrap_err();
        assert!(err.contains("expected exit 2"), "{err}");
    }

    #[test]
    fn compare_finds_the_first_difference() {
        assert!(compare(b"abc", b"abc").is_ok());
        assert!(compare(b"abd", b"abc").unwrap_err().contains("byte 2"));
        assert!(compare(b"ab", b"abc").unwrap_err().contains("got 2"));
    }
}
