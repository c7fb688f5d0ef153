//! The `Poller` the server in `main.rs` is built on: a library of its own, so
//! that it can be tested on its own (`cargo test -p ex05-poll-queue`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod poller;
