//! The client that goes with every chapter: it opens `--sockets` connections
//! (two by default), and for each of three messages sends it on every socket,
//! then reads the echo from every socket. Seeing the server interleave two
//! clients is the point of the exercise.
//!
//! It reads until it has as many bytes as it sent (TCP may deliver them in
//! pieces), so its transcript is the same on every run.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use echo_common::{Payload, PyAddr, resolve};

/// The three messages, as in the Python original.
pub const MESSAGES: [&str; 3] = ["This is the message. ", "It will be sent ", "in parts."];

/// How long to wait for an echo before giving up on the server.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends three messages on several sockets and reads the echoes.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "multiclient")]
pub struct Args {
    /// Host name or address of the server
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Port of the server
    #[arg(long, default_value_t = 10000)]
    pub port: u16,
    /// How many connections to open
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sockets: u32,
}

struct Socket {
    stream: TcpStream,
    local: SocketAddr,
    open: bool,
}

/// Runs the client, writing its transcript to `out`. An `Err` is the one-line
/// reason it could not finish.
pub fn run(args: &Args, out: &mut impl Write) -> Result<(), String> {
    let addr = resolve(&args.host, args.port)
        .map_err(|e| format!("cannot resolve host '{}': {e}", args.host))?;
    let _ = writeln!(out, "connecting to {} port {}", args.host, args.port);
    let mut socks = Vec::new();
    for _ in 0..args.sockets {
        let stream = TcpStream::connect(addr).map_err(|e| connect_error(args, &e))?;
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(ECHO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        socks.push(Socket {
            stream,
            local,
            open: true,
        });
    }

    for message in MESSAGES {
        // Send the message on every socket...
        for s in socks.iter_mut().filter(|s| s.open) {
            let _ = writeln!(
                out,
                "{}: sending {}",
                PyAddr(s.local),
                Payload(message.as_bytes())
            );
            if let Err(e) = s.stream.write_all(message.as_bytes()) {
                let _ = writeln!(out, "{}: send failed: {e}", PyAddr(s.local));
                close(s, out);
            }
        }
        // ...then read the echo on every socket.
        for s in socks.iter_mut().filter(|s| s.open) {
            let (data, ended) = read_echo(&mut s.stream, message.len())
                .map_err(|e| format!("no echo from the server on {}: {e}", PyAddr(s.local)))?;
            if !data.is_empty() {
                let _ = writeln!(out, "{}: received {}", PyAddr(s.local), Payload(&data));
            }
            if ended {
                close(s, out);
            }
        }
    }
    Ok(())
}

fn close(s: &mut Socket, out: &mut impl Write) {
    let _ = writeln!(out, "closing socket {}", PyAddr(s.local));
    s.open = false;
}

/// Reads until `expected` bytes have arrived or the server closes.
/// Returns the bytes and whether the server closed.
fn read_echo(stream: &mut TcpStream, expected: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut data = vec![0; expected];
    let mut got = 0;
    while got < expected {
        match stream.read(&mut data[got..]) {
            Ok(0) => {
                data.truncate(got);
                return Ok((data, true));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset) => {
                data.truncate(got);
                return Ok((data, true));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((data, false))
}

fn connect_error(args: &Args, e: &io::Error) -> String {
    let mut msg = format!("cannot connect to {} port {}: {e}", args.host, args.port);
    if e.kind() == io::ErrorKind::ConnectionRefused {
        msg.push_str("; start a server first, e.g. `cargo run -p select-queue`");
    }
    // EMFILE: this process's own limit, which the shell can raise.
    if e.raw_os_error() == Some(EMFILE) {
        msg.push_str(&format!(
            "; every connection needs a descriptor: raise this shell's limit first, \
             e.g. `ulimit -n {}`",
            (args.sockets + 64).next_power_of_two()
        ));
    }
    msg
}

/// `EMFILE` ("Too many open files"), 24 on every Linux architecture.
const EMFILE: i32 = 24;
