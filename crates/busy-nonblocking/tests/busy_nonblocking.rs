use std::path::Path;
use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
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
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
