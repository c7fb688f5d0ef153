//! The epoll-edge chapter's safe `epoll` wrapper, as a library too, so the
//! exercises built on it (the edge-triggered echo server, the chat server)
//! use this one rather than a copy. The server itself is `src/main.rs`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod epoll;
