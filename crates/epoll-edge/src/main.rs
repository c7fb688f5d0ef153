//! Chapters 6 and 7, epoll-edge: one thread serves every client with
//! `epoll(7)` (Linux only), level-triggered with `--level` (chapter 6) or
//! edge-triggered (chapter 7).
//!
//! The kernel keeps the list of watched descriptors, and `epoll_wait` returns
//! only the ready ones, so ten thousand idle connections cost the loop
//! nothing. By default the server is edge-triggered (`src/edge.rs`): each
//! socket is registered once, for everything, and every handler works until
//! the kernel says there is no more. With `--level` it runs level-triggered
//! (`src/level.rs`), with the Python original's structure: one read per
//! event, and replies sent when `EPOLLOUT` says the socket can take them.
//! The two files are meant to be read side by side.
//!
//! Run it with `cargo run -p epoll-edge` (or `-- --level`), then
//! `cargo run -p multiclient` in a second terminal. The book's chapter
//! "epoll-edge" walks through these files.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use clap::Parser;
use echo_common::{
    Log, SHARED_READ_SIZE, ServerArgs, exit_with_error, listen, parse_args, parse_read_size,
    raise_fd_limit,
};
use epoll_edge::epoll::Epoll;
use epoll_edge::{edge, level};

/// An echo server that multiplexes its clients with epoll.
#[derive(Parser)]
#[command(name = "epoll-edge")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Level-triggered, like the Python original: one read per event, and
    /// replies sent only when EPOLLOUT says the socket can take them
    #[arg(long)]
    level: bool,
    /// The most bytes read from a socket in one call (one buffer serves
    /// every client)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    // ANCHOR: setup
    // First, so that on other systems the server says at once why it stops.
    let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    if args.level {
        level::serve(epoll, listener, log, args.read_size)
    } else {
        edge::serve(epoll, listener, log, args.read_size)
    }
    // ANCHOR_END: setup
}
