//! read-size: what the read size costs, for epoll-edge and for floor-echo
//! (the least a correct epoll echo server does), at several message sizes.
//!
//! For each message size, each read size and each server in turn
//! (interleaved over the rounds), it starts the server with `--read-size`,
//! runs the ping-pong load of `echo-bench` against it (every echoed byte is
//! checked) and reads the server's CPU time from `/proc`. The tables give
//! the medians (min–max) of the server CPU time per round trip and of the
//! round trips per second, and the ratio epoll-edge ÷ floor-echo per round.
//!
//! The benchmarks page runs the same measurement as experiment 8 of the
//! suite (`scripts/bench.sh --only 8`); this program is for trying other
//! read sizes, message sizes or connection counts by hand.
//!
//! ```text
//! cargo build --release -p epoll-edge -p peers -p echo-bench
//! target/release/read-size
//! target/release/read-size --rounds 7 --duration 1
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::time::Duration;

use clap::Parser;
use echo_bench::load::{self, Config};
use echo_bench::render::{ReadSizeRow, ReadSizeRun, read_size_table};
use echo_common::{exit_with_error, parse_args};
use test_support::bin_path;
use test_support::server::ServerCommand;

/// Measures server CPU per round trip against the read size.
#[derive(Parser)]
#[command(name = "read-size")]
struct Args {
    /// Read sizes in bytes, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1024,4096,16384,65536,262144"
    )]
    read_sizes: Vec<usize>,
    /// Message sizes in bytes, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "64,16384,65536")]
    sizes: Vec<usize>,
    /// Active connections
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// Rounds, interleaved; the tables give medians (min–max)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds measured per run
    #[arg(long, default_value_t = 0.7)]
    duration: f64,
}

const SERVERS: [(&str, &str); 2] = [("epoll-edge", "epoll-edge"), ("floor-echo", "floor-echo")];

fn main() {
    let args: Args = parse_args();
    // samples[size][read][server] = (cpu µs per round trip, round trips/s)
    let mut samples =
        vec![
            vec![vec![Vec::<(f64, f64)>::new(); SERVERS.len()]; args.read_sizes.len()];
            args.sizes.len()
        ];
    for round in 1..=args.rounds {
        for (si, &size) in args.sizes.iter().enumerate() {
            for (ri, &read) in args.read_sizes.iter().enumerate() {
                for (vi, (name, bin)) in SERVERS.iter().enumerate() {
                    let sample = measure(bin, read, size, &args).unwrap_or_else(|e| {
                        exit_with_error(format_args!("{name} --read-size {read}: {e}"))
                    });
                    eprintln!(
                        "round {round}: {name} --read-size {read}, {size} B: {:.2} µs CPU/rt, {:.0} rt/s",
                        sample.0, sample.1
                    );
                    samples[si][ri][vi].push(sample);
                }
            }
        }
    }
    println!(
        "C = {}, {} rounds of {} s; medians (min–max)",
        args.conns, args.rounds, args.duration
    );
    let runs = |v: &[(f64, f64)]| -> Vec<ReadSizeRun> {
        v.iter()
            .enumerate()
            .map(|(round, &(cpu_us, rps))| ReadSizeRun { round, cpu_us, rps })
            .collect()
    };
    for (si, &size) in args.sizes.iter().enumerate() {
        println!();
        println!("Messages of {size} B:");
        println!();
        let rows: Vec<ReadSizeRow> = args
            .read_sizes
            .iter()
            .enumerate()
            .map(|(ri, &read_size)| ReadSizeRow {
                read_size,
                epoll: runs(&samples[si][ri][0]),
                floor: runs(&samples[si][ri][1]),
            })
            .collect();
        print!("{}", read_size_table(&rows));
    }
}

/// One run: (server CPU µs per round trip, round trips per second).
fn measure(bin: &str, read: usize, size: usize, args: &Args) -> Result<(f64, f64), String> {
    let read_arg = read.to_string();
    let server = ServerCommand::new(bin_path(bin))
        .args(["--read-size", &read_arg])
        .arg("--quiet")
        .start()?;
    let report = load::run(&Config {
        addr: server.addr(),
        conns: args.conns,
        idle: 0,
        size,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_millis(150),
        server_pid: Some(server.pid()),
        progress: false,
    })?;
    let cpu = report
        .server
        .and_then(|s| s.cpu_us_per_round_trip)
        .ok_or("no CPU figure for the server")?;
    Ok((cpu, report.round_trips_per_s))
}
