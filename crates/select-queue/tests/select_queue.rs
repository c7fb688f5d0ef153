use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_echo, check_half_close, check_multiclient_transcripts,
};

const BIN: &str = env!("CARGO_BIN_EXE_select-queue");

#[test]
fn multiclient_transcripts_match_the_book() {
    let server = ServerProcess::start(BIN, &[]);
    check_multiclient_transcripts(&server, "select-queue").unwrap();
}

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    let server = ServerProcess::start(BIN, &["--quiet"]);
    check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
}

#[test]
fn a_half_closing_client_gets_all_its_echo() {
    let server = ServerProcess::start(BIN, &[]);
    check_half_close(server.addr(), &binary_payload(1 << 20, 2)).unwrap();
    // The close comes after the queued echo, and names the right client.
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("closing ('127.0.0.1', "),
                Duration::from_secs(5)
            )
            .is_some()
    );
}

#[test]
fn log_lines_for_binary_payloads_are_escaped_and_short() {
    let server = ServerProcess::start(BIN, &[]);
    check_echo(server.addr(), &binary_payload(3000, 3)).unwrap();
    check_echo(server.addr(), b"\x00\xff\"hi\"\n").unwrap();
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(r#"received "\x00\xff\"hi\"\n" from"#)),
        "{lines:#?}"
    );
    assert!(
        lines.iter().all(|l| l.len() < 200),
        "a long log line: {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" bytes) from ")),
        "{lines:#?}"
    );
}

#[test]
fn connections_beyond_fd_setsize_are_refused_and_the_rest_served() {
    // 1,100 connections need more than the usual 1,024 descriptors here too.
    let limit = echo_common::raise_fd_limit().unwrap_or(0);
    if limit < 1300 {
        eprintln!("skipping: RLIMIT_NOFILE is {limit}, this test needs 1300");
        return;
    }
    let server = ServerProcess::start(BIN, &["--quiet"]);
    let mut clients = Vec::new();
    for _ in 0..1100 {
        clients.push(TcpStream::connect(server.addr()).unwrap());
    }
    assert!(
        server
            .wait_for_line(
                |l| l.contains("is beyond select's limit (FD_SETSIZE = 1024)"),
                Duration::from_secs(10)
            )
            .is_some(),
        "no refusal logged: {:?}",
        server.lines()
    );
    // The first connections are still served.
    for c in clients.iter_mut().take(10) {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }
    // The last ones were closed by the server.
    let last = clients.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; 1];
    assert!(matches!(last.read(&mut buf), Ok(0) | Err(_)));
    drop(clients);
    // Until the server has seen the closes, a new client may still get a
    // descriptor beyond FD_SETSIZE and be refused: retry for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Err(e) = check_echo(server.addr(), b"still here") {
        assert!(
            std::time::Instant::now() < deadline,
            "not served after the others left: {e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_arguments_give_one_error_line() {
    for args in [&["--port", "99999"][..], &["--port", "abc"], &["--bogus"]] {
        Command::new(BIN)
            .args(args)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(2)
            .stderr(
                predicate::str::starts_with("error: ").and(predicate::str::contains('\n').count(1)),
            );
    }
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", &port])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("Address already in use")
                .and(predicate::str::contains('\n').count(1)),
        );
}

#[test]
fn an_unresolvable_host_is_a_clear_error() {
    Command::new(BIN)
        .args(["--host", "no-such-host.invalid", "--port", "0"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot resolve host 'no-such-host.invalid'",
        ));
}

#[test]
fn help_lists_the_contract_flags() {
    Command::new(BIN).arg("--help").assert().success().stdout(
        predicate::str::contains("--host")
            .and(predicate::str::contains("--port"))
            .and(predicate::str::contains("--quiet")),
    );
}
