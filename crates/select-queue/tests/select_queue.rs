use std::path::Path;
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
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
    // The echo can reach the client before the test has read the server's
    // log line about it from the pipe: wait for the line.
    let escaped = server.wait_for_line(
        |l| l.starts_with(r#"received "\x00\xff\"hi\"\n" from"#),
        Duration::from_secs(5),
    );
    let lines = server.lines();
    assert!(escaped.is_some(), "{lines:#?}");
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
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
