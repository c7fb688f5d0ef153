use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_echo, check_half_close, check_multiclient_transcripts,
};

const BIN: &str = env!("CARGO_BIN_EXE_blocking-threaded");

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `msg` and reads it back.
fn echo_once(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut buf = vec![0; msg.len()];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

#[test]
fn multiclient_transcripts_match_the_book() {
    let server = ServerProcess::start(BIN, &[]);
    check_multiclient_transcripts(&server, "blocking-threaded").unwrap();
}

#[test]
fn a_pool_of_two_gives_each_client_the_same_transcript() {
    let server = ServerProcess::start(BIN, &["--pool", "2"]);
    check_multiclient_transcripts(&server, "blocking-threaded").unwrap();
}

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    for args in [&["--quiet"][..], &["--quiet", "--pool", "1"]] {
        let server = ServerProcess::start(BIN, args);
        check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
    }
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
fn with_a_pool_of_two_the_third_client_waits_for_a_free_worker() {
    let server = ServerProcess::start(BIN, &["--pool", "2"]);
    let mut first = connect(server.addr());
    echo_once(&mut first, b"first");
    let mut second = connect(server.addr());
    echo_once(&mut second, b"second");

    // Both workers are busy with a client that stays connected: the third is
    // accepted by the kernel but nobody reads what it sends.
    let mut third = connect(server.addr());
    third.write_all(b"third").unwrap();
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("all 2 workers are busy; ('127.0.0.1', "),
                Duration::from_secs(5)
            )
            .is_some(),
        "{:#?}",
        server.lines()
    );
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0; 5];
    let early = third.read(&mut buf);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the third client was served while both workers were busy: {early:?}"
    );

    // The first client leaves; its worker takes the third.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    third.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"third");
    echo_once(&mut second, b"still served");
}

#[test]
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
