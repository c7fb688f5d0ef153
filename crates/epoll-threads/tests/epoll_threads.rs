//! The server in each balance mode, and its clean stop. The robustness
//! checks every server must pass run in `crates/conformance/tests/chapters.rs`.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-threads");
const MODES: [&str; 3] = ["reuseport", "exclusive", "shared"];

fn start(balance: &str, threads: &str, more: &[&str]) -> ServerProcess {
    let mut args = vec!["--balance", balance, "--threads", threads];
    args.extend_from_slice(more);
    ServerProcess::start(BIN, &args)
}

#[test]
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
    for mode in MODES {
        check_command_line(Path::new(BIN), &["--balance", mode, "--threads", "3"]).unwrap();
    }
}

#[test]
fn bad_thread_counts_and_modes_are_refused_in_one_line() {
    for args in [&["--threads", "0"][..], &["--balance", "herd"][..]] {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

/// With one loop, the server is chapter 6's, and says so line for line.
#[test]
fn one_loop_prints_the_epoll_edge_transcript() {
    for mode in MODES {
        let server = start(mode, "1", &[]);
        check_multiclient_transcripts(&server, "epoll-edge")
            .unwrap_or_else(|e| panic!("--balance {mode}: {e}"));
    }
}

#[test]
fn every_mode_echoes_binary_data_and_half_closes() {
    for mode in MODES {
        let server = start(mode, "3", &["--quiet"]);
        for seed in 0..4 {
            check_echo(server.addr(), &binary_payload(256 * 1024, seed))
                .unwrap_or_else(|e| panic!("--balance {mode}: {e}"));
        }
        check_half_close(server.addr(), &binary_payload(512 * 1024, 9))
            .unwrap_or_else(|e| panic!("--balance {mode}: {e}"));
    }
}

/// Reads until end-of-file or `deadline`; a reset or a timeout is an error.
fn read_to_end_by(mut stream: &TcpStream, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no end-of-file after {} bytes", got.len()));
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("after {} bytes: {e}", got.len())),
        }
    }
}

/// SIGINT or SIGTERM: every client gets the echo it was owed, then
/// end-of-file, never a reset, and the server exits 0 saying how many
/// connections it closed.
#[test]
fn a_signal_stops_the_server_cleanly_in_every_mode() {
    for (mode, signal) in MODES
        .iter()
        .zip([libc::SIGINT, libc::SIGTERM, libc::SIGINT])
    {
        let mut server = start(mode, "2", &["--quiet", "--stats"]);
        let idle: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut c = TcpStream::connect(server.addr()).unwrap();
                c.write_all(b"hello").unwrap();
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf).unwrap();
                c
            })
            .collect();
        // A client whose echo is queued: it sends without reading until
        // the server pauses it.
        let busy = TcpStream::connect(server.addr()).unwrap();
        let payload = binary_payload(4 << 20, 3);
        let mut writer = busy.try_clone().unwrap();
        writer
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let sent_payload = payload.clone();
        let sender = std::thread::spawn(move || {
            let mut sent = 0;
            // Until the socket stays full for half a second.
            for chunk in sent_payload.chunks(64 * 1024) {
                match writer.write(chunk) {
                    Ok(n) if n == chunk.len() => sent += n,
                    Ok(n) => return sent + n,
                    Err(_) => return sent,
                }
            }
            sent
        });
        std::thread::sleep(Duration::from_millis(300));
        server.signal(signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        for (i, c) in idle.iter().enumerate() {
            let rest = read_to_end_by(c, deadline)
                .unwrap_or_else(|e| panic!("--balance {mode}: idle client {i}: {e}"));
            assert!(
                rest.is_empty(),
                "--balance {mode}: idle client {i} got {rest:?}"
            );
        }
        let echoed = read_to_end_by(&busy, deadline)
            .unwrap_or_else(|e| panic!("--balance {mode}: busy client: {e}"));
        let sent = sender.join().unwrap();
        assert!(
            !echoed.is_empty(),
            "--balance {mode}: no echo before the stop"
        );
        assert!(
            echoed.len() <= sent,
            "--balance {mode}: more echo than sent"
        );
        assert!(
            echoed[..] == payload[..echoed.len()],
            "--balance {mode}: the echo is not a prefix of what was sent"
        );
        let status = server
            .wait_exit(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("--balance {mode}: still running 3 s after the signal"));
        assert!(status.success(), "--balance {mode}: {status}");
        let name = if signal == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        let last = server
            .wait_for_line(|l| l.starts_with("stopped by"), Duration::from_secs(1))
            .unwrap_or_default();
        assert_eq!(
            last,
            format!("stopped by {name}: closed 4 connections"),
            "--balance {mode}"
        );
        let loops = server
            .lines()
            .iter()
            .filter(|l| l.starts_with("loop "))
            .count();
        assert_eq!(loops, 2, "--balance {mode}: {:?}", server.lines());
    }
}

/// `shared` wakes every loop for each connection; the others do not, and
/// `--stats` shows it in the times each loop slept.
#[test]
fn the_shared_listener_wakes_every_loop() {
    let mut sleeps = Vec::new();
    for mode in ["shared", "reuseport"] {
        let mut server = start(mode, "4", &["--quiet", "--stats"]);
        // Spaced so that each wake-up is over before the next connection,
        // even on a loaded machine: wake-ups that overlap are counted once.
        for _ in 0..100 {
            let c = TcpStream::connect(server.addr()).unwrap();
            std::thread::sleep(Duration::from_millis(4));
            drop(c);
            std::thread::sleep(Duration::from_millis(4));
        }
        std::thread::sleep(Duration::from_millis(200));
        server.signal(libc::SIGTERM).unwrap();
        server.wait_exit(Duration::from_secs(5)).unwrap();
        server.wait_for_line(|l| l.starts_with("stopped by"), Duration::from_secs(1));
        let total: u64 = server
            .lines()
            .iter()
            .filter_map(|l| l.split("the thread slept ").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        sleeps.push(total);
    }
    // Each of 100 connections: four loops woken against one (plus the
    // close, once, in either mode). Half as much again is a wide margin.
    assert!(
        sleeps[0] as f64 > 1.5 * sleeps[1] as f64,
        "sleeps: shared {}, reuseport {}",
        sleeps[0],
        sleeps[1]
    );
}
