//! The safe `epoll` wrapper the server in `main.rs` is built on (the one
//! of the epoll-edge chapter), as a library of its own.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod epoll;
