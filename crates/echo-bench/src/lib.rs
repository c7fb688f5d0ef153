//! Measuring the echo servers.
//!
//! - [`load`]: the load generator behind the `echo-bench` binary: ping-pong
//!   connections driven by one epoll loop, every echoed byte checked, latency
//!   in an HDR histogram, CPU time of the generator and of the server.
//! - [`cost`]: the cost of one `select`, `poll` or `epoll_wait` call over N
//!   descriptors with one ready (the `select-cost` binary).
//! - [`suite`]: the experiments of the benchmarks page (`bench-suite`), run
//!   interleaved and repeated, written as JSON.
//! - [`render`]: the page's tables and SVG charts from that JSON
//!   (`bench-render`).
//!
//! `scripts/bench.sh` runs the suite and the renderer; the book's page
//! "Benchmarks" shows the result.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cost;
pub mod load;
pub mod render;
pub mod stats;
pub mod suite;

/// Whether stderr is a terminal (progress bars go there, and only there).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
