//! Both peers follow the server contract: startup line, every byte echoed
//! (binary, large, half-closed, many clients at once), one-line errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{binary_payload, check_echo, check_half_close};

const PEERS: [&str; 2] = [
    env!("CARGO_BIN_EXE_tokio-echo"),
    env!("CARGO_BIN_EXE_mio-echo"),
];

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    for bin in PEERS {
        let server = ServerProcess::start(bin, &["--quiet"]);
        check_echo(server.addr(), &binary_payload(1 << 20, 1))
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
    }
}

#[test]
fn a_half_closing_client_gets_all_its_echo_then_end_of_file() {
    for bin in PEERS {
        let server = ServerProcess::start(bin, &[]);
        check_half_close(server.addr(), &binary_payload(1 << 20, 2))
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        assert!(
            server
                .wait_for_line(
                    |l| l.starts_with("closing ('127.0.0.1', "),
                    Duration::from_secs(5)
                )
                .is_some(),
            "{bin}: {:#?}",
            server.lines()
        );
    }
}

#[test]
fn a_client_that_does_not_read_is_paused_and_the_others_are_served() {
    for bin in PEERS {
        let server = ServerProcess::start(bin, &["--quiet"]);
        // This client sends up to 64 MiB and reads nothing: the server must stop
        // reading it rather than buffer everything, and go on serving others.
        let mut hog = TcpStream::connect(server.addr()).unwrap();
        hog.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 {
            match hog.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        assert!(
            sent < 64 << 20,
            "{bin}: 64 MiB went in without the echo being read"
        );
        check_echo(server.addr(), b"still here").unwrap_or_else(|e| panic!("{bin}: {e}"));
        // Read part of the echo back: the hog is resumed and its bytes are intact.
        hog.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // No more than was sent: a write that timed out early, on a slow
        // machine, may have stopped the hog before 1 MiB.
        let mut back = vec![0u8; sent.min(1 << 20)];
        hog.read_exact(&mut back).unwrap();
        assert!(back.iter().all(|&b| b == b'x'), "{bin}");
    }
}

#[test]
fn many_clients_at_once_all_get_their_echo() {
    for bin in PEERS {
        let server = ServerProcess::start(bin, &["--quiet"]);
        let mut clients: Vec<TcpStream> = (0..200)
            .map(|_| TcpStream::connect(server.addr()).unwrap())
            .collect();
        for (i, c) in clients.iter_mut().enumerate() {
            c.write_all(format!("client {i:03}").as_bytes()).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 10];
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, format!("client {i:03}").as_bytes(), "{bin}");
        }
    }
}

#[test]
fn the_log_names_connections_like_the_chapters() {
    for bin in PEERS {
        let server = ServerProcess::start(bin, &[]);
        check_echo(server.addr(), b"hello").unwrap();
        let seen = server.wait_for_line(|l| l.starts_with("closing ("), Duration::from_secs(5));
        let lines = server.lines();
        assert!(seen.is_some(), "{bin}: {lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("new connection from ('127.0.0.1', ")),
            "{bin}: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(r#"received "hello" from"#)),
            "{bin}: {lines:#?}"
        );
    }
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for bin in PEERS {
        let out = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {err}");
        assert_eq!(err.lines().count(), 1, "{bin}: {err}");
        assert!(
            err.starts_with("error: cannot listen on 127.0.0.1 port"),
            "{bin}: {err}"
        );
    }
}

#[test]
fn bad_arguments_and_unknown_hosts_are_one_line_errors() {
    for bin in PEERS {
        let out = Command::new(bin).args(["--port", "http"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {err}");
        assert_eq!(err.lines().count(), 1, "{bin}: {err}");

        let out = Command::new(bin)
            .args(["--host", "no-such-host.invalid", "--port", "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {err}");
        assert!(
            err.starts_with("error: cannot resolve host"),
            "{bin}: {err}"
        );
    }
}
