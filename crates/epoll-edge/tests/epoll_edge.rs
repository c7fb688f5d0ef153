//! Every check runs in both modes: edge-triggered (the default) in `edge::`,
//! and `--level` in `level::`.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::checks::{
    binary_payload, check_echo, check_half_close, check_multiclient_transcripts,
};
use test_support::many::{check_many_connections, connection_count};
use test_support::server::ServerCommand;
use test_support::{ServerProcess, procfs};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-edge");

fn start(mode: &[&str], more: &[&str]) -> ServerProcess {
    let args: Vec<&str> = mode.iter().chain(more).copied().collect();
    ServerProcess::start(BIN, &args)
}

macro_rules! in_both_modes {
    ($($name:ident,)*) => {
        mod edge {
            $(#[test] fn $name() { super::$name(&[]) })*
        }
        mod level {
            $(#[test] fn $name() { super::$name(&["--level"]) })*
        }
    };
}

in_both_modes! {
    multiclient_transcripts_match_the_book,
    one_mebibyte_of_binary_data_comes_back_intact,
    a_burst_sent_in_one_write_comes_back_whole,
    a_half_closing_client_gets_all_its_echo,
    data_and_end_of_file_reported_together_are_both_handled,
    many_connections_are_served_at_once,
    a_client_that_does_not_read_is_paused_and_then_gets_everything,
    a_reset_connection_is_dropped_and_the_server_goes_on,
    out_of_descriptors_does_not_spin,
}

fn multiclient_transcripts_match_the_book(mode: &[&str]) {
    let server = start(mode, &[]);
    let chapter = if mode.is_empty() {
        "epoll-edge"
    } else {
        "epoll-edge-level"
    };
    check_multiclient_transcripts(&server, chapter).unwrap();
}

fn one_mebibyte_of_binary_data_comes_back_intact(mode: &[&str]) {
    let server = start(mode, &["--quiet"]);
    check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
}

/// 300 KiB arrive in a few large segments, so edge-triggered epoll reports
/// the socket only a few times: a server that reads once per event leaves
/// most of the data in the socket, and the client waits for it forever.
fn a_burst_sent_in_one_write_comes_back_whole(mode: &[&str]) {
    let server = start(mode, &["--quiet"]);
    let payload = binary_payload(300 * 1024, 6);
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let to_send = payload.clone();
    // One write call; the client reads the echo meanwhile.
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

fn a_half_closing_client_gets_all_its_echo(mode: &[&str]) {
    let server = start(mode, &[]);
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

/// A short read usually means the socket is empty for now, but when the
/// data and the end-of-file arrive before the server looks, one event reports
/// both (`EPOLLIN | EPOLLRDHUP`): a server that stops at the short read never
/// sees the end-of-file, and the client waits for the close forever.
fn data_and_end_of_file_reported_together_are_both_handled(mode: &[&str]) {
    let server = start(mode, &[]);
    let client = TcpStream::connect(server.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("new connection from"),
                Duration::from_secs(5)
            )
            .is_some()
    );
    // Stopped, the server cannot look between the two arrivals.
    server.signal(libc::SIGSTOP).unwrap();
    (&client).write_all(b"last words").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGCONT).unwrap();
    let mut echoed = Vec::new();
    (&client).read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"last words");
}

fn many_connections_are_served_at_once(mode: &[&str]) {
    let count = connection_count(2000);
    let server = start(mode, &["--quiet"]);
    check_many_connections(server.addr(), count, Duration::from_secs(60)).unwrap();
}

fn a_client_that_does_not_read_is_paused_and_then_gets_everything(mode: &[&str]) {
    let server = start(mode, &[]);
    // More than the kernel's buffers on both sides can hold: the client's
    // receive buffer is kept small, the server's send buffer grows to 4 MiB.
    let payload = binary_payload(8 << 20, 4);
    let stream = connect_with_small_receive_buffer(server.addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let to_send = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    // The client reads nothing until the server has stopped reading it.
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("pausing reads from"),
                Duration::from_secs(10)
            )
            .is_some()
    );
    let mut echoed = vec![0; payload.len()];
    (&stream).read_exact(&mut echoed).unwrap();
    sender.join().unwrap().unwrap();
    assert!(echoed == payload, "the echo differs from what was sent");
    assert!(
        server
            .lines()
            .iter()
            .any(|l| l.starts_with("resuming reads from"))
    );
}

fn a_reset_connection_is_dropped_and_the_server_goes_on(mode: &[&str]) {
    let server = start(mode, &[]);
    let client = TcpStream::connect(server.addr()).unwrap();
    (&client).write_all(&binary_payload(100_000, 5)).unwrap();
    // SO_LINGER 0: close sends a reset instead of end-of-file.
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    assert!(
        server
            .wait_for_line(
                |l| l.starts_with("dropping ('127.0.0.1', ") || l.starts_with("closing ("),
                Duration::from_secs(10)
            )
            .is_some(),
        "{:#?}",
        server.lines()
    );
    check_echo(server.addr(), b"still here").unwrap();
}

fn out_of_descriptors_does_not_spin(mode: &[&str]) {
    // 64 descriptors: the server runs out after about 55 clients.
    let server = ServerCommand::new(BIN)
        .args(mode)
        .arg("--quiet")
        .with_shell_prefix("ulimit -n 64")
        .start()
        .unwrap();
    let mut clients: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(server.addr()).ok())
        .collect();
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
    let before = procfs::cpu_time(server.pid()).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let used = procfs::cpu_time(server.pid()).unwrap() - before;
    assert!(
        used < Duration::from_millis(300),
        "the server spun: {used:?}"
    );
    // Those it holds are still served; once they leave, new ones are too.
    let first = &mut clients[0];
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    first.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(clients);
    let mut served = false;
    for _ in 0..50 {
        if check_echo(server.addr(), b"room again").is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "no new client served after the others left");
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
    for mode in [&[][..], &["--level"]] {
        Command::new(BIN)
            .args(mode)
            .args(["--host", "127.0.0.1", "--port", &port])
            .timeout(Duration::from_secs(10))
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("Address already in use")
                    .and(predicate::str::contains('\n').count(1)),
            );
    }
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
            .and(predicate::str::contains("--level")),
    );
}

/// A client whose receive buffer stays small (setting it turns off the
/// kernel's automatic growth), so a server's writes to it block early.
fn connect_with_small_receive_buffer(addr: std::net::SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}
