//! echo-bench: load for any echo server that follows the workspace's server
//! contract. `--conns` connections play ping-pong (send `--size` bytes, read
//! them back, check every byte, repeat) while `--idle` more stay open and
//! silent; after `--warmup` seconds it measures for `--duration` seconds.
//!
//! ```text
//! cargo run --release -p epoll-edge -- --quiet &
//! cargo run --release -p echo-bench -- --conns 16 --server-pid $!
//! ```
//!
//! It prints round trips per second, latency percentiles, its own CPU time
//! and, with `--server-pid`, the server's CPU time per round trip, so that
//! one can see whether the generator or the server was the bottleneck.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::time::Duration;

use clap::Parser;
use echo_bench::load::{self, Config};
use echo_common::{exit_with_error, parse_args};

/// Ping-pong load for an echo server; every echoed byte is checked.
#[derive(Parser)]
#[command(name = "echo-bench")]
struct Args {
    /// The server's address
    #[arg(long, default_value = "127.0.0.1:10000")]
    addr: String,
    /// Active connections, each with one message in flight
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Extra connections held open and silent (each echoes one byte first)
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Bytes per message
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds measured
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    duration: f64,
    /// Seconds run before measuring
    #[arg(long, default_value_t = 1.0, value_parser = parse_seconds)]
    warmup: f64,
    /// The server's process id: report its CPU time per round trip, memory
    /// and threads
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the result as one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0 and 86400"
        )),
    }
}

/// `HOST:PORT`, preferring IPv4 as the servers do (`localhost` is 127.0.0.1).
fn resolve(addr: &str) -> std::io::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = addr.to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"))
}

fn main() {
    let args: Args = parse_args();
    let addr = resolve(&args.addr)
        .unwrap_or_else(|e| exit_with_error(format_args!("cannot resolve '{}': {e}", args.addr)));
    let needed = (args.conns + args.idle + 64) as u64;
    let limit = echo_common::raise_fd_limit().unwrap_or(0);
    if limit < needed {
        exit_with_error(format_args!(
            "{} connections need about {needed} descriptors, but the limit is {limit} (ulimit -n)",
            args.conns + args.idle
        ));
    }
    let config = Config {
        addr,
        conns: args.conns,
        idle: args.idle,
        size: args.size,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        server_pid: args.server_pid,
        progress: true,
    };
    let report = load::run(&config).unwrap_or_else(|e| exit_with_error(e));
    if args.json {
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(e) => exit_with_error(e),
        }
    } else {
        print!("{}", load::format_table(&report));
    }
}
