//! The `Poller` of exercise 5, finished: the server in `main.rs` is built on
//! it.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod poller;
