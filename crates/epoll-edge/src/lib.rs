//! The epoll-edge chapter's safe `epoll` wrapper and its table of clients,
//! as a library too, so the exercises built on it (the edge-triggered echo
//! server, the chat server) use these rather than copies. The server itself
//! is `src/main.rs`, with one file per mode: `src/edge.rs` and `src/level.rs`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod epoll;
pub mod fd_map;

pub use fd_map::FdMap;
