use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
};

const BIN: &str = env!("CARGO_BIN_EXE_poll-queue");

#[test]
fn multiclient_transcripts_match_the_book() {
    let server = ServerProcess::start(BIN, &[]);
    check_multiclient_transcripts(&server, "poll-queue").unwrap();
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
fn capitalize_replies_like_the_python_original() {
    let server = ServerProcess::start(BIN, &["--capitalize"]);
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(b"in parts.").unwrap();
    let mut reply = [0; 9];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"In parts.");
    // The log shows what came in and what goes out.
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with(r#"sending "In parts." to"#),
                Duration::from_secs(5)
            )
            .is_some(),
        "{:#?}",
        server.lines()
    );
    assert!(
        server
            .lines()
            .iter()
            .any(|l| l.starts_with(r#"received "in parts." from"#))
    );
}

#[test]
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
