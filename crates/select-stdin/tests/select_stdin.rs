use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::checks::{
    binary_payload, check_echo, check_half_close, check_multiclient_transcripts,
};
use test_support::server::ServerCommand;
use test_support::{ServerProcess, procfs};

const BIN: &str = env!("CARGO_BIN_EXE_select-stdin");

const STDIN_EOF: &str = "stdin is at end of file: no longer watching it";

#[test]
fn multiclient_transcripts_match_the_book() {
    let server = ServerProcess::start(BIN, &[]);
    check_multiclient_transcripts(&server, "select-stdin").unwrap();
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
fn a_line_on_stdin_stops_the_server() {
    let mut server = ServerCommand::new(BIN).stdin_piped().start().unwrap();
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(b"hello").unwrap();
    let mut buf = [0; 5];
    client.read_exact(&mut buf).unwrap();

    server.write_stdin(b"quit\n").unwrap();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {:#?}",
        server.lines()
    );
    assert!(
        server
            .wait_for_line(
                |l| l == r#"stopping on "quit\n" from stdin; closing the listener and 1 connection(s)"#,
                Duration::from_secs(5)
            )
            .is_some(),
        "{:#?}",
        server.lines()
    );
    // The client sees the connection close.
    assert!(matches!(client.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn with_stdin_at_end_of_file_it_keeps_serving_without_spinning() {
    // ServerProcess gives the server /dev/null as stdin, as a script would.
    let server = ServerProcess::start(BIN, &[]);
    assert!(
        server
            .wait_for_line(|l| l.starts_with(STDIN_EOF), Duration::from_secs(5))
            .is_some(),
        "{:#?}",
        server.lines()
    );
    // A stdin still watched at end-of-file is readable forever: the loop
    // would spin. Over a second, the server should use almost no CPU.
    let before = procfs::cpu_time(server.pid()).unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = procfs::cpu_time(server.pid()).unwrap() - before;
    assert!(
        used < start.elapsed() / 4,
        "{used:?} of CPU in {:?}",
        start.elapsed()
    );
    check_echo(server.addr(), b"still here").unwrap();
    let lines = server.lines();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(STDIN_EOF)).count(),
        1,
        "{lines:#?}"
    );
}

#[test]
fn a_client_that_does_not_read_is_paused_then_resumed() {
    let server = ServerProcess::start(BIN, &[]);
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
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
    let mut echoed = vec![0; payload.len()];
    client.read_exact(&mut echoed).unwrap();
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
fn connections_beyond_fd_setsize_are_refused_and_the_rest_served() {
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
    for c in clients.iter_mut().take(10) {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }
    let last = clients.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; 1];
    assert!(matches!(last.read(&mut buf), Ok(0) | Err(_)));
    // Once the server has seen the others close, a newcomer gets a low
    // descriptor again and is served.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = check_echo(server.addr(), b"still here") {
        assert!(Instant::now() < deadline, "{e}");
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
