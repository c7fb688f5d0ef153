//! Runs the conformance suite against one server and prints a report: one
//! line per check (PASS or FAIL, its name, the figure measured, and why it
//! failed), then `N passed, N failed`. Exits 1 if any check failed.
//!
//! ```text
//! cargo build --workspace
//! cargo run -p conformance -- --server-cmd "target/debug/poll-queue" --kind poll
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use conformance::{CHECKS, CLEAN_STOP_CHECKS, Kind, Sizes, Target};

/// Checks that an echo server keeps every byte and survives bad clients,
/// load and faults.
#[derive(Parser)]
#[command(name = "conformance", after_help = after_help())]
struct Args {
    /// The server's command line, split on spaces, e.g.
    /// "target/debug/epoll-edge --level". The suite adds
    /// `--host 127.0.0.1 --port 0 --quiet`.
    #[arg(long)]
    server_cmd: String,
    /// How the server multiplexes: decides what some checks expect
    #[arg(long, value_enum)]
    kind: Kind,
    /// Run only these checks (comma-separated names)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Use the full sizes (also CONFORMANCE_FULL=1): 20,000 churn cycles
    /// instead of 5,000, slow readers paused 5 s instead of 2, pings timed
    /// for 6 s instead of 3, 8 trickling clients of 1 MiB instead of 4 of
    /// 512 KiB
    #[arg(long)]
    full: bool,
    /// Seed for the random payloads (also CONFORMANCE_SEED)
    #[arg(long)]
    seed: Option<u64>,
    /// The server stops cleanly on SIGINT and SIGTERM: run the shutdown
    /// check too
    #[arg(long)]
    clean_stop: bool,
    /// The server runs N event loops, each with its own connections: the
    /// fairness check then allows for floods split unevenly between them
    #[arg(long, value_name = "N", default_value_t = 1)]
    loops: usize,
}

fn after_help() -> String {
    let mut text = String::from("Checks:\n");
    for c in CHECKS.iter().chain(&CLEAN_STOP_CHECKS) {
        text.push_str(&format!("  {:<17} {}\n", c.name, c.about));
    }
    text
}

fn main() {
    let args = Args::parse();
    let Some(target) = Target::from_command_line(&args.server_cmd, args.kind)
        .map(|t| t.clean_stop(args.clean_stop).loops(args.loops))
    else {
        eprintln!("error: --server-cmd is empty");
        std::process::exit(2);
    };
    // Mistakes in the command line end the run before the report starts, so
    // the error is all that is printed.
    if let Err(e) = conformance::check_names(&target, &args.only) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    if let Some(missing) = target.missing_program() {
        eprintln!("error: {missing}");
        std::process::exit(2);
    }
    let mut sizes = if args.full {
        Sizes {
            seed: Sizes::from_env().seed,
            ..Sizes::full()
        }
    } else {
        Sizes::from_env()
    };
    if let Some(seed) = args.seed {
        sizes.seed = seed;
    }
    let limit = conformance::fd_limit();
    println!(
        "conformance: {} (kind {}), {} sizes, seed {}, RLIMIT_NOFILE {limit}",
        target.command_line(),
        target.kind,
        sizes.preset,
        sizes.seed
    );
    let start = Instant::now();
    let summary = conformance::run(&target, &sizes, &args.only, |outcome| {
        println!("{outcome}");
        let _ = std::io::stdout().flush();
    });
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("ran in {:.1} s", start.elapsed().as_secs_f64());
    println!("{}", summary.totals());
    if summary.failed() > 0 {
        std::process::exit(1);
    }
}
