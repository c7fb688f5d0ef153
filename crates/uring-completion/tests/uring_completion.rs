//! The chapter's own checks. Where the kernel refuses io_uring (a container's
//! seccomp filter, `kernel.io_uring_disabled`), the server says so and exits:
//! these tests then check that message and skip the rest.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_data_then_end_of_file, check_echo, check_half_close,
    check_multiclient_transcripts, check_urgent_not_stranded,
};

const BIN: &str = env!("CARGO_BIN_EXE_uring-completion");

/// The server, or `None` (the test then passes) if this kernel refuses
/// io_uring, after checking that the server said why in one line.
fn start(args: &[&str]) -> Option<ServerProcess> {
    let probe = Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", "0", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut probe = ServerGuard(probe);
    let mut first = String::new();
    let stderr = probe.0.stderr.take().unwrap();
    BufReader::new(stderr).read_line(&mut first).unwrap();
    if first.starts_with("error: io_uring is not available") {
        let status = probe.0.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{first}");
        assert!(first.contains("epoll-edge"), "{first}");
        eprintln!("skipped: {first}");
        return None;
    }
    assert!(first.starts_with("starting up on "), "{first}");
    drop(probe);
    Some(ServerProcess::start(BIN, args))
}

/// Kills the probe if the test ends before it exits.
struct ServerGuard(std::process::Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

#[test]
fn multiclient_transcripts_match_the_book() {
    let Some(server) = start(&[]) else { return };
    check_multiclient_transcripts(&server, "uring-completion").unwrap();
}

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    let Some(server) = start(&["--quiet"]) else {
        return;
    };
    check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
}

/// 300 KiB in one write: the server receives them a buffer at a time, and
/// each receive is submitted only once the echo before it has gone out.
#[test]
fn a_burst_sent_in_one_write_comes_back_whole() {
    let Some(server) = start(&["--quiet"]) else {
        return;
    };
    let payload = binary_payload(300 * 1024, 6);
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let to_send = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    let mut echoed = vec![0; payload.len()];
    let mut got = 0;
    while got < echoed.len() {
        match (&stream).read(&mut echoed[got..]) {
            Ok(0) => panic!("the server closed after {got} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("after {got} of {} bytes: {e}", payload.len()),
        }
    }
    sender.join().unwrap().unwrap();
    assert!(echoed == payload, "the echo differs from what was sent");
}

#[test]
fn a_half_closing_client_gets_all_its_echo() {
    let Some(server) = start(&[]) else { return };
    check_half_close(server.addr(), &binary_payload(1 << 20, 2)).unwrap();
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("closing ('127.0.0.1', "),
                Duration::from_secs(5)
            )
            .is_some()
    );
}

/// The data and the end-of-file arrive while the server is stopped: the
/// receive returns the data, its echo goes out, and the next receive
/// returns the end-of-file.
#[test]
fn data_and_end_of_file_arriving_together_are_both_handled() {
    let Some(server) = start(&[]) else { return };
    check_data_then_end_of_file(&server).unwrap();
}

/// TCP stops a receive at the urgent mark, io_uring's as well as
/// `recv(2)`'s: with `ab`, an urgent `c` and `def` waiting, the first
/// receive completes with `ab` alone. Here that strands nothing: every echo
/// is followed by a new receive, which completes at once with the rest.
/// The log shows the receive that stopped at the mark.
#[test]
fn data_after_an_urgent_byte_is_not_stranded() {
    let Some(server) = start(&[]) else { return };
    check_urgent_not_stranded(&server, 4).unwrap();
    // However much had arrived, each round's first receive stopped at the
    // urgent mark. The log is read as it comes: the last round's line may
    // still be on its way when its echo has arrived.
    server.wait_for_count(
        |l| l.starts_with("received \"ab\" from"),
        4,
        Duration::from_secs(5),
    );
    let lines = server.lines();
    let stopped = lines
        .iter()
        .filter(|l| l.starts_with("received \"ab\" from"))
        .count();
    assert_eq!(stopped, 4, "{lines:#?}");
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost,
// fairness, urgent data, trickling clients) run against this chapter in
// `crates/conformance/tests/chapters.rs`.
