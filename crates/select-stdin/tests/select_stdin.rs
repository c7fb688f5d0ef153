use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
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
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
