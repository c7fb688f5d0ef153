use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_multiclient");

#[test]
fn no_server_means_one_line_telling_to_start_one() {
    // Bind then drop: nothing listens on this port afterwards.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::function(|err: &str| {
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
            errors.len() == 1
                && errors[0].contains("Connection refused")
                && errors[0].contains("start a server first")
        }));
}

#[test]
fn a_server_that_closes_early_is_reported_per_socket() {
    // A server that echoes the first message on each connection, then closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut conns: Vec<_> = (0..2).map(|_| listener.accept().unwrap().0).collect();
        for c in &mut conns {
            let mut buf = [0; 21];
            c.read_exact(&mut buf).unwrap();
            c.write_all(&buf).unwrap();
        }
    });
    let out = Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    server.join().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches(": received \"This is the message. \"").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("closing socket ('127.0.0.1', ").count(),
        2,
        "{text}"
    );
    assert!(!text.contains("in parts"), "{text}");
}

#[test]
fn sockets_must_be_at_least_one() {
    Command::new(BIN)
        .args(["--sockets", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: "));
}

#[test]
fn out_of_descriptors_means_one_line_telling_to_raise_the_limit() {
    // Accepting is not needed: the kernel completes connections into the
    // backlog, so the client runs out of descriptors before the server does.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("ulimit -n 16 && exec {BIN} --host 127.0.0.1 --port {port} --sockets 40");
    Command::new("sh")
        .args(["-c", &script])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::function(|err: &str| {
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
            errors.len() == 1
                && errors[0].contains("Too many open files")
                && errors[0].contains("ulimit -n 128")
        }));
    drop(listener);
}
