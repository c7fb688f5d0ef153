//! tokio-echo: the echo server as a tokio user would write it, on the
//! single-threaded (`current_thread`) runtime.
//!
//! Each client gets a task that reads and writes as if it were blocking;
//! tokio turns every `.await` on a socket that is not ready into a return to
//! its epoll loop, and wakes the task again when the socket is. This is the
//! epoll-edge chapter's state machine, written by the compiler. The price is
//! what the runtime does on top: a task per connection, wakers, a scheduler
//! queue. The benchmarks page races this server against the chapters.
//!
//! Run it with `cargo run -p peers --bin tokio-echo`, then
//! `cargo run -p multiclient` in a second terminal.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io;
use std::net::SocketAddr;

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, SHARED_READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on tokio's current_thread runtime.
#[derive(Parser)]
#[command(name = "tokio-echo")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    // tokio requires a non-blocking socket; a second handle on the same
    // listening socket (non-blocking too) is kept for SpareFd::shed.
    let std_listener = listener
        .set_nonblocking(true)
        .and_then(|()| listener.try_clone())
        .unwrap_or_else(|e| exit_with_error(e));
    let spare = SpareFd::new().unwrap_or_else(|e| exit_with_error(e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap_or_else(|e| exit_with_error(format_args!("cannot start tokio: {e}")));
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).unwrap_or_else(|e| exit_with_error(e));
        log.starting_up(&args.server.host, port);
        accept_loop(listener, std_listener, spare, log, args.read_size).await
    });
}

async fn accept_loop(
    listener: TcpListener,
    std_listener: std::net::TcpListener,
    mut spare: SpareFd,
    log: Log,
    read_size: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // As the chapters do: no Nagle delay on echoes.
                let _ = stream.set_nodelay(true);
                log.new_connection(peer);
                tokio::spawn(echo(stream, peer, log, read_size));
            }
            Err(e) => {
                match accept_action(&e) {
                    AcceptAction::Retry => continue,
                    AcceptAction::ShedOne => {
                        // tokio keeps the listener "ready" after an error
                        // other than WouldBlock, so without this the loop
                        // would spin: take the waiting client with the spare
                        // descriptor and close it.
                        if let Some(peer) = spare.shed(&std_listener) {
                            log.refusing(Some(peer), "out of file descriptors");
                            continue;
                        }
                        // Nobody is waiting, or there is no spare: pause.
                    }
                    AcceptAction::Pause => {}
                }
                // Out of memory or buffers: give the system a moment.
                log.accept_failed(&e);
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// Reads what the client sends and writes it back, until end-of-file.
/// `write_all` finishes (however many partial writes it takes) before the
/// next read, so a client that does not read its echo stops being read:
/// that is the backpressure, and at most `--read-size` bytes wait in memory: a buffer of
/// that size per connection, for the connection's whole life.
async fn echo(mut stream: TcpStream, peer: SocketAddr, log: Log, read_size: usize) {
    let mut data = vec![0u8; read_size];
    loop {
        match stream.read(&mut data).await {
            Ok(0) => break,
            Ok(n) => {
                log.received(peer, &data[..n]);
                if let Err(e) = stream.write_all(&data[..n]).await {
                    log.dropping(peer, &e);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log.dropping(peer, &e);
                return;
            }
        }
    }
    log.closing(peer);
}
