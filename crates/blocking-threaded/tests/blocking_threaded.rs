use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::checks::{
    binary_payload, check_echo, check_half_close, check_multiclient_transcripts,
};
use test_support::server::ServerCommand;
use test_support::{ServerProcess, procfs};

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
fn a_thousand_clients_each_get_a_thread() {
    let limit = echo_common::raise_fd_limit().unwrap_or(0);
    let clients: usize = 1000;
    if limit < 2 * clients as u64 + 100 {
        eprintln!(
            "skipping: RLIMIT_NOFILE is {limit}, this test needs {}",
            2 * clients + 100
        );
        return;
    }
    let server = ServerProcess::start(BIN, &["--quiet"]);
    let mut streams: Vec<TcpStream> = (0..clients).map(|_| connect(server.addr())).collect();
    for (i, s) in streams.iter_mut().enumerate() {
        s.write_all(format!("{i:04}").as_bytes()).unwrap();
    }
    for (i, s) in streams.iter_mut().enumerate() {
        let mut buf = [0; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, format!("{i:04}").as_bytes());
    }
    let threads = procfs::threads(server.pid()).unwrap_or(0);
    assert!(
        threads > clients as u64,
        "{threads} threads for {clients} clients"
    );
}

#[test]
fn out_of_descriptors_it_neither_spins_nor_stops() {
    let server = ServerCommand::new(BIN)
        .args(["--quiet"])
        .with_shell_prefix("ulimit -n 64")
        .start()
        .unwrap();
    // More clients than descriptors: the extra ones are refused.
    let mut clients: Vec<TcpStream> = (0..100).map(|_| connect(server.addr())).collect();
    assert!(
        server
            .wait_for_line(
                |l| l.contains("out of file descriptors"),
                Duration::from_secs(10)
            )
            .is_some(),
        "{:#?}",
        server.lines()
    );
    // At the limit, accept fails at once: a retry loop would burn a core.
    let before = procfs::cpu_time(server.pid()).unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = procfs::cpu_time(server.pid()).unwrap() - before;
    assert!(
        used < start.elapsed() / 4,
        "{used:?} of CPU in {:?}",
        start.elapsed()
    );
    // The clients it has are still served, and once they leave, new ones are.
    echo_once(&mut clients[0], b"still served");
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match check_echo(server.addr(), b"a newcomer") {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn bad_arguments_give_one_error_line() {
    for args in [
        &["--port", "99999"][..],
        &["--port", "abc"],
        &["--bogus"],
        &["--pool", "0"],
        &["--pool", "many"],
    ] {
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
            .and(predicate::str::contains("--quiet"))
            .and(predicate::str::contains("--pool")),
    );
}
