//! Every check runs in both modes: edge-triggered (the default) in `edge::`,
//! and `--level` in `level::`.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_data_then_end_of_file, check_echo, check_half_close,
    check_multiclient_transcripts, check_urgent_not_stranded,
};

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
    the_command_line_contract_holds,
    multiclient_transcripts_match_the_book,
    one_mebibyte_of_binary_data_comes_back_intact,
    a_burst_sent_in_one_write_comes_back_whole,
    a_half_closing_client_gets_all_its_echo,
    data_and_end_of_file_reported_together_are_both_handled,
    data_after_an_urgent_byte_is_not_stranded,
    one_byte_reads_still_echo_everything,
    a_read_size_out_of_bounds_is_refused,
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
    check_data_then_end_of_file(&server).unwrap();
}

/// TCP stops a read at the urgent mark, so with an urgent byte in the
/// middle of what arrived, the first read is short while data is still
/// queued: a server that takes every short read to mean "empty" echoes
/// `ab` and strands `cdef` until the client sends again.
fn data_after_an_urgent_byte_is_not_stranded(mode: &[&str]) {
    let server = start(mode, &["--quiet"]);
    check_urgent_not_stranded(&server, 4).unwrap();
}

/// `--read-size 1`: every read is "full", so no read is ever short, and
/// each client gets its turn's worth and goes on `ready_again`.
fn one_byte_reads_still_echo_everything(mode: &[&str]) {
    let server = start(mode, &["--quiet", "--read-size", "1"]);
    check_echo(server.addr(), &binary_payload(64 * 1024, 4)).unwrap();
    check_half_close(server.addr(), &binary_payload(16 * 1024, 5)).unwrap();
}

fn a_read_size_out_of_bounds_is_refused(mode: &[&str]) {
    for size in ["0", "16777217", "64k"] {
        let out = std::process::Command::new(BIN)
            .args(mode)
            .args(["--port", "0", "--read-size", size])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--read-size {size}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-size"), "--read-size {size}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

fn the_command_line_contract_holds(mode: &[&str]) {
    check_command_line(Path::new(BIN), mode).unwrap();
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost) run
// against this chapter in `crates/conformance/tests/chapters.rs`.
