use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_echo, check_half_close, check_multiclient_transcripts,
};

const BIN: &str = env!("CARGO_BIN_EXE_busy-nonblocking");

#[test]
fn multiclient_transcripts_match_the_book() {
    let server = ServerProcess::start(BIN, &[]);
    check_multiclient_transcripts(&server, "busy-nonblocking").unwrap();
}

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    let server = ServerProcess::start(BIN, &["--quiet"]);
    check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
}

#[test]
fn a_half_closing_client_gets_all_its_echo() {
    let server = ServerProcess::start(BIN, &["--quiet"]);
    check_half_close(server.addr(), &binary_payload(1 << 20, 2)).unwrap();
}

#[test]
fn a_client_that_does_not_read_is_paused_then_resumed() {
    let server = ServerProcess::start(BIN, &[]);
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Send much more than the socket buffers and the queue hold, without
    // reading: the server must stop reading from this client.
    let payload = binary_payload(8 << 20, 4);
    let mut writer = client.try_clone().unwrap();
    let to_send = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("pausing reads from "),
                Duration::from_secs(20)
            )
            .is_some(),
        "no pause logged"
    );
    // Now read: every byte comes back, in order.
    let mut echoed = vec![0; payload.len()];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = 0;
    while got < echoed.len() {
        assert!(Instant::now() < deadline, "timed out after {got} bytes");
        match client.read(&mut echoed[got..]) {
            Ok(0) => panic!("closed after {got} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("read after {got} bytes: {e}"),
        }
    }
    sender.join().unwrap().unwrap();
    assert!(echoed == payload, "the echo differs from what was sent");
    assert!(
        server
            .lines()
            .iter()
            .any(|l| l.starts_with("resuming reads from "))
    );
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
