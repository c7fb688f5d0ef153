//! The chapter's own checks. Where the kernel refuses io_uring (a container's
//! seccomp filter, `kernel.io_uring_disabled`), the server says so and exits:
//! these tests then check that message and skip the rest.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::ServerProcess;
use test_support::checks::{
    binary_payload, check_command_line, check_data_then_end_of_file, check_echo, check_half_close,
    check_multiclient_transcripts, check_urgent_not_stranded,
};

const BIN: &str = env!("CARGO_BIN_EXE_uring-completion");

/// The server, or `None` (the test then passes) if this kernel refuses
/// io_uring, after checking that the server said why in one line.
fn start(args: &[&str]) -> Option<ServerProcess> {
    let probe = Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", "0", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut probe = ServerGuard(probe);
    let mut first = String::new();
    let stderr = probe.0.stderr.take().unwrap();
    BufReader::new(stderr).read_line(&mut first).unwrap();
    if first.starts_with("error: io_uring is not available") {
        let status = probe.0.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{first}");
        assert!(first.contains("epoll-edge"), "{first}");
        eprintln!("skipped: {first}");
        return None;
    }
    assert!(first.starts_with("starting up on "), "{first}");
    drop(probe);
    Some(ServerProcess::start(BIN, args))
}

/// Kills the probe if the test ends before it exits.
struct ServerGuard(std::process::Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_command_line_contract_holds() {
    check_command_line(Path::new(BIN), &[]).unwrap();
}

#[test]
fn multiclient_transcripts_match_the_book() {
    let Some(server) = start(&[]) else { return };
    check_multiclient_transcripts(&server, "uring-completion").unwrap();
}

#[test]
fn one_mebibyte_of_binary_data_comes_back_intact() {
    let Some(server) = start(&["--quiet"]) else {
        return;
    };
    check_echo(server.addr(), &binary_payload(1 << 20, 1)).unwrap();
}

/// 300 KiB in one write: the server receives them a buffer at a time, and
/// each receive is submitted only once the echo before it has gone out.
#[test]
fn a_burst_sent_in_one_write_comes_back_whole() {
    let Some(server) = start(&["--quiet"]) else {
        return;
    };
    let payload = binary_payload(300 * 1024, 6);
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let to_send = payload.clone();
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

#[test]
fn a_half_closing_client_gets_all_its_echo() {
    let Some(server) = start(&[]) else { return };
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

/// The data and the end-of-file arrive while the server is stopped: the
/// receive returns the data, its echo goes out, and the next receive
/// returns the end-of-file.
#[test]
fn data_and_end_of_file_arriving_together_are_both_handled() {
    let Some(server) = start(&[]) else { return };
    check_data_then_end_of_file(&server).unwrap();
}

/// TCP stops a receive at the urgent mark, io_uring's as well as
/// `recv(2)`'s: with `ab`, an urgent `c` and `def` waiting, the first
/// receive completes with `ab` alone. Here that strands nothing: every echo
/// is followed by a new receive, which completes at once with the rest.
/// The log shows the receive that stopped at the mark.
#[test]
fn data_after_an_urgent_byte_is_not_stranded() {
    let Some(server) = start(&[]) else { return };
    check_urgent_not_stranded(&server, 4).unwrap();
    // However much had arrived, each round's first receive stopped at the
    // urgent mark. The log is read as it comes: the last round's line may
    // still be on its way when its echo has arrived.
    server.wait_for_count(
        |l| l.starts_with("received \"ab\" from"),
        4,
        Duration::from_secs(5),
    );
    let lines = server.lines();
    let stopped = lines
        .iter()
        .filter(|l| l.starts_with("received \"ab\" from"))
        .count();
    assert_eq!(stopped, 4, "{lines:#?}");
}

// The robustness checks every server must pass (reset, slow readers, many
// connections, churn, stop/continue, out of descriptors, idle cost,
// fairness, urgent data, trickling clients) run against this chapter in
// `crates/conformance/tests/chapters.rs`.

/// `--read-size` sets the size of every buffer of the pool: with 1-byte
/// buffers every receive brings one byte, and everything still comes back.
#[test]
fn one_byte_buffers_still_echo_everything() {
    let Some(server) = start(&["--quiet", "--read-size", "1"]) else {
        return;
    };
    check_echo(server.addr(), &binary_payload(64 * 1024, 7)).unwrap();
    check_half_close(server.addr(), &binary_payload(16 * 1024, 8)).unwrap();
}

#[test]
fn a_read_size_or_buffer_count_out_of_bounds_is_refused() {
    for bad in [
        ["--read-size", "0"],
        ["--read-size", "16777217"],
        ["--read-size", "64k"],
        ["--buffer-count", "0"],
        ["--buffer-count", "3"],
        ["--buffer-count", "65536"],
    ] {
        let out = Command::new(BIN)
            .args(["--port", "0"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(bad[0]), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// A pool of two buffers and sixteen clients sending at once: most
/// receives find the pool empty (`ENOBUFS`) and wait for a buffer, and
/// every byte still comes back, in order.
#[test]
fn many_clients_share_a_tiny_pool_without_losing_a_byte() {
    let Some(server) = start(&["--quiet", "--buffer-count", "2"]) else {
        return;
    };
    let addr = server.addr();
    let clients: Vec<_> = (0..16)
        .map(|i| std::thread::spawn(move || check_echo(addr, &binary_payload(256 * 1024, 10 + i))))
        .collect();
    for client in clients {
        client.join().unwrap().unwrap();
    }
}

/// Two clients that send and never read hold the whole pool (each one's
/// echo waits in a send the kernel cannot finish). A third client's
/// receive then finds no buffer: it must wait without the loop spinning,
/// and get its echo once the first two read theirs.
#[test]
fn a_client_waiting_for_a_buffer_costs_nothing_and_is_served_later() {
    let Some(server) = start(&["--quiet", "--buffer-count", "2"]) else {
        return;
    };
    let stuck: Vec<(TcpStream, Vec<u8>)> = (0..2).map(|i| fill(&server, 20 + i)).collect();

    let mut waiting = TcpStream::connect(server.addr()).unwrap();
    waiting.write_all(b"hello").unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut echo = [0; 5];
    assert!(
        waiting.read(&mut echo).is_err(),
        "echoed while the pool should be empty: the stuck clients hold no buffer"
    );

    let pid = server.pid();
    let before = test_support::procfs::cpu_time(pid).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let used = test_support::procfs::cpu_time(pid).unwrap() - before;
    // A loop that resubmitted the receive at once would use the whole
    // half second; a waiting one uses next to nothing.
    assert!(
        used < Duration::from_millis(150),
        "the server used {used:?} of CPU in 500 ms while a client waited for a buffer"
    );

    for (stream, sent) in &stuck {
        let mut echoed = vec![0; sent.len()];
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (&*stream).read_exact(&mut echoed).unwrap();
        assert!(echoed == *sent, "a stuck client's echo differs");
    }
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    waiting.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
}

/// One client holds one of two buffers. Another streams without pause but
/// reads its echo slowly, so its data is always waiting and its sends often
/// wait for room, holding the other buffer. A third client's receive finds
/// the pool empty: it must get the next buffer freed, not wait until the
/// streaming client stops (whose next receive, submitted first, would
/// otherwise take that buffer every time).
#[test]
fn a_client_waiting_for_a_buffer_is_not_starved_by_a_busy_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    let Some(server) = start(&["--quiet", "--buffer-count", "2"]) else {
        return;
    };
    let (_stuck, _) = fill(&server, 30);

    let busy = small_receive_buffer_client(&server);
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let chunk = binary_payload(4096, 31);
    let (mut writer, to_send, writing) = (busy.try_clone().unwrap(), chunk.clone(), stop.clone());
    // Bounded: 30 s, or until the waiting client has been served.
    let sender = std::thread::spawn(move || {
        let start = Instant::now();
        let mut chunks = 0u64;
        while !writing.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
            writer.write_all(&to_send).unwrap();
            chunks += 1;
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
        chunks
    });
    let (mut reader, reading) = (busy.try_clone().unwrap(), stop.clone());
    let receiver = std::thread::spawn(move || {
        let mut echoed = Vec::new();
        let mut piece = [0; 4096];
        loop {
            match reader.read(&mut piece) {
                Ok(0) => return Ok(echoed),
                Ok(n) => echoed.extend_from_slice(&piece[..n]),
                Err(e) => return Err(e),
            }
            // Slowly, until the end: the server's sends to this client
            // wait for room.
            if !reading.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    // The streaming client is under way.
    std::thread::sleep(Duration::from_millis(300));

    let mut waiting = TcpStream::connect(server.addr()).unwrap();
    waiting.write_all(b"hello").unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut echo = [0; 5];
    let served = waiting.read_exact(&mut echo);
    let streaming_still = !sender.is_finished();
    stop.store(true, Ordering::Relaxed);
    let chunks = sender.join().unwrap();
    served.expect("no echo while another client kept the free buffer busy");
    assert_eq!(&echo, b"hello");
    assert!(
        streaming_still,
        "served only once the streaming client stopped"
    );
    // The streaming client lost nothing either.
    let echoed = receiver.join().unwrap().unwrap();
    assert_eq!(echoed.len() as u64, chunks * chunk.len() as u64);
    assert!(echoed.chunks(chunk.len()).all(|c| c == chunk));
}

/// A client socket with a 16 KiB receive buffer, which fills up soon. It is
/// set before connecting: shrinking it on an open connection can stall TCP.
fn small_receive_buffer_client(server: &ServerProcess) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&server.addr().into()).unwrap();
    TcpStream::from(socket)
}

/// A client that writes without reading until its socket takes no more
/// (bounded: 64 MiB or 10 s), then a little longer so the server has
/// taken what it can. Returns the stream, blocking again, and what it sent.
fn fill(server: &ServerProcess, seed: u64) -> (TcpStream, Vec<u8>) {
    let stream = small_receive_buffer_client(server);
    stream.set_nonblocking(true).unwrap();
    let chunk = binary_payload(64 * 1024, seed);
    let mut sent = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut quiet_since = None;
    while sent.len() < 64 << 20 && std::time::Instant::now() < deadline {
        match (&stream).write(&chunk) {
            Ok(n) => {
                sent.extend_from_slice(&chunk[..n]);
                quiet_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Full for 200 ms in a row: the server is not taking more.
                let since = *quiet_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > Duration::from_millis(200) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    (stream, sent)
}
